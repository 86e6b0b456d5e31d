package proxy

import (
	"net"
	"testing"
	"time"
)

// nopConn is a net.Conn whose reads and writes do nothing: what is left is idleConn's own
// cost per call, the clock read and the rare deadline move.
type nopConn struct{ net.Conn }

func (nopConn) Read(p []byte) (int, error)       { return len(p), nil }
func (nopConn) Write(p []byte) (int, error)      { return len(p), nil }
func (nopConn) SetReadDeadline(time.Time) error  { return nil }
func (nopConn) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkIdleConnReadWrite is one Read and one Write on an upstream connection, without
// the syscalls: the per-call overhead the upstream timeout adds to every round trip.
func BenchmarkIdleConnReadWrite(b *testing.B) {
	c := &idleConn{Conn: nopConn{}, timeout: time.Minute}
	buf := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = c.Write(buf)
		_, _ = c.Read(buf)
	}
}

// BenchmarkClock compares the two clocks idleConn could read.
func BenchmarkClock(b *testing.B) {
	b.Run("time.Now", func(b *testing.B) {
		for b.Loop() {
			_ = time.Now()
		}
	})
	b.Run("nanotime", func(b *testing.B) {
		for b.Loop() {
			_ = nanotime()
		}
	})
}
