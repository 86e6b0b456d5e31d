package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"hooktap/internal/testkit"
)

// blocker is a member whose run blocks until stop; it records the order of stops.
func blocker(name string, order *[]string) member {
	c := make(chan struct{})
	return member{name: name, grace: time.Minute,
		run:  func() error { <-c; return nil },
		stop: func() { *order = append(*order, name); close(c) }}
}

func TestRunGroupStopsInOrder(t *testing.T) {
	var order []string
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := runGroup(ctx, slog.New(slog.DiscardHandler), blocker("proxy", &order), blocker("dispatcher", &order), blocker("admin", &order))
	if err != nil {
		t.Fatalf("ctx ended the group: err %v, want nil", err)
	}
	if got := strings.Join(order, ","); got != "proxy,dispatcher,admin" {
		t.Fatalf("stop order %s", got)
	}
}

// A member that fails ends the group with its error, and the others are still stopped.
func TestRunGroupMemberFailure(t *testing.T) {
	var order []string
	boom := errors.New("listener closed")
	failing := member{name: "admin", grace: time.Minute, run: func() error { return boom }, stop: func() { order = append(order, "admin") }}
	err := runGroup(context.Background(), slog.New(slog.DiscardHandler), blocker("proxy", &order), failing)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "admin stopped") {
		t.Fatalf("err %v, want admin's error named", err)
	}
	if got := strings.Join(order, ","); got != "proxy,admin" {
		t.Fatalf("stop order %s", got)
	}
}

// A member that does not stop within its grace is logged and the group goes on.
func TestRunGroupGraceBounded(t *testing.T) {
	var order []string
	logs := &testkit.LogBuffer{}
	release := make(chan struct{})
	defer close(release) // the stuck member's goroutine ends with the test
	stuck := member{name: "dispatcher", grace: time.Millisecond, run: func() error { <-release; return nil }, stop: func() {}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := runGroup(ctx, slog.New(slog.NewTextHandler(logs, nil)), stuck, blocker("admin", &order)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "dispatcher did not stop in time") || len(order) != 1 {
		t.Fatalf("log %q, stopped %v", logs.String(), order)
	}
}
