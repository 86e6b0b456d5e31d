package dispatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"hooktap/rules"
)

// jsWait bounds every wait in these tests: generous, for a loaded 2-core machine. Tests wait
// on events (a Fetch returning), never on sleeps.
const jsWait = 60 * time.Second

func openJS(t testing.TB, cfg Config) *JetStreamQueue {
	t.Helper()
	if cfg.Queue == "" {
		cfg.Queue = "disk"
	}
	q, err := NewJetStreamQueue(cfg, nil)
	if err != nil {
		t.Fatalf("NewJetStreamQueue: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), jsWait)
	defer cancel()
	if err := q.Open(ctx); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func subscribe(t testing.TB, q Queue, hook string, ackWait time.Duration, events ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), jsWait)
	defer cancel()
	if err := q.Subscribe(ctx, Subscription{Hook: hook, Events: events, AckWait: ackWait}); err != nil {
		t.Fatalf("Subscribe(%q): %v", hook, err)
	}
}

var testSeq uint64

func testMsg(event string, full bool) *Message {
	testSeq++
	m := &Message{Event: event, Time: 1778071365000 + int64(testSeq), Accepted: time.Now()}
	copy(m.ID[:], fmt.Sprintf("%016x%016x", 0xfeed, testSeq))
	m.Payload = []byte(fmt.Sprintf(`{"timestamp":%d,"event":%q,"userKey":"admin","page":{"id":%d}}`, m.Time, event, testSeq))
	if full {
		m.Full = []byte(fmt.Sprintf(`{"timestamp":%d,"event":%q,"userKey":"admin","page":{"id":%d,"title":"T"}}`, m.Time, event, testSeq))
	}
	return m
}

func publish(t testing.TB, q Queue, m *Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), jsWait)
	defer cancel()
	if err := q.Publish(ctx, m); err != nil {
		t.Fatalf("Publish(%s): %v", m.ID, err)
	}
}

// fetchN fetches until it holds n deliveries for hook.
func fetchN(t testing.TB, q Queue, hook string, n int) []*Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), jsWait)
	defer cancel()
	got := make([]*Delivery, 0, n)
	for len(got) < n {
		var err error
		got, err = q.Fetch(ctx, hook, got[:len(got):n])
		if err != nil {
			t.Fatalf("Fetch(%q) after %d of %d: %v", hook, len(got), n, err)
		}
	}
	return got
}

// fetchNone asserts that nothing is ready for hook within d.
func fetchNone(t testing.TB, q Queue, hook string, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	got, err := q.Fetch(ctx, hook, make([]*Delivery, 0, 8))
	if len(got) != 0 {
		t.Fatalf("Fetch(%q) got %d deliveries (first %s, attempt %d), want none", hook, len(got), got[0].ID, got[0].Attempt)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Fetch(%q) err = %v, want context.DeadlineExceeded", hook, err)
	}
}

// waitUntil polls cond until it holds, failing after jsWait.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(jsWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sameMessage(t testing.TB, d *Delivery, m *Message) {
	t.Helper()
	if d.ID != m.ID || d.Event != m.Event || d.Time != m.Time || !d.Accepted.Equal(m.Accepted) {
		t.Fatalf("got delivery %s %s %d %v, want %s %s %d %v", d.ID, d.Event, d.Time, d.Accepted, m.ID, m.Event, m.Time, m.Accepted)
	}
	if !bytes.Equal(d.Payload, m.Payload) || !bytes.Equal(d.Full, m.Full) || (d.Full == nil) != (m.Full == nil) {
		t.Fatalf("got payload %q full %q, want %q full %q", d.Payload, d.Full, m.Payload, m.Full)
	}
}

func TestJetStreamPublishFetchAck(t *testing.T) {
	q := openJS(t, Config{DataDir: t.TempDir()})
	subscribe(t, q, "chat", time.Minute, "page_created", "label_added")
	subscribe(t, q, "all", time.Minute, "*")

	m1, m2, m3 := testMsg("page_created", false), testMsg("label_added", true), testMsg("page_removed", false)
	for _, m := range []*Message{m1, m2, m3} {
		publish(t, q, m)
	}

	got := fetchN(t, q, "chat", 2)
	sameMessage(t, got[0], m1)
	sameMessage(t, got[1], m2)
	for _, d := range got {
		if d.Hook != "chat" || d.Attempt != 1 {
			t.Fatalf("got hook %q attempt %d, want chat 1", d.Hook, d.Attempt)
		}
	}
	if got[1].Body(true)[len(got[1].Body(true))-3] != '"' || !bytes.Equal(got[1].Body(false), m2.Payload) {
		t.Fatalf("Body: got %q / %q", got[1].Body(true), got[1].Body(false))
	}
	all := fetchN(t, q, "all", 3)
	for i, m := range []*Message{m1, m2, m3} {
		sameMessage(t, all[i], m)
	}

	ctx := context.Background()
	qd, err := q.Depth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if qd.Events != 3 || qd.Hooks["chat"].Fetched != 2 || qd.Hooks["all"].Fetched != 3 || qd.Hooks["chat"].Pending != 0 {
		t.Fatalf("Depth before ack = %+v, want 3 events, chat 2 fetched, all 3 fetched", qd)
	}
	if !qd.Oldest.Equal(m1.Accepted) {
		t.Fatalf("Depth.Oldest = %v, want %v", qd.Oldest, m1.Accepted)
	}
	for _, d := range append(got, all...) {
		if err := q.Ack(d); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
	fetchNone(t, q, "chat", 300*time.Millisecond)
	qd, err = q.Depth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if qd.Events != 0 || qd.Bytes != 0 || !qd.Oldest.IsZero() {
		t.Fatalf("Depth after ack = %+v, want empty (interest retention deletes settled events)", qd)
	}
	for _, h := range []string{"chat", "all"} {
		if hd := qd.Hooks[h]; hd != (HookDepth{}) {
			t.Fatalf("Depth[%s] after ack = %+v, want zero", h, hd)
		}
	}

	// An event no webhook wants is not kept.
	if _, err := q.Unsubscribe(ctx, "all"); err != nil {
		t.Fatal(err)
	}
	publish(t, q, testMsg("space_created", false))
	if qd, _ := q.Depth(ctx); qd.Events != 0 {
		t.Fatalf("Depth after an unwanted event = %d events, want 0", qd.Events)
	}
}

func TestJetStreamRetryDelay(t *testing.T) {
	q := openJS(t, Config{DataDir: t.TempDir()})
	subscribe(t, q, "h", time.Minute, "page_created")
	later, soon := testMsg("page_created", false), testMsg("page_created", false)
	publish(t, q, later)
	publish(t, q, soon)
	got := fetchN(t, q, "h", 2)
	const delay = 300 * time.Millisecond
	if err := q.Retry(got[0], time.Hour); err != nil {
		t.Fatal(err)
	}
	retried := time.Now()
	if err := q.Retry(got[1], delay); err != nil {
		t.Fatal(err)
	}

	again := fetchN(t, q, "h", 1)[0]
	if waited := time.Since(retried); waited < delay {
		t.Fatalf("retried delivery came back after %v, before its delay %v", waited, delay)
	}
	if again.ID != soon.ID || again.Attempt != 2 {
		t.Fatalf("got %s attempt %d, want %s attempt 2", again.ID, again.Attempt, soon.ID)
	}
	// The hour-delayed one is not ready, and counts as pending.
	fetchNone(t, q, "h", 500*time.Millisecond)
	qd, err := q.Depth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if hd := qd.Hooks["h"]; hd.Pending != 1 || hd.Fetched != 1 || !hd.Oldest.Equal(later.Accepted) {
		t.Fatalf("Depth[h] = %+v, want 1 pending (retry delay), 1 fetched, oldest %v", hd, later.Accepted)
	}
	// Retry with no delay: back at once, attempt 3.
	if err := q.Retry(again, 0); err != nil {
		t.Fatal(err)
	}
	if d := fetchN(t, q, "h", 1)[0]; d.ID != soon.ID || d.Attempt != 3 {
		t.Fatalf("got %s attempt %d, want %s attempt 3", d.ID, d.Attempt, soon.ID)
	}
}

func TestJetStreamDeadAndRedeliver(t *testing.T) {
	q := openJS(t, Config{DataDir: t.TempDir()})
	subscribe(t, q, "h", time.Minute, "page_created", "comment_created")
	subscribe(t, q, "other", time.Minute, "page_created")
	ms := []*Message{testMsg("page_created", true), testMsg("comment_created", false), testMsg("page_created", false)}
	for _, m := range ms {
		publish(t, q, m)
	}
	ctx := context.Background()
	got := fetchN(t, q, "h", 3)
	if err := q.Retry(got[0], 0); err != nil {
		t.Fatal(err)
	}
	first := fetchN(t, q, "h", 1)[0] // attempt 2
	if err := q.Dead(first, "retries exhausted: status 500"); err != nil {
		t.Fatal(err)
	}
	for _, d := range got[1:] {
		if err := q.Dead(d, "gone: status 410"); err != nil {
			t.Fatal(err)
		}
	}
	fetchNone(t, q, "h", 300*time.Millisecond)

	dl, err := q.DeadLetters(ctx, "h", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) != 3 {
		t.Fatalf("DeadLetters = %d, want 3", len(dl))
	}
	want := []struct {
		attempts int
		reason   string
	}{{2, "retries exhausted: status 500"}, {1, "gone: status 410"}, {1, "gone: status 410"}}
	for i, d := range dl {
		if d.ID != ms[i].ID || d.Hook != "h" || d.Event != ms[i].Event || d.Time != ms[i].Time ||
			!d.Accepted.Equal(ms[i].Accepted) || d.Attempts != want[i].attempts || d.Reason != want[i].reason || d.Died.IsZero() {
			t.Fatalf("dead letter %d = %+v, want id %s attempts %d reason %q", i, d, ms[i].ID, want[i].attempts, want[i].reason)
		}
	}
	if dl, _ := q.DeadLetters(ctx, "h", 2); len(dl) != 2 || dl[1].ID != ms[1].ID {
		t.Fatalf("DeadLetters(max 2) = %+v, want the 2 oldest", dl)
	}
	if dl, _ := q.DeadLetters(ctx, "other", 0); len(dl) != 0 {
		t.Fatalf("DeadLetters(other) = %+v, want none", dl)
	}
	if qd, _ := q.Depth(ctx); qd.Hooks["h"].Dead != 3 || qd.Hooks["other"].Dead != 0 || qd.Hooks["other"].Pending != 2 {
		t.Fatalf("Depth = %+v, want h 3 dead, other 2 pending", qd)
	}

	if err := q.Redeliver(ctx, "h", ms[0].ID); err != nil {
		t.Fatal(err)
	}
	d := fetchN(t, q, "h", 1)[0]
	sameMessage(t, d, ms[0])
	if d.Attempt != 1 {
		t.Fatalf("redelivered attempt = %d, want 1", d.Attempt)
	}
	if err := q.Ack(d); err != nil {
		t.Fatal(err)
	}
	// Only "h" gets the redelivery; "other" has exactly its two original deliveries.
	for _, d := range fetchN(t, q, "other", 2) {
		if d.ID == ms[1].ID {
			t.Fatalf("other got %s, an event it does not subscribe to", d.ID)
		}
		q.Ack(d)
	}
	fetchNone(t, q, "other", 300*time.Millisecond)

	if err := q.Redeliver(ctx, "h", ms[0].ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Redeliver of a redelivered letter = %v, want ErrNotFound", err)
	}
	n, err := q.RedeliverAll(ctx, "h")
	if err != nil || n != 2 {
		t.Fatalf("RedeliverAll = %d, %v; want 2, nil", n, err)
	}
	again := fetchN(t, q, "h", 2)
	for i, d := range again {
		sameMessage(t, d, ms[i+1])
		if d.Attempt != 1 {
			t.Fatalf("attempt = %d, want 1", d.Attempt)
		}
		q.Ack(d)
	}
	if dl, _ := q.DeadLetters(ctx, "h", 0); len(dl) != 0 {
		t.Fatalf("DeadLetters after RedeliverAll = %d, want 0", len(dl))
	}
	if err := q.Redeliver(ctx, "nobody", ms[0].ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Redeliver(unknown hook) = %v, want ErrNotFound", err)
	}
}

// TestJetStreamPurgeDead: a deleted webhook's dead letters are purged, and only its own.
func TestJetStreamPurgeDead(t *testing.T) {
	q := openJS(t, Config{DataDir: t.TempDir()})
	subscribe(t, q, "gone", time.Minute, "page_created")
	subscribe(t, q, "kept", time.Minute, "page_created")
	for i := 0; i < 3; i++ {
		publish(t, q, testMsg("page_created", false))
	}
	for _, hook := range []string{"gone", "kept"} {
		for _, d := range fetchN(t, q, hook, 3) {
			if err := q.Dead(d, "retries exhausted: status 400"); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx := context.Background()
	if _, err := q.Unsubscribe(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	n, err := q.PurgeDead(ctx, "gone")
	if err != nil || n != 3 {
		t.Fatalf("PurgeDead = %d, %v; want 3, nil", n, err)
	}
	if dl, _ := q.DeadLetters(ctx, "gone", 0); len(dl) != 0 {
		t.Fatalf("dead letters of the deleted hook after PurgeDead: %d, want 0", len(dl))
	}
	if dl, _ := q.DeadLetters(ctx, "kept", 0); len(dl) != 3 {
		t.Fatalf("dead letters of the other hook: %d, want its 3 kept", len(dl))
	}
	if n, err := q.PurgeDead(ctx, "nobody"); err != nil || n != 0 {
		t.Fatalf("PurgeDead(unknown) = %d, %v; want 0, nil", n, err)
	}
}

// TestJetStreamRestartKeepsDeliveries closes the queue with deliveries pending and others
// fetched and never settled, reopens it on the same data_dir, and gets all of them back:
// the fetched ones after AckWait, with the same IDs and the next attempt number.
func TestJetStreamRestartKeepsDeliveries(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir}
	q := openJS(t, cfg)
	const ackWait = time.Second
	subscribe(t, q, "h", ackWait, "page_created")
	var ms []*Message
	for i := 0; i < 5; i++ {
		m := testMsg("page_created", i%2 == 0)
		ms = append(ms, m)
		publish(t, q, m)
	}
	held := fetchN(t, q, "h", 3)
	if err := q.Ack(held[0]); err != nil {
		t.Fatal(err)
	}
	if err := q.Retry(held[1], 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// held[2] stays unsettled: in flight at the "crash".
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.Publish(context.Background(), testMsg("page_created", false)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish after Close = %v, want ErrClosed", err)
	}

	q2 := openJS(t, cfg)
	subscribe(t, q2, "h", ackWait, "page_created")
	// One at a time, each checked and acknowledged at once: with a 1 s AckWait (which brings
	// back the delivery left unsettled at the "crash"), holding several unacknowledged on a
	// loaded machine could let one come back a second time, at least once as promised, and
	// read as a duplicate made by the restart.
	want := make(map[ID]int) // message index in ms
	for i, m := range ms[1:] {
		want[m.ID] = i + 1
	}
	seen := make(map[ID]bool)
	for len(seen) < len(want) {
		d := fetchN(t, q2, "h", 1)[0]
		i, ok := want[d.ID]
		switch {
		case !ok:
			t.Fatalf("after restart, %s delivered (acknowledged before the close, or never published)", d.ID)
		case seen[d.ID]:
			t.Fatalf("%s delivered twice", d.ID)
		}
		seen[d.ID] = true
		sameMessage(t, d, ms[i])
		wantAttempt := 1
		if i <= 2 {
			wantAttempt = 2 // retried, or left unacknowledged at the close
		}
		if d.Attempt != wantAttempt {
			t.Fatalf("message %d attempt = %d, want %d", i, d.Attempt, wantAttempt)
		}
		if err := q2.Ack(d); err != nil {
			t.Fatal(err)
		}
	}
	fetchNone(t, q2, "h", 300*time.Millisecond)
}

func TestJetStreamFullStream(t *testing.T) {
	q := openJS(t, Config{DataDir: t.TempDir(), MaxBytes: 8 << 10})
	subscribe(t, q, "h", time.Minute, "*")
	ctx, cancel := context.WithTimeout(context.Background(), jsWait)
	defer cancel()
	stored := 0
	var err error
	for ; stored < 1000; stored++ {
		if err = q.Publish(ctx, testMsg("page_created", true)); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrQueueFull) {
		t.Fatalf("after %d events, Publish = %v; want ErrQueueFull", stored, err)
	}
	if stored == 0 {
		t.Fatal("a 8 KiB stream took no event")
	}
	// Settling makes room again.
	for _, d := range fetchN(t, q, "h", 2) {
		if err := q.Ack(d); err != nil {
			t.Fatal(err)
		}
	}
	publish(t, q, testMsg("page_created", false))
}

func TestJetStreamSubscribeUpdate(t *testing.T) {
	q := openJS(t, Config{DataDir: t.TempDir()})
	ctx := context.Background()
	fetchNoneErr := func(hook string, want error) {
		t.Helper()
		if _, err := q.Fetch(ctx, hook, make([]*Delivery, 0, 1)); !errors.Is(err, want) {
			t.Fatalf("Fetch(%q) = %v, want %v", hook, err, want)
		}
	}
	fetchNoneErr("h", ErrNotSubscribed)

	early := testMsg("page_created", false)
	publish(t, q, early) // before the first Subscribe: never delivered to h
	subscribe(t, q, "h", time.Minute, "page_created")
	subscribe(t, q, "keep", time.Minute, "*") // keeps every event in the stream
	l1, p1 := testMsg("label_added", false), testMsg("page_created", false)
	publish(t, q, l1)
	publish(t, q, p1)
	held := fetchN(t, q, "h", 1)[0]
	if held.ID != p1.ID {
		t.Fatalf("got %s, want %s", held.ID, p1.ID)
	}
	// Update the filter, with p1 in flight: the consumer keeps its position (l1, passed
	// over, is not delivered) and its pending p1; label_added events from now on are.
	subscribe(t, q, "h", time.Minute, "label_added", "page_created", "label_added")
	l2 := testMsg("label_added", false)
	publish(t, q, l2)
	if d := fetchN(t, q, "h", 1)[0]; d.ID != l2.ID || d.Attempt != 1 {
		t.Fatalf("after filter update got %s attempt %d, want %s attempt 1", d.ID, d.Attempt, l2.ID)
	} else if err := q.Ack(d); err != nil {
		t.Fatal(err)
	}
	if err := q.Ack(held); err != nil {
		t.Fatalf("Ack of a delivery fetched before the filter update: %v", err)
	}
	fetchNone(t, q, "h", 300*time.Millisecond)
	if qd, _ := q.Depth(ctx); qd.Hooks["h"] != (HookDepth{}) {
		t.Fatalf("Depth[h] = %+v, want zero", qd.Hooks["h"])
	}

	publish(t, q, testMsg("page_created", false))
	publish(t, q, testMsg("label_added", false))
	// The consumer counts new messages asynchronously: wait until Depth shows both.
	waitUntil(t, "2 pending for h", func() bool {
		qd, err := q.Depth(ctx)
		return err == nil && qd.Hooks["h"].Pending+qd.Hooks["h"].Fetched == 2
	})
	n, err := q.Unsubscribe(ctx, "h")
	if err != nil || n != 2 {
		t.Fatalf("Unsubscribe = %d, %v; want 2 discarded", n, err)
	}
	fetchNoneErr("h", ErrNotSubscribed)
	if n, err := q.Unsubscribe(ctx, "h"); n != 0 || err != nil {
		t.Fatalf("second Unsubscribe = %d, %v; want 0, nil", n, err)
	}
	// Subscribing again starts from new events only.
	subscribe(t, q, "h", time.Minute, "page_created")
	p3 := testMsg("page_created", false)
	publish(t, q, p3)
	if d := fetchN(t, q, "h", 1)[0]; d.ID != p3.ID {
		t.Fatalf("after resubscribe got %s, want %s", d.ID, p3.ID)
	}

	// Close wakes a blocked Fetch with ErrClosed.
	errc := make(chan error, 1)
	go func() {
		_, err := q.Fetch(ctx, "keep", make([]*Delivery, 0, 100))
		for err == nil {
			_, err = q.Fetch(ctx, "keep", make([]*Delivery, 0, 100))
		}
		errc <- err
	}()
	q.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Fetch after Close = %v, want ErrClosed", err)
		}
	case <-time.After(jsWait):
		t.Fatal("Fetch still blocked after Close")
	}
}

func TestHookToken(t *testing.T) {
	seen := map[string]string{}
	for _, id := range []string{"chat", "Chat", "my hook.v1/*>", "my_hook_v1___", "api-7", strings.Repeat("x", 300), ""} {
		tok := hookToken(id)
		if tok != hookToken(id) {
			t.Fatalf("hookToken(%q) not deterministic", id)
		}
		if strings.ContainsAny(tok, ". *>/\\\t") || len(tok) > 64 {
			t.Fatalf("hookToken(%q) = %q: not a valid durable name", id, tok)
		}
		if prev, ok := seen[tok]; ok {
			t.Fatalf("hookToken(%q) = hookToken(%q) = %q", id, prev, tok)
		}
		seen[tok] = id
	}
}

func TestJetStreamConfig(t *testing.T) {
	t.Setenv("HOOKTAP_TEST_NATS_PASS", "pw")
	good := []Config{
		{Queue: "disk"},
		{Queue: "nats://127.0.0.1:4222,nats://127.0.0.1:4223", NATSUser: "u", NATSPassEnv: "HOOKTAP_TEST_NATS_PASS"},
		{Queue: "tls://nats.example:4222", NATSCreds: "/etc/hooktap.creds"},
	}
	for _, cfg := range good {
		if _, err := NewJetStreamQueue(cfg, nil); err != nil {
			t.Fatalf("NewJetStreamQueue(%+v) = %v", cfg, err)
		}
	}
	bad := []struct {
		cfg  Config
		want string
	}{
		{Config{Queue: "nats://u:secret@127.0.0.1:4222,http://x"}, "not a nats:// or tls:// URL"},
		{Config{Queue: "disk", NATSUser: "u"}, "embedded server"},
		{Config{Queue: "nats://h:1", NATSUser: "u", NATSPassEnv: "HOOKTAP_TEST_UNSET_VAR"}, "HOOKTAP_TEST_UNSET_VAR is not set"},
		{Config{Queue: "nats://h:1", NATSCreds: "c", NATSToken: "T"}, "one of"},
		{Config{Queue: "disk", MaxBytes: -1, MaxAge: -time.Second}, "max_bytes"},
	}
	for _, c := range bad {
		_, err := NewJetStreamQueue(c.cfg, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("NewJetStreamQueue(%+v) = %v, want an error with %q", c.cfg, err, c.want)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Fatalf("error shows a password: %v", err)
		}
	}
}

func TestBodyRoundTrip(t *testing.T) {
	for _, full := range []bool{false, true} {
		m := testMsg("attachment_created", full)
		var got Message
		if err := decodeBody(appendBody(nil, m), &got); err != nil {
			t.Fatal(err)
		}
		if got.ID != m.ID || got.Event != m.Event || got.Time != m.Time || !got.Accepted.Equal(m.Accepted) ||
			!bytes.Equal(got.Payload, m.Payload) || !bytes.Equal(got.Full, m.Full) || (got.Full == nil) != (m.Full == nil) {
			t.Fatalf("round trip: got %+v, want %+v", got, m)
		}
	}
	for _, b := range []string{"", "1 x\n", "2 " + strings.Repeat("a", 32) + " page_created 1 1 -1\n{}",
		"1 " + strings.Repeat("a", 32) + " no_such_event 1 1 -1\n{}", "1 " + strings.Repeat("a", 32) + " page_created 1 1 9\n{}"} {
		if err := decodeBody([]byte(b), new(Message)); err == nil {
			t.Fatalf("decodeBody(%q) = nil, want an error", b)
		}
	}
}

// drainQueue fetches and acks everything for hook until ctx ends.
func drainQueue(ctx context.Context, q Queue, hook string, wg *sync.WaitGroup) {
	defer wg.Done()
	buf := make([]*Delivery, 0, 64)
	for {
		got, err := q.Fetch(ctx, hook, buf[:0])
		for _, d := range got {
			q.Ack(d)
		}
		if err != nil {
			return
		}
	}
}

// benchPublish measures Publish with concurrent writers (as the proxy's write path does),
// while one consumer drains the queue so that it never fills.
func benchPublish(b *testing.B, q Queue) {
	ctx := context.Background()
	if err := q.Subscribe(ctx, Subscription{Hook: "h", Events: []string{"*"}, AckWait: time.Minute}); err != nil {
		b.Fatal(err)
	}
	dctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go drainQueue(dctx, q, "h", &wg)
	defer func() { stop(); wg.Wait() }()
	payload := []byte(`{"timestamp":1778071365412,"event":"page_created","userKey":"admin","page":{"id":123456}}`)
	var seq sync.Mutex
	n := uint64(0)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		m := &Message{Event: "page_created", Time: 1778071365412, Payload: payload}
		for pb.Next() {
			seq.Lock()
			n++
			id := n
			seq.Unlock()
			for i := IDLen - 1; i >= 0; i-- {
				m.ID[i] = "0123456789abcdef"[id&15]
				id >>= 4
			}
			m.Accepted = time.Now()
			if err := q.Publish(ctx, m); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkJetStreamPublish(b *testing.B) {
	benchPublish(b, openJS(b, Config{DataDir: b.TempDir()}))
}

func BenchmarkMemoryQueuePublish(b *testing.B) {
	q := NewMemoryQueue(0)
	if err := q.Open(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	benchPublish(b, q)
}

// startJS runs a dispatcher over a JetStream queue (not yet opened: Run opens it), with an
// optional fake clock for the breaker and retry schedule (retry delays themselves are
// JetStream's, in real time).
func startJS(t *testing.T, cfg Config, hooks []Webhook, c clock) (*harness, *JetStreamQueue) {
	t.Helper()
	if c == nil {
		c = realClock{}
	}
	cfg.Queue = "disk"
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.AllowTargets == nil {
		cfg.AllowTargets = memCfg().AllowTargets // the receivers are on loopback
	}
	set, err := resolveSettings(cfg)
	if err != nil {
		t.Fatal(err)
	}
	q, err := NewJetStreamQueue(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := newDispatcher(set, fromWebhooks(hooks), q, nil, c)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{d: d, clock: c, settled: make(chan settledEvent, 100000), done: make(chan error, 1)}
	d.settled = func(id string, a *Attempt) {
		var cp *Attempt
		if a != nil {
			x := *a
			cp = &x
		}
		h.settled <- settledEvent{hook: id, a: cp}
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- d.Run(ctx) }()
	t.Cleanup(h.stop)
	select {
	case <-d.ready:
	case err := <-h.done:
		t.Fatalf("Run returned early: %v", err)
	case <-time.After(jsWait):
		t.Fatal("the JetStream queue did not open")
	}
	return h, q
}

// TestJetStreamDispatcherBreakerHoldsBacklog runs the dispatcher's breaker over the
// JetStream queue: once the breaker is open, the webhook's consumer is not pulled from (the
// new event is never delivered by JetStream, so it uses no attempt), and when the window
// ends it is delivered as attempt 1.
func TestJetStreamDispatcherBreakerHoldsBacklog(t *testing.T) {
	fc := newFakeClock()
	rc := newReceiver(t)
	rc.setAnswer(func(*http.Request, int) (int, map[string]string) { return 500, nil })
	cfg := Config{MaxInFlightPerHook: 1, Retry: []time.Duration{time.Hour}}
	h, q := startJS(t, cfg, []Webhook{webhook("down", rc.URL, "*")}, fc)
	for i := 0; i < 5; i++ {
		enqueue(t, h.d, event("page_created", i))
		if e := h.next(t); e.a == nil || e.a.Outcome == "delivered" {
			t.Fatalf("attempt %d: got %+v, want a failure", i, e.a)
		}
	}
	enqueue(t, h.d, event("page_created", 99))
	fc.Advance(9 * time.Second)
	hs := h.hookStats(t, "down")
	if !hs.Breaker.Open || hs.Depth.Pending != 6 || rc.count() != 5 || hs.Skipped != 0 {
		t.Fatalf("while open: %+v, %d requests; want open, 6 pending, 5 requests, no skips", hs, rc.count())
	}
	// JetStream's own view: the 6th event was never delivered to the consumer.
	ctx := context.Background()
	c, err := q.js.Consumer(ctx, jsStream, hookToken("down"))
	if err != nil {
		t.Fatal(err)
	}
	if ci := c.CachedInfo(); ci.NumPending != 1 || ci.NumAckPending != 5 {
		t.Fatalf("consumer while the breaker is open: %d undelivered, %d unacknowledged; want 1 and 5 (retrying)",
			ci.NumPending, ci.NumAckPending)
	}
	rc.setAnswer(nil)
	fc.Advance(time.Second)
	e := h.next(t)
	if e.a == nil || e.a.Outcome != "delivered" || e.a.Attempt != 1 {
		t.Fatalf("after the window got %+v, want the waiting event delivered as attempt 1", e.a)
	}
}

// TestJetStreamDispatcherDelivers runs events through the dispatcher and the JetStream
// queue to two receivers, and checks each got every event once with a stable webhook-id.
func TestJetStreamDispatcherDelivers(t *testing.T) {
	a, b := newReceiver(t), newReceiver(t)
	h, _ := startJS(t, Config{}, []Webhook{
		webhook("a", a.URL, "page_created"), webhook("b", b.URL, "*"),
	}, nil)
	const n = 200
	for i := 0; i < n; i++ {
		enqueue(t, h.d, event("page_created", i))
		enqueue(t, h.d, event("label_added", i))
	}
	for _, r := range []struct {
		rc   *receiver
		want int
	}{{a, n}, {b, 2 * n}} {
		seen := make(map[string]bool)
		for len(seen) < r.want {
			req := r.rc.next(t)
			id := req.Header.Get("webhook-id")
			if seen[id] {
				t.Fatalf("%s delivered twice", id)
			}
			seen[id] = true
		}
	}
	waitUntil(t, "empty queue", func() bool {
		hs := h.hookStats(t, "b")
		return hs.Depth == (HookDepth{}) && hs.Delivered == 2*n
	})
}

// BenchmarkDispatchQueue measures deliveries per second from Enqueue (16 concurrent
// writers, as the proxy's write path) to a local fasthttp receiver, through the memory
// queue and through the embedded JetStream queue, one webhook. Compare with
// BenchmarkReceiverCeiling/conc=64 in the same run. It also reports the enqueue latency
// (p50, p99) that the write path waits for, and for JetStream the pull requests sent per
// delivery.
func BenchmarkDispatchQueue(b *testing.B) {
	for _, queue := range []string{"memory", "disk"} {
		b.Run("queue="+queue, func(b *testing.B) { benchDispatchQueue(b, queue, 1) })
	}
}

// BenchmarkDispatchQueueFanout is BenchmarkDispatchQueue with 10 and 100 webhooks on every
// event (one receiver): b.N events make hooks×b.N deliveries.
func BenchmarkDispatchQueueFanout(b *testing.B) {
	for _, hooks := range []int{10, 100} {
		for _, queue := range []string{"memory", "disk"} {
			b.Run("hooks="+strconv.Itoa(hooks)+"/queue="+queue, func(b *testing.B) { benchDispatchQueue(b, queue, hooks) })
		}
	}
}

func benchDispatchQueue(b *testing.B, queue string, hooks int) {
	rc := newBenchReceiver(b)
	ws := signedHooks("http://"+rc.addr+"/hook", hooks)
	cfg := Config{Queue: queue, DataDir: b.TempDir(), MemoryQueueSize: 1 << 20,
		AllowTargets: []string{"127.0.0.1", "::1"}} // the receiver is on loopback
	var q Queue = NewMemoryQueue(cfg.MemoryQueueSize)
	var jq *JetStreamQueue
	if queue == "disk" {
		var err error
		jq, err = NewJetStreamQueue(cfg, nil)
		if err != nil {
			b.Fatal(err)
		}
		q = jq
	}
	d, err := NewWithQueue(cfg, ws, q, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-d.ready

	const writers = 16
	lat := make([][]time.Duration, writers)
	rc.expect(int64(b.N) * int64(hooks))
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev := &rules.Event{Name: "page_created", Time: 1778071365412, Payload: benchBody}
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				for {
					err := d.Enqueue(ev)
					if err == nil {
						break
					}
					if !errors.Is(err, ErrQueueFull) {
						b.Error(err)
						return
					}
					runtime.Gosched()
				}
				lat[g] = append(lat[g], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	rc.wait(b)
	el := time.Since(start)
	b.StopTimer()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	b.ReportMetric(float64(b.N*hooks)/el.Seconds(), "deliveries/s")
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds()), "enqueue-p50-µs")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "enqueue-p99-µs")
	}
	if jq != nil {
		b.ReportMetric(float64(jq.pulls.Load())/float64(b.N*hooks), "pulls/delivery")
		var groups, acks uint64
		jq.mu.RLock()
		for _, h := range jq.hooks {
			groups, acks = groups+h.acks.groups.Load(), acks+h.acks.acks.Load()
		}
		jq.mu.RUnlock()
		if groups > 0 {
			b.ReportMetric(float64(acks)/float64(groups), "acks/group")
		}
	}
}

// TestAckMetadata checks the allocation-free reading of a JetStream reply subject against
// nats.Msg.Metadata, in both of its forms.
func TestAckMetadata(t *testing.T) {
	for i, reply := range []string{
		"$JS.ACK.hooktap.h_a_0123456789ab.3.1234.17.1778071365412000000.9",
		"$JS.ACK._.ACCHASH.hooktap.h_a_0123456789ab.3.1234.17.1778071365412000000.9.xyz",
		"$JS.ACK._.ACCHASH.hooktap.h_a_0123456789ab.3.1234.17.1778071365412000000.9.xyz.more",
		"$JS.ACK.hooktap.h_a.notanumber.1234.17.1778071365412000000.9",
		"$JS.ACK.short.1",
	} {
		m := &nats.Msg{Reply: reply, Sub: &nats.Subscription{}} // Metadata wants a bound message
		md, werr := m.Metadata()
		d, seq, err := ackMetadata(m)
		if (err != nil) != (werr != nil) {
			t.Fatalf("%s: error %v, want %v", reply, err, werr)
		}
		if err == nil && (d != md.NumDelivered || seq != md.Sequence.Stream) {
			t.Fatalf("%s: delivered %d, seq %d; want %d, %d", reply, d, seq, md.NumDelivered, md.Sequence.Stream)
		}
		if i < 3 && (err != nil || d != 3 || seq != 1234) {
			t.Fatalf("%s: delivered %d, seq %d, %v; want 3, 1234", reply, d, seq, err)
		}
	}
}
