package admin

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hooktap/dispatch"
)

func newHook(name, url string, events ...string) map[string]any {
	return map[string]any{"name": name, "url": url, "events": events, "active": true}
}

func TestTokenRules(t *testing.T) {
	t.Run("no token configured: writes refused, reads allowed", func(t *testing.T) {
		h := newHarness(t, harnessOpts{})
		for _, auth := range []string{noAuth, bearer("anything"), basic("admin", "anything")} {
			a := h.do("POST", "/rest/api/webhooks", newHook("a", "http://127.0.0.1:1/x", "page_created"), auth).mustStatus(t, http.StatusForbidden)
			if f := a.errorFields(); !slices.Equal(f, []string{"token"}) || !strings.Contains(a.raw, "read-only") {
				t.Errorf("got %s, want a token error saying the API is read-only", a.raw)
			}
		}
		h.do("POST", "/rest/api/webhooks/test?url=http://127.0.0.1:1/", nil, noAuth).mustStatus(t, http.StatusForbidden)
		h.do("GET", "/rest/api/webhooks", nil, bearer(testToken)).mustStatus(t, http.StatusOK)
	})
	t.Run("token configured", func(t *testing.T) {
		h := newHarness(t, harnessOpts{token: testToken})
		rcv := newReceiver(t)
		cases := []struct {
			name, auth string
			want       int
		}{
			{"none", noAuth, http.StatusUnauthorized},
			{"wrong bearer", bearer("nope"), http.StatusUnauthorized},
			{"prefix of the token", bearer(testToken[:len(testToken)-1]), http.StatusUnauthorized},
			{"wrong basic", basic("admin", "nope"), http.StatusUnauthorized},
			{"token as basic user", basic(testToken, ""), http.StatusUnauthorized},
			{"other scheme", "Token " + testToken, http.StatusUnauthorized},
			{"bearer", bearer(testToken), http.StatusCreated},
			{"lower-case bearer", "bearer " + testToken, http.StatusCreated},
			{"basic", basic("admin", testToken), http.StatusCreated},
		}
		for i, c := range cases {
			a := h.do("POST", "/rest/api/webhooks", newHook("hook"+strconv.Itoa(i), rcv.url(), "page_created"), c.auth)
			if a.status != c.want {
				t.Errorf("%s: got %d, want %d: %s", c.name, a.status, c.want, a.raw)
				continue
			}
			if c.want == http.StatusUnauthorized {
				if f := a.errorFields(); !slices.Equal(f, []string{"token"}) {
					t.Errorf("%s: got error fields %v, want [token]", c.name, f)
				}
				if a.header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s: 401 without WWW-Authenticate", c.name)
				}
			}
		}
		// A write from a browser on another site is refused even with the right credentials.
		req, _ := http.NewRequest("POST", h.base+"/rest/api/webhooks", strings.NewReader(`{"name":"csrf","url":"http://127.0.0.1:9/","events":["*"]}`))
		req.Header.Set("Authorization", basic("admin", testToken))
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Origin", "http://evil.example")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site write: got %d, want 403", resp.StatusCode)
		}
		if n := len(h.do("GET", "/rest/api/webhooks", nil, bearer(testToken)).results()); n != 3 {
			t.Errorf("got %d webhooks, want the 3 created with the right token", n)
		}
		// Every write endpoint is guarded.
		for _, w := range []struct{ method, path string }{
			{"PUT", "/rest/api/webhooks/1"}, {"DELETE", "/rest/api/webhooks/1"},
			{"POST", "/rest/api/webhooks/test?url=" + rcv.url()},
			{"POST", "/rest/api/webhooks/1/dead/redeliver"},
			{"POST", "/rest/api/webhooks/1/dead/0123456789abcdef0123456789abcdef/redeliver"},
		} {
			h.do(w.method, w.path, newHook("x", rcv.url(), "page_created"), bearer("nope")).mustStatus(t, http.StatusUnauthorized)
		}
		select {
		case g := <-rcv.got:
			t.Errorf("an unauthorised request reached the receiver: %v", g.header)
		default:
		}
	})
	t.Run("token_env", func(t *testing.T) {
		t.Setenv("HOOKTAP_TEST_ADMIN_TOKEN", "from-env")
		d := newTestDispatcher(t)
		srv, err := New(Config{TokenEnv: "HOOKTAP_TEST_ADMIN_TOKEN"}, Deps{Dispatcher: d}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !srv.hasTok {
			t.Fatal("token_env names a set variable, yet the API is read-only")
		}
		srv, err = New(Config{TokenEnv: "HOOKTAP_TEST_UNSET_VARIABLE"}, Deps{Dispatcher: d}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if srv.hasTok {
			t.Fatal("token_env names an unset variable, yet writes are allowed")
		}
	})
}

func TestWebhookLifecycle(t *testing.T) {
	h := newHarness(t, harnessOpts{token: testToken})
	rcv := newReceiver(t)
	auth := bearer(testToken)
	const secret = "very-secret-value-42"
	const urlToken = "tok3n-in-the-url"

	body := newHook("chat", rcv.url()+"?key="+urlToken, "page_created", "label_added")
	body["configuration"] = map[string]string{"secret": secret}
	a := h.do("POST", "/rest/api/webhooks", body, auth).mustStatus(t, http.StatusCreated)
	id := num(a.json, "id")
	if id < 1 || a.header.Get("Location") != "/rest/api/webhooks/"+strconv.FormatInt(id, 10) {
		t.Fatalf("got id %d, Location %q", id, a.header.Get("Location"))
	}
	// Reads show the URL with its query values redacted (receivers' URLs carry tokens).
	for k, want := range map[string]any{"name": "chat", "url": rcv.url() + "?key=***", "active": true, "scopeType": "global", "source": "api", "readOnly": false, "hasSecret": true, "payload": "id"} {
		if a.json[k] != want {
			t.Errorf("created %s = %v, want %v", k, a.json[k], want)
		}
	}
	if num(a.json, "createdDate") == 0 || num(a.json, "updatedDate") != num(a.json, "createdDate") {
		t.Errorf("got createdDate %d updatedDate %d", num(a.json, "createdDate"), num(a.json, "updatedDate"))
	}

	// The list, in Confluence's RestList shape, and one webhook; never the secret.
	l := h.do("GET", "/rest/api/webhooks", nil, bearer(testToken)).mustStatus(t, http.StatusOK)
	for _, k := range []string{"results", "start", "limit", "size", "_links"} {
		if _, ok := l.json[k]; !ok {
			t.Errorf("list has no %q: %s", k, l.raw)
		}
	}
	if num(l.json, "size") != 1 || num(l.json, "limit") != defaultLimit {
		t.Errorf("got size %d limit %d", num(l.json, "size"), num(l.json, "limit"))
	}
	g := h.do("GET", "/rest/api/webhooks/"+strconv.FormatInt(id, 10)+"?statistics=true", nil, bearer(testToken)).mustStatus(t, http.StatusOK)
	if g.json["name"] != "chat" || g.json["statistics"] == nil {
		t.Errorf("got %s", g.raw)
	}
	for _, raw := range []string{a.raw, l.raw, g.raw} {
		if strings.Contains(raw, secret) {
			t.Fatalf("an answer holds the secret: %s", raw)
		}
	}

	// It takes effect at once, signed with the secret.
	if err := h.disp.Enqueue(event("page_created", 7)); err != nil {
		t.Fatal(err)
	}
	got := rcv.next(t)
	checkHubSignature(t, got, secret)

	// Filters: ?event=.
	if n := len(h.do("GET", "/rest/api/webhooks?event=label_added", nil, bearer(testToken)).results()); n != 1 {
		t.Errorf("?event=label_added: got %d webhooks, want 1", n)
	}
	if n := len(h.do("GET", "/rest/api/webhooks?event=space_created", nil, bearer(testToken)).results()); n != 0 {
		t.Errorf("?event=space_created: got %d webhooks, want 0", n)
	}

	// Update without a secret keeps it; active false is kept.
	up := newHook("chat-2", rcv.url(), "page_updated")
	up["active"] = false
	u := h.do("PUT", "/rest/api/webhooks/"+strconv.FormatInt(id, 10), up, auth).mustStatus(t, http.StatusOK)
	if u.json["name"] != "chat-2" || u.json["active"] != false || u.json["hasSecret"] != true {
		t.Errorf("got %s", u.raw)
	}
	up["active"] = true
	h.do("PUT", "/rest/api/webhooks/"+strconv.FormatInt(id, 10), up, auth).mustStatus(t, http.StatusOK)
	if err := h.disp.Enqueue(event("page_updated", 8)); err != nil {
		t.Fatal(err)
	}
	checkHubSignature(t, rcv.next(t), secret)

	// An empty secret removes it.
	up["configuration"] = map[string]string{"secret": ""}
	if u := h.do("PUT", "/rest/api/webhooks/"+strconv.FormatInt(id, 10), up, auth).mustStatus(t, http.StatusOK); u.json["hasSecret"] != false {
		t.Errorf("after an empty secret: got %s", u.raw)
	}
	if err := h.disp.Enqueue(event("page_updated", 9)); err != nil {
		t.Fatal(err)
	}
	if g := rcv.next(t); g.header.Get("X-Hub-Signature") != "" {
		t.Errorf("got X-Hub-Signature %q after the secret was removed", g.header.Get("X-Hub-Signature"))
	}

	// Delete.
	h.do("DELETE", "/rest/api/webhooks/"+strconv.FormatInt(id, 10), nil, auth).mustStatus(t, http.StatusNoContent)
	h.do("GET", "/rest/api/webhooks/"+strconv.FormatInt(id, 10), nil, bearer(testToken)).mustStatus(t, http.StatusNotFound)
	h.do("DELETE", "/rest/api/webhooks/"+strconv.FormatInt(id, 10), nil, auth).mustStatus(t, http.StatusNotFound)
	if n := len(h.do("GET", "/rest/api/webhooks", nil, bearer(testToken)).results()); n != 0 {
		t.Errorf("got %d webhooks after delete, want 0", n)
	}
	if strings.Contains(h.logText(), secret) || strings.Contains(h.logText(), urlToken) {
		t.Errorf("the log holds the secret:\n%s", h.logText())
	}
}

// checkHubSignature verifies X-Hub-Signature with the standard library.
func checkHubSignature(t *testing.T, got received, secret string) {
	t.Helper()
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(got.body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	if s := got.header.Get("X-Hub-Signature"); s != want {
		t.Errorf("got X-Hub-Signature %q, want %q", s, want)
	}
}

func TestPagination(t *testing.T) {
	h := newHarness(t, harnessOpts{token: testToken})
	for i := range 5 {
		h.do("POST", "/rest/api/webhooks", newHook("h"+strconv.Itoa(i), "http://127.0.0.1:9/x", "page_created"), bearer(testToken)).mustStatus(t, http.StatusCreated)
	}
	a := h.do("GET", "/rest/api/webhooks?start=1&limit=2", nil, bearer(testToken)).mustStatus(t, http.StatusOK)
	rs := a.results()
	if len(rs) != 2 || rs[0]["name"] != "h1" || rs[1]["name"] != "h2" || num(a.json, "start") != 1 {
		t.Fatalf("got %s", a.raw)
	}
	links := a.json["_links"].(map[string]any)
	if next, _ := links["next"].(string); !strings.Contains(next, "start=3") {
		t.Errorf("got next link %q, want start=3", links["next"])
	}
	if a := h.do("GET", "/rest/api/webhooks?start=4&limit=2", nil, bearer(testToken)); len(a.results()) != 1 || a.json["_links"].(map[string]any)["next"] != nil {
		t.Errorf("last page: got %s", a.raw)
	}
}

func TestBadInput(t *testing.T) {
	rcv := newReceiver(t)
	h := newHarness(t, harnessOpts{token: testToken, file: []dispatch.Webhook{{Name: "from-file", URL: rcv.url(), Events: []string{"page_created"}}}})
	auth := bearer(testToken)
	created := h.do("POST", "/rest/api/webhooks", newHook("taken", rcv.url(), "page_created"), auth).mustStatus(t, http.StatusCreated)
	id := strconv.FormatInt(num(created.json, "id"), 10)

	with := func(k string, v any) map[string]any {
		b := newHook("new", rcv.url(), "page_created")
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
		return b
	}
	long := strings.Repeat("é", 256) // 256 characters, 512 bytes
	cases := []struct {
		name         string
		method, path string
		body         any
		status       int
		field        string
	}{
		{"bad JSON", "POST", "/rest/api/webhooks", `{"name":`, 400, "body"},
		{"not an object", "POST", "/rest/api/webhooks", `[1,2]`, 400, "body"},
		{"two values", "POST", "/rest/api/webhooks", `{} {}`, 400, "body"},
		{"wrong type", "POST", "/rest/api/webhooks", `{"name":1}`, 400, "body"},
		{"missing name", "POST", "/rest/api/webhooks", with("name", nil), 400, "name"},
		{"blank name", "POST", "/rest/api/webhooks", with("name", "  "), 400, "name"},
		{"long name", "POST", "/rest/api/webhooks", with("name", long), 400, "name"},
		{"missing url", "POST", "/rest/api/webhooks", with("url", nil), 400, "url"},
		{"ftp url", "POST", "/rest/api/webhooks", with("url", "ftp://127.0.0.1/x"), 400, "url"},
		{"relative url", "POST", "/rest/api/webhooks", with("url", "/hook"), 400, "url"},
		{"url without host", "POST", "/rest/api/webhooks", with("url", "http:///x"), 400, "url"},
		{"url with credentials", "POST", "/rest/api/webhooks", with("url", "http://u:p@127.0.0.1/x"), 400, "url"},
		{"missing events", "POST", "/rest/api/webhooks", with("events", nil), 400, "events"},
		{"empty events", "POST", "/rest/api/webhooks", with("events", []string{}), 400, "events"},
		{"unknown event", "POST", "/rest/api/webhooks", with("events", []string{"page_created", "page_exploded"}), 400, "events"},
		{"duplicate events", "POST", "/rest/api/webhooks", with("events", []string{"page_created", "page_created"}), 400, "events"},
		{"60,000 events", "POST", "/rest/api/webhooks", with("events", slices.Repeat([]string{"page_created"}, 60000)), 400, "events"},
		{"NUL in name", "POST", "/rest/api/webhooks", with("name", "a\x00b"), 400, "name"},
		{"newline in url", "POST", "/rest/api/webhooks", with("url", "http://127.0.0.1/x\r\nX-Injected: 1"), 400, "url"},
		{"star with others", "POST", "/rest/api/webhooks", with("events", []string{"*", "page_created"}), 400, "events"},
		{"long secret", "POST", "/rest/api/webhooks", with("configuration", map[string]string{"secret": long}), 400, "configuration.secret"},
		{"unknown configuration", "POST", "/rest/api/webhooks", with("configuration", map[string]string{"colour": "red"}), 400, "configuration.colour"},
		{"bad payload", "POST", "/rest/api/webhooks", with("payload", "most"), 400, "payload"},
		{"duplicate name", "POST", "/rest/api/webhooks", with("name", "taken"), 409, "name"},
		{"name of a file webhook", "POST", "/rest/api/webhooks", with("name", "from-file"), 409, "name"},
		{"unknown id get", "GET", "/rest/api/webhooks/999", nil, 404, "id"},
		{"unknown id put", "PUT", "/rest/api/webhooks/999", with("name", "x"), 404, "id"},
		{"unknown id delete", "DELETE", "/rest/api/webhooks/999", nil, 404, "id"},
		{"unknown id latest", "GET", "/rest/api/webhooks/999/latest", nil, 404, "id"},
		{"unknown id statistics", "GET", "/rest/api/webhooks/999/statistics", nil, 404, "id"},
		{"unknown id dead", "GET", "/rest/api/webhooks/999/dead", nil, 404, "id"},
		{"unknown id redeliver", "POST", "/rest/api/webhooks/999/dead/redeliver", nil, 404, "id"},
		{"id not a number", "GET", "/rest/api/webhooks/abc", nil, 400, "id"},
		{"id zero", "GET", "/rest/api/webhooks/0", nil, 400, "id"},
		{"put bad JSON", "PUT", "/rest/api/webhooks/" + id, `nope`, 400, "body"},
		{"put unknown event", "PUT", "/rest/api/webhooks/" + id, with("events", []string{"nope"}), 400, "events"},
		{"put to another's name", "PUT", "/rest/api/webhooks/" + id, with("name", "from-file"), 409, "name"},
		{"test without url", "POST", "/rest/api/webhooks/test", nil, 400, "url"},
		{"test with ftp url", "POST", "/rest/api/webhooks/test?url=ftp://127.0.0.1/", nil, 400, "url"},
		{"list unknown event", "GET", "/rest/api/webhooks?event=nope", nil, 400, "event"},
		{"list bad limit", "GET", "/rest/api/webhooks?limit=0", nil, 400, "limit"},
		{"list bad start", "GET", "/rest/api/webhooks?start=-1", nil, 400, "start"},
		{"latest bad outcome", "GET", "/rest/api/webhooks/" + id + "/latest?outcome=maybe", nil, 400, "outcome"},
		{"latest unknown event", "GET", "/rest/api/webhooks/" + id + "/latest?event=nope", nil, 400, "event"},
		{"redeliver unknown delivery", "POST", "/rest/api/webhooks/" + id + "/dead/0123456789abcdef0123456789abcdef/redeliver", nil, 404, "deliveryId"},
		{"redeliver malformed delivery id", "POST", "/rest/api/webhooks/" + id + "/dead/xyz/redeliver", nil, 400, "deliveryId"},
		{"reactivate unknown id", "POST", "/rest/api/webhooks/999/reactivate", nil, 404, "id"},
		{"unknown endpoint", "GET", "/rest/api/nothing", nil, 404, "path"},
		{"wrong method", "PATCH", "/rest/api/webhooks/" + id, nil, 405, "method"},
		{"wrong method on the list", "DELETE", "/rest/api/webhooks", nil, 405, "method"},
	}
	for _, c := range cases {
		a := h.do(c.method, c.path, c.body, auth)
		if a.status != c.status {
			t.Errorf("%s: got %d, want %d: %s", c.name, a.status, c.status, a.raw)
			continue
		}
		if f := a.errorFields(); !slices.Contains(f, c.field) {
			t.Errorf("%s: got error fields %v, want %q: %s", c.name, f, c.field, a.raw)
		}
	}
	// Every problem of a body is reported at once.
	a := h.do("POST", "/rest/api/webhooks", map[string]any{"url": "gopher://x", "events": []string{"nope"}}, auth).mustStatus(t, 400)
	if f := a.errorFields(); !slices.Contains(f, "name") || !slices.Contains(f, "url") || !slices.Contains(f, "events") {
		t.Errorf("got error fields %v, want name, url and events", f)
	}
	if n := len(h.do("GET", "/rest/api/webhooks", nil, bearer(testToken)).results()); n != 2 {
		t.Errorf("got %d webhooks after bad input, want 2 (file + taken)", n)
	}
}

func TestWebhooksReadOnly(t *testing.T) {
	rcv := newReceiver(t)
	file := []dispatch.Webhook{
		{Name: "file-a", URL: rcv.url(), Events: []string{"*"}, Secret: "file-secret"},
		{Name: "file-b", URL: rcv.url(), Events: []string{"page_created"}, Active: boolp(false)},
	}
	h := newHarness(t, harnessOpts{token: testToken, file: file})
	l := h.do("GET", "/rest/api/webhooks", nil, bearer(testToken)).mustStatus(t, 200)
	rs := l.results()
	if len(rs) != 2 || rs[0]["name"] != "file-a" || rs[0]["source"] != "file" || rs[0]["readOnly"] != true || rs[0]["hasSecret"] != true || rs[1]["active"] != false {
		t.Fatalf("got %s", l.raw)
	}
	if strings.Contains(l.raw, "file-secret") {
		t.Fatal("the list holds a file webhook's secret")
	}
	id := strconv.FormatInt(num(rs[0], "id"), 10)
	for _, m := range []string{"PUT", "DELETE"} {
		a := h.do(m, "/rest/api/webhooks/"+id, newHook("x", rcv.url(), "page_created"), bearer(testToken)).mustStatus(t, http.StatusForbidden)
		if f := a.errorFields(); !slices.Equal(f, []string{"id"}) || !strings.Contains(a.raw, "rules file") {
			t.Errorf("%s: got %s", m, a.raw)
		}
	}
	// The dispatcher got the file's webhooks exactly.
	if err := h.disp.Enqueue(event("page_created", 1)); err != nil {
		t.Fatal(err)
	}
	checkHubSignature(t, rcv.next(t), "file-secret")
}

func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	rcv := newReceiver(t)
	file := []dispatch.Webhook{{Name: "file-a", URL: rcv.url(), Events: []string{"space_created"}}}
	h := newHarness(t, harnessOpts{token: testToken, file: file, dir: dir})
	auth := bearer(testToken)
	b := newHook("api-1", rcv.url(), "page_created")
	b["configuration"] = map[string]string{"secret": "kept-across-restarts"}
	b["payload"] = "full"
	id1 := num(h.do("POST", "/rest/api/webhooks", b, auth).mustStatus(t, 201).json, "id")
	id2 := num(h.do("POST", "/rest/api/webhooks", newHook("api-2", rcv.url(), "page_created"), auth).mustStatus(t, 201).json, "id")
	h.do("DELETE", "/rest/api/webhooks/"+strconv.FormatInt(id2, 10), nil, auth).mustStatus(t, 204)
	fileID := num(h.do("GET", "/rest/api/webhooks", nil, bearer(testToken)).results()[0], "id")
	h.stop()

	fi, err := os.Stat(filepath.Join(dir, storeFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("store mode %v, want 0600", fi.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// A new server on the same directory, with a new file webhook placed first.
	file2 := append([]dispatch.Webhook{{Name: "file-new", URL: rcv.url(), Events: []string{"page_moved"}}}, file...)
	h2 := newHarness(t, harnessOpts{token: testToken, file: file2, dir: dir})
	byName := map[string]map[string]any{}
	for _, r := range h2.do("GET", "/rest/api/webhooks", nil, bearer(testToken)).results() {
		byName[r["name"].(string)] = r
	}
	if len(byName) != 3 || byName["api-2"] != nil {
		t.Fatalf("after restart got %v", byName)
	}
	if num(byName["api-1"], "id") != id1 || byName["api-1"]["payload"] != "full" || byName["api-1"]["hasSecret"] != true {
		t.Errorf("api-1 after restart: %v, want id %d", byName["api-1"], id1)
	}
	if num(byName["file-a"], "id") != fileID {
		t.Errorf("file-a got id %d after restart, want %d", num(byName["file-a"], "id"), fileID)
	}
	if n := num(byName["file-new"], "id"); n == id1 || n == id2 || n == fileID {
		t.Errorf("file-new got id %d, which was used before", n)
	}
	id3 := num(h2.do("POST", "/rest/api/webhooks", newHook("api-3", rcv.url(), "page_created"), auth).mustStatus(t, 201).json, "id")
	if id3 == id2 || id3 == id1 {
		t.Errorf("a new webhook reused id %d", id3)
	}
	// The restarted dispatcher got the secret back: deliveries are signed with it.
	if err := h2.disp.Enqueue(event("page_created", 3)); err != nil {
		t.Fatal(err)
	}
	for range 2 { // api-1 and api-3
		g := rcv.next(t)
		if g.header.Get("X-Hub-Signature") != "" {
			checkHubSignature(t, g, "kept-across-restarts")
		}
	}
}

// TestStoreFailureChangesNothing makes the store unwritable and checks that a create, a
// delete and a deactivation all fail with "nothing changed", and that nothing did: the
// dispatcher keeps the same set, and the webhook that was to be deleted or deactivated keeps
// its pending deliveries (applying before saving would have unsubscribed it, discarding them).
func TestStoreFailureChangesNothing(t *testing.T) {
	dir := t.TempDir()
	// One delivery in flight per webhook, so that the others wait in the queue.
	disp := newDispatcher(t, dispatch.Config{Queue: "memory", Retry: []time.Duration{}, Timeout: 30 * time.Second, MaxInFlightPerHook: 1, AllowTargets: loopback})
	h := newHarness(t, harnessOpts{token: testToken, dir: dir, disp: disp})
	rcv := newHoldingReceiver(t)
	id := num(h.do("POST", "/rest/api/webhooks", newHook("p", rcv.url(), "page_created"), bearer(testToken)).mustStatus(t, 201).json, "id")
	dispID := "api-" + strconv.FormatInt(id, 10)
	for i := 1; i <= 3; i++ {
		if err := disp.Enqueue(event("page_created", i)); err != nil {
			t.Fatal(err)
		}
	}
	rcv.next(t) // the first is in flight, held by the receiver; two wait
	queued := func() (int, bool) {
		st, err := disp.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, hs := range st.Hooks {
			if hs.ID == dispID {
				return hs.Depth.Pending + hs.Depth.Fetched, hs.Active
			}
		}
		return 0, false
	}
	waitFor(t, "three deliveries queued or in flight", func() bool { n, _ := queued(); return n == 3 })

	// Make the data directory unwritable by replacing it with a file.
	sub := filepath.Join(dir, "sub")
	if err := os.WriteFile(sub, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.srv.store.path = filepath.Join(sub, storeFile)
	path := "/rest/api/webhooks/" + strconv.FormatInt(id, 10)
	off := newHook("p", rcv.url(), "page_created")
	off["active"] = false
	for _, a := range []answer{
		h.do("POST", "/rest/api/webhooks", newHook("x", "http://127.0.0.1:9/x", "page_created"), bearer(testToken)),
		h.do("DELETE", path, nil, bearer(testToken)),
		h.do("PUT", path, off, bearer(testToken)),
	} {
		a.mustStatus(t, 500)
		if !strings.Contains(a.raw, "nothing changed") {
			t.Errorf("got %s", a.raw)
		}
	}
	if hs := h.do("GET", "/rest/api/webhooks", nil, bearer(testToken)).results(); len(hs) != 1 || hs[0]["name"] != "p" || hs[0]["active"] != true {
		t.Errorf("after failed saves the API lists %v, want p alone, active", hs)
	}
	// The dispatcher has the same set, and p's deliveries are all still there.
	st, err := disp.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Hooks) != 1 || st.Hooks[0].ID != dispID {
		t.Errorf("the dispatcher has %d webhooks after failed saves, want %s alone", len(st.Hooks), dispID)
	}
	if n, active := queued(); n != 3 || !active {
		t.Fatalf("after failed saves %s has %d deliveries queued or in flight (active %v), want 3 (active)", dispID, n, active)
	}
	rcv.release()
	got := map[string]bool{}
	for range 2 {
		g := rcv.next(t)
		got[string(g.body)] = true
	}
	for i := 2; i <= 3; i++ {
		if !anyContains(got, `"page":{"id":`+strconv.Itoa(i)+`}`) {
			t.Errorf("page %d was not delivered after the failed saves; got %v", i, got)
		}
	}
}

// anyContains reports whether a key of set contains sub.
func anyContains(set map[string]bool, sub string) bool {
	for k := range set {
		if strings.Contains(k, sub) {
			return true
		}
	}
	return false
}

// holdingReceiver is a webhook receiver on loopback that holds every request until
// release, then answers 200; next returns each request as it arrives.
type holdingReceiver struct {
	srv  *httptest.Server
	got  chan received
	hold chan struct{}
	once sync.Once
}

func newHoldingReceiver(t *testing.T) *holdingReceiver {
	t.Helper()
	r := &holdingReceiver{got: make(chan received, 100), hold: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.got <- received{header: req.Header.Clone(), body: b}
		select {
		case <-r.hold:
		case <-req.Context().Done():
		}
	}))
	t.Cleanup(r.srv.Close)
	t.Cleanup(r.release) // runs first: lets held requests finish before Close waits for them
	return r
}

func (r *holdingReceiver) url() string { return r.srv.URL + "/hook" }
func (r *holdingReceiver) release()    { r.once.Do(func() { close(r.hold) }) }

func (r *holdingReceiver) next(t *testing.T) received {
	t.Helper()
	select {
	case g := <-r.got:
		return g
	case <-time.After(60 * time.Second):
		t.Fatal("the receiver got nothing in 60s")
		return received{}
	}
}

// refusingDispatcher is a real dispatcher whose SetHooks can be made to fail.
type refusingDispatcher struct {
	*dispatch.Dispatcher
	refuse atomic.Bool
}

func (d *refusingDispatcher) SetHooks(hooks []dispatch.Hook) error {
	if d.refuse.Load() {
		return errors.New("refused by the test")
	}
	return d.Dispatcher.SetHooks(hooks)
}

// TestDispatcherRefusalRestoresStore checks that a change the dispatcher refuses is taken
// back from the store too: the file keeps the webhook, so a restart still has it.
func TestDispatcherRefusalRestoresStore(t *testing.T) {
	dir := t.TempDir()
	disp := &refusingDispatcher{Dispatcher: newTestDispatcher(t)}
	h := newHarness(t, harnessOpts{token: testToken, dir: dir, disp: disp})
	id := num(h.do("POST", "/rest/api/webhooks", newHook("keep", "http://127.0.0.1:9/x", "page_created"), bearer(testToken)).mustStatus(t, 201).json, "id")
	disp.refuse.Store(true)
	a := h.do("DELETE", "/rest/api/webhooks/"+strconv.FormatInt(id, 10), nil, bearer(testToken)).mustStatus(t, 500)
	if !strings.Contains(a.raw, "refused by the test") || !strings.Contains(a.raw, "nothing changed") {
		t.Errorf("got %s", a.raw)
	}
	b, err := os.ReadFile(filepath.Join(dir, storeFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"keep"`) {
		t.Errorf("the store lost the webhook the dispatcher kept:\n%s", b)
	}
	h.stop()
	h2 := newHarness(t, harnessOpts{token: testToken, dir: dir})
	if hs := h2.do("GET", "/rest/api/webhooks", nil, bearer(testToken)).results(); len(hs) != 1 || hs[0]["name"] != "keep" {
		t.Errorf("after a restart the API lists %v, want keep", hs)
	}
}

func TestDispatcherRefusalFailsLoad(t *testing.T) {
	d := newTestDispatcher(t)
	srv, err := New(Config{}, Deps{Dispatcher: d, DataDir: t.TempDir(), Webhooks: []dispatch.Webhook{
		{Name: "env", URL: "http://127.0.0.1:9/", Events: []string{"*"}, SecretEnv: "HOOKTAP_TEST_UNSET_SECRET"},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Load(); err == nil || !strings.Contains(err.Error(), "secret_env") {
		t.Fatalf("Load: got %v, want the dispatcher's secret_env error", err)
	}
}

func TestNewRejects(t *testing.T) {
	d := newTestDispatcher(t)
	if _, err := New(Config{}, Deps{}, nil); err == nil {
		t.Error("New without a dispatcher: no error")
	}
	dup := []dispatch.Webhook{{Name: "a", URL: "http://127.0.0.1:9/", Events: []string{"*"}}, {Name: "a", URL: "http://127.0.0.1:9/", Events: []string{"*"}}}
	if _, err := New(Config{}, Deps{Dispatcher: d, Webhooks: dup}, nil); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("New with a duplicate file webhook: got %v", err)
	}
}

func TestReloadFileWebhooks(t *testing.T) {
	fileRcv, apiRcv := newReceiver(t), newReceiver(t)
	h := newHarness(t, harnessOpts{token: testToken, file: []dispatch.Webhook{{Name: "a", URL: fileRcv.url(), Events: []string{"space_created"}}}})
	h.do("POST", "/rest/api/webhooks", newHook("api", apiRcv.url(), "page_created"), bearer(testToken)).mustStatus(t, http.StatusCreated)
	ids := func() map[string]int64 {
		out := map[string]int64{}
		for _, r := range h.do("GET", "/rest/api/webhooks", nil, bearer(testToken)).results() {
			out[r["name"].(string)] = num(r, "id")
		}
		return out
	}
	before := ids()

	if err := h.srv.SetFileWebhooks([]dispatch.Webhook{
		{Name: "b", URL: fileRcv.url(), Events: []string{"page_created"}},
		{Name: "a", URL: fileRcv.url(), Events: []string{"space_created"}},
	}); err != nil {
		t.Fatalf("SetFileWebhooks: %v", err)
	}
	after := ids()
	if len(after) != 3 || after["a"] != before["a"] || after["api"] != before["api"] || after["b"] == 0 {
		t.Errorf("after a reload got ids %v, before %v", after, before)
	}
	// Both the API's webhook and the new file webhook deliver.
	if err := h.disp.Enqueue(event("page_created", 5)); err != nil {
		t.Fatal(err)
	}
	apiRcv.next(t)
	fileRcv.next(t)

	// A reload that takes an API webhook's name, or repeats a name, is refused; nothing changes.
	for _, bad := range [][]dispatch.Webhook{
		{{Name: "api", URL: fileRcv.url(), Events: []string{"*"}}},
		{{Name: "x", URL: fileRcv.url(), Events: []string{"*"}}, {Name: "x", URL: fileRcv.url(), Events: []string{"*"}}},
	} {
		if err := h.srv.SetFileWebhooks(bad); err == nil {
			t.Errorf("SetFileWebhooks(%v) was accepted", bad[0].Name)
		}
	}
	if got := ids(); len(got) != 3 || got["b"] != after["b"] {
		t.Errorf("after refused reloads got %v, want %v", got, after)
	}
}
