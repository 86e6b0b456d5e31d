package rules

import (
	"bytes"
	"sort"
	"sync"
	"sync/atomic"
)

// Unmatched writes: a write request (any method but GET, HEAD and OPTIONS) that the upstream
// accepted (2xx or 3xx) and that no rule matched is a gap in the rules, and is counted by
// method and route shape (see [AppendRouteShape]), so that a gap is never silent. "No rule
// matched" means no rule's method, path, status and conditions all held: the writes the proxy
// forwards without a tap because no rule could want their path (counted through
// [Classifier.RecordUnmatched]), and the tapped ones where every candidate rule failed. A
// rule whose lookup failed counts as matched (the failure is counted apart), as does one
// whose emits' own conditions all failed. A failed write (4xx, 5xx, the proxy's 502/504) is
// not a gap: nothing happened to report.

// MaxUnmatchedRoutes bounds the unmatched-writes table: past it, new (method, route) pairs
// are counted under their method with the route [UnmatchedOverflow].
const MaxUnmatchedRoutes = 256

// UnmatchedOverflow is the route of the writes counted after the table filled up.
const UnmatchedOverflow = "{other}"

// maxShape bounds a route shape's length; a longer path ends in "/{...}".
const maxShape = 256

// UnmatchedWrite is one row of the unmatched-writes table.
type UnmatchedWrite struct {
	Method     string // "POST", "PUT", "PATCH", "DELETE" or "OTHER"
	Route      string // the route shape, or UnmatchedOverflow
	Count      uint64 // writes counted (2xx and 3xx)
	Count3xx   uint64 // of which answered 3xx (a redirect after a form post)
	LastStatus int    // the upstream's status of the latest one
	LastSeen   int64  // Unix milliseconds of the latest one
}

// unmatchedMethods are the method labels: the write methods counted apart, then OTHER.
var unmatchedMethods = [...]string{"POST", "PUT", "PATCH", "DELETE", "OTHER"}

type umEntry struct {
	method uint8
	route  string
	count  [2]atomic.Uint64 // 2xx, 3xx
	status atomic.Int64
	last   atomic.Int64 // Unix ms
}

// unmatchedTable counts unmatched writes by (method, route). Counting a pair already in it
// takes a read lock and atomics, and allocates nothing; only a new pair allocates.
type unmatchedTable struct {
	mu       sync.RWMutex
	m        map[string]*umEntry // key: method index byte + route; guarded by mu
	overflow [len(unmatchedMethods)]umEntry
}

func newUnmatchedTable() *unmatchedTable {
	t := &unmatchedTable{m: make(map[string]*umEntry)}
	for i := range t.overflow {
		t.overflow[i].method, t.overflow[i].route = uint8(i), UnmatchedOverflow
	}
	return t
}

// isWrite reports whether method is a write: anything but GET, HEAD and OPTIONS.
func isWrite(method []byte) bool {
	switch string(method) {
	case "GET", "HEAD", "OPTIONS", "":
		return false
	}
	return true
}

func unmatchedMethod(method []byte) uint8 {
	for i, m := range unmatchedMethods[:len(unmatchedMethods)-1] {
		if string(method) == m {
			return uint8(i)
		}
	}
	return uint8(len(unmatchedMethods) - 1)
}

// record counts one unmatched write (the caller checked that it is one).
func (t *unmatchedTable) record(method, path, query []byte, status int, now int64) {
	if !isWrite(method) || status < 200 || status > 399 {
		return
	}
	var buf [maxShape + 64]byte
	key := append(buf[:0], unmatchedMethod(method))
	key = AppendRouteShape(key, path, query)
	t.mu.RLock()
	e := t.m[string(key)]
	t.mu.RUnlock()
	if e == nil {
		t.mu.Lock()
		if e = t.m[string(key)]; e == nil {
			if len(t.m) < MaxUnmatchedRoutes {
				e = &umEntry{method: key[0], route: string(key[1:])}
				t.m[string(key)] = e
			} else {
				e = &t.overflow[key[0]]
			}
		}
		t.mu.Unlock()
	}
	e.count[0].Add(1)
	if status >= 300 {
		e.count[1].Add(1)
	}
	e.status.Store(int64(status))
	e.last.Store(now)
}

// snapshot returns the rows, newest first (then by method and route).
func (t *unmatchedTable) snapshot() []UnmatchedWrite {
	t.mu.RLock()
	out := make([]UnmatchedWrite, 0, len(t.m)+len(t.overflow))
	for _, e := range t.m {
		out = append(out, e.row())
	}
	t.mu.RUnlock()
	for i := range t.overflow {
		if t.overflow[i].count[0].Load() > 0 {
			out = append(out, t.overflow[i].row())
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		if a.LastSeen != b.LastSeen {
			return a.LastSeen > b.LastSeen
		}
		if a.Method != b.Method {
			return a.Method < b.Method
		}
		return a.Route < b.Route
	})
	return out
}

func (e *umEntry) row() UnmatchedWrite {
	return UnmatchedWrite{Method: unmatchedMethods[e.method], Route: e.route, Count: e.count[0].Load(),
		Count3xx: e.count[1].Load(), LastStatus: int(e.status.Load()), LastSeen: e.last.Load()}
}

// routingKeys are the query parameters whose values route a write (MediaWiki's action,
// WordPress's rest_route, the _method override): their values are kept, ids collapsed.
var routingKeys = [...]string{"action", "rest_route", "_method"}

// maxQueryParams bounds the query parameter names a shape keeps.
const maxQueryParams = 16

// AppendRouteShape appends the route shape of a request path and raw query to dst: the path
// in canonical form with ids and names collapsed, then the query's parameter names, sorted
// and deduplicated, their values dropped ("title={}") except for the routing keys action,
// rest_route and _method. No value that could be user data or a secret is kept:
//
//   - a segment of digits, a UUID, a run of 8 or more hex digits holding a digit, a short
//     prefix and digits ("att1002"), or a token of 20 or more characters holding a digit
//     becomes {id};
//   - a segment that does not look like a route word (it starts with an upper-case letter
//     or holds anything but letters, digits, '.', '_', '-', '~': a title, a space key, an
//     escape) becomes {};
//   - an action value that is not a lower-case word becomes {}; rest_route is shaped as a
//     path; _method is kept when it is a method name.
//
// "/index.php?title=Main_Page&action=submit" is "/index.php?action=submit&title={}". It
// allocates nothing when dst has room for the shape (at most 256 bytes of path, plus the
// query's).
func AppendRouteShape(dst, path, query []byte) []byte {
	if len(path) == 0 || path[0] != '/' {
		return append(dst, "{}"...)
	}
	var cbuf [canonBufMax]byte
	if !isCanonPath(path) && canonLen(path) <= canonBufMax {
		path = appendCanonPath(cbuf[:0], path)
	}
	dst = appendPathShape(dst, path)
	if len(query) == 0 {
		return dst
	}
	var names [maxQueryParams][]byte
	var vals [maxQueryParams][]byte
	n := 0
	for len(query) > 0 && n < maxQueryParams {
		kv := query
		if i := bytes.IndexByte(query, '&'); i >= 0 {
			kv, query = query[:i], query[i+1:]
		} else {
			query = nil
		}
		eq := bytes.IndexByte(kv, '=')
		if eq <= 0 || !routeName(kv[:eq]) {
			continue // a bare key ("index.php?Main_Page") or an odd name: user data
		}
		name, val := kv[:eq], kv[eq+1:]
		dup := false
		for i := range n {
			if bytes.Equal(names[i], name) {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		// insertion in name order
		j := n
		for j > 0 && bytes.Compare(names[j-1], name) > 0 {
			names[j], vals[j] = names[j-1], vals[j-1]
			j--
		}
		names[j], vals[j] = name, val
		n++
	}
	for i := range n {
		if i == 0 {
			dst = append(dst, '?')
		} else {
			dst = append(dst, '&')
		}
		dst = append(dst, names[i]...)
		dst = append(dst, '=')
		dst = appendQueryShape(dst, names[i], vals[i])
	}
	return dst
}

func appendPathShape(dst, path []byte) []byte {
	start := len(dst)
	for len(path) > 0 {
		path = path[1:]
		seg := path
		if i := bytes.IndexByte(path, '/'); i >= 0 {
			seg, path = path[:i], path[i:]
		} else {
			path = nil
		}
		if i := bytes.IndexByte(seg, ';'); i >= 0 {
			seg = seg[:i]
		}
		if len(seg) == 0 {
			continue
		}
		if len(dst)-start+len(seg) > maxShape {
			return append(dst, "/{...}"...)
		}
		dst = append(dst, '/')
		switch {
		case idSegment(seg):
			dst = append(dst, "{id}"...)
		case !routeWord(seg):
			dst = append(dst, "{}"...)
		default:
			dst = append(dst, seg...)
		}
	}
	if len(dst) == start {
		dst = append(dst, '/')
	}
	return dst
}

func appendQueryShape(dst, name, val []byte) []byte {
	var key int = -1
	for i, k := range routingKeys {
		if string(name) == k {
			key = i
		}
	}
	if key < 0 || len(val) == 0 {
		return append(dst, "{}"...)
	}
	var vbuf [maxShape]byte
	v, ok := unescapeQuery(vbuf[:0], val)
	if !ok {
		return append(dst, "{}"...)
	}
	switch routingKeys[key] {
	case "rest_route":
		if len(v) > 0 && v[0] == '/' {
			return appendPathShape(dst, v)
		}
	case "action":
		if lowerWord(v) {
			return append(dst, v...)
		}
	case "_method":
		if methodWord(v) {
			return append(dst, v...)
		}
	}
	return append(dst, "{}"...)
}

// unescapeQuery percent-decodes v ('+' is a space) into dst, which must have room: false
// when it has not, or on a bad escape.
func unescapeQuery(dst, v []byte) ([]byte, bool) {
	for i := 0; i < len(v); i++ {
		if len(dst) == cap(dst) {
			return dst, false
		}
		c := v[i]
		switch c {
		case '+':
			c = ' '
		case '%':
			if i+2 >= len(v) || !isHex(v[i+1]) || !isHex(v[i+2]) {
				return dst, false
			}
			c = hexVal(v[i+1])<<4 | hexVal(v[i+2])
			i += 2
		}
		dst = append(dst, c)
	}
	return dst, true
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func hexVal(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// idSegment reports whether seg is an id: digits, a UUID, 8+ hex digits with a digit, a
// prefix of up to 4 letters and 2+ digits (Confluence's "att1002"), or an opaque token of 20+
// characters with a digit.
func idSegment(seg []byte) bool {
	digits, hex, letters, other := 0, 0, 0, 0
	for _, c := range seg {
		switch {
		case '0' <= c && c <= '9':
			digits++
			hex++
		case 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F':
			hex++
			letters++
		case 'g' <= c && c <= 'z' || 'G' <= c && c <= 'Z':
			letters++
		default:
			other++
		}
	}
	switch {
	case digits == len(seg):
		return true
	case digits > 0 && hex == len(seg) && len(seg) >= 8:
		return true
	case len(seg) == 36 && isUUID(seg):
		return true
	case digits >= 2 && letters <= 4 && other == 0 && letters+digits == len(seg) && allDigits(seg[letters:]):
		return true
	case len(seg) >= 20 && digits > 0:
		return true
	}
	return false
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

func isUUID(s []byte) bool {
	for i, c := range s {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !isHex(c) {
			return false
		}
	}
	return true
}

// routeWord reports whether seg reads as a route's own word ("content", "wp-json",
// "index.php", "v2", "1.0", "byOperation"), not as a name or title.
func routeWord(seg []byte) bool {
	if len(seg) > 40 || !('a' <= seg[0] && seg[0] <= 'z' || '0' <= seg[0] && seg[0] <= '9') {
		return false
	}
	for _, c := range seg {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-' || c == '~') {
			return false
		}
	}
	return true
}

// lowerWord reports whether v is a lower-case word (an action: "submit", "edit", "wp-remove").
func lowerWord(v []byte) bool {
	if len(v) == 0 || len(v) > 32 {
		return false
	}
	for _, c := range v {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// routeName reports whether a query parameter name may be shown: a short identifier.
func routeName(n []byte) bool {
	if len(n) > 32 || !('a' <= n[0] && n[0] <= 'z' || 'A' <= n[0] && n[0] <= 'Z' || n[0] == '_') {
		return false
	}
	for _, c := range n {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}

// methodWord reports whether v reads as an HTTP method name: up to 10 letters.
func methodWord(v []byte) bool {
	if len(v) == 0 || len(v) > 10 {
		return false
	}
	for _, c := range v {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// RecordUnmatched counts a write the proxy forwarded without tapping it, because Wants said
// no rule could match it; status is the upstream's. Reads, and writes that failed, are not
// counted. It allocates nothing for a (method, route) already counted, and keeps nothing.
func (c *Classifier) RecordUnmatched(method, path, query []byte, status int) {
	if !isWrite(method) || status < 200 || status > 399 {
		return
	}
	c.miss.record(method, path, query, status, c.environment().now().UnixMilli())
}

// Unmatched returns the unmatched writes counted since the Classifier was made (a Reload
// keeps them), newest first: at most MaxUnmatchedRoutes routes, plus one UnmatchedOverflow
// row per method once the table is full.
func (c *Classifier) Unmatched() []UnmatchedWrite { return c.miss.snapshot() }
