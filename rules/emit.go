package rules

import "github.com/tidwall/gjson"

// userKey returns the acting user: the first [classify] user expression with a value.
func (s *state) userKey(x *Exchange) []byte {
	if s.userDone {
		return s.userBuf
	}
	s.userDone = true
	for i := range s.m.user {
		v := s.eval(&s.m.user[i], x)
		if v.kind == vMissing {
			continue
		}
		if t := v.asText(); len(t) > 0 {
			s.userBuf = append(s.userBuf[:0], t...)
			break
		}
	}
	return s.userBuf
}

// emit builds ce's events (one, or one per element of each).
func (s *state) emit(ce *cemit, x *Exchange, dst []Event, buf []byte) ([]Event, []byte) {
	if ce.each == nil {
		return s.emitOne(ce, x, dst, buf)
	}
	over := ce.each
	if ce.outer != nil {
		over = ce.outer // an each within an each (nested.go): each is read per element of outer
	}
	arr := s.eval(over, x)
	if arr.kind != vJSON || !arr.res.IsArray() {
		return dst, buf
	}
	r := s.m.rules[s.cands[s.cur]]
	i := 0
	arr.res.ForEach(func(_, v gjson.Result) bool {
		s.item, s.inItem, s.itemIdx = v, true, i
		i++
		if ce.eachLookups != 0 && !r.emitOnLookupError && s.elementFailed(r, ce) {
			return true
		}
		if ce.outer == nil {
			dst, buf = s.emitOne(ce, x, dst, buf)
			return true
		}
		in := s.eval(ce.each, x)
		if in.kind != vJSON || !in.res.IsArray() {
			return true
		}
		in.res.ForEach(func(_, w gjson.Result) bool {
			s.item = w
			dst, buf = s.emitOne(ce, x, dst, buf)
			return true
		})
		return true
	})
	s.item, s.inItem, s.itemIdx = gjson.Result{}, false, 0
	return dst, buf
}

// elementFailed reports whether a per-element lookup over ce's array failed (or was not
// made) for the current element.
func (s *state) elementFailed(r *crule, ce *cemit) bool {
	for li := range r.lookups {
		if ce.eachLookups&(1<<li) == 0 {
			continue
		}
		if l := s.lookup(li); l == nil || l.failed {
			return true
		}
	}
	return false
}

// emitOne builds one event of ce, when its conditions hold: the payload and, for an emit
// with a full table, the full payload, appended to buf.
func (s *state) emitOne(ce *cemit, x *Exchange, dst []Event, buf []byte) ([]Event, []byte) {
	if s.tr != nil {
		s.tr.emit = ce
	}
	ok := s.conds(ce.conds, x)
	if s.tr != nil {
		s.tr.emit = nil
	}
	if !ok {
		return dst, buf
	}
	ev := Event{Name: ce.name, Time: s.now}
	start := len(buf)
	buf = s.appendPayload(buf, ce.name, ce.payload, x)
	ev.Payload = buf[start:len(buf):len(buf)]
	if ce.full != nil {
		start = len(buf)
		buf = s.appendPayload(buf, ce.name, ce.full, x)
		ev.Full = buf[start:len(buf):len(buf)]
	}
	if s.tr != nil {
		s.tr.emitted(s, len(dst))
	}
	return append(dst, ev), buf
}

// appendPayload writes the payload of event name: the envelope, then root's keys.
func (s *state) appendPayload(buf []byte, name string, root *pnode, x *Exchange) []byte {
	buf = append(buf, `{"timestamp":`...)
	buf = appendInt(buf, s.now)
	buf = append(buf, `,"event":"`...)
	buf = append(buf, name...)
	buf = append(buf, `","userKey":`...)
	buf = appendJSONString(buf, s.userKey(x))
	buf, _ = s.appendKids(buf, root, x, false)
	return append(buf, '}')
}

// appendKids writes n's keys; keys whose value is missing and objects left empty are left
// out. It reports whether it wrote any key.
func (s *state) appendKids(buf []byte, n *pnode, x *Exchange, first bool) ([]byte, bool) {
	wrote := false
	for _, k := range n.kids {
		mark := len(buf)
		if !first {
			buf = append(buf, ',')
		}
		buf = append(buf, k.key...)
		switch {
		case k.kids != nil:
			buf = append(buf, '{')
			var any bool
			buf, any = s.appendKids(buf, k, x, true)
			if !any {
				buf = buf[:mark]
				continue
			}
			buf = append(buf, '}')
		case k.e != nil:
			v := s.eval(k.e, x)
			if v.kind == vMissing {
				buf = buf[:mark]
				continue
			}
			buf = appendValue(buf, &v, k.num)
		default:
			buf = append(buf, k.lit...)
		}
		first, wrote = false, true
	}
	return buf, wrote
}
