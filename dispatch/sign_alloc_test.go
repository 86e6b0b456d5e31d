//go:build !race

package dispatch

import (
	"strings"
	"testing"
	"time"
)

// TestAllocsPrepareRotation: signing with two keys (rotation, whsec_) does not allocate.
func TestAllocsPrepareRotation(t *testing.T) {
	r := newAllocRig(t)
	w := webhook("bench", r.h.cfg.Load().url, "*")
	w.Secret, w.PreviousSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "s3cret"
	_, cfg, err := resolveHook(Hook{Webhook: w}, time.Second, r.d.set.policy)
	if err != nil {
		t.Fatal(err)
	}
	dl := &Delivery{Message: Message{Event: "page_created", Payload: r.ev.Payload}, Attempt: 1}
	r.d.nextID(&dl.ID)
	now := time.Now()
	r.d.prepare(r.w, cfg, dl, now)
	if n := testing.AllocsPerRun(1000, func() { r.d.prepare(r.w, cfg, dl, now) }); n != 0 {
		t.Errorf("prepare with two keys: %v allocs, want 0", n)
	}
	if s := r.w.req.Header.Peek("webhook-signature"); strings.Count(string(s), "v1,") != 2 {
		t.Fatalf("webhook-signature %q: not the rotation's two signatures", s)
	}
}
