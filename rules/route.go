package rules

import "bytes"

// A route parameter ([classify] route_param) is a query parameter that carries the path of
// the resource a request is for, as WordPress's rest_route under plain permalinks:
// "/index.php?rest_route=/wp/v2/posts/5" is the request "/wp-json/wp/v2/posts/5". At a
// request path listed in route_at (default ["/"]) a request with that parameter is matched
// as if its path were route_prefix followed by the parameter's decoded value (which must
// start with '/'), put in canonical form.

// route is the compiled route parameter; nil when the file names none.
type route struct {
	param  string
	at     [][]byte // canonical paths where the parameter counts
	prefix []byte
}

func compileRoute(c *ClassifySection) *route {
	if c.RouteParam == "" {
		return nil
	}
	r := &route{param: c.RouteParam, prefix: []byte(c.RoutePrefix)}
	at := c.RouteAt
	if len(at) == 0 {
		at = []string{"/"}
	}
	for _, p := range at {
		r.at = append(r.at, appendCanonPath(nil, []byte(p)))
	}
	return r
}

// applies reports whether the canonical path c is one where the route parameter counts.
func (r *route) applies(c []byte) bool {
	for _, p := range r.at {
		if bytes.Equal(c, p) {
			return true
		}
	}
	return false
}

// routePath replaces s.path with the route parameter's path when the request carries one
// at a route_at path. It allocates nothing once the state's buffers have grown.
func (s *state) routePath(x *Exchange) {
	r := s.m.route
	if r == nil || !r.applies(s.path) {
		return
	}
	v, ok := findParam(x.Query, r.param, &s.routeBuf, s.lastParam())
	if !ok || len(v) == 0 || v[0] != '/' {
		return
	}
	s.routeBuf2 = append(append(s.routeBuf2[:0], r.prefix...), v...)
	s.pathBuf = appendCanonPath(s.pathBuf[:0], s.routeBuf2)
	s.path = s.pathBuf
}
