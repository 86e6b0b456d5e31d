package proxy

import (
	"net"
	"time"
)

// lazyListener wraps every accepted TCP connection in a lazyConn. Other connections (a TLS
// listener's) pass unchanged, so that fasthttp still recognises them.
type lazyListener struct{ net.Listener }

func (l lazyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		return &lazyConn{Conn: tc}, nil
	}
	return c, nil
}

// lazyConn is a client connection whose deadlines are moved only when they must be.
// fasthttp's server sets three per request (the idle timeout before the next request, the
// read timeout once it starts, the write timeout before the response), each a lock and a
// change to the runtime's timer heap: together about as much CPU as hooktap's own code per
// request. lazyConn keeps the socket's deadline when the new one is at most a sixteenth of
// its timeout earlier (so a timeout fires up to 1/16 late, never early), and applies a later
// one only before the next Read or Write, so that the read timeout a GET never reads under
// does not reach the socket at all. A deadline earlier than that, or none, is applied at
// once.
//
// That holds for fasthttp's server, which sets deadlines on the goroutine that does the I/O:
// a later deadline set while another goroutine is blocked in Read would not reach that Read.
// Upgrade tunnels read and write on two goroutines, but with no deadline (fasthttp clears
// them before the hijack handler runs), and each direction's state is its own.
type lazyConn struct {
	net.Conn
	r, w lazyDeadline // r owned by the reader, w by the writer
}

// lazyDeadline is one direction's deadline.
type lazyDeadline struct {
	set     time.Time     // on the socket; zero: none
	slack   time.Duration // how much later than asked set may be
	pending time.Time     // a later deadline not yet applied; zero: none
}

func (c *lazyConn) Read(p []byte) (int, error) {
	if !c.r.pending.IsZero() {
		if err := c.r.apply(c.r.pending, c.Conn.SetReadDeadline); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(p)
}

func (c *lazyConn) Write(p []byte) (int, error) {
	if !c.w.pending.IsZero() {
		if err := c.w.apply(c.w.pending, c.Conn.SetWriteDeadline); err != nil {
			return 0, err
		}
	}
	return c.Conn.Write(p)
}

func (c *lazyConn) SetReadDeadline(t time.Time) error {
	return c.r.ask(t, c.Conn.SetReadDeadline)
}

func (c *lazyConn) SetWriteDeadline(t time.Time) error {
	return c.w.ask(t, c.Conn.SetWriteDeadline)
}

func (c *lazyConn) SetDeadline(t time.Time) error {
	if err := c.r.ask(t, c.Conn.SetReadDeadline); err != nil {
		return err
	}
	return c.w.ask(t, c.Conn.SetWriteDeadline)
}

// ask records deadline t, applying it at once through set when it must be.
func (d *lazyDeadline) ask(t time.Time, set func(time.Time) error) error {
	switch {
	case t.IsZero():
		d.pending = time.Time{}
		if d.set.IsZero() {
			return nil
		}
		d.set, d.slack = time.Time{}, 0
		return set(t)
	case d.set.IsZero():
		// No deadline on the socket yet: any deadline is earlier than none.
		return d.apply(t, set)
	case t.After(d.set):
		d.pending = t // later: the socket's fires first, so move it before the next I/O
		return nil
	case !t.Before(d.set.Add(-d.slack)):
		d.pending = time.Time{} // covered: the socket's fires at most slack after t
		return nil
	default:
		return d.apply(t, set) // earlier than covered
	}
}

// apply puts t, plus a sixteenth of the time left until it, on the socket.
func (d *lazyDeadline) apply(t time.Time, set func(time.Time) error) error {
	d.pending = time.Time{}
	slack := time.Until(t) / 16
	if slack < 0 {
		slack = 0
	}
	d.set, d.slack = t.Add(slack), slack
	return set(d.set)
}
