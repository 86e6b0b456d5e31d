package dispatch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// ErrTargetRefused is what every refusal of the target policy wraps (a [*TargetError]).
var ErrTargetRefused = errors.New("dispatch: webhook target refused")

// TargetError is a webhook target that the target policy refuses: an address that is not
// public (loopback, private, link-local, ...), a cloud metadata host, or hooktap's own
// listener. It never holds the URL's path, query or credentials.
type TargetError struct {
	Host   string     // the host as the URL names it, without port
	Addr   netip.Addr // the refused address; invalid when the host name itself is refused
	Reason string     // "loopback", "private", "link-local", "cloud metadata", ...
}

func (e *TargetError) Error() string {
	what := strconv.Quote(e.Host)
	if e.Addr.IsValid() && e.Addr.String() != e.Host {
		what += " (" + e.Addr.String() + ")"
	}
	if e.Reason == reasonSelf {
		return "dispatch: webhook target " + what + " refused: it is hooktap's own listener"
	}
	return "dispatch: webhook target " + what + " refused: " + e.Reason +
		" address; list it in [dispatch] allow_targets to allow it"
}

// Is makes errors.Is(err, ErrTargetRefused) hold.
func (e *TargetError) Is(target error) bool { return target == ErrTargetRefused }

const reasonSelf = "own listener"

// Special-purpose ranges that netip's predicates do not name.
var (
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")        // "this network": 0.x reaches the host
	sharedSpace = netip.MustParsePrefix("100.64.0.0/10")    // carrier-grade NAT, used inside clouds
	benchmark   = netip.MustParsePrefix("198.18.0.0/15")    // benchmarking, often internal
	ietfProto   = netip.MustParsePrefix("192.0.0.0/24")     // IETF protocol assignments
	reserved4   = netip.MustParsePrefix("240.0.0.0/4")      // reserved, and the broadcast address
	v4compat    = netip.MustParsePrefix("::/96")            // deprecated IPv4-compatible IPv6
	nat64       = netip.MustParsePrefix("64:ff9b::/96")     // NAT64: an IPv4 address inside
	nat64local  = netip.MustParsePrefix("64:ff9b:1::/48")   // local-use NAT64
	sixToFour   = netip.MustParsePrefix("2002::/16")        // 6to4: an IPv4 address inside
	siteLocal   = netip.MustParsePrefix("fec0::/10")        // deprecated site-local
	discardV6   = netip.MustParsePrefix("100::/64")         // discard-only
	metadataV4  = netip.MustParseAddr("169.254.169.254")    // AWS, GCP, Azure, OpenStack, ...
	metadataV6  = netip.MustParseAddr("fd00:ec2::254")      // AWS (IPv6)
	metadataAli = netip.MustParseAddr("100.100.100.200")    // Alibaba Cloud
	metadataOra = netip.MustParseAddr("192.0.0.192")        // Oracle Cloud
	metadataAz  = netip.MustParseAddr("168.63.129.16")      // Azure's wire server
	metadataDO  = netip.MustParsePrefix("169.254.170.0/24") // ECS task metadata and the like
)

// metadataHosts are cloud metadata host names, refused whatever they resolve to.
var metadataHosts = map[string]bool{
	"metadata": true, "metadata.google.internal": true, "metadata.goog": true,
	"instance-data": true, "instance-data.ec2.internal": true, "metadata.azure.internal": true,
	"metadata.platformequinix.com": true, "metadata.tencentyun.com": true,
}

// AddrReason returns why the policy refuses a, or "" when a is a public address. It
// ignores a's zone. It is the whole address part of the policy; the allow-list and
// hooktap's own listeners are applied by [TargetPolicy].
func AddrReason(a netip.Addr) string {
	a = a.WithZone("")
	switch {
	case !a.IsValid():
		return "invalid"
	case a == metadataV4 || a == metadataV6 || a == metadataAli || a == metadataOra || a == metadataAz ||
		metadataDO.Contains(a):
		return "cloud metadata"
	case a.Is4In6():
		return "IPv4-mapped"
	case a.IsUnspecified() || thisNetwork.Contains(a):
		return "unspecified"
	case a.IsLoopback():
		return "loopback"
	case a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast():
		return "link-local"
	case a.Is6() && a.IsPrivate():
		return "unique-local"
	case a.IsPrivate() || sharedSpace.Contains(a) || benchmark.Contains(a) || ietfProto.Contains(a):
		return "private"
	case a.IsMulticast() || a.IsInterfaceLocalMulticast():
		return "multicast"
	case reserved4.Contains(a):
		return "reserved"
	case siteLocal.Contains(a):
		return "site-local"
	case discardV6.Contains(a):
		return "reserved"
	case v4compat.Contains(a):
		return "IPv4-compatible"
	case nat64.Contains(a) || nat64local.Contains(a):
		b := a.As16()
		if r := AddrReason(netip.AddrFrom4([4]byte(b[12:16]))); r != "" {
			return "NAT64 of a " + r
		}
	case sixToFour.Contains(a):
		b := a.As16()
		if r := AddrReason(netip.AddrFrom4([4]byte(b[2:6]))); r != "" {
			return "6to4 of a " + r
		}
	}
	return ""
}

// TargetPolicy decides which webhook targets may be sent to: public addresses always;
// loopback, private, link-local, unique-local, unspecified, IPv4-mapped, cloud metadata and
// other special addresses only when the allow-list names them; hooktap's own listeners
// never. It is applied to URLs when webhooks are configured (literal addresses in every
// spelling a resolver accepts, and metadata host names) and again at dial time to every
// address a host name resolves to, so that DNS cannot get round it. The zero value is the
// policy with an empty allow-list. Immutable once built; safe for concurrent use.
type TargetPolicy struct {
	prefixes []netip.Prefix
	hosts    map[string]bool
	own      []netip.AddrPort // hooktap's listeners; an unspecified address stands for any local one
	// lookup, when set, resolves host names in place of the system resolver (tests: a name
	// that resolves to loopback); its addresses are checked before connecting all the same.
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)
}

// NewTargetPolicy builds the policy with allow as its allow-list ([dispatch] allow_targets):
// IP addresses, CIDR prefixes or host names.
func NewTargetPolicy(allow []string) (*TargetPolicy, error) {
	p := &TargetPolicy{}
	var errs []error
	for i, s := range allow {
		pre, host, err := ParseAllowTarget(s)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("dispatch: allow_targets[%d]: %w", i, err))
		case host != "":
			if p.hosts == nil {
				p.hosts = map[string]bool{}
			}
			p.hosts[host] = true
		default:
			p.prefixes = append(p.prefixes, pre)
		}
	}
	return p, errors.Join(errs...)
}

// ParseAllowTarget parses one allow_targets entry: an IP address (a one-address prefix), a
// CIDR prefix, or a host name (returned lower-cased, without a trailing dot).
func ParseAllowTarget(s string) (netip.Prefix, string, error) {
	if s == "" {
		return netip.Prefix{}, "", errors.New("empty entry")
	}
	if strings.Contains(s, "/") {
		pre, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, "", fmt.Errorf("%q is not a CIDR prefix (\"10.1.0.0/16\")", s)
		}
		return pre.Masked(), "", nil
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		a = a.WithZone("")
		return netip.PrefixFrom(a, a.BitLen()), "", nil
	}
	h := normHost(s)
	if !validHostName(h) {
		return netip.Prefix{}, "", fmt.Errorf("%q is not an IP address, CIDR prefix or host name", s)
	}
	if _, ok := parseLooseIPv4(h); ok {
		return netip.Prefix{}, "", fmt.Errorf("%q: write the address in dotted-decimal form", s)
	}
	return netip.Prefix{}, h, nil
}

// SetOwnListeners names hooktap's own listen addresses ("127.0.0.1:8081", ":8080"), which
// are refused as targets whatever the allow-list says; a listener on an unspecified address
// stands for its port on every loopback and unspecified address. Call it before the policy
// is used.
func (p *TargetPolicy) SetOwnListeners(addrs ...string) {
	p.own = p.own[:0]
	for _, s := range addrs {
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			continue
		}
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			continue
		}
		a := netip.IPv4Unspecified()
		if host != "" && host != "localhost" {
			if a, err = netip.ParseAddr(host); err != nil {
				continue
			}
		} else if host == "localhost" {
			a = netip.MustParseAddr("127.0.0.1")
		}
		p.own = append(p.own, netip.AddrPortFrom(a.Unmap(), uint16(n)))
	}
}

func (p *TargetPolicy) allowedAddr(a netip.Addr) bool {
	if p == nil {
		return false
	}
	a = a.WithZone("")
	for _, pre := range p.prefixes {
		if pre.Contains(a) {
			return true
		}
	}
	return false
}

func (p *TargetPolicy) isOwn(ap netip.AddrPort) bool {
	if p == nil {
		return false
	}
	a := ap.Addr().WithZone("").Unmap()
	for _, o := range p.own {
		if o.Port() != ap.Port() {
			continue
		}
		if o.Addr() == a || (o.Addr().IsUnspecified() && (a.IsLoopback() || a.IsUnspecified())) ||
			(o.Addr().IsLoopback() && a.IsUnspecified()) {
			return true
		}
	}
	return false
}

// HostAllowed reports whether the allow-list names host.
func (p *TargetPolicy) HostAllowed(host string) bool {
	return p != nil && p.hosts[normHost(host)]
}

// CheckAddr returns a *TargetError when the policy refuses ip (hooktap's own listeners
// aside, which need a port), nil otherwise.
func (p *TargetPolicy) CheckAddr(ip netip.Addr) error {
	if r := AddrReason(ip); r != "" && !p.allowedAddr(ip) {
		return &TargetError{Host: ip.WithZone("").String(), Addr: ip, Reason: r}
	}
	return nil
}

// CheckHost is CheckURL's check of a host (without port, brackets allowed), before any
// resolution.
func (p *TargetPolicy) CheckHost(host string) error {
	return p.checkHost(strings.Trim(host, "[]"), 0)
}

// checkDial returns a *TargetError when the policy refuses to connect to ap for host (the
// host name the URL names), nil otherwise.
func (p *TargetPolicy) checkDial(host string, ap netip.AddrPort) error {
	if p.isOwn(ap) {
		return &TargetError{Host: host, Addr: ap.Addr(), Reason: reasonSelf}
	}
	if p.HostAllowed(host) {
		return nil
	}
	if r := AddrReason(ap.Addr()); r != "" && !p.allowedAddr(ap.Addr()) {
		return &TargetError{Host: host, Addr: ap.Addr(), Reason: r}
	}
	return nil
}

// CheckURL checks a webhook URL as far as can be done without resolving its host: a
// literal address in any spelling (decimal "2130706433", hex "0x7f.1", octal "0177.0.0.1",
// IPv6 with a zone, IPv4-mapped IPv6), "localhost" and cloud metadata host names. It returns
// a *TargetError, or an error for a URL that does not parse, or nil; host names are checked
// again when they are dialled.
func (p *TargetPolicy) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("dispatch: url does not parse")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("dispatch: url must be http or https")
	}
	host := u.Hostname()
	if host == "" {
		return errors.New("dispatch: url has no host")
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return errors.New("dispatch: url has a bad port")
	}
	return p.checkHost(host, uint16(n))
}

// checkHost checks a URL's host (as url.Hostname gives it) and port.
func (p *TargetPolicy) checkHost(host string, port uint16) error {
	h := normHost(host)
	a, literal := literalAddr(h)
	if literal {
		return p.checkDial(host, netip.AddrPortFrom(a, port))
	}
	if p.HostAllowed(h) {
		return nil
	}
	if metadataHosts[h] {
		return &TargetError{Host: host, Reason: "cloud metadata"}
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		lo := netip.AddrFrom4([4]byte{127, 0, 0, 1})
		if err := p.checkDial(host, netip.AddrPortFrom(lo, port)); err != nil {
			return err
		}
	}
	return nil
}

// normHost lower-cases a host name and drops one trailing dot.
func normHost(h string) string {
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// ParseHostIP parses a URL host (brackets allowed) as an IP address the way resolvers do;
// see literalAddr.
func ParseHostIP(h string) (netip.Addr, bool) {
	return literalAddr(normHost(strings.Trim(h, "[]")))
}

// literalAddr parses h as an IP address the way resolvers do: IPv6 (with or without a
// zone), dotted-decimal IPv4, and the inet_aton forms ("2130706433", "0x7f.1",
// "0177.0.0.1", "127.1").
func literalAddr(h string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(h); err == nil {
		return a, true
	}
	return parseLooseIPv4(h)
}

// parseLooseIPv4 parses s as inet_aton does: one to four parts separated by dots, each
// decimal, octal (leading 0) or hexadecimal (0x); the last part fills the remaining bytes.
func parseLooseIPv4(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var vals [4]uint64
	for i, part := range parts {
		base := 10
		digits := part
		switch {
		case len(part) > 1 && (part[:2] == "0x" || part[:2] == "0X"):
			base, digits = 16, part[2:]
			if digits == "" {
				digits = "0" // "0x" alone is 0 to inet_aton
			}
		case len(part) > 1 && part[0] == '0':
			base, digits = 8, part[1:]
		}
		if digits == "" {
			return netip.Addr{}, false
		}
		v, err := strconv.ParseUint(digits, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	n := len(parts)
	var out uint64
	for i := 0; i < n-1; i++ {
		if vals[i] > 255 {
			return netip.Addr{}, false
		}
		out |= vals[i] << (8 * (3 - i))
	}
	last := vals[n-1]
	if last >= 1<<(8*(5-n)) {
		return netip.Addr{}, false
	}
	out |= last
	return netip.AddrFrom4([4]byte{byte(out >> 24), byte(out >> 16), byte(out >> 8), byte(out)}), true
}

// validHostName reports whether h is a DNS host name: dot-separated labels of letters,
// digits, hyphens and underscores.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
