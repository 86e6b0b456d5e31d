package proxy

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// deadlineRecorder records the deadlines put on the socket.
type deadlineRecorder struct{ got []time.Time }

func (r *deadlineRecorder) set(t time.Time) error { r.got = append(r.got, t); return nil }

func TestLazyDeadlineSkipsWhatIsCovered(t *testing.T) {
	var d lazyDeadline
	var rec deadlineRecorder
	now := time.Now()
	if err := d.ask(now.Add(90*time.Second), rec.set); err != nil {
		t.Fatal(err)
	}
	if len(rec.got) != 1 || rec.got[0].Before(now.Add(90*time.Second)) || rec.got[0].After(now.Add(90*time.Second+6*time.Second)) {
		t.Fatalf("first deadline: got %v, want one in [90s, 96s] from now", rec.got)
	}
	// The same timeout asked again a moment later is covered by the socket's.
	for i := 1; i <= 100; i++ {
		_ = d.ask(now.Add(90*time.Second+time.Duration(i)*time.Millisecond), rec.set)
	}
	if len(rec.got) != 1 {
		t.Fatalf("got %d socket deadlines for asks the first covers, want 1", len(rec.got))
	}
	if !d.pending.IsZero() {
		t.Fatalf("got pending %v, want none", d.pending)
	}
	// A later one waits for the next I/O; an earlier one than covered goes at once.
	later := now.Add(10 * time.Minute)
	_ = d.ask(later, rec.set)
	if len(rec.got) != 1 || !d.pending.Equal(later) {
		t.Fatalf("later deadline: got %d socket deadlines and pending %v, want 1 and %v", len(rec.got), d.pending, later)
	}
	past := now.Add(-time.Second)
	_ = d.ask(past, rec.set)
	if len(rec.got) != 2 || !rec.got[1].Equal(past) || !d.pending.IsZero() {
		t.Fatalf("earlier deadline: got %v (pending %v), want %v applied as is", rec.got, d.pending, past)
	}
	_ = d.ask(time.Time{}, rec.set)
	if len(rec.got) != 3 || !rec.got[2].IsZero() {
		t.Fatalf("no deadline: got %v, want the zero time applied", rec.got)
	}
	_ = d.ask(time.Time{}, rec.set)
	if len(rec.got) != 3 {
		t.Fatalf("no deadline twice: got %d socket deadlines, want 3", len(rec.got))
	}
}

// TestLazyConnAppliesPendingBeforeIO: a later deadline reaches the socket before the next
// Read, so that the Read is not cut short by the earlier one.
func TestLazyConnAppliesPendingBeforeIO(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := &lazyConn{Conn: a}
	if err := c.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(200 * time.Millisecond) // past the first deadline
		_, _ = b.Write([]byte("x"))
	}()
	buf := make([]byte, 1)
	if n, err := c.Read(buf); n != 1 || err != nil {
		t.Fatalf("Read: got %d, %v; want 1 byte under the later deadline", n, err)
	}
}

// TestIdleTimeoutStillCloses: with lazy deadlines, a keep-alive connection kept busy is not
// closed, and an idle one is, after idle_timeout (at most a sixteenth later).
func TestIdleTimeoutStillCloses(t *testing.T) {
	up := startBenchUpstream(t)
	const idle = 300 * time.Millisecond
	_, addr, _ := startProxy(t, Config{Upstream: "http://" + up, IdleTimeout: idle}, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	var resp fasthttp.Response
	// Busy: a request every idle/3 for 3 idle periods; each must be answered.
	for i := 0; i < 9; i++ {
		if _, err := io.WriteString(c, "GET /x HTTP/1.1\r\nHost: wiki.example\r\n\r\n"); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if err := c.SetReadDeadline(time.Now().Add(ioDeadline)); err != nil {
			t.Fatal(err)
		}
		if err := resp.Read(br); err != nil {
			t.Fatalf("request %d on a busy connection: %v", i, err)
		}
		if resp.StatusCode() != 200 {
			t.Fatalf("request %d: got status %d, want 200", i, resp.StatusCode())
		}
		time.Sleep(idle / 3)
	}
	// Idle: the proxy closes it.
	start := time.Now()
	if err := c.SetReadDeadline(time.Now().Add(ioDeadline)); err != nil {
		t.Fatal(err)
	}
	n, err := br.Read(make([]byte, 1))
	waited := time.Since(start)
	if n != 0 || err != io.EOF {
		t.Fatalf("idle connection: got %d bytes, %v; want EOF from the proxy", n, err)
	}
	if waited < idle-idle/3 { // the last sleep counted towards idleness
		t.Fatalf("idle connection closed after %v, want about %v", waited, idle)
	}
}

// BenchmarkServerDeadlines is the deadlines fasthttp's server sets per keep-alive request
// (idle, read, write), on a loopback TCP connection as is and wrapped in a lazyConn.
func BenchmarkServerDeadlines(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	for _, lazy := range []bool{false, true} {
		name := "raw"
		if lazy {
			name = "lazy"
		}
		b.Run(name, func(b *testing.B) {
			raw, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer raw.Close()
			c := raw
			if lazy {
				c = &lazyConn{Conn: raw}
			}
			b.ReportAllocs()
			for b.Loop() {
				_ = c.SetReadDeadline(time.Now().Add(90 * time.Second))
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Minute))
				_ = c.SetWriteDeadline(time.Now().Add(10 * time.Minute))
			}
		})
	}
}
