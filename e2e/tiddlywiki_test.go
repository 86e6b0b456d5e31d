package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// twClient talks TiddlyWeb to one base URL with Basic auth.
type twClient struct {
	base, user, pass string
	hc               *http.Client
}

func (c *twClient) do(method, title string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	p := "/recipes/default/tiddlers/"
	if method == http.MethodDelete {
		p = "/bags/default/tiddlers/"
	}
	req, err := http.NewRequest(method, c.base+p+url.PathEscape(title), rd)
	if err != nil {
		return 0, nil, err
	}
	req.SetBasicAuth(c.user, c.pass)
	req.Header.Set("X-Requested-With", "TiddlyWiki")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// twState is a tiddler as the server holds it: nil when it does not exist.
type twState struct {
	revision string
	tags     []string
}

// get reads a tiddler straight from the backend.
func (c *twClient) get(t *testing.T, title string) *twState {
	t.Helper()
	st, b, err := c.do(http.MethodGet, title, nil)
	if err != nil {
		t.Fatalf("GET %q: %v", title, err)
	}
	switch st {
	case http.StatusNotFound:
		return nil
	case http.StatusOK:
		j := gjson.ParseBytes(b)
		return &twState{revision: j.Get("revision").Raw, tags: parseTWList(j.Get("tags").String())}
	}
	t.Fatalf("GET %q: status %d: %s", title, st, b)
	return nil
}

// parseTWList splits a TiddlyWiki string list ("a [[two words]] b").
func parseTWList(s string) []string {
	var out []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if strings.HasPrefix(s, "[[") {
			end := strings.Index(s, "]]")
			if end < 0 {
				out = append(out, s[2:])
				break
			}
			out = append(out, s[2:end])
			s = s[end+2:]
			continue
		}
		i := strings.IndexAny(s, " \t\n")
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	return out
}

// twNoise reports whether the pack treats a title as the browser's noise.
func twNoise(title string) bool {
	return strings.HasPrefix(title, "$:/") || strings.HasPrefix(title, "Draft of '")
}

// twRecord derives the events that a change from before to after of one tiddler means.
func twRecord(title string, before, after *twState) []string {
	if twNoise(title) {
		return nil
	}
	var out []string
	switch {
	case before == nil && after != nil:
		out = append(out, "page_created "+title)
		for _, tg := range after.tags {
			out = append(out, "label_added "+title+"|"+tg)
		}
	case before != nil && after == nil:
		out = append(out, "page_removed "+title)
	case before != nil && after != nil && before.revision != after.revision:
		out = append(out, "page_updated "+title)
		for _, tg := range setMinus(after.tags, before.tags) {
			out = append(out, "label_added "+title+"|"+tg)
		}
		for _, tg := range setMinus(before.tags, after.tags) {
			out = append(out, "label_removed "+title+"|"+tg)
		}
	}
	return out
}

func setMinus(a, b []string) []string {
	var out []string
	for _, x := range a {
		found := false
		for _, y := range b {
			if x == y {
				found = true
				break
			}
		}
		if !found {
			out = append(out, x)
		}
	}
	return out
}

// stringifyList writes tags as TiddlyWiki writes a title list: a title with white space in
// double square brackets.
func stringifyList(tags []string) string {
	out := make([]string, len(tags))
	for i, tg := range tags {
		out[i] = tg
		if strings.ContainsAny(tg, " \t\n") {
			out[i] = "[[" + tg + "]]"
		}
	}
	return strings.Join(out, " ")
}

// twKey names a delivered TiddlyWiki event as twRecord names a recorded one.
func twKey(d delivery) string {
	p := d.payload
	switch d.event {
	case "label_added", "label_removed":
		return d.event + " " + p.Get("labeled.id").String() + "|" + p.Get("label.name").String()
	}
	return d.event + " " + p.Get("page.id").String()
}

func TestTiddlyWiki(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	start := time.Now()
	seed, n := workloadSeed(t)
	be := startBackend(t, "tiddlywiki")
	rcv := newReceiver(t)
	ht := startHooktap(t, "tiddlywiki", be.url(), rcv)
	hc := &http.Client{Timeout: 30 * time.Second}
	via := &twClient{base: ht.url, user: be.env["USER"], pass: be.env["PASS"], hc: hc}
	direct := &twClient{base: be.url(), user: be.env["USER"], pass: be.env["PASS"], hc: hc}

	rng := newRand(seed)
	counts := map[string]int{}
	tagPool := []string{"alpha", "beta", "two words", "gamma", "Delta"}
	randTags := func() []string {
		var tags []string
		for _, tg := range tagPool {
			if rng.IntN(3) == 0 {
				tags = append(tags, tg)
			}
		}
		return tags
	}
	// sendTags is how a PUT carries tags: the browser's array, or (one PUT in four) the
	// string list other clients send ("alpha [[two words]]").
	sendTags := func(tags []string) any {
		if rng.IntN(4) == 0 {
			counts["tags as a string"]++
			return stringifyList(tags)
		}
		return tags
	}
	var live []string
	next := 0
	newTitle := func() string {
		next++
		if rng.IntN(4) == 0 {
			return fmt.Sprintf("Tiddler/%d with spaces & ünïcode", next)
		}
		return fmt.Sprintf("Tiddler%d", next)
	}
	pick := func(r *rand.Rand) string { return live[r.IntN(len(live))] }
	var record []string

	for i := 0; i < n; i++ {
		var title, method string
		var body any
		kind := rng.IntN(100)
		switch {
		case kind < 25 || len(live) == 0: // create
			title, method = newTitle(), http.MethodPut
			body = map[string]any{"title": title, "text": fmt.Sprintf("text %d", rng.Int()), "tags": sendTags(randTags()), "type": "text/vnd.tiddlywiki"}
			counts["create"]++
		case kind < 45: // edit the text, same tags
			title, method = pick(rng), http.MethodPut
			body = map[string]any{"title": title, "text": fmt.Sprintf("text %d", rng.Int()), "tags": sendTags(direct.get(t, title).tags), "type": "text/vnd.tiddlywiki"}
			counts["update"]++
		case kind < 60: // retag
			title, method = pick(rng), http.MethodPut
			body = map[string]any{"title": title, "text": "retagged", "tags": sendTags(randTags()), "type": "text/vnd.tiddlywiki"}
			counts["retag"]++
		case kind < 70: // delete
			title, method = pick(rng), http.MethodDelete
			counts["delete"]++
		case kind < 74: // delete of a title that never existed: 204, no event
			title, method = fmt.Sprintf("Never%d", i), http.MethodDelete
			counts["delete missing"]++
		case kind < 84: // the browser's story list: noise
			title, method = "$:/StoryList", http.MethodPut
			body = map[string]any{"title": title, "text": "", "fields": map[string]string{"list": "[[" + pick(rng) + "]]"}, "type": "text/vnd.tiddlywiki"}
			counts["system"]++
		case kind < 92: // a draft while editing: noise
			of := pick(rng)
			title, method = "Draft of '"+of+"'", http.MethodPut
			body = map[string]any{"title": title, "text": "draft", "tags": randTags(), "fields": map[string]string{"draft.of": of, "draft.title": of}}
			counts["draft"]++
		default: // the draft is discarded: noise
			of := pick(rng)
			title, method = "Draft of '"+of+"'", http.MethodDelete
			counts["draft delete"]++
		}
		before := direct.get(t, title)
		st, b, err := via.do(method, title, body)
		if err != nil {
			t.Fatalf("action %d %s %q: %v", i, method, title, err)
		}
		if st != http.StatusNoContent {
			t.Fatalf("action %d %s %q through hooktap: status %d: %s", i, method, title, st, b)
		}
		after := direct.get(t, title)
		record = append(record, twRecord(title, before, after)...)
		if !twNoise(title) {
			live = setMinus(live, []string{title})
			if after != nil {
				live = append(live, title)
			}
		}
	}
	t.Logf("actions by kind: %v", counts)
	got := rcv.settle(notGap(record, gapSet{}, twKey))
	checkReceiver(t, rcv)
	delivered := make([]string, len(got))
	for i, d := range got {
		delivered[i] = twKey(d)
	}
	tally(t, "tiddlywiki", seed, n, delivered, record, gapSet{})
	t.Logf("tiddlywiki: %v in all (backend start, %d actions, settle)", time.Since(start).Round(time.Millisecond), n)
}
