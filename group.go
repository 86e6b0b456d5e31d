package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// member is one long-running part of hooktap (the proxy, the dispatcher, the admin server,
// the reloader). run blocks until the part stops or fails; stop asks it to stop and may
// block while it drains; grace bounds how long the group then waits for run to return.
type member struct {
	name  string
	run   func() error
	stop  func()
	grace time.Duration
}

// runGroup starts every member and waits until ctx ends or a member's run returns. Then it
// stops the members one at a time in the order given, waiting (up to the member's grace)
// for each run to return before stopping the next: so the proxy has finished its in-flight
// requests, and enqueued their events, before the dispatcher stops, and the dispatcher has
// stopped before the admin server that reports on it. It returns the error of the member
// that ended the group, nil when ctx ended it; a member that did not stop in time is logged.
func runGroup(ctx context.Context, log *slog.Logger, members ...member) error {
	type exit struct {
		i   int
		err error
	}
	done := make([]chan error, len(members))
	exits := make(chan exit, len(members))
	for i, m := range members {
		done[i] = make(chan error, 1)
		go func() {
			err := m.run()
			done[i] <- err
			exits <- exit{i, err}
		}()
	}
	var runErr error
	select {
	case <-ctx.Done():
	case e := <-exits:
		runErr = fmt.Errorf("%s stopped", members[e.i].name)
		if e.err != nil {
			runErr = fmt.Errorf("%s stopped: %w", members[e.i].name, e.err)
		}
	}
	for i, m := range members {
		m.stop()
		t := time.NewTimer(m.grace)
		select {
		case <-done[i]:
		case <-t.C:
			log.Error(m.name+" did not stop in time", "waited", m.grace)
		}
		t.Stop()
	}
	return runErr
}
