package admin

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"hooktap/dispatch"
)

// The real dispatcher satisfies what the admin server needs, directly.
var (
	_ Dispatcher     = (*dispatch.Dispatcher)(nil)
	_ HookSetter     = (*dispatch.Dispatcher)(nil)
	_ HistoryReader  = (*dispatch.Dispatcher)(nil)
	_ StatsReader    = (*dispatch.Dispatcher)(nil)
	_ DeadLetters    = (*dispatch.Dispatcher)(nil)
	_ Reactivator    = (*dispatch.Dispatcher)(nil)
	_ PingFunc       = dispatch.Ping
	_ testDispatcher = (*dispatch.Dispatcher)(nil)
)

// loopback is the allow_targets of the tests' dispatchers: their receivers are on loopback,
// which the target policy refuses by default.
var loopback = []string{"127.0.0.1", "::1"}

// newTestDispatcher returns a running dispatcher with the memory queue and no retries (a
// failed delivery is dead at once), stopped when the test ends.
func newTestDispatcher(t *testing.T) *dispatch.Dispatcher {
	t.Helper()
	return newDispatcher(t, dispatch.Config{Queue: "memory", Retry: []time.Duration{}, Timeout: 30 * time.Second, AllowTargets: loopback})
}

// newDispatcher returns a running dispatcher made with cfg, stopped when the test ends.
func newDispatcher(t *testing.T, cfg dispatch.Config) *dispatch.Dispatcher {
	t.Helper()
	d, err := dispatch.New(cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("dispatch.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dispatcher Run: %v", err)
		}
	})
	return d
}
