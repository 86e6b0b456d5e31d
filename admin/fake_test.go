package admin

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"hooktap/rules"
)

// fakeDispatcher delivers synchronously in Enqueue over net/http, with no retries: a failure
// becomes a dead letter at once. It stands in for dispatch.Dispatcher where a test wants
// exact control (store failures, counters).
type fakeDispatcher struct {
	client http.Client

	mu     sync.Mutex
	hooks  []rules.Webhook
	sets   int
	setErr error
	hist   map[string][]Attempt
	dead   map[string][]fakeDead
	stats  Stats
	seq    int
}

type fakeDead struct {
	DeadDelivery
	body []byte
}

func newFakeDispatcher() *fakeDispatcher {
	return &fakeDispatcher{
		client: http.Client{Timeout: 30 * time.Second},
		hist:   map[string][]Attempt{},
		dead:   map[string][]fakeDead{},
		stats:  Stats{Drops: map[string]uint64{}, Webhooks: map[string]HookStats{}},
	}
}

func (f *fakeDispatcher) SetWebhooks(hooks []rules.Webhook) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.setErr != nil {
		return f.setErr
	}
	f.hooks = slices.Clone(hooks)
	f.sets++
	return nil
}

func (f *fakeDispatcher) webhooks() []rules.Webhook {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.hooks)
}

func (f *fakeDispatcher) Enqueue(ev *rules.Event) error {
	for _, h := range f.webhooks() {
		if (h.Active != nil && !*h.Active) || !(slices.Contains(h.Events, ev.Name) || slices.Contains(h.Events, "*")) {
			continue
		}
		f.mu.Lock()
		f.seq++
		id := fmt.Sprintf("%032x", f.seq)
		f.mu.Unlock()
		f.deliver(h, id, ev.Name, ev.Payload)
	}
	return nil
}

func (f *fakeDispatcher) deliver(h rules.Webhook, id, event string, body []byte) {
	start := time.Now()
	req, _ := http.NewRequest("POST", h.URL, bytes.NewReader(body))
	req.Header.Set("X-Event-Key", event)
	req.Header.Set("webhook-id", id)
	if h.Secret != "" {
		m := hmac.New(sha256.New, []byte(h.Secret))
		m.Write(body)
		req.Header.Set("X-Hub-Signature", "sha256="+hex.EncodeToString(m.Sum(nil)))
	}
	a := Attempt{Time: start, Event: event, DeliveryID: id}
	resp, err := f.client.Do(req)
	if err != nil {
		a.Outcome, a.Err = "error", err.Error()
	} else {
		a.Response, _ = io.ReadAll(io.LimitReader(resp.Body, 16<<10))
		resp.Body.Close()
		a.Status = resp.StatusCode
		a.Outcome = "success"
		if resp.StatusCode/100 != 2 {
			a.Outcome = "failure"
			a.Err = "status " + strconv.Itoa(resp.StatusCode)
		}
	}
	a.Duration = time.Since(start)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hist[h.Name] = append(f.hist[h.Name], a)
	hs := f.stats.Webhooks[h.Name]
	if hs.Outcomes == nil {
		hs.Outcomes = map[string]uint64{}
	}
	hs.Outcomes[a.Outcome]++
	hs.LastDelivery, hs.LastStatus = a.Time, a.Status
	if a.Outcome == "success" {
		hs.Failures = 0
	} else {
		hs.Failures++
		f.dead[h.Name] = append(f.dead[h.Name], fakeDead{DeadDelivery{ID: id, Event: event, Time: start, Attempts: 1, LastErr: a.Err}, bytes.Clone(body)})
	}
	hs.Dead = len(f.dead[h.Name])
	f.stats.Webhooks[h.Name] = hs
}

func (f *fakeDispatcher) History(name string, dst []Attempt) []Attempt {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append(dst, f.hist[name]...)
}

func (f *fakeDispatcher) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.stats
	st.Drops = maps_clone(f.stats.Drops)
	st.Webhooks = map[string]HookStats{}
	for k, v := range f.stats.Webhooks {
		v.Outcomes = maps_clone(v.Outcomes)
		st.Webhooks[k] = v
	}
	return st
}

func maps_clone(m map[string]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (f *fakeDispatcher) Dead(name string, dst []DeadDelivery) []DeadDelivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range f.dead[name] {
		dst = append(dst, d.DeadDelivery)
	}
	return dst
}

func (f *fakeDispatcher) Redeliver(name, id string) (int, error) {
	f.mu.Lock()
	var take []fakeDead
	keep := f.dead[name][:0]
	for _, d := range f.dead[name] {
		if id == "" || d.ID == id {
			take = append(take, d)
		} else {
			keep = append(keep, d)
		}
	}
	f.dead[name] = keep
	var hook rules.Webhook
	for _, h := range f.hooks {
		if h.Name == name {
			hook = h
		}
	}
	f.mu.Unlock()
	for _, d := range take {
		f.deliver(hook, d.ID, d.Event, d.body)
	}
	return len(take), nil
}

func (f *fakeDispatcher) Ping(ctx context.Context, url string) PingResult {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader([]byte(`{"test": true}`)))
	if err != nil {
		return PingResult{Err: err.Error()}
	}
	req.Header.Set("X-Event-Key", "diagnostics:ping")
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return PingResult{Err: err.Error(), Duration: time.Since(start)}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	return PingResult{Status: resp.StatusCode, Body: b, Duration: time.Since(start)}
}
