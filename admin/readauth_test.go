package admin

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"hooktap/dispatch"
)

const testReadToken = "r3ad-only-t0ken"

// With a token set, every read of webhooks, deliveries, dead letters and unmatched writes
// needs the admin token or the read-only one; the read-only one changes nothing; /metrics
// and the health checks stay open for scrapers.
func TestReadsNeedAToken(t *testing.T) {
	h := newHarness(t, harnessOpts{token: testToken, read: testReadToken})
	rcv := newReceiver(t)
	id := strconv.FormatInt(num(h.do("POST", "/rest/api/webhooks", newHook("chat", rcv.url(), "page_created"), bearer(testToken)).mustStatus(t, 201).json, "id"), 10)
	reads := []string{
		"/rest/api/webhooks", "/rest/api/webhooks/" + id, "/rest/api/webhooks/" + id + "/latest",
		"/rest/api/webhooks/" + id + "/statistics", "/rest/api/webhooks/" + id + "/statistics/summary",
		"/rest/api/webhooks/" + id + "/dead", "/rest/api/unmatched",
	}
	for _, p := range reads {
		for _, c := range []struct {
			name, auth string
			want       int
		}{
			{"no token", noAuth, http.StatusUnauthorized},
			{"wrong token", bearer("nope"), http.StatusUnauthorized},
			{"admin token", bearer(testToken), http.StatusOK},
			{"read token", bearer(testReadToken), http.StatusOK},
			{"read token as Basic password", basic("reader", testReadToken), http.StatusOK},
		} {
			a := h.do("GET", p, nil, c.auth)
			if a.status != c.want {
				t.Errorf("GET %s with %s: got %d, want %d: %s", p, c.name, a.status, c.want, a.raw)
			}
			if a.status == http.StatusUnauthorized && a.header.Get("WWW-Authenticate") == "" {
				t.Errorf("GET %s with %s: 401 without WWW-Authenticate", p, c.name)
			}
		}
	}
	for _, p := range []string{"/metrics", "/healthz"} {
		h.do("GET", p, nil, noAuth).mustStatus(t, http.StatusOK)
	}
	// The read-only token is refused for every change.
	h.do("POST", "/rest/api/webhooks", newHook("sneaky", rcv.url(), "page_created"), bearer(testReadToken)).mustStatus(t, http.StatusUnauthorized)
	h.do("DELETE", "/rest/api/webhooks/"+id, nil, bearer(testReadToken)).mustStatus(t, http.StatusUnauthorized)
	h.do("POST", "/rest/api/webhooks/test?url="+rcv.url(), nil, bearer(testReadToken)).mustStatus(t, http.StatusUnauthorized)
	if n := len(h.do("GET", "/rest/api/webhooks", nil, bearer(testReadToken)).results()); n != 1 {
		t.Errorf("got %d webhooks, want the 1 the admin token created", n)
	}
}

// Reads show a URL's userinfo-free form with query values redacted; sending the redacted URL
// back in an update keeps the real one, which deliveries still use.
func TestURLRedactedInReads(t *testing.T) {
	h := newHarness(t, harnessOpts{token: testToken})
	rcv := newReceiver(t)
	const key = "k3y-in-the-query"
	body := newHook("chat", rcv.url()+"?key="+key+"&team=docs", "page_created")
	a := h.do("POST", "/rest/api/webhooks", body, bearer(testToken)).mustStatus(t, 201)
	id := strconv.FormatInt(num(a.json, "id"), 10)
	want := rcv.url() + "?key=***&team=***"
	one := h.do("GET", "/rest/api/webhooks/"+id, nil, bearer(testToken)).mustStatus(t, 200)
	list := h.do("GET", "/rest/api/webhooks", nil, bearer(testToken)).mustStatus(t, 200)
	if one.json["url"] != want || list.results()[0]["url"] != want || strings.Contains(one.raw+list.raw, key) {
		t.Errorf("reads show %s and %s, want the URL as %s", one.raw, list.raw, want)
	}
	// A client that GETs, edits the name and PUTs what it was shown does not break the URL.
	up := newHook("chat-renamed", want, "page_created")
	h.do("PUT", "/rest/api/webhooks/"+id, up, bearer(testToken)).mustStatus(t, 200)
	stored, err := os.ReadFile(filepath.Join(h.dir, storeFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(stored), key) {
		t.Errorf("the store lost the URL's key after a PUT of the redacted URL:\n%s", stored)
	}
	// A real change of URL is taken.
	up["url"] = rcv.url() + "?key=other"
	h.do("PUT", "/rest/api/webhooks/"+id, up, bearer(testToken)).mustStatus(t, 200)
	if stored, _ = os.ReadFile(filepath.Join(h.dir, storeFile)); !strings.Contains(string(stored), "key=other") {
		t.Errorf("a new URL was not stored:\n%s", stored)
	}
	for raw, want := range map[string]string{
		"https://user:pass@example.com/h?t=1#frag": "https://%2A%2A%2A@example.com/h?t=***#***",
		"http://example.com/plain":                 "http://example.com/plain",
	} {
		if got := redactURL(raw); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", raw, got, want)
		}
	}
}

// With no token at all the API may be read without one (a local demo), but such readers see
// nothing of what receivers answered.
func TestAnonymousReadersSeeNoResponse(t *testing.T) {
	rcv := newReceiver(t)
	rcv.reply.Store("internal-service-secret-page")
	h := newHarness(t, harnessOpts{file: []dispatch.Webhook{{Name: "from-file", URL: rcv.url(), Events: []string{"*"}, Payload: "id"}}})
	if err := h.disp.Enqueue(event("page_created", 1)); err != nil {
		t.Fatal(err)
	}
	rcv.next(t)
	list := h.do("GET", "/rest/api/webhooks", nil, bearer(testToken)).mustStatus(t, 200).results()
	if len(list) != 1 {
		t.Fatalf("got %d webhooks, want the file's one", len(list))
	}
	id := strconv.FormatInt(num(list[0], "id"), 10)
	latest := func() answer {
		return h.do("GET", "/rest/api/webhooks/"+id+"/latest", nil, bearer(testToken)).mustStatus(t, 200)
	}
	waitFor(t, "the attempt in /latest", func() bool { return len(latest().results()) == 1 })
	if a := latest(); strings.Contains(a.raw, "internal-service-secret-page") || a.results()[0]["statusCode"] != 200.0 {
		t.Errorf("an anonymous reader got %s: want the status but none of the response", a.raw)
	}
}
