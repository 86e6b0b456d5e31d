package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"hooktap/dispatch"
)

// fuzzAPI is a real admin Server with a real dispatcher, driven through its handler.
type fuzzAPI struct {
	h    http.Handler
	base int64 // id of a webhook that PUTs target when the create was refused
}

// newFuzzAPI builds the server once per fuzzing process (a *testing.F cannot make a harness).
func newFuzzAPI(f *testing.F) *fuzzAPI {
	d, err := dispatch.New(dispatch.Config{Queue: "memory", Retry: []time.Duration{}, Timeout: 30 * time.Second,
		AllowTargets: []string{"127.0.0.1", "::1"}}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatalf("dispatch.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	f.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			f.Errorf("dispatcher Run: %v", err)
		}
	})
	srv, err := New(Config{Token: testToken}, Deps{Dispatcher: d, DataDir: f.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatalf("New: %v", err)
	}
	if err := srv.Load(); err != nil {
		f.Fatalf("Load: %v", err)
	}
	api := &fuzzAPI{h: srv.Handler()}
	// The base webhook's URL must pass today's checks and the target policy to come: try
	// loopback first, then a public documentation address.
	for _, u := range []string{"http://127.0.0.1:9/hook", "https://203.0.113.7/hook"} {
		st, body := api.call("POST", "/rest/api/webhooks", []byte(`{"name":"base","url":"`+u+`","events":["page_created"]}`))
		if st == http.StatusCreated {
			var v hookView
			if err := json.Unmarshal(body, &v); err != nil {
				f.Fatal(err)
			}
			api.base = v.ID
			return api
		}
	}
	f.Fatal("no base webhook could be created")
	return nil
}

// call sends one request with the admin token and returns the status and body.
func (a *fuzzAPI) call(method, path string, body []byte) (int, []byte) {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", bearer(testToken))
	w := httptest.NewRecorder()
	a.h.ServeHTTP(w, req)
	return w.Code, w.Body.Bytes()
}

// checked sends a request and checks the answer's shape: no 5xx, JSON, and an error answer
// lists at least one error, each naming its field. It returns the status and, on success,
// the webhook answered.
func (a *fuzzAPI) checked(t *testing.T, method, path string, body []byte) (int, hookView) {
	t.Helper()
	st, raw := a.call(method, path, body)
	if st >= 500 {
		t.Fatalf("%s %s: status %d for body %q: %s", method, path, st, body, raw)
	}
	var v hookView
	if st/100 == 2 {
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s %s: %d answer is not a webhook: %v: %s", method, path, st, err, raw)
		}
		return st, v
	}
	var e struct{ Errors []fieldError }
	if err := json.Unmarshal(raw, &e); err != nil || len(e.Errors) == 0 {
		t.Fatalf("%s %s: %d answer is not a JSON error list (%v): %s", method, path, st, err, raw)
	}
	for _, fe := range e.Errors {
		if fe.Field == "" || fe.Message == "" {
			t.Fatalf("%s %s: %d error without a field or message: %s", method, path, st, raw)
		}
	}
	return st, v
}

// roundTrip checks that GET answers the webhook as the write answered it, and as the input
// asked.
func (a *fuzzAPI) roundTrip(t *testing.T, body []byte, got hookView) {
	t.Helper()
	_, back := a.checked(t, "GET", "/rest/api/webhooks/"+strconv.FormatInt(got.ID, 10), nil)
	if back.ID != got.ID || back.Name != got.Name || back.URL != got.URL || !slices.Equal(back.Events, got.Events) ||
		back.Active != got.Active || back.Payload != got.Payload || back.HasSecret != got.HasSecret {
		t.Fatalf("GET answers %+v, the write answered %+v", back, got)
	}
	var in hookInput
	if err := json.Unmarshal(body, &in); err != nil {
		t.Fatalf("accepted body %q does not decode: %v", body, err)
	}
	if back.Name != strings.TrimSpace(*in.Name) || back.URL != redactURL(*in.URL) || !slices.Equal(back.Events, in.Events) {
		t.Fatalf("accepted %q, stored name %q url %q events %q", body, back.Name, back.URL, back.Events)
	}
	if in.Active != nil && back.Active != *in.Active {
		t.Fatalf("accepted active=%v, stored %v", *in.Active, back.Active)
	}
	if sec, ok := in.Configuration["secret"]; ok && back.HasSecret != (sec != "") {
		t.Fatalf("accepted secret of %d bytes, stored hasSecret=%v", len(sec), back.HasSecret)
	}
	if strings.Contains(string(mustJSON(t, back)), `"secret"`) {
		t.Fatalf("GET answer holds the secret: %+v", back)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzWebhookJSON feeds arbitrary bodies to POST and PUT /rest/api/webhooks of a real admin
// server: never a 5xx or a panic, every accepted webhook round-trips through GET, every
// refusal is a 4xx JSON error naming a field, and a refused PUT changes nothing.
func FuzzWebhookJSON(f *testing.F) {
	seeds := []string{
		`{"name":"a","url":"http://127.0.0.1:9/x","events":["page_created"],"active":true}`,
		`{"name":" spaced ","url":"https://203.0.113.7/h?t=1","events":["*"],"configuration":{"secret":"s3cret"},"payload":"full"}`,
		`{"name":"b","url":"http://127.0.0.1:9/x","events":["page_created","page_created"],"active":false,"scopeType":"global"}`,
		`{"name":"","url":"","events":[]}`,
		`{"name":"c","url":"ftp://x/","events":["nope"],"configuration":{"other":"1"},"payload":"xml"}`,
		`{"name":"d","url":"http://user:pw@127.0.0.1/","events":["*","page_created"]}`,
		`{"name":"e","url":"http://[::1]:9/","events":["page_created"],"configuration":{"secret":""}}`,
		`{"name":"\u0000\ufffd","url":"http://%zz/","events":[null]}`,
		`{"name":1,"url":true,"events":"page_created"}`,
		`{"name":"f","url":"http:///nohost","events":["page_created"]}{}`,
		`[{"name":"g"}]`, `null`, `"str"`, `{`, ``, `{"name":"base","url":"http://127.0.0.1:9/","events":["page_created"]}`,
		`{"name":"` + strings.Repeat("n", 300) + `","url":"http://127.0.0.1/` + strings.Repeat("p", 2100) + `","events":["page_created"]}`,
	}
	for i, s := range seeds {
		f.Add([]byte(s), []byte(seeds[(i+1)%len(seeds)]))
	}
	api := newFuzzAPI(f)
	f.Fuzz(func(t *testing.T, create, update []byte) {
		st, made := api.checked(t, "POST", "/rest/api/webhooks", create)
		target := api.base
		if st == http.StatusCreated {
			api.roundTrip(t, create, made)
			target = made.ID
		} else if st/100 == 2 {
			t.Fatalf("POST answered %d, want 201 or a 4xx", st)
		}
		path := "/rest/api/webhooks/" + strconv.FormatInt(target, 10)
		_, before := api.checked(t, "GET", path, nil)
		st, upd := api.checked(t, "PUT", path, update)
		switch {
		case st == http.StatusOK:
			api.roundTrip(t, update, upd)
		case st/100 == 2:
			t.Fatalf("PUT answered %d, want 200 or a 4xx", st)
		default:
			if _, after := api.checked(t, "GET", path, nil); !slices.Equal(mustJSON(t, after), mustJSON(t, before)) {
				t.Fatalf("a refused PUT (%d) changed the webhook: %+v, was %+v", st, after, before)
			}
		}
		if target != api.base {
			if st, raw := api.call("DELETE", path, nil); st != http.StatusNoContent {
				t.Fatalf("DELETE %s: %d %s", path, st, raw)
			}
		}
	})
}
