package admin

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// generate asks the admin API for a new secret and checks its form.
func generate(t *testing.T, h *harness) string {
	t.Helper()
	a := h.do("POST", "/rest/api/webhooks/secret", nil, bearer(testToken)).mustStatus(t, http.StatusOK)
	if cc := a.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	sec, _ := a.json["secret"].(string)
	rest, ok := strings.CutPrefix(sec, "whsec_")
	if !ok {
		t.Fatalf("secret %q does not start with whsec_", sec)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(key) < 24 || len(key) > 64 {
		t.Fatalf("secret's key: %d bytes, %v; want 24 to 64 bytes of standard base64", len(key), err)
	}
	return sec
}

// standardKey decodes a whsec_ secret with the standard library.
func standardKey(t *testing.T, sec string) []byte {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sec, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// standardSigs returns the v1 signatures of a delivery, and the one each key would give.
func checkStandardSigs(t *testing.T, got received, keys ...[]byte) {
	t.Helper()
	var want []string
	for _, k := range keys {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(got.header.Get("webhook-id") + "." + got.header.Get("webhook-timestamp") + "."))
		m.Write(got.body)
		want = append(want, "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
	}
	if sig := got.header.Get("webhook-signature"); sig != strings.Join(want, " ") {
		t.Errorf("webhook-signature %q, want %q (one v1 per key, newest first)", sig, strings.Join(want, " "))
	}
}

func TestGenerateSecret(t *testing.T) {
	h := newHarness(t, harnessOpts{token: testToken})
	h.do("POST", "/rest/api/webhooks/secret", nil, noAuth).mustStatus(t, http.StatusUnauthorized)
	a, b := generate(t, h), generate(t, h)
	if a == b {
		t.Errorf("two generated secrets are equal: %q", a)
	}
	if log := h.logText(); strings.Contains(log, strings.TrimPrefix(a, "whsec_")) || strings.Contains(log, strings.TrimPrefix(b, "whsec_")) {
		t.Errorf("the log holds a generated secret:\n%s", log)
	}
	// It changes nothing: no webhook appears.
	if n := len(h.do("GET", "/rest/api/webhooks", nil, bearer(testToken)).mustStatus(t, 200).results()); n != 0 {
		t.Errorf("%d webhooks after generating secrets, want 0", n)
	}
}

// TestGeneratedSecretRotation signs deliveries with a generated secret and a previous one,
// verifies both signatures with the decoded keys, and ends the rotation.
func TestGeneratedSecretRotation(t *testing.T) {
	h := newHarness(t, harnessOpts{token: testToken})
	rcv := newReceiver(t)
	oldSec, newSec := generate(t, h), generate(t, h)

	body := newHook("rot", rcv.url(), "page_created")
	body["configuration"] = map[string]string{"secret": newSec, "previousSecret": oldSec}
	c := h.do("POST", "/rest/api/webhooks", body, bearer(testToken)).mustStatus(t, http.StatusCreated)
	id := itoa64(num(c.json, "id"))
	g := h.do("GET", "/rest/api/webhooks/"+id, nil, bearer(testToken)).mustStatus(t, 200)
	for _, a := range []answer{c, g, h.do("GET", "/rest/api/webhooks", nil, bearer(testToken))} {
		if strings.Contains(a.raw, strings.TrimPrefix(oldSec, "whsec_")) || strings.Contains(a.raw, strings.TrimPrefix(newSec, "whsec_")) {
			t.Errorf("an answer holds a secret: %s", a.raw)
		}
	}
	if g.json["hasSecret"] != true || g.json["hasPreviousSecret"] != true {
		t.Errorf("hasSecret %v, hasPreviousSecret %v; want both true", g.json["hasSecret"], g.json["hasPreviousSecret"])
	}
	// Kept in the store file, so a restart keeps rotating.
	if raw, err := os.ReadFile(filepath.Join(h.dir, "admin-webhooks.json")); err != nil || !strings.Contains(string(raw), `"previousSecret": "`+oldSec+`"`) {
		t.Errorf("store file (%v) has no previousSecret:\n%s", err, raw)
	}

	if err := h.disp.Enqueue(event("page_created", 1)); err != nil {
		t.Fatal(err)
	}
	checkStandardSigs(t, rcv.next(t), standardKey(t, newSec), standardKey(t, oldSec))

	// An update without previousSecret keeps it; an empty one ends the rotation.
	h.do("PUT", "/rest/api/webhooks/"+id, newHook("rot", rcv.url(), "page_created"), bearer(testToken)).mustStatus(t, 200)
	if g := h.do("GET", "/rest/api/webhooks/"+id, nil, bearer(testToken)); g.json["hasPreviousSecret"] != true || g.json["hasSecret"] != true {
		t.Errorf("after an update without secrets: %s", g.raw)
	}
	body["configuration"] = map[string]string{"previousSecret": ""}
	h.do("PUT", "/rest/api/webhooks/"+id, body, bearer(testToken)).mustStatus(t, 200)
	if g := h.do("GET", "/rest/api/webhooks/"+id, nil, bearer(testToken)); g.json["hasPreviousSecret"] != false || g.json["hasSecret"] != true {
		t.Errorf("after ending the rotation: %s", g.raw)
	}
	if err := h.disp.Enqueue(event("page_created", 2)); err != nil {
		t.Fatal(err)
	}
	checkStandardSigs(t, rcv.next(t), standardKey(t, newSec))
	if log := h.logText(); strings.Contains(log, strings.TrimPrefix(oldSec, "whsec_")) || strings.Contains(log, strings.TrimPrefix(newSec, "whsec_")) {
		t.Errorf("the log holds a secret:\n%s", log)
	}
}

func TestSecretValidation(t *testing.T) {
	h := newHarness(t, harnessOpts{token: testToken})
	ok := generate(t, h)
	for _, c := range []struct {
		name  string
		conf  map[string]string
		field string
	}{
		{"not base64", map[string]string{"secret": "whsec_not*base64!"}, "configuration.secret"},
		{"unpadded", map[string]string{"secret": "whsec_" + ok[6:10] + "AA"}, "configuration.secret"},
		{"empty key", map[string]string{"secret": "whsec_"}, "configuration.secret"},
		{"previous not base64", map[string]string{"secret": ok, "previousSecret": "whsec_%%%%"}, "configuration.previousSecret"},
		{"previous without secret", map[string]string{"previousSecret": ok}, "configuration.previousSecret"},
		{"previous too long", map[string]string{"secret": ok, "previousSecret": strings.Repeat("x", 256)}, "configuration.previousSecret"},
	} {
		body := newHook("v "+c.name, "http://127.0.0.1:9/hook", "page_created")
		body["configuration"] = c.conf
		a := h.do("POST", "/rest/api/webhooks", body, bearer(testToken)).mustStatus(t, http.StatusBadRequest)
		if !slices.Contains(a.errorFields(), c.field) {
			t.Errorf("%s: error fields %v, want %s: %s", c.name, a.errorFields(), c.field, a.raw)
		}
		for _, v := range c.conf {
			if len(v) > 6 && strings.Contains(a.raw, v) {
				t.Errorf("%s: the answer holds the secret: %s", c.name, a.raw)
			}
		}
	}
	// A plain secret and a valid whsec_ one are accepted; on update the same checks hold.
	body := newHook("fine", "http://127.0.0.1:9/hook", "page_created")
	body["configuration"] = map[string]string{"secret": "plain s3cret", "previousSecret": ok}
	id := itoa64(num(h.do("POST", "/rest/api/webhooks", body, bearer(testToken)).mustStatus(t, http.StatusCreated).json, "id"))
	body["configuration"] = map[string]string{"previousSecret": "whsec_@@"}
	a := h.do("PUT", "/rest/api/webhooks/"+id, body, bearer(testToken)).mustStatus(t, http.StatusBadRequest)
	if !slices.Contains(a.errorFields(), "configuration.previousSecret") {
		t.Errorf("update: error fields %v: %s", a.errorFields(), a.raw)
	}
	body["configuration"] = map[string]string{"secret": ""} // the previous secret would have nothing to rotate to
	a = h.do("PUT", "/rest/api/webhooks/"+id, body, bearer(testToken)).mustStatus(t, http.StatusBadRequest)
	if !slices.Contains(a.errorFields(), "configuration.previousSecret") {
		t.Errorf("removing the secret under a rotation: error fields %v: %s", a.errorFields(), a.raw)
	}
}
