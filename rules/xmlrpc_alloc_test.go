//go:build !race

package rules_test

import "testing"

// TestAllocsXMLRPC asserts that classifying XML-RPC writes through the WordPress pack (the
// methodCall and methodResponse converted, xmlrpc lookups' calls built and answers
// converted, per-element conditions over them) allocates nothing in steady state.
func TestAllocsXMLRPC(t *testing.T) {
	c, sink := wordpressClassifier(t)
	up := &xrUpstream{}
	for _, x := range []struct{ name, call, answer string }{{"wp.editPost", xrEditCall, xrTrue}, {"wp.newPost", xrNewCall, xrNewID}} {
		ex := xrExchange(x.call, x.answer, up)
		clear(sink)
		if n := testing.AllocsPerRun(200, func() {
			if err := classifyWrite(c, ex); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocs/op, want 0", x.name, n)
		}
		if len(sink) == 0 {
			t.Errorf("%s: no event", x.name)
		}
	}
}
