package dispatch

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ErrTargetRefused is the sentinel wrapped by every refusal of the webhook target policy.
var ErrTargetRefused = errors.New("dispatch: webhook target refused")

// TargetPolicy refuses webhook targets on loopback, link-local, private, unique-local,
// unspecified, IPv4-mapped and cloud metadata addresses unless they are allow-listed
// (IPs, CIDRs or host names, as in [dispatch] allow_targets). It is not yet wired into
// dialing (issue 15, first step).
type TargetPolicy struct {
	prefixes []netip.Prefix
	hosts    map[string]bool
}

// NewTargetPolicy builds a policy from allow_targets entries.
func NewTargetPolicy(allow []string) (*TargetPolicy, error) {
	p := &TargetPolicy{hosts: map[string]bool{}}
	for _, a := range allow {
		a = strings.TrimSpace(a)
		if pr, err := netip.ParsePrefix(a); err == nil {
			p.prefixes = append(p.prefixes, pr.Masked())
			continue
		}
		if ip, ok := ParseHostIP(a); ok {
			p.prefixes = append(p.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		if a == "" || strings.ContainsAny(a, "/ \t") {
			return nil, fmt.Errorf("dispatch: allow_targets entry %q is not an IP, CIDR or host name", a)
		}
		p.hosts[strings.ToLower(strings.TrimSuffix(a, "."))] = true
	}
	return p, nil
}

var metadataHosts = map[string]bool{
	"metadata.google.internal": true,
	"metadata":                 true,
	"instance-data":            true,
}

var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"),
	netip.MustParseAddr("fd00:ec2::254"),
	netip.MustParseAddr("100.100.100.200"),
}

// HostAllowed reports whether a host name is explicitly allow-listed.
func (p *TargetPolicy) HostAllowed(host string) bool {
	return p != nil && p.hosts[strings.ToLower(strings.TrimSuffix(host, "."))]
}

// CheckHost checks a URL host (without port) before any resolution: IP spellings
// (including inet_aton forms such as 2130706433 or 0x7f.1) are checked as addresses,
// metadata host names are refused unless allow-listed.
func (p *TargetPolicy) CheckHost(host string) error {
	h := strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if p.HostAllowed(h) {
		return nil
	}
	if ip, ok := ParseHostIP(h); ok {
		return p.CheckAddr(ip)
	}
	if metadataHosts[h] {
		return fmt.Errorf("%w: %q is a cloud metadata host (allow it in [dispatch] allow_targets)", ErrTargetRefused, host)
	}
	return nil
}

// CheckAddr checks a resolved address.
func (p *TargetPolicy) CheckAddr(ip netip.Addr) error {
	ip = ip.WithZone("")
	if p != nil {
		for _, pr := range p.prefixes {
			if pr.Contains(ip) {
				return nil
			}
		}
	}
	why := ""
	switch {
	case ip.Is4In6():
		why = "an IPv4-mapped address"
	case isMetadata(ip):
		why = "a cloud metadata address"
	case ip.IsLoopback():
		why = "a loopback address"
	case ip.IsUnspecified():
		why = "an unspecified address"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		why = "a link-local address"
	case ip.IsPrivate():
		why = "a private address"
	case ip.IsMulticast():
		why = "a multicast address"
	}
	if why == "" {
		return nil
	}
	return fmt.Errorf("%w: %s is %s (allow it in [dispatch] allow_targets)", ErrTargetRefused, ip, why)
}

func isMetadata(ip netip.Addr) bool {
	for _, m := range metadataAddrs {
		if ip == m {
			return true
		}
	}
	return false
}

// ParseHostIP parses a host as an IP the way permissive resolvers do: IPv6 (bracketed
// or not), dotted IPv4, and inet_aton forms (1 to 4 parts, decimal, octal with a leading
// 0, hex with 0x).
func ParseHostIP(h string) (netip.Addr, bool) {
	h = strings.Trim(h, "[]")
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip, true
	}
	parts := strings.Split(h, ".")
	if len(parts) == 0 || len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, s := range parts {
		if s == "" {
			return netip.Addr{}, false
		}
		base := 10
		switch {
		case strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X"):
			base, s = 16, s[2:]
		case len(s) > 1 && s[0] == '0':
			base, s = 8, s[1:]
		}
		v, err := strconv.ParseUint(s, base, 32)
		if err != nil && !(s == "" && base == 16) {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	n := len(vals)
	for i := 0; i < n-1; i++ {
		if vals[i] > 255 {
			return netip.Addr{}, false
		}
	}
	if vals[n-1] >= 1<<(8*uint(5-n)) {
		return netip.Addr{}, false
	}
	var u uint32
	for i := 0; i < n-1; i++ {
		u |= uint32(vals[i]) << (24 - 8*uint(i))
	}
	u |= uint32(vals[n-1])
	return netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)}), true
}
