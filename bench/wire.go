package main

import (
	"log/slog"

	"hooktap/dispatch"
	"hooktap/rules"
)

// buildDispatcher is dispatch.New; where dispatch.New does not build the durable queue
// itself (before it wires queue = "disk" and nats://), the queue is built with
// dispatch.NewJetStreamQueue and handed to dispatch.NewWithQueue, the same parts main.go
// ends up with.
func buildDispatcher(cfg rules.DispatchSection, hooks []rules.Webhook, log *slog.Logger) (*dispatch.Dispatcher, error) {
	d, err := dispatch.New(cfg, hooks, log)
	if err == nil || cfg.Queue == "memory" {
		return d, err
	}
	q, qerr := dispatch.NewJetStreamQueue(cfg, log)
	if qerr != nil {
		return nil, qerr
	}
	return dispatch.NewWithQueue(cfg, hooks, q, log)
}
