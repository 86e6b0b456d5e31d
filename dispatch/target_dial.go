package dispatch

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// DialChecked connects to addr ("host:port") within timeout, checking every address the
// host resolves to against p just before connecting to it (in the dialer's Control hook), so
// that neither DNS rebinding nor a resolver that reads "2130706433" as 127.0.0.1 can get
// round the policy. A refusal wraps ErrTargetRefused (inside a *net.OpError).
func (p *TargetPolicy) DialChecked(ctx context.Context, addr string, timeout time.Duration) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dispatch: dialing %q: %w", addr, err)
	}
	if a, ok := literalAddr(normHost(host)); ok {
		// Dial what the spelling means (an inet_aton form the Go resolver would look up
		// as a name otherwise); the check below sees the same address.
		addr = net.JoinHostPort(a.String(), port)
	} else if p != nil && p.lookup != nil {
		as, err := p.lookup(ctx, host)
		if err != nil || len(as) == 0 {
			return nil, fmt.Errorf("dispatch: resolving %q: %w", host, err)
		}
		addr = net.JoinHostPort(as[0].String(), port)
	}
	d := net.Dialer{Timeout: timeout}
	d.Control = func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("dispatch: dialing %q: %w", address, err)
		}
		return p.checkDial(host, ap)
	}
	return d.DialContext(ctx, "tcp", addr)
}

// dialFunc returns the dial function of the delivery and test-connection clients: DialChecked,
// with the connection wrapped in a trackedConn (one allocation per connection, none per
// request).
func (p *TargetPolicy) dialFunc() func(addr string, timeout time.Duration) (net.Conn, error) {
	return func(addr string, timeout time.Duration) (net.Conn, error) {
		c, err := p.DialChecked(context.Background(), addr, timeout)
		if err != nil {
			return nil, err
		}
		return &trackedConn{Conn: c, addr: connAddr{Addr: c.LocalAddr()}}, nil
	}
}
