package dispatch

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// DialChecked resolves addr ("host:port"), checks every resolved address against p and
// dials the first allowed one, so that DNS rebinding cannot get round the policy. It is
// meant as the body of the fasthttp client Dial hook (not wired yet).
func (p *TargetPolicy) DialChecked(ctx context.Context, addr string, timeout time.Duration) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dispatch: dial %q: %w", addr, err)
	}
	var ips []netip.Addr
	ip, ipLiteral := ParseHostIP(host)
	if ipLiteral {
		ips = []netip.Addr{ip}
	} else {
		ips, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("dispatch: resolve %q: %w", host, err)
		}
	}
	hostOK := p.HostAllowed(host)
	var refused error
	d := net.Dialer{Timeout: timeout}
	for _, ip := range ips {
		if ip.Is4In6() && !ipLiteral {
			ip = ip.Unmap() // the resolver's own form of an A record
		}
		if !hostOK {
			if err := p.CheckAddr(ip); err != nil {
				refused = fmt.Errorf("%w (host %q)", err, host)
				continue
			}
		}
		return d.DialContext(ctx, "tcp", net.JoinHostPort(ip.Unmap().String(), port))
	}
	if refused == nil {
		refused = fmt.Errorf("%w: %q resolved to no address", ErrTargetRefused, host)
	}
	return nil, refused
}
