package admin

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"hooktap/dispatch"
)

// TestTargetPolicyRefusals: under the dispatcher's default policy (no allow_targets) a
// webhook created or updated with a loopback, private or metadata URL, and a test connection
// to one, answer 400 with field "url", and the receiver gets nothing; hooktap's own listener
// is refused even when its address is allowed.
func TestTargetPolicyRefusals(t *testing.T) {
	rcv := newReceiver(t)
	d := newDispatcher(t, dispatch.Config{Queue: "memory", Retry: []time.Duration{}})
	h := newHarness(t, harnessOpts{token: testToken, disp: d})
	auth := bearer(testToken)
	created := h.do("POST", "/rest/api/webhooks", newHook("public", "http://203.0.113.5/x", "page_created"), auth).
		mustStatus(t, http.StatusCreated)
	id := strconv.FormatInt(num(created.json, "id"), 10)
	for _, u := range []string{rcv.url(), "http://169.254.169.254/latest/meta-data", "http://10.0.0.1/x",
		"http://[::ffff:127.0.0.1]/x", "http://2130706433/x", "http://metadata.google.internal/x"} {
		for _, c := range []struct{ method, path string }{{"POST", "/rest/api/webhooks"}, {"PUT", "/rest/api/webhooks/" + id}} {
			a := h.do(c.method, c.path, newHook("bad", u, "page_created"), auth)
			if a.status != http.StatusBadRequest || !slices.Contains(a.errorFields(), "url") || !strings.Contains(a.raw, "refused") {
				t.Errorf("%s %s url %s: %d %s, want 400 with field url, refused", c.method, c.path, u, a.status, a.raw)
			}
		}
		a := h.do("POST", "/rest/api/webhooks/test?url="+url.QueryEscape(u), nil, auth)
		if a.status != http.StatusBadRequest || !slices.Contains(a.errorFields(), "url") {
			t.Errorf("test connection %s: %d %s, want 400 with field url", u, a.status, a.raw)
		}
	}
	select {
	case got := <-rcv.got:
		t.Fatalf("the receiver got a request: %+v", got)
	default:
	}

	// Loopback allowed, but hooktap's own admin listener is not a target.
	d2 := newTestDispatcher(t)
	h2 := newHarness(t, harnessOpts{token: testToken, disp: d2})
	d2.SetOwnListeners(strings.TrimPrefix(h2.base, "http://"))
	a := h2.do("POST", "/rest/api/webhooks", newHook("loop", h2.base+"/rest/api/webhooks", "page_created"), auth)
	if a.status != http.StatusBadRequest || !slices.Contains(a.errorFields(), "url") || !strings.Contains(a.raw, "own listener") {
		t.Fatalf("a webhook to hooktap's own admin port: %d %s, want 400 with field url", a.status, a.raw)
	}
	h2.do("POST", "/rest/api/webhooks", newHook("ok", rcv.url(), "page_created"), auth).mustStatus(t, http.StatusCreated)
}
