package rules

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// appendURL fills a lookup or invalidate template. It reports whether every placeholder had
// a value (a missing one is left empty).
func (s *state) appendURL(dst []byte, parts []tmplPart, x *Exchange) ([]byte, bool) {
	all := true
	for i := range parts {
		p := &parts[i]
		if p.e == nil {
			dst = append(dst, p.lit...)
			continue
		}
		if p.raw {
			if seg, ok := s.segment(p.e.idx, p.e.rest); ok {
				dst = append(dst, seg...)
			} else {
				all = false
			}
			continue
		}
		v := s.eval(p.e, x)
		if v.kind != vMissing {
			dst = appendEscape(dst, v.asText())
		} else {
			all = false
		}
	}
	return dst, all
}

// doLookup makes lookup li of rule r for candidate ci, through the cache: once, or once per
// element of its each array.
func (s *state) doLookup(r *crule, ci, li int, x *Exchange) {
	l := &r.lookups[li]
	res := &s.looks[ci*s.m.maxLookups+li]
	if l.each == nil {
		*res = lookRes{}
		s.fetch(l, r.name, res, x, 0)
		return
	}
	// Per element: the elements share one lookup_timeout; after a failure, or past
	// each_lookup_limit, the rest are not looked up (and count as failed).
	*res = lookRes{done: true, first: len(s.elems)}
	arr := s.eval(l.each, x)
	if arr.kind != vJSON || !arr.res.IsArray() {
		return
	}
	deadline := s.env.now().Add(s.m.lookupTimeout).UnixNano()
	stop := false
	notMade := uint64(0)
	arr.res.ForEach(func(_, v gjson.Result) bool {
		if stop || res.n >= s.m.eachLimit || s.env.now().UnixNano() > deadline {
			stop = true
			notMade++
			return true
		}
		s.item, s.inItem, s.itemIdx = v, true, res.n
		s.elems = append(s.elems, lookRes{})
		e := &s.elems[len(s.elems)-1]
		s.fetch(l, r.name, e, x, deadline)
		res.n++
		stop = e.failed
		return true
	})
	s.item, s.inItem, s.itemIdx = gjson.Result{}, false, 0
	if notMade > 0 && s.env.stats != nil {
		s.env.stats.lookupsNotMade.Add(notMade)
	}
}

// fetch makes lookup l into res through the cache. A deadline (UnixNano, 0 for now +
// lookup_timeout) bounds it: an answer that comes later fails it.
func (s *state) fetch(l *clookup, rule string, res *lookRes, x *Exchange, deadline int64) {
	s.fetchOne(l, rule, res, x, deadline)
	if s.tr != nil {
		s.tr.lookup(s, l, rule, res)
	}
}

// fetchOne is fetch without the trace: the cache first, then the upstream, the answer
// bounded by deadline.
func (s *state) fetchOne(l *clookup, rule string, res *lookRes, x *Exchange, deadline int64) {
	*res = lookRes{done: true}
	var all bool
	s.url, all = s.appendURL(s.url[:0], l.parts, x)
	if !all && l.skipMissing {
		return // not made: its values are missing, and it did not fail
	}
	if l.call != nil && !s.prepareCall(l, x) {
		return // a param with no value: not made either
	}
	path, query := s.url, []byte(nil)
	if q := bytes.IndexByte(path, '?'); q >= 0 {
		path, query = path[:q], path[q+1:]
	}
	st := s.env.stats
	start := s.env.now()
	now := start.UnixNano()
	if s.env.cache != nil && l.cache {
		if e := s.env.cache.get(path, query, now); e != nil {
			res.status, res.body = e.status, e.body
			if st != nil {
				st.cacheHits.Add(1)
			}
			return
		}
	}
	if st != nil {
		st.lookups.Add(1)
	}
	if x.Upstream == nil {
		res.failed = true
		if st != nil {
			st.lookupErrors.Add(1)
		}
		return
	}
	if deadline == 0 {
		deadline = start.Add(s.m.lookupTimeout).UnixNano()
	}
	var gen uint64
	if s.env.cache != nil && l.cache {
		gen = s.env.cache.gen(path) // before asking: a drop from now on voids the answer
	}
	begin := len(s.lbuf)
	var status int
	var body []byte
	var err error
	if l.call != nil {
		status, body, err = s.postCall(l, x)
	} else {
		status, body, err = x.Upstream.Fetch(s.lbuf, s.url)
	}
	late := s.env.now().UnixNano() > deadline
	if err != nil || status == 0 || late {
		res.failed = true
		if st != nil {
			st.lookupErrors.Add(1)
			if late && err == nil && status != 0 {
				st.lookupLate.Add(1)
			}
		}
		if s.env.log != nil {
			s.env.log.Debug("rules: lookup failed", "rule", rule, "lookup", l.name, "path", logPath(s.url), "status", status, "late", late, "err", logErr(err, s.url))
		}
		return
	}
	s.lbuf = body
	res.status, res.body = status, body[begin:len(body):len(body)]
	if s.env.cache != nil && l.cache && status >= 200 && status < 300 {
		s.env.cache.put(path, query, status, res.body, now, gen)
	}
}

// logPath is a lookup URL for a log line: the path, and the query with every value replaced
// by *** ("/wp-json/wp/v2/users/me?_wpnonce=***&context=***"), since lookups carry the
// client's nonces, tokens and keys in their queries (see the WordPress pack's REST lookups)
// and no secret may reach a log. It runs only when a lookup failed and Debug is on.
func logPath(u []byte) string {
	q := bytes.IndexByte(u, '?')
	if q < 0 {
		return string(u)
	}
	out := make([]byte, 0, len(u)+8)
	out = append(out, u[:q+1]...)
	for i, pair := range bytes.Split(u[q+1:], []byte{'&'}) {
		if i > 0 {
			out = append(out, '&')
		}
		if eq := bytes.IndexByte(pair, '='); eq >= 0 {
			out = append(out, pair[:eq+1]...)
			out = append(out, "***"...)
		} else {
			out = append(out, pair...)
		}
	}
	return string(out)
}

// logErr is a failed lookup's error for its log line: its text with the lookup URL u,
// wherever the error quotes it (the proxy's fetcher does: proxy: lookup "/p?_wpnonce=..."),
// redacted as logPath redacts it; nil for no error.
func logErr(err error, u []byte) any {
	if err == nil {
		return nil
	}
	msg, raw, red := err.Error(), string(u), logPath(u)
	if raw == red {
		return msg
	}
	msg = strings.ReplaceAll(msg, raw, red)
	if q, r := strconv.Quote(raw), strconv.Quote(red); q[1:len(q)-1] != raw { // as %q escapes it
		msg = strings.ReplaceAll(msg, q[1:len(q)-1], r[1:len(r)-1])
	}
	return msg
}
