package rules

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// xcall is an xmlrpc lookup's call: the method and its compiled params.
type xcall struct {
	method string
	params []xparam
}

// xparam is one compiled param of an xmlrpc lookup: an expression, a literal (lit holds its
// <value>), or an array or struct of xparams.
type xparam struct {
	e     *expr
	lit   string
	kids  []xparam
	names []string // struct member names, sorted; nil for an array
	isArr bool
}

// compileXParam compiles a param: a string is an expression, an integer or boolean a
// literal, an array an <array>, a table a <struct> (its members sorted by name).
func compileXParam(v any, sc *scope) (xparam, error) {
	switch x := v.(type) {
	case string:
		e, err := parseExpr(strings.TrimSpace(x), sc)
		if err != nil {
			return xparam{}, err
		}
		return xparam{e: &e}, nil
	case int64:
		return xparam{lit: "<value><int>" + strconv.FormatInt(x, 10) + "</int></value>"}, nil
	case bool:
		b := "0"
		if x {
			b = "1"
		}
		return xparam{lit: "<value><boolean>" + b + "</boolean></value>"}, nil
	case []any:
		p := xparam{isArr: true}
		for _, el := range x {
			k, err := compileXParam(el, sc)
			if err != nil {
				return p, err
			}
			p.kids = append(p.kids, k)
		}
		return p, nil
	case map[string]any:
		p := xparam{names: make([]string, 0, len(x))}
		for k := range x {
			p.names = append(p.names, k)
		}
		sort.Strings(p.names)
		for _, k := range p.names {
			kid, err := compileXParam(x[k], sc)
			if err != nil {
				return p, fmt.Errorf("%s: %v", k, err)
			}
			p.kids = append(p.kids, kid)
		}
		return p, nil
	}
	return xparam{}, fmt.Errorf("a param must be an expression string, an integer, a boolean, an array or a table, not %T", v)
}

// exprs calls f on every expression of p.
func (p *xparam) exprs(f func(*expr)) {
	if p.e != nil {
		f(p.e)
	}
	for i := range p.kids {
		p.kids[i].exprs(f)
	}
}

// appendCall writes the methodCall of c. It reports false when a param's expression has
// no value (the lookup is then not made).
func (s *state) appendCall(dst []byte, c *xcall, x *Exchange) ([]byte, bool) {
	dst = append(dst, `<?xml version="1.0"?><methodCall><methodName>`...)
	dst = appendXMLText(dst, c.method)
	dst = append(dst, "</methodName><params>"...)
	for i := range c.params {
		dst = append(dst, "<param>"...)
		var ok bool
		if dst, ok = s.appendXParam(dst, &c.params[i], x); !ok {
			return dst, false
		}
		dst = append(dst, "</param>"...)
	}
	return append(dst, "</params></methodCall>"...), true
}

func (s *state) appendXParam(dst []byte, p *xparam, x *Exchange) ([]byte, bool) {
	switch {
	case p.e != nil:
		v := s.eval(p.e, x)
		switch v.kind {
		case vMissing:
			return dst, false
		case vJSON:
			return appendXMLJSON(dst, v.res, 0), true
		case vNum:
			dst = append(dst, "<value><int>"...)
			dst = append(dst, v.text...)
			return append(dst, "</int></value>"...), true
		case vBool:
			if b2s(v.text) == "true" {
				return append(dst, "<value><boolean>1</boolean></value>"...), true
			}
			return append(dst, "<value><boolean>0</boolean></value>"...), true
		}
		dst = append(dst, "<value><string>"...)
		dst = appendXMLText(dst, b2s(v.text))
		return append(dst, "</string></value>"...), true
	case p.lit != "":
		return append(dst, p.lit...), true
	case p.isArr:
		dst = append(dst, "<value><array><data>"...)
		for i := range p.kids {
			var ok bool
			if dst, ok = s.appendXParam(dst, &p.kids[i], x); !ok {
				return dst, false
			}
		}
		return append(dst, "</data></array></value>"...), true
	}
	dst = append(dst, "<value><struct>"...)
	for i := range p.kids {
		dst = append(dst, "<member><name>"...)
		dst = appendXMLText(dst, p.names[i])
		dst = append(dst, "</name>"...)
		var ok bool
		if dst, ok = s.appendXParam(dst, &p.kids[i], x); !ok {
			return dst, false
		}
		dst = append(dst, "</member>"...)
	}
	return append(dst, "</struct></value>"...), true
}

// appendXMLJSON writes a JSON value as an XML-RPC <value>: a string as <string>, an integer
// as <int>, another number as <double>, true/false as <boolean>, null as <nil/>, an array
// as <array>, an object as <struct>.
func appendXMLJSON(dst []byte, r gjson.Result, depth int) []byte {
	switch r.Type {
	case gjson.String:
		dst = append(dst, "<value><string>"...)
		dst = appendXMLText(dst, r.Str)
		return append(dst, "</string></value>"...)
	case gjson.Number:
		if r.Num == float64(int64(r.Num)) && !strings.ContainsAny(r.Raw, ".eE") {
			dst = append(dst, "<value><int>"...)
			dst = append(dst, r.Raw...)
			return append(dst, "</int></value>"...)
		}
		dst = append(dst, "<value><double>"...)
		dst = strconv.AppendFloat(dst, r.Num, 'f', -1, 64)
		return append(dst, "</double></value>"...)
	case gjson.True:
		return append(dst, "<value><boolean>1</boolean></value>"...)
	case gjson.False:
		return append(dst, "<value><boolean>0</boolean></value>"...)
	case gjson.Null:
		return append(dst, "<value><nil/></value>"...)
	}
	if depth > xmlrpcMaxDepth {
		return append(dst, "<value><nil/></value>"...)
	}
	if r.IsArray() {
		dst = append(dst, "<value><array><data>"...)
		r.ForEach(func(_, v gjson.Result) bool {
			dst = appendXMLJSON(dst, v, depth+1)
			return true
		})
		return append(dst, "</data></array></value>"...)
	}
	dst = append(dst, "<value><struct>"...)
	r.ForEach(func(k, v gjson.Result) bool {
		dst = append(dst, "<member><name>"...)
		dst = appendXMLText(dst, k.Str)
		dst = append(dst, "</name>"...)
		dst = appendXMLJSON(dst, v, depth+1)
		dst = append(dst, "</member>"...)
		return true
	})
	return append(dst, "</struct></value>"...)
}

// appendXMLText writes s as XML character data.
func appendXMLText(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		var rep string
		switch s[i] {
		case '<':
			rep = "&lt;"
		case '>':
			rep = "&gt;"
		case '&':
			rep = "&amp;"
		case '\r':
			rep = "&#13;"
		default:
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = append(dst, rep...)
		start = i + 1
	}
	return append(dst, s[start:]...)
}

var textXML = []byte("text/xml")

// prepareCall writes l's methodCall into the state. It reports false when a param has no
// value: the lookup is then not made.
func (s *state) prepareCall(l *clookup, x *Exchange) bool {
	var ok bool
	s.xml.call, ok = s.appendCall(s.xml.call[:0], l.call, x)
	return ok
}

// postCall makes an xmlrpc lookup: it POSTs the prepared call to s.url and appends the
// answer's JSON form to s.lbuf (nothing when the answer is no methodResponse: its values
// are then missing).
func (s *state) postCall(l *clookup, x *Exchange) (status int, body []byte, err error) {
	p, isPoster := x.Upstream.(Poster)
	if !isPoster {
		return 0, s.lbuf, fmt.Errorf("rules: lookup %q: the upstream cannot POST", l.name)
	}
	status, s.xml.raw, err = p.Post(s.xml.raw[:0], s.url, textXML, s.xml.call)
	if err != nil || status == 0 {
		return status, s.lbuf, err
	}
	begin := len(s.lbuf)
	out, ok := appendXMLRPCJSON(s.lbuf, s.xml.raw, true)
	if !ok {
		out = out[:begin]
	}
	return status, out, nil
}

// Post implements Poster for xmlrpc lookups: it answers by "POST path method params", the
// params as JSON with the password shown as "***", and records each call so.
func (f *CaseFetcher) Post(dst, pq, contentType, body []byte) (int, []byte, error) {
	key := "POST " + string(pq) + " " + xmlrpcCallKey(body)
	f.Calls = append(f.Calls, key)
	if f.NoAnswers {
		return 0, dst, ErrNoAnswer
	}
	a, ok := f.Answers[key]
	if !ok {
		return 404, append(dst, "not found"...), nil
	}
	f.Elapsed += a.Delay
	if a.Err {
		return 0, dst, fmt.Errorf("fake: connection refused")
	}
	return a.Status, append(dst, a.Body...), nil
}

// xmlrpcCallKey shows a methodCall as "method [params]" with its password as "***".
func xmlrpcCallKey(body []byte) string {
	doc, ok := appendXMLRPCJSON(nil, body, false)
	if !ok {
		return "(not a methodCall)"
	}
	r := gjson.ParseBytes(doc)
	method := r.Get("method").String()
	_, pass := xmlrpcCreds([]byte(method))
	var b strings.Builder
	b.WriteString(method + " [")
	for i, p := range r.Get("params").Array() {
		if i > 0 {
			b.WriteByte(',')
		}
		if i == pass {
			b.WriteString(`"***"`)
		} else {
			b.WriteString(p.Raw)
		}
	}
	b.WriteString("]")
	return b.String()
}
