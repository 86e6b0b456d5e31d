package main

import (
	"context"
	"errors"
	"time"
)

func estimateDispatch(s *Settings) time.Duration { return 0 }
func estimateBacklog(s *Settings) time.Duration  { return 0 }
func runDispatch(ctx context.Context, s *Settings, p *Progress) (Result, error) {
	return Result{}, errors.New("not yet")
}
func runBacklog(ctx context.Context, s *Settings, p *Progress) (Result, error) {
	return Result{}, errors.New("not yet")
}
