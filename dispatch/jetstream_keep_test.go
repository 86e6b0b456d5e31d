package dispatch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// blockFiles lists the events stream's message block files.
func blockFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "jetstream", "*", "streams", jsStream, "msgs", "*.blk"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestJetStreamKeeper checks that acknowledging the only pending event no longer replaces
// the store's last block (a new block file per event, without the keeper), that the
// keeper is renewed as events are published with one kept, and that Depth does not count it.
func TestJetStreamKeeper(t *testing.T) {
	dir := t.TempDir()
	q := openJS(t, Config{DataDir: dir})
	subscribe(t, q, "h", time.Minute, "*")
	before := blockFiles(t, dir)
	if len(before) == 0 {
		t.Fatal("no block file after Open")
	}
	made := q.keep.made.Load()
	n := 0
	for size := 0; size < 3*jsKeepEvery; n++ {
		m := testMsg("page_created", true)
		m.Payload = []byte(strings.Repeat("x", 1000))
		size += len(appendBody(nil, m))
		publish(t, q, m)
		// A keeper still being published when the next mark is crossed delays the next
		// one (by design); wait, so that each mark makes one on a loaded machine too.
		q.keep.wg.Wait()
		d := fetchN(t, q, "h", 1)
		if err := q.Ack(d[0]); err != nil {
			t.Fatal(err)
		}
	}
	if after := blockFiles(t, dir); len(after) != 1 || after[0] != before[len(before)-1] {
		t.Fatalf("after %d events each acked alone, block files %v, want still %v", n, after, before[len(before)-1:])
	}
	q.keep.wg.Wait()
	if got := q.keep.made.Load() - made; got < 2 {
		t.Fatalf("%d keepers published for %d events (%d bytes each), want at least 2", got, n, 1000)
	}
	ctx := context.Background()
	si, err := q.jsConnStream().Info(ctx, jetstream.WithSubjectFilter(jsKeepSubject))
	if err != nil {
		t.Fatal(err)
	}
	if k := si.State.Subjects[jsKeepSubject]; k != 1 || si.State.Msgs != 1 || si.State.Bytes != uint64(jsKeepSize) {
		t.Fatalf("stream holds %d keepers, %d messages, %d bytes; want 1 keeper of %d bytes alone", k, si.State.Msgs, si.State.Bytes, jsKeepSize)
	}
	qd, err := q.Depth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if qd.Events != 0 || qd.Bytes != 0 {
		t.Fatalf("Depth = %d events, %d bytes; want 0 (the keeper is not an event)", qd.Events, qd.Bytes)
	}

	// A restart keeps one keeper.
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q2 := openJS(t, Config{DataDir: dir})
	si, err = q2.jsConnStream().Info(ctx, jetstream.WithSubjectFilter(jsKeepSubject))
	if err != nil {
		t.Fatal(err)
	}
	if k := si.State.Subjects[jsKeepSubject]; k != 1 {
		t.Fatalf("after a restart the stream holds %d keepers, want 1", k)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}

// TestJetStreamKeeperFullStream reopens a full stream: the keeper cannot be stored, and
// Open still succeeds.
func TestJetStreamKeeperFullStream(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir, MaxBytes: 4 << 10}
	q := openJS(t, cfg)
	subscribe(t, q, "h", time.Minute, "*")
	ctx, cancel := context.WithTimeout(context.Background(), jsWait)
	defer cancel()
	for i := 0; ; i++ {
		if err := q.Publish(ctx, testMsg("page_created", true)); err != nil {
			if !errors.Is(err, ErrQueueFull) {
				t.Fatalf("Publish = %v, want ErrQueueFull", err)
			}
			break
		}
		if i > 1000 {
			t.Fatal("a 4 KiB stream took 1000 events")
		}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	// Filled to the last byte, the reopened stream cannot take a new keeper.
	q2 := openJS(t, cfg)
	if err := q2.jsConnStream().Purge(ctx, jetstream.WithPurgeSubject(jsKeepSubject)); err != nil {
		t.Fatal(err)
	}
	for {
		if err := q2.Publish(ctx, testMsg("page_created", true)); err != nil {
			break
		}
	}
	for i := 0; ; i++ { // and the last bytes with keepers, the smallest record
		if _, err := q2.pubJS.Publish(ctx, jsKeepSubject, nil); err != nil {
			break
		}
		if i > 1000 {
			t.Fatal("a full 4 KiB stream took 1000 keepers")
		}
	}
	if err := q2.Close(); err != nil {
		t.Fatal(err)
	}
	q3 := openJS(t, cfg)
	if n := q3.keep.made.Load(); n != 0 {
		t.Fatalf("%d keepers stored when reopening a full stream, want 0 (the test did not fill it)", n)
	}
	subscribe(t, q3, "h", time.Minute, "*")
	if d := fetchN(t, q3, "h", 1); q3.Ack(d[0]) != nil {
		t.Fatal("Ack after reopening a full stream failed")
	}
}
