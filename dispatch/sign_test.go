package dispatch

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSignatureHeaders delivers with each kind of secret and recomputes every signature
// header with the standard library: X-Hub-Signature and X-Hub-Signature-256 (the same value)
// keyed with the raw secret string, webhook-signature keyed with the Standard Webhooks key
// (the decoded base64 of a whsec_ secret), and during a rotation one v1 signature per
// secret, the new one first.
func TestSignatureHeaders(t *testing.T) {
	const whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	whsecKey, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(whsec, "whsec_"))
	for _, tc := range []struct {
		name, secret, prev string
		keys               [][]byte // webhook-signature keys, in order
	}{
		{"raw", "s3cret", "", [][]byte{[]byte("s3cret")}},
		{"whsec", whsec, "", [][]byte{whsecKey}},
		{"rotation raw to whsec", whsec, "old-raw", [][]byte{whsecKey, []byte("old-raw")}},
		{"rotation whsec to raw", "new-raw", whsec, [][]byte{[]byte("new-raw"), whsecKey}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t)
			w := webhook("signed", rc.URL, "*")
			w.Secret, w.PreviousSecret = tc.secret, tc.prev
			h := start(t, memCfg(), []Webhook{w}, nil)
			ev := event("page_created", 42)
			body := string(ev.Payload)
			enqueue(t, h.d, ev)
			got := rc.next(t)

			mac := hmac.New(sha256.New, []byte(tc.secret))
			mac.Write([]byte(body))
			hub := "sha256=" + hex.EncodeToString(mac.Sum(nil))
			for _, k := range []string{"X-Hub-Signature", "X-Hub-Signature-256"} {
				if v := got.Header.Values(k); len(v) != 1 || v[0] != hub {
					t.Errorf("got %s %q, want %q", k, v, hub)
				}
			}
			id, ts := got.Header.Get("webhook-id"), got.Header.Get("webhook-timestamp")
			var want []string
			for _, key := range tc.keys {
				mac := hmac.New(sha256.New, key)
				mac.Write([]byte(id + "." + ts + "." + body))
				want = append(want, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
			}
			if g, w := got.Header.Get("webhook-signature"), strings.Join(want, " "); g != w {
				t.Errorf("got webhook-signature %q, want %q", g, w)
			}
		})
	}
}

// TestSecretRotationReload: ending a rotation (a reload without previous_secret) drops the
// old signature from the next delivery; the worker re-keys on the change.
func TestSecretRotationReload(t *testing.T) {
	rc := newReceiver(t)
	w := webhook("rot", rc.URL, "*")
	w.Secret, w.PreviousSecret = "new", "old"
	h := start(t, memCfg(), []Webhook{w}, nil)
	enqueue(t, h.d, event("page_created", 1))
	if s := rc.next(t).Header.Get("webhook-signature"); strings.Count(s, "v1,") != 2 {
		t.Fatalf("during the rotation: webhook-signature %q, want two signatures", s)
	}
	w.PreviousSecret = ""
	if err := h.d.SetWebhooks([]Webhook{w}); err != nil {
		t.Fatal(err)
	}
	enqueue(t, h.d, event("page_created", 2))
	got := rc.next(t)
	mac := hmac.New(sha256.New, []byte("new"))
	mac.Write([]byte(got.Header.Get("webhook-id") + "." + got.Header.Get("webhook-timestamp") + "." + string(got.Body)))
	if g, want := got.Header.Get("webhook-signature"), "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)); g != want {
		t.Errorf("after the rotation: webhook-signature %q, want only the new one's %q", g, want)
	}
}

// TestSecretErrors: New refuses a whsec_ secret that does not decode, a previous secret
// without a secret and an empty previous_secret_env, without showing any value.
func TestSecretErrors(t *testing.T) {
	t.Setenv("HOOKTAP_TEST_EMPTY_PREV", "")
	for _, tc := range []struct {
		w    Webhook
		want string
	}{
		{Webhook{Secret: "whsec_zz*zz"}, "secret: a whsec_ secret must be whsec_ followed by standard, padded base64"},
		{Webhook{Secret: "ok", PreviousSecret: "whsec_zz*zz"}, "previous_secret: a whsec_ secret"},
		{Webhook{PreviousSecret: "old"}, "previous_secret needs a secret"},
		{Webhook{Secret: "ok", PreviousSecretEnv: "HOOKTAP_TEST_EMPTY_PREV"}, "previous_secret_env HOOKTAP_TEST_EMPTY_PREV is empty"},
	} {
		w := tc.w
		w.Name, w.URL, w.Events = "bad", "http://127.0.0.1:9/", []string{"*"}
		_, err := New(memCfg(), []Webhook{w}, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.w, err, tc.want)
		} else if strings.Contains(err.Error(), "zz*zz") {
			t.Errorf("the error shows the secret: %v", err)
		}
	}
}

// TestHistograms: a delivery that succeeds on its second attempt, 15s (fake clock) after
// it was accepted, is one latency observation of 15s and two attempt durations.
func TestHistograms(t *testing.T) {
	fc := newFakeClock()
	rc := newReceiver(t)
	rc.setAnswer(func(_ *http.Request, n int) (int, map[string]string) {
		if n == 1 {
			return 500, nil
		}
		return 200, nil
	})
	cfg := memCfg()
	cfg.Retry = []time.Duration{10 * time.Second} // ±20 %: due within 12s
	h := start(t, cfg, []Webhook{webhook("slow", rc.URL, "*")}, fc)
	enqueue(t, h.d, event("page_created", 1))
	if e := h.next(t); e.a == nil || e.a.Outcome != "status_5xx" {
		t.Fatalf("first attempt: %+v, want status_5xx", e.a)
	}
	fc.Advance(15 * time.Second)
	if e := h.next(t); e.a == nil || e.a.Outcome != "delivered" {
		t.Fatalf("second attempt: %+v, want delivered", e.a)
	}
	hs := h.hookStats(t, "slow")
	lat := hs.Latency
	if lat.Count != 1 || lat.Sum != 15 {
		t.Errorf("latency: count %d sum %v, want 1 and 15", lat.Count, lat.Sum)
	}
	for i, b := range lat.Bounds {
		want := uint64(0)
		if b >= 15 {
			want = 1
		}
		if lat.Cumulative[i] != want {
			t.Errorf("latency bucket le=%v: %d, want %d", b, lat.Cumulative[i], want)
		}
	}
	d := hs.AttemptDuration
	if d.Count != 2 || d.Sum <= 0 || d.Cumulative[len(d.Cumulative)-1] != 2 {
		t.Errorf("attempt duration: %+v, want 2 observations within the last bound", d)
	}
}

// BenchmarkSignRotation measures the signatures during a rotation: X-Hub-Signature with the
// new secret and webhook-signature with both (three HMACs, two keys of them whsec_).
func BenchmarkSignRotation(b *testing.B) {
	s := newRotatingSigner("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "s3cret")
	hub, std := make([]byte, 0, 80), make([]byte, 0, 128)
	id, ts := []byte("0123456789abcdef0123456789abcdef"), []byte("1778071365")
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		hub = s.appendHub(hub[:0], benchBody)
		std = s.appendStandard(std[:0], id, ts, benchBody)
	}
}
