package rules

import (
	"fmt"
	"strings"
)

// XML-RPC (see "XML-RPC" in doc.go): the xmlrpc and xmlresp expressions read a methodCall
// request and a methodResponse answer converted once per exchange to JSON, so that gjson
// paths, each, filters and conditions work on them as on any JSON body; an xmlrpc lookup
// POSTs a methodCall built from its params and reads the answer the same way.

// Poster is a Fetcher that can also POST a body to the upstream: the proxy's is one. An
// xmlrpc lookup needs it; with a Fetcher that is not a Poster it fails.
type Poster interface {
	// Post POSTs body (of contentType) to pathAndQuery on the upstream and appends the
	// response body to dst, as Fetch does for a GET.
	Post(dst, pathAndQuery, contentType, body []byte) (status int, out []byte, err error)
}

// xmlState is the exchange's XML-RPC documents, converted on first use in each phase.
type xmlState struct {
	req, resp       []byte // the JSON documents; nil when the body is no methodCall/methodResponse
	reqGen, respGen uint32 // the state's gen when converted; 0 = not yet
	call, raw       []byte // an xmlrpc lookup's methodCall, and its raw answer
}

// xmlDoc returns the JSON form of the exchange's request (a methodCall) or response (a
// methodResponse), converting it on first use in this phase; nil when the body is not one
// or was cut at the tap limit.
func (s *state) xmlDoc(x *Exchange, resp bool) []byte {
	xs := &s.xml
	if !resp {
		if xs.reqGen != s.gen {
			xs.reqGen = s.gen
			xs.req = xs.req[:0]
			ok := false
			if !x.BodyTrunc {
				xs.req, ok = appendXMLRPCJSON(xs.req, x.Body, false)
			}
			if !ok {
				xs.req = xs.req[:0]
			}
		}
		return xs.req
	}
	if xs.respGen != s.gen {
		xs.respGen = s.gen
		xs.resp = xs.resp[:0]
		ok := false
		if !x.RespTrunc && x.RespBody != nil {
			xs.resp, ok = appendXMLRPCJSON(xs.resp, x.RespBody, true)
		}
		if !ok {
			xs.resp = xs.resp[:0]
		}
	}
	return xs.resp
}

// xmlrpcCreds says where a method of the blog APIs takes the user name and password: their
// parameter indexes, or -1, -1 for a method without (system.*, pingback.*).
func xmlrpcCreds(method []byte) (user, pass int) {
	m := b2s(method)
	switch {
	case m == "wp.getUsersBlogs":
		return 0, 1
	case m == "blogger.getUsersBlogs", m == "blogger.getUserInfo":
		return 1, 2
	case strings.HasPrefix(m, "blogger."):
		return 2, 3
	case strings.HasPrefix(m, "wp."), strings.HasPrefix(m, "metaWeblog."), strings.HasPrefix(m, "mt."):
		return 1, 2
	}
	return -1, -1
}

// memoSource is the source under which e's value is memoised: XML-RPC documents apart from
// the JSON bodies.
func (e *expr) memoSource() source {
	if e.xml {
		return e.src + 64
	}
	return e.src
}

// checkXMLRPCExpr refuses the reads of the request's password outside an xmlrpc lookup's
// params: the whole document and its password member, so that no payload, condition or
// lookup path can carry it.
func checkXMLRPCExpr(e *expr, head, tail string, sc *scope) error {
	if head != "xmlrpc" || sc != nil && sc.xparams {
		return nil
	}
	if tail == "" {
		return fmt.Errorf("%q: xmlrpc needs a path (xmlrpc.method, xmlrpc.params.N..., xmlrpc.user): the whole call holds the password", e.text)
	}
	first, _, _ := strings.Cut(tail, ".")
	if strings.HasPrefix(first, "password") {
		return fmt.Errorf("%q: xmlrpc.password is the client's password: only an xmlrpc lookup's params may read it", e.text)
	}
	if first, _, _ = strings.Cut(first, "|"); first != "method" && first != "params" && first != "user" {
		// A wildcard (xmlrpc.pass*), an escape (xmlrpc.p\assword), a modifier
		// (xmlrpc.@this) or a multipath would reach the password member too.
		return fmt.Errorf("%q: xmlrpc.<path> starts with method, params or user", e.text)
	}
	return nil
}

// compileXMLRPCLookup compiles l's xmlrpc and params into cl.
func (d *decoder) compileXMLRPCLookup(l *Lookup, cl *clookup, lsc *scope, lp, where string) {
	if l.XMLRPC == "" {
		if l.Params != nil {
			d.errorf(lp+sep+"params", where, "lookup %q: params is for an xmlrpc lookup (xmlrpc = \"method\")", l.Name)
		}
		return
	}
	for _, c := range l.XMLRPC {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == ':' || c == '/') {
			d.errorf(lp+sep+"xmlrpc", where, "lookup %q: xmlrpc %q: a method name holds letters, digits, '_', '.', ':' and '/'", l.Name, l.XMLRPC)
			return
		}
	}
	if l.Cache != nil && *l.Cache {
		d.errorf(lp+sep+"cache", where, "lookup %q: an xmlrpc lookup is made with the client's credentials and is never cached: cache must be false", l.Name)
	}
	cl.cache = false
	psc := *lsc
	psc.xparams = true
	c := &xcall{method: l.XMLRPC}
	for i, v := range l.Params {
		p, err := compileXParam(v, &psc)
		if err != nil {
			d.errorf(lp+sep+"params", where, "lookup %q: params[%d]: %v", l.Name, i, err)
			continue
		}
		p.exprs(func(e *expr) {
			if !cl.after && e.stage() != stReq && e.stage() != stItem {
				d.errorf(lp+sep+"params", where, "lookup %q: params[%d]: %s is not known before forwarding (stage = \"after\"?)", l.Name, i, e.text)
			}
		})
		c.params = append(c.params, p)
	}
	cl.call = c
}

// lookupTarget names the lookup just made for traces: its path and query, or for an xmlrpc
// lookup "POST path method [params]" with the password shown as "***".
func (s *state) lookupTarget(l *clookup) string {
	if l.call == nil {
		return string(s.url)
	}
	return "POST " + string(s.url) + " " + xmlrpcCallKey(s.xml.call)
}
