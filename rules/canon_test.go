package rules_test

import (
	"strings"
	"testing"
	"time"

	"hooktap/config"
	"hooktap/rules"
)

// shipped returns a Classifier over the shipped rules.toml, with its sink's events.
func shipped(t *testing.T) (*rules.Classifier, *sink) {
	t.Helper()
	f, err := config.Load("../rules.toml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := rules.Compile(&f.File)
	if err != nil {
		t.Fatal(err)
	}
	sk := &sink{}
	c := rules.NewClassifier(m, f.Classify, sk, nil)
	c.Clock = func() time.Time { return fixedNow }
	return c, sk
}

// longDetour is a path over canonBufMax bytes whose canonical form is /rest/api/content:
// Wants canonicalises it in a pooled buffer rather than on its stack.
var longDetour = "/rest" + strings.Repeat("/x/..", 120) + "/api//content/"

// TestWantsCanonicalPath checks, with the shipped rules, that the spellings of a write's path
// that servers read as the same path are wanted and classified as that path (the review's
// evasions: path parameters, encoded unreserved characters, a trailing slash, empty and dot
// segments), and that spellings naming another resource are not.
func TestWantsCanonicalPath(t *testing.T) {
	c, sk := shipped(t)
	post := []byte("POST")
	want := ""
	for _, p := range []string{
		"/rest/api/content", "/rest/api/content;jsessionid=x", "/rest/api/%63ontent",
		"/rest/api/content/", "/rest//api/content", "/rest/api/./content", "/rest/api/x/../content",
		"/rest/api/%2e%2e/api/content", "/rest/..;/rest/api/content", longDetour,
	} {
		if !c.Wants(post, []byte(p)) {
			t.Errorf("Wants(POST, %q) = false, want true", p)
			continue
		}
		x := pageCreate()
		x.Path = []byte(p)
		sk.got = sk.got[:0]
		c.Before(x)
		if err := c.After(x); err != nil {
			t.Fatal(err)
		}
		got := strings.Join(sk.got, "\n")
		if want == "" {
			want = got
			if !strings.Contains(want, "event page_created ") {
				t.Fatalf("POST /rest/api/content emitted %q, want page_created", want)
			}
		} else if got != want {
			t.Errorf("POST %q emitted\n%s\nwant (as /rest/api/content)\n%s", p, got, want)
		}
	}
	for _, p := range []string{
		"/rest/api/content/1002/label", "/rest/api/content/1002/label/", "/rest/api/content/1002;x/label",
		"/rest/api/content/%31002/label", "/rest/api//content/1002/./label;y",
	} {
		if !c.Wants(post, []byte(p)) {
			t.Errorf("Wants(POST, %q) = false, want true", p)
		}
	}
	for _, p := range []string{
		"/rest/api/content/..", "/rest/api/content%2F", "/rest/api/content%3Bx", "/rest/api/con;x/tent",
		"/rest/api", "/rest/api/%2Fcontent",
	} {
		if c.Wants(post, []byte(p)) {
			t.Errorf("Wants(POST, %q) = true, want false", p)
		}
	}
	if c.Wants([]byte("GET"), []byte("/rest/api/content;jsessionid=x")) {
		t.Error("a read with a path parameter is wanted")
	}
}
