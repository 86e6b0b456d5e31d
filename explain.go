package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"hooktap/config"
	"hooktap/rules"
)

// The subcommands for people writing rules:
//
//	hooktap explain [-config rules.toml] FILE   why each exchange of a case or HAR file matched or not
//	hooktap test [-config rules.toml] DIR...    run case files, print a diff per failing case

// subcommand returns the command named by the first argument, or nil for the sidecar.
func subcommand(name string) func(args []string, stdout, stderr io.Writer) int {
	switch name {
	case "demo":
		return runDemo
	case "explain":
		return runExplain
	case "test":
		return runTest
	}
	return nil
}

// compileRules parses and compiles a rules file as case files do (no target policy: a
// case's webhooks are not dialled).
func compileRules(name string, src []byte) (*config.File, *rules.Matcher, error) {
	f, err := config.Parse(name, src)
	if err != nil {
		return nil, nil, err
	}
	return f, f.Matcher(), nil
}

// parseRules is config.ParseRules, for where a flag's variable named config hides the
// package.
func parseRules(name string, src []byte) (*rules.File, error) { return config.ParseRules(name, src) }

func runExplain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hooktap explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "rules.toml", "the rules file (a case file's own rules when not given)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: hooktap explain [-config rules.toml] FILE\n\nFILE is a case file (see rules/casefile.go) or a HAR file saved from the browser's devtools.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	configSet := false
	fs.Visit(func(f *flag.Flag) { configSet = configSet || f.Name == "config" })
	if err := explainFile(fs.Arg(0), *config, configSet, stdout); err != nil {
		fmt.Fprintf(stderr, "hooktap explain: %v\n", err)
		return 2
	}
	return 0
}

// explainFile plays a case or HAR file through the rules and prints why each exchange
// matched or not.
func explainFile(path, config string, configSet bool, w io.Writer) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var xs []rules.CaseExchange
	var rulesName string
	var src []byte
	isHAR := bytes.HasPrefix(bytes.TrimSpace(data), []byte("{"))
	if isHAR {
		if xs, err = parseHAR(path, data); err != nil {
			return err
		}
	} else {
		c, err := parseCase(path, data)
		if err != nil {
			return err
		}
		xs = c.Exchanges
		if !configSet {
			if rulesName, src, err = c.LoadRules(filepath.Dir(path)); err != nil {
				return errors.New(strings.TrimPrefix(err.Error(), "rules: "))
			}
			if c.RulesRef != "" {
				rulesName = filepath.Join(filepath.Dir(path), c.RulesRef)
			}
		}
	}
	if src == nil {
		if src, err = os.ReadFile(config); err != nil {
			return err
		}
		rulesName = config
	}
	f, m, err := compileRules(rulesName, src)
	if err != nil {
		return fmt.Errorf("the rules do not load:\n%v", err)
	}
	fmt.Fprintln(w, f.Summary())
	exs := rules.ExplainCase(m, f.Classify, xs, isHAR)
	var n, events, unmatched, skipped int
	for i, ex := range exs {
		if ex == nil {
			continue
		}
		ce := &xs[i]
		if isHAR && !ex.Wanted && !ex.Unmatched && !isWriteMethod(ex.Method) {
			skipped++ // a browser's page and asset loads: no rule wants them
			continue
		}
		n++
		events += len(ex.Events)
		if ex.Unmatched {
			unmatched++
		}
		where := fmt.Sprintf("%s:%d", path, ce.Line)
		if isHAR {
			where = fmt.Sprintf("%s entry %d", path, ce.Line)
		}
		printExplanation(w, i+1, where, ce, ex, isHAR)
	}
	fmt.Fprintf(w, "%d exchanges, %d events, %d unmatched writes", n, events, unmatched)
	if skipped > 0 {
		fmt.Fprintf(w, " (%d reads no rule wants not shown)", skipped)
	}
	fmt.Fprintln(w)
	return nil
}

// parseCase parses a case file named by its base name, as the golden tests do (it is the
// name inline rules' errors carry); its own errors name the whole path.
func parseCase(path string, data []byte) (*rules.Case, error) {
	base := filepath.Base(path)
	c, err := rules.ParseCase(base, data)
	if err != nil {
		return nil, errors.New(strings.Replace(err.Error(), "rules: "+base, path, 1))
	}
	return c, nil
}

func isWriteMethod(m string) bool {
	switch m {
	case "GET", "HEAD", "OPTIONS", "":
		return false
	}
	return true
}

func printExplanation(w io.Writer, n int, where string, ce *rules.CaseExchange, ex *rules.Explanation, isHAR bool) {
	x := &ce.Exchange
	target := ex.Path
	if ex.Query != "" {
		target += "?" + ex.Query
	}
	fmt.Fprintf(w, "\n== %d %s %s -> %d (%s)\n", n, x.Method, target, ex.Status, where)
	if ex.Method != string(x.Method) {
		fmt.Fprintf(w, "method override: matched as %s\n", ex.Method)
	}
	if h, ok := x.Header.(rules.CaseHeaders); ok {
		for _, kv := range h {
			if strings.HasPrefix(kv[0], ":") {
				continue // HTTP/2 pseudo-headers in a HAR
			}
			v := kv[1]
			if rules.SecretHeader(kv[0]) {
				v = rules.Redacted
			}
			fmt.Fprintf(w, "header %s: %s\n", kv[0], v)
		}
	}
	if !ex.Wanted {
		fmt.Fprintln(w, "no rule has this method and path: forwarded without a tap")
	}
	for _, r := range ex.Rules {
		fmt.Fprintf(w, "rule %q", r.Name)
		if r.Line > 0 {
			fmt.Fprintf(w, " (line %d)", r.Line)
		}
		if r.Matched {
			fmt.Fprint(w, ": matched")
			if r.Ignored {
				fmt.Fprint(w, ", ignore = true: a known write, not an event")
			} else if len(r.Events) == 0 {
				fmt.Fprint(w, ", no event")
			}
			fmt.Fprintln(w)
		} else {
			fmt.Fprintf(w, ": %s\n", r.Failed)
		}
		for _, l := range r.Lookups {
			printLookup(w, "  ", l, isHAR)
		}
		for _, note := range r.Notes {
			fmt.Fprintf(w, "  %s\n", note)
		}
		for _, i := range r.Events {
			ev := &ex.Events[i]
			fmt.Fprintf(w, "  event %s %s\n", ev.Name, ev.Payload)
			if ev.Full != nil {
				fmt.Fprintf(w, "    full %s\n", ev.Full)
			}
		}
	}
	for _, l := range ex.UserLookups {
		printLookup(w, "[classify] ", l, isHAR)
	}
	if ex.Unmatched {
		what := "no rule matched this write"
		if !ex.Wanted {
			what = "a write no rule wants"
		}
		fmt.Fprintf(w, "%s: counted in the unmatched writes as %s %s\n", what, x.Method, ex.Route)
	}
}

func printLookup(w io.Writer, indent string, l rules.LookupTrace, isHAR bool) {
	method := "GET "
	if strings.HasPrefix(l.Target, "POST ") {
		method = "" // an xmlrpc lookup: its Target says POST
	}
	fmt.Fprintf(w, "%slookup %q %s%s", indent, l.Name, method, l.Target)
	switch {
	case l.NotMade:
		fmt.Fprintln(w, ": not made (a placeholder has no value)")
	case l.Failed && isHAR:
		fmt.Fprintln(w, ": the proxy would make this lookup; a HAR file holds no answer, so it counts as failed")
	case l.Failed:
		fmt.Fprintln(w, ": failed")
	default:
		body := strings.ReplaceAll(l.Body, "\n", " ")
		if len(body) > 120 {
			body = body[:120] + "…"
		}
		cached := ""
		if l.Cached {
			cached = " (cached)"
		}
		fmt.Fprintf(w, " -> %d%s %s\n", l.Status, cached, body)
	}
}

// HAR: what hooktap explain reads of a HAR 1.2 file.
type harFile struct {
	Log *struct {
		Entries []harEntry `json:"entries"`
	} `json:"log"`
}

type harEntry struct {
	Request struct {
		Method   string      `json:"method"`
		URL      string      `json:"url"`
		Headers  []harHeader `json:"headers"`
		PostData *struct {
			MimeType string      `json:"mimeType"`
			Text     string      `json:"text"`
			Params   []harHeader `json:"params"`
		} `json:"postData"`
	} `json:"request"`
	Response struct {
		Status  int         `json:"status"`
		Headers []harHeader `json:"headers"`
		Content struct {
			Text     string `json:"text"`
			Encoding string `json:"encoding"`
		} `json:"content"`
	} `json:"response"`
}

type harHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// parseHAR turns a HAR file's entries into exchanges; CaseExchange.Line is the entry's
// number (1-based).
func parseHAR(path string, data []byte) ([]rules.CaseExchange, error) {
	var h harFile
	if err := json.Unmarshal(data, &h); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return nil, fmt.Errorf("%s:%d: not a HAR file: %v", path, lineAt(data, se.Offset), se)
		case errors.As(err, &te):
			return nil, fmt.Errorf("%s:%d: not a HAR file: %s is a %s, want a %s", path, lineAt(data, te.Offset), te.Field, te.Value, te.Type)
		}
		return nil, fmt.Errorf("%s: not a HAR file: %v", path, err)
	}
	if h.Log == nil {
		return nil, fmt.Errorf("%s:1: not a HAR file: no \"log\" object", path)
	}
	if len(h.Log.Entries) == 0 {
		return nil, fmt.Errorf("%s: the HAR file has no entries (log.entries is empty)", path)
	}
	xs := make([]rules.CaseExchange, 0, len(h.Log.Entries))
	for i, e := range h.Log.Entries {
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%s: entry %d: %s", path, i+1, fmt.Sprintf(format, a...))
		}
		u, err := url.Parse(e.Request.URL)
		if err != nil || e.Request.Method == "" {
			return nil, bad("bad request: method %q url %q", e.Request.Method, e.Request.URL)
		}
		ce := rules.CaseExchange{Line: i + 1}
		x := &ce.Exchange
		p := u.EscapedPath()
		if p == "" {
			p = "/"
		}
		x.Method, x.Path, x.Query = []byte(strings.ToUpper(e.Request.Method)), []byte(p), []byte(u.RawQuery)
		reqH := rules.CaseHeaders{}
		for _, hd := range e.Request.Headers {
			reqH = append(reqH, [2]string{hd.Name, hd.Value})
		}
		if pd := e.Request.PostData; pd != nil {
			if reqH.Peek("Content-Type") == nil && pd.MimeType != "" {
				reqH = append(reqH, [2]string{"Content-Type", pd.MimeType})
			}
			body := pd.Text
			if body == "" && len(pd.Params) > 0 {
				v := url.Values{}
				for _, p := range pd.Params {
					v.Add(p.Name, p.Value)
				}
				body = v.Encode()
			}
			x.Body = []byte(body)
		}
		respH := rules.CaseHeaders{}
		for _, hd := range e.Response.Headers {
			respH = append(respH, [2]string{hd.Name, hd.Value})
		}
		x.Header, x.Status, x.RespHeader = reqH, e.Response.Status, respH
		x.RespBody = []byte(e.Response.Content.Text)
		if e.Response.Content.Encoding == "base64" {
			if x.RespBody, err = base64.StdEncoding.DecodeString(e.Response.Content.Text); err != nil {
				return nil, bad("response content: bad base64: %v", err)
			}
		}
		xs = append(xs, ce)
	}
	return xs, nil
}

// lineAt returns the line of byte offset off in data.
func lineAt(data []byte, off int64) int {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	return 1 + bytes.Count(data[:off], []byte("\n"))
}

func runTest(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hooktap test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "the rules file every case runs against (default: each case's own rules)")
	update := fs.Bool("update", false, "rewrite each case's expected output with what the rules produce")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: hooktap test [-config rules.toml] [-update] DIR|FILE...\n\nRuns every case file (*.txt) and prints a diff per failing case; exit 1 when one fails, 2 on bad input.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	res, err := testCases(fs.Args(), *config, *update, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "hooktap test: %v\n", err)
		return 2
	}
	fmt.Fprintf(stdout, "%d cases, %d failed\n", res.cases, res.failed)
	if res.failed > 0 {
		return 1
	}
	return 0
}

type testResult struct{ cases, failed int }

// testCases runs the case files in paths (directories: their *.txt) against config's
// rules, or each case's own when config is "", printing a diff per failing case to w.
func testCases(paths []string, config string, update bool, w io.Writer) (testResult, error) {
	var res testResult
	var files []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return res, err
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		m, err := filepath.Glob(filepath.Join(p, "*.txt"))
		if err != nil {
			return res, err
		}
		if len(m) == 0 {
			return res, fmt.Errorf("%s: no case files (*.txt)", p)
		}
		sort.Strings(m)
		files = append(files, m...)
	}
	var csrc []byte
	if config != "" {
		var err error
		if csrc, err = os.ReadFile(config); err != nil {
			return res, err
		}
		if _, _, err := compileRules(config, csrc); err != nil {
			return res, fmt.Errorf("the rules do not load:\n%v", err)
		}
	}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			return res, err
		}
		c, err := parseCase(path, data)
		if err != nil {
			return res, err
		}
		name, src := config, csrc
		if config == "" {
			if name, src, err = c.LoadRules(filepath.Dir(path)); err != nil {
				return res, errors.New(strings.TrimPrefix(err.Error(), "rules: "))
			}
		}
		if c.Kind == "" && !update {
			line := 1 + strings.Count(c.Rules, "\n") + 1 + strings.Count(c.ExchangesText, "\n")
			return res, fmt.Errorf("%s:%d: no %q section with the expected output (-update writes it)", path, line, rules.CaseEvents)
		}
		got, kind, err := rules.RunCase(parseRules, name, src, c.Exchanges)
		if err != nil {
			return res, err
		}
		res.cases++
		if update {
			out := c.Rules + rules.CaseExchanges + "\n" + c.ExchangesText + kind + "\n" + got
			if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
				return res, err
			}
			continue
		}
		if kind == c.Kind && got == c.Want {
			continue
		}
		res.failed++
		fmt.Fprintf(w, "--- FAIL %s (-want +got)\n", path)
		writeDiff(w, c.Kind+"\n"+c.Want, kind+"\n"+got)
	}
	return res, nil
}

// writeDiff prints the lines of want and got: "-" only in want, "+" only in got, " " in
// both (runs of more than 3 shared lines shortened).
func writeDiff(w io.Writer, want, got string) {
	a := strings.Split(strings.TrimSuffix(want, "\n"), "\n")
	b := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	// lcs[i][j]: the longest common subsequence of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var same []string
	flush := func(last bool) {
		if last && len(same) > 3 {
			same = append(same[:2], "...")
		} else if len(same) > 3 {
			same = append([]string{"..."}, same[len(same)-2:]...)
		}
		for _, l := range same {
			fmt.Fprintf(w, "  %s\n", l)
		}
		same = same[:0]
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			same = append(same, a[i])
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			flush(false)
			fmt.Fprintf(w, "- %s\n", a[i])
			i++
		default:
			flush(false)
			fmt.Fprintf(w, "+ %s\n", b[j])
			j++
		}
	}
	flush(true)
}
