// Package testkit holds the helpers that hooktap's tests in several packages share: a log
// buffer safe for concurrent writers, and loopback servers stopped when the test ends.
// Only tests import it.
package testkit

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// LogBuffer collects what a logger or a child process writes, while the test reads it.
// It is safe for concurrent use.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Lines counts the lines written so far that contain substr.
func (l *LogBuffer) Lines(substr string) int {
	n := 0
	for _, line := range strings.Split(l.String(), "\n") {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

// Listen listens on a free loopback port; the listener is closed when the test ends.
func Listen(tb testing.TB) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	return ln
}

// DeadAddr returns a loopback host:port that nothing listens on (it was free a moment ago).
func DeadAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// ServeFast serves h with fasthttp on a free loopback port and returns its host:port. When
// the test ends the server is shut down (within a minute) and an error from Serve fails
// the test.
func ServeFast(tb testing.TB, h fasthttp.RequestHandler) string {
	tb.Helper()
	ln := Listen(tb)
	srv := &fasthttp.Server{Handler: h}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := srv.ShutdownWithContext(ctx); err != nil {
			tb.Errorf("loopback server %s: shutdown: %v", ln.Addr(), err)
		}
		// Shutdown closes only the listeners Serve has reached; a server that never got to
		// Accept would wait for ever, so close ln too (Serve then returns nil).
		ln.Close()
		if err := <-done; err != nil {
			tb.Errorf("loopback server %s: %v", ln.Addr(), err)
		}
	})
	return ln.Addr().String()
}
