package dispatch

import (
	"context"
	"fmt"
	"testing"
	"time"

	"hooktap/rules"
)

// BenchmarkJetStreamCycle is one event through the durable queue alone, serially: Publish
// (stored and acked by the embedded server), Fetch, double Ack. allocs/op counts the
// embedded server's goroutines too; the hooktap side's share shows in a memory profile
// (bench/doc.go, "Profiling the tapped path").
//
//	go test -run XXX -bench JetStreamCycle -count 5 ./dispatch
func BenchmarkJetStreamCycle(b *testing.B) {
	q := openJS(b, Config{DataDir: b.TempDir()})
	subscribe(b, q, "h", time.Minute, "*")
	ctx := context.Background()
	m := &Message{Event: "page_created", Time: 1778071365412,
		Payload: []byte(`{"timestamp":1778071365412,"event":"page_created","userKey":"admin","page":{"id":123456}}`)}
	buf := make([]*Delivery, 0, 1)
	cycle := func(i int) {
		for k, id := IDLen-1, i; k >= 0; k-- {
			m.ID[k] = "0123456789abcdef"[id&15]
			id >>= 4
		}
		m.Accepted = time.Now()
		if err := q.Publish(ctx, m); err != nil {
			b.Fatal(err)
		}
		got, err := q.Fetch(ctx, "h", buf[:0])
		if err != nil || len(got) != 1 {
			b.Fatalf("Fetch: %d, %v", len(got), err)
		}
		if err := q.Ack(got[0]); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 100 {
		cycle(i)
	}
	b.ReportAllocs()
	i := 100
	for b.Loop() {
		cycle(i)
		i++
	}
}

func TestAppendPull(t *testing.T) {
	for _, n := range []int{1, 64, 1000} {
		got := string(appendPull(nil, n, jsFetchWait))
		want := fmt.Sprintf(`{"batch":%d,"expires":%d}`, n, jsFetchWait.Nanoseconds())
		if got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
}

func TestEventSubject(t *testing.T) {
	for _, e := range []string{"page_created", rules.Names[len(rules.Names)-1], "not_an_event"} {
		if got, want := eventSubject(e), jsEventPrefix+e; got != want {
			t.Errorf("eventSubject(%q) = %q, want %q", e, got, want)
		}
	}
}
