package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// packRules names the rules file each packs/cases/<pack> directory runs against.
func packRules(pack string) string {
	if pack == "confluence" {
		return "rules.toml"
	}
	return filepath.Join("packs", pack+".toml")
}

// TestPackCases runs hooktap test over every packs/cases/<pack> directory against its pack,
// so that a change to a pack that changes its events fails here with a diff.
func TestPackCases(t *testing.T) {
	dirs, _ := filepath.Glob("packs/cases/*")
	if len(dirs) < 4 {
		t.Fatalf("got pack case directories %v, want mediawiki, wordpress, tiddlywiki and confluence", dirs)
	}
	for _, dir := range dirs {
		pack := filepath.Base(dir)
		t.Run(pack, func(t *testing.T) {
			var out bytes.Buffer
			res, err := testCases([]string{dir}, packRules(pack), false, &out)
			if err != nil {
				t.Fatal(err)
			}
			if res.failed > 0 {
				t.Errorf("%d of %d cases failed (hooktap test -config %s -update %s rewrites them):\n%s", res.failed, res.cases, packRules(pack), dir, out.String())
			}
			if res.cases < 3 {
				t.Errorf("%d cases, want at least 3", res.cases)
			}
		})
	}
}

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = subcommand(args[0])(args[1:], &o, &e)
	return code, o.String(), e.String()
}

func wantLines(t *testing.T, out string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(out, l+"\n") {
			t.Errorf("output lacks the line %q:\n%s", l, out)
		}
	}
}

// TestExplainCaseFile explains a case file with its own inline rules: the failed condition
// with the value seen, a status mismatch, the events with both payloads, unmatched writes.
func TestExplainCaseFile(t *testing.T) {
	code, out, errOut := runCmd(t, "explain", "rules/testdata/cases/01_page_created.txt")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	wantLines(t, out,
		"== 1 POST /rest/api/content -> 200 (rules/testdata/cases/01_page_created.txt:19)",
		`rule "page created" (line 4): matched`,
		`  event page_created {"timestamp":1700000000000,"event":"page_created","userKey":"admin","page":{"id":123456}}`,
		`    full {"timestamp":1700000000000,"event":"page_created","userKey":"admin","page":{"id":123456,"title":"Hello \"world\"","contentType":"page","spaceKey":"DS","version":1}}`,
		`rule "page created" (line 4): when "req.type" = "page": got "blogpost"`,
		"no rule matched this write: counted in the unmatched writes as POST /rest/api/content",
		`rule "page created" (line 4): status 400: want 2xx`,
		"a write no rule wants: counted in the unmatched writes as PUT /rest/api/content",
		"5 exchanges, 2 events, 2 unmatched writes",
	)
}

// TestExplainHAR explains a HAR file saved from a browser against rules.toml: a base64
// response, credentials redacted, a lookup a HAR cannot answer, a browser's asset loads left
// out.
func TestExplainHAR(t *testing.T) {
	code, out, errOut := runCmd(t, "explain", "-config", "rules.toml", "testdata/confluence.har")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	wantLines(t, out,
		"== 2 POST /rest/api/content -> 200 (testdata/confluence.har entry 2)",
		"header Authorization: [redacted]",
		"header Cookie: [redacted]",
		`  event page_created {"timestamp":1700000000000,"event":"page_created","userKey":"ff8080817b","page":{"id":65601}}`,
		`rule "page created" (line 97): when "resp.type" = "page": got "blogpost"`,
		`  lookup "before" GET /rest/api/content/65601?status=any: the proxy would make this lookup; a HAR file holds no answer, so it counts as failed`,
		`rule "page edited" (line 188): lookup "before" failed (on_lookup_error = "skip": no event)`,
		"a write no rule wants: counted in the unmatched writes as POST /rest/api/search",
		"4 exchanges, 2 events, 2 unmatched writes (1 reads no rule wants not shown)",
	)
	for _, secret := range []string{"YWRtaW46aHVudGVyMg", "secretcookie", "newsecret", "app.js"} {
		if strings.Contains(out, secret) {
			t.Errorf("output shows %q:\n%s", secret, out)
		}
	}
}

// TestExplainErrors checks that bad input exits 2 with a message naming the file (and line).
func TestExplainErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{filepath.Join(dir, "missing.har")}, "missing.har: no such file or directory"},
		{[]string{write("bad.har", "{\"log\": {\n \"entries\": [1,}\n}")}, "bad.har:2: not a HAR file: invalid character '}'"},
		{[]string{write("type.har", "{\"log\": {\"entries\": [{\"request\": {\"method\": 1}}]}}")}, "type.har:1: not a HAR file: log.entries.request.method is a number, want a string"},
		{[]string{write("nolog.har", "{\"version\": 1}")}, `nolog.har:1: not a HAR file: no "log" object`},
		{[]string{write("empty.har", "{\"log\": {\"entries\": []}}")}, "empty.har: the HAR file has no entries (log.entries is empty)"},
		{[]string{write("bad.txt", "@rules.toml\n---- exchanges\nPOST /a\n\nbody\n")}, `bad.txt:3: exchange "/a" has no => STATUS line`},
		{[]string{"-config", filepath.Join(dir, "none.toml"), "testdata/confluence.har"}, "none.toml: no such file or directory"},
		{[]string{}, "usage: hooktap explain"},
	} {
		code, _, errOut := runCmd(t, append([]string{"explain"}, c.args...)...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("explain %q: exit %d, stderr %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
}

// TestTestCommand checks hooktap test's exit codes, its diff and its summary line.
func TestTestCommand(t *testing.T) {
	code, out, errOut := runCmd(t, "test", "-config", "packs/tiddlywiki.toml", "packs/cases/tiddlywiki")
	if code != 0 || !strings.HasSuffix(out, " cases, 0 failed\n") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and no failures", code, out, errOut)
	}
	dir := t.TempDir()
	data, err := os.ReadFile("packs/cases/tiddlywiki/04_delete.txt")
	if err != nil {
		t.Fatal(err)
	}
	// The rules emit page_removed; expect page_trashed instead.
	bad := strings.Replace(string(data), "event page_removed", "event page_trashed", 1)
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCmd(t, "test", "-config", "packs/tiddlywiki.toml", dir)
	if code != 1 {
		t.Errorf("failing case: exit %d, want 1", code)
	}
	wantLines(t, out,
		"--- FAIL "+filepath.Join(dir, "a.txt")+" (-want +got)",
		`- event page_trashed {"timestamp":1700000000000,"event":"page_removed","userKey":"joe","page":{"id":"Proxy Test"}}`,
		`+ event page_removed {"timestamp":1700000000000,"event":"page_removed","userKey":"joe","page":{"id":"Proxy Test"}}`,
		"1 cases, 1 failed",
	)
	if err := os.WriteFile(filepath.Join(dir, "b.txt"), []byte("@x.toml\n---- exchanges\nupstream GET /x => soon\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCmd(t, "test", "-config", "packs/tiddlywiki.toml", dir)
	if want := filepath.Join(dir, "b.txt") + `:3: bad upstream line "upstream GET /x => soon"`; code != 2 || !strings.Contains(errOut, want) {
		t.Errorf("bad case: exit %d, stderr %q; want 2 and %q", code, errOut, want)
	}
	code, _, errOut = runCmd(t, "test", filepath.Join(dir, "none"))
	if code != 2 || !strings.Contains(errOut, "no such file or directory") {
		t.Errorf("missing dir: exit %d, stderr %q", code, errOut)
	}
}

// TestREADMEExplainExample checks that the lines README shows of hooktap explain are what it
// prints now.
func TestREADMEExplainExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	const start = "$ hooktap explain -config rules.toml testdata/confluence.har\n"
	i := strings.Index(string(readme), start)
	if i < 0 {
		t.Fatal("README.md has no hooktap explain example")
	}
	block, _, _ := strings.Cut(string(readme)[i+len(start):], "```")
	_, out, _ := runCmd(t, "explain", "-config", "rules.toml", "testdata/confluence.har")
	for _, l := range strings.Split(strings.TrimSuffix(block, "\n"), "\n") {
		if l != "..." && !strings.Contains(out, l+"\n") {
			t.Errorf("README.md shows %q, which hooktap explain no longer prints", l)
		}
	}
}
