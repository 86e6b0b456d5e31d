package admin

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"hooktap/internal/testkit"
)

func TestTestConnection(t *testing.T) {
	h := newHarness(t, harnessOpts{token: testToken})
	rcv := newReceiver(t)
	rcv.reply.Store("pong from the receiver")
	a := h.do("POST", "/rest/api/webhooks/test?url="+url.QueryEscape(rcv.url()), nil, bearer(testToken)).mustStatus(t, 200)
	got := rcv.next(t)
	if k := got.header.Get("X-Event-Key"); k != "diagnostics:ping" {
		t.Errorf("receiver got X-Event-Key %q, want diagnostics:ping", k)
	}
	if string(got.body) != `{"test": true}` {
		t.Errorf("receiver got body %q, want {\"test\": true}", got.body)
	}
	if a.json["success"] != true || num(a.json, "statusCode") != 200 || a.json["responseBody"] != "pong from the receiver" {
		t.Errorf("got %s", a.raw)
	}

	rcv.status.Store(500)
	rcv.reply.Store("receiver broke")
	a = h.do("POST", "/rest/api/webhooks/test?url="+url.QueryEscape(rcv.url()), nil, bearer(testToken)).mustStatus(t, 200)
	rcv.next(t)
	if a.json["success"] != false || num(a.json, "statusCode") != 500 || a.json["responseBody"] != "receiver broke" {
		t.Errorf("got %s", a.raw)
	}

	// Nobody listening: an error, no status.
	dead := "http://" + testkit.DeadAddr(t) + "/hook"
	a = h.do("POST", "/rest/api/webhooks/test?url="+url.QueryEscape(dead), nil, bearer(testToken)).mustStatus(t, 200)
	if a.json["success"] != false || num(a.json, "statusCode") != 0 || a.json["error"] == nil {
		t.Errorf("got %s", a.raw)
	}
}

func TestLatestAndStatistics(t *testing.T) {
	h := newHarness(t, harnessOpts{token: testToken})
	rcv := newReceiver(t)
	rcv.reply.Store(`{"thanks":"page 1"}`)
	id := strconv.FormatInt(num(h.do("POST", "/rest/api/webhooks", newHook("stats", rcv.url(), "page_created", "page_updated"), bearer(testToken)).mustStatus(t, 201).json, "id"), 10)

	if err := h.disp.Enqueue(event("page_created", 1)); err != nil {
		t.Fatal(err)
	}
	first := rcv.next(t)
	latest := func(q string) answer {
		return h.do("GET", "/rest/api/webhooks/"+id+"/latest"+q, nil, bearer(testToken)).mustStatus(t, 200)
	}
	waitFor(t, "the first attempt in /latest", func() bool { return len(latest("").results()) == 1 })

	rcv.status.Store(503)
	rcv.reply.Store("try later")
	if err := h.disp.Enqueue(event("page_updated", 2)); err != nil {
		t.Fatal(err)
	}
	rcv.next(t)
	waitFor(t, "the failed attempt in /latest", func() bool { return len(latest("?outcome=failure").results()) == 1 })

	all := latest("").results()
	if len(all) < 2 {
		t.Fatalf("got %d attempts, want at least 2", len(all))
	}
	newest, oldest := all[0], all[len(all)-1]
	if newest["event"] != "page_updated" || num(newest, "statusCode") != 503 || newest["result"] != "failure" || newest["outcome"] != "throttled" || newest["responseBody"] != "try later" {
		t.Errorf("newest attempt: %v", newest)
	}
	if oldest["event"] != "page_created" || num(oldest, "statusCode") != 200 || oldest["result"] != "success" || oldest["outcome"] != "delivered" || oldest["responseBody"] != `{"thanks":"page 1"}` {
		t.Errorf("oldest attempt: %v", oldest)
	}
	if oldest["deliveryId"] != first.header.Get("webhook-id") || num(oldest, "time") == 0 {
		t.Errorf("oldest attempt's deliveryId %v, want the webhook-id the receiver got %q", oldest["deliveryId"], first.header.Get("webhook-id"))
	}
	if rs := latest("?event=page_created").results(); len(rs) != 1 || rs[0]["event"] != "page_created" {
		t.Errorf("?event=page_created: got %v", rs)
	}
	if rs := latest("?outcome=success").results(); len(rs) != 1 || rs[0]["result"] != "success" {
		t.Errorf("?outcome=success: got %v", rs)
	}
	if rs := latest("?outcome=throttled").results(); len(rs) != 1 || rs[0]["outcome"] != "throttled" {
		t.Errorf("?outcome=throttled: got %v", rs)
	}

	st := h.do("GET", "/rest/api/webhooks/"+id+"/statistics", nil, bearer(testToken)).mustStatus(t, 200)
	counts := st.json["counts"].(map[string]any)
	if num(counts, "delivered") != 1 || num(counts, "failed") != 1 {
		t.Errorf("statistics counts: %v", counts)
	}
	if st.json["lastSuccess"] == nil || st.json["lastFailure"] == nil || num(st.json, "failures") < 1 || st.json["breaker"] != "closed" {
		t.Errorf("statistics: %s", st.raw)
	}
	if num(st.json, "lastDelivery") == 0 {
		t.Errorf("statistics without lastDelivery: %s", st.raw)
	}
}

func TestDeadAndRedeliver(t *testing.T) {
	h := newHarness(t, harnessOpts{token: testToken})
	rcv := newReceiver(t)
	rcv.status.Store(500)
	id := strconv.FormatInt(num(h.do("POST", "/rest/api/webhooks", newHook("dead", rcv.url(), "page_created"), bearer(testToken)).mustStatus(t, 201).json, "id"), 10)
	deadList := func() []map[string]any {
		return h.do("GET", "/rest/api/webhooks/"+id+"/dead", nil, bearer(testToken)).mustStatus(t, 200).results()
	}
	var ids []string
	for i := range 3 {
		if err := h.disp.Enqueue(event("page_created", 10+i)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rcv.next(t).header.Get("webhook-id"))
	}
	waitFor(t, "3 dead deliveries", func() bool { return len(deadList()) == 3 })
	dl := deadList()
	for i, d := range dl {
		if d["event"] != "page_created" || num(d, "attempts") != 1 || d["reason"] == "" || num(d, "died") == 0 {
			t.Errorf("dead delivery %d: %v", i, d)
		}
	}

	// One, by id: the receiver sees the same webhook-id again.
	rcv.status.Store(200)
	one := dl[0]["id"].(string)
	a := h.do("POST", "/rest/api/webhooks/"+id+"/dead/"+one+"/redeliver", nil, bearer(testToken)).mustStatus(t, 200)
	if num(a.json, "redelivered") != 1 {
		t.Errorf("got %s", a.raw)
	}
	if got := rcv.next(t).header.Get("webhook-id"); got != one {
		t.Errorf("redelivery had webhook-id %q, want %q", got, one)
	}
	waitFor(t, "2 dead deliveries", func() bool { return len(deadList()) == 2 })

	// The rest.
	a = h.do("POST", "/rest/api/webhooks/"+id+"/dead/redeliver", nil, bearer(testToken)).mustStatus(t, 200)
	if num(a.json, "redelivered") != 2 {
		t.Errorf("got %s", a.raw)
	}
	seen := map[string]bool{rcv.next(t).header.Get("webhook-id"): true, rcv.next(t).header.Get("webhook-id"): true}
	for _, want := range ids {
		if want != one && !seen[want] {
			t.Errorf("webhook-id %q was not redelivered; got %v", want, seen)
		}
	}
	waitFor(t, "no dead deliveries", func() bool { return len(deadList()) == 0 })
	if a := h.do("POST", "/rest/api/webhooks/"+id+"/dead/redeliver", nil, bearer(testToken)).mustStatus(t, 200); num(a.json, "redelivered") != 0 {
		t.Errorf("redeliver with nothing dead: got %s", a.raw)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	upCheck, err := UpstreamCheck("http://" + up.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	goneURL := "http://" + testkit.DeadAddr(t)
	goneCheck, err := UpstreamCheck(goneURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := UpstreamCheck("http://"); err == nil {
		t.Error("UpstreamCheck accepted a URL with no host")
	}
	queueErr := errors.New("queue closed")

	d := newTestDispatcher(t)
	h := newHarness(t, harnessOpts{disp: d, checks: []Check{{Name: "upstream", Checker: upCheck}, {Name: "queue", Checker: QueueCheck(d)}}})
	if a := h.do("GET", "/healthz", nil, noAuth).mustStatus(t, 200); a.json["status"] != "ok" {
		t.Errorf("healthz: %s", a.raw)
	}
	if a := h.do("GET", "/readyz", nil, noAuth).mustStatus(t, 200); a.json["status"] != "ready" {
		t.Errorf("readyz: %s", a.raw)
	}

	h2 := newHarness(t, harnessOpts{checks: []Check{{Name: "upstream", Checker: goneCheck}, {Name: "queue", Checker: CheckFunc(func(context.Context) error { return queueErr })}}})
	h2.do("GET", "/healthz", nil, noAuth).mustStatus(t, 200)
	a := h2.do("GET", "/readyz", nil, noAuth).mustStatus(t, http.StatusServiceUnavailable)
	checks := a.json["checks"].(map[string]any)
	if !strings.Contains(checks["upstream"].(string), "unreachable") || checks["queue"] != "queue closed" || len(a.json["reasons"].([]any)) != 2 {
		t.Errorf("readyz: %s", a.raw)
	}
}

func TestPageServed(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	a := h.do("GET", "/", nil, noAuth).mustStatus(t, 200)
	if ct := a.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("got Content-Type %q", ct)
	}
	if csp := a.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("got CSP %q", csp)
	}
	for _, want := range []string{`value="page_created"`, `value="user_followed"`, `data-family="blueprint"`, `id="btn-test"`, `id="f-secret"`} {
		if !strings.Contains(a.raw, want) {
			t.Errorf("page has no %s", want)
		}
	}
	for _, bad := range []string{"src=\"http", "href=\"http", "<link"} {
		if strings.Contains(a.raw, bad) {
			t.Errorf("page loads an external asset (%s)", bad)
		}
	}
}
