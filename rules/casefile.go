package rules

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The case file format (what rules/testdata/cases and packs/cases hold, and what hooktap
// test runs):
//
//	rules source, or one line "@FILE" naming a rules file
//	---- exchanges
//	exchange
//	====
//	exchange
//	---- events            (or ---- errors, for a rules file that does not load)
//	the exact output
//
// An exchange is any number of setup lines, then the request and its response:
//
//	upstream GET /path?q => 200 {"json":1}     (a lookup answer, kept for later exchanges)
//	upstream GET /path => error                (the lookup fails)
//	upstream GET /path => after=3s 200 {}      (the answer takes 3s on the case's clock)
//	upstream POST /xmlrpc.php wp.getPost [1,"admin","***",5] => 200 <methodResponse>...
//	                                           (an xmlrpc lookup's answer, by method and params,
//	                                           the password as "***"; output lines name it so)
//	sink refuse                                (the sink refuses this exchange's events)
//	truncated request                          (Body was cut at the tap limit; or response)
//	METHOD /path?query
//	Header: value
//
//	request body
//	=> STATUS
//	Header: value
//
//	response body
//
// A lookup with no recorded answer gets 404 {"message":"not found"}. A multipart request
// body's lines are joined with CRLF, every other body's with LF.

// Case file separators.
const (
	CaseExchanges = "---- exchanges"
	CaseEvents    = "---- events"
	CaseErrors    = "---- errors"
)

// CaseClock is the clock of case files: 2023-11-14T22:13:20Z. An event at another time
// (a slow lookup moved the clock) shows its time in the output.
var CaseClock = time.UnixMilli(1700000000000)

// Case is a parsed case file.
type Case struct {
	Name string // the file's name, as given to ParseCase
	// Rules is the rules source (inline text); RulesRef the file named by an "@FILE" line
	// ("" for inline rules).
	Rules, RulesRef string
	// ExchangesText is the text of the exchanges section, as written.
	ExchangesText string
	Exchanges     []CaseExchange
	// Kind is CaseEvents or CaseErrors, or "" when the file has no expected output yet;
	// Want is the expected output.
	Kind, Want string
}

// CaseExchange is one exchange of a case file.
type CaseExchange struct {
	Line    int // of the request line
	Answers []CaseAnswer
	Refuse  bool // the sink refuses this exchange's events
	// Exchange is the request and response; Header and RespHeader are CaseHeaders.
	Exchange Exchange
}

// CaseAnswer is a recorded lookup answer.
type CaseAnswer struct {
	Target string // path?query
	Status int
	Body   string
	Err    bool
	Delay  time.Duration
}

// CaseHeaders is a list of headers, a Peeker that ignores case.
type CaseHeaders [][2]string

// Peek returns the last header named name.
func (h CaseHeaders) Peek(name string) []byte {
	for i := len(h) - 1; i >= 0; i-- {
		if strings.EqualFold(h[i][0], name) {
			return []byte(h[i][1])
		}
	}
	return nil
}

// PeekN returns the n-th header named name, from the first; nil past the last.
func (h CaseHeaders) PeekN(name string, n int) []byte {
	for i := range h {
		if strings.EqualFold(h[i][0], name) {
			if n == 0 {
				return []byte(h[i][1])
			}
			n--
		}
	}
	return nil
}

// ParseCase parses a case file. Its errors carry name:line.
func ParseCase(name string, data []byte) (*Case, error) {
	text := string(data)
	c := &Case{Name: name}
	src, rest, ok := strings.Cut(text, CaseExchanges+"\n")
	if !ok {
		return nil, fmt.Errorf("rules: %s: no %q line", name, CaseExchanges)
	}
	c.Rules = src
	if t := strings.TrimSpace(src); strings.HasPrefix(t, "@") && !strings.Contains(t, "\n") {
		c.RulesRef = strings.TrimSpace(t[1:])
	}
	line := strings.Count(src, "\n") + 2 // the first line of the exchanges
	exch := rest
	for _, s := range []string{CaseEvents, CaseErrors} {
		if i := strings.Index(rest, s+"\n"); i >= 0 {
			exch, c.Kind, c.Want = rest[:i], s, rest[i+len(s)+1:]
		}
	}
	c.ExchangesText = exch
	for _, chunk := range strings.Split(exch, "\n====\n") {
		first := line
		line += strings.Count(chunk, "\n") + 2
		if strings.TrimSpace(chunk) == "" {
			continue
		}
		x, err := parseCaseExchange(chunk)
		if err != nil {
			var le *lineErr
			if errors.As(err, &le) {
				return nil, fmt.Errorf("rules: %s:%d: %s", name, first+le.line, le.msg)
			}
			return nil, err
		}
		x.Line += first
		c.Exchanges = append(c.Exchanges, *x)
	}
	return c, nil
}

// lineErr is an error on a line of an exchange (0-based).
type lineErr struct {
	line int
	msg  string
}

func (e *lineErr) Error() string { return e.msg }

// parseCaseExchange parses one exchange of a case: its setup lines (parseCaseSetup), then
// the request, "=> STATUS" and the response (parseCaseRequest). An exchange of setup lines
// alone has Line -1.
func parseCaseExchange(chunk string) (*CaseExchange, error) {
	lines := strings.Split(strings.TrimRight(chunk, "\n"), "\n")
	ce := &CaseExchange{}
	n, err := ce.parseSetup(lines)
	if err != nil {
		return nil, err
	}
	if n == len(lines) {
		ce.Line = -1 // setup only: no request
		return ce, nil
	}
	ce.Line = n
	if err := ce.parseRequest(lines, n); err != nil {
		return nil, err
	}
	return ce, nil
}

// parseSetup reads the setup lines that open an exchange ("upstream GET ...", "sink
// refuse", "truncated request", "truncated response") and returns how many there were.
func (ce *CaseExchange) parseSetup(lines []string) (int, error) {
	for n, l := range lines {
		switch {
		case strings.HasPrefix(l, "upstream GET ") || strings.HasPrefix(l, "upstream POST "):
			a, msg := parseCaseAnswer(l)
			if msg != "" {
				return n, &lineErr{n, msg}
			}
			ce.Answers = append(ce.Answers, a)
		case l == "sink refuse":
			ce.Refuse = true
		case l == "truncated request":
			ce.Exchange.BodyTrunc = true
		case l == "truncated response":
			ce.Exchange.RespTrunc = true
		default:
			return n, nil
		}
	}
	return len(lines), nil
}

// parseCaseAnswer parses "upstream GET /path => [after=DURATION] STATUS BODY" (or "=> error");
// on a mistake it returns the message.
func parseCaseAnswer(l string) (CaseAnswer, string) {
	// A POST's target is "POST /path method [params]" (an xmlrpc lookup: xmlrpc.go).
	target, ans, ok := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(l, "upstream GET "), "upstream "), " => ")
	if !ok {
		return CaseAnswer{}, fmt.Sprintf("bad upstream line %q (want upstream GET /path => STATUS BODY)", l)
	}
	a := CaseAnswer{Target: target}
	if d, rest, ok := strings.Cut(ans, " "); ok && strings.HasPrefix(d, "after=") {
		var err error
		if a.Delay, err = time.ParseDuration(strings.TrimPrefix(d, "after=")); err != nil {
			return CaseAnswer{}, fmt.Sprintf("bad upstream line %q: %v", l, err)
		}
		ans = rest
	}
	if ans == "error" {
		a.Err = true
		return a, ""
	}
	code, body, _ := strings.Cut(ans, " ")
	st, err := strconv.Atoi(code)
	if err != nil {
		return CaseAnswer{}, fmt.Sprintf("bad upstream line %q: status %q is not a number", l, code)
	}
	a.Status, a.Body = st, body
	return a, ""
}

// parseRequest reads the exchange from its request line, lines[n]: "METHOD /path?query",
// request headers, a blank line, the body, "=> STATUS", response headers, a blank line and
// the response body. A multipart body's lines are joined by CRLF.
func (ce *CaseExchange) parseRequest(lines []string, n int) error {
	bad := func(msg string) error { return &lineErr{n, msg} }
	method, target, ok := strings.Cut(lines[n], " ")
	if !ok || method == "" || !strings.HasPrefix(target, "/") {
		return bad(fmt.Sprintf("bad request line %q (want METHOD /path?query)", lines[n]))
	}
	path, query, _ := strings.Cut(target, "?")
	x := &ce.Exchange
	x.Method, x.Path, x.Query = []byte(method), []byte(path), []byte(query)
	n++
	reqH := readCaseHeaders(lines, &n)
	var body []string
	for n < len(lines) && !strings.HasPrefix(lines[n], "=> ") {
		body = append(body, lines[n])
		n++
	}
	if n == len(lines) {
		n = ce.Line
		return bad(fmt.Sprintf("exchange %q has no => STATUS line", target))
	}
	st, err := strconv.Atoi(strings.TrimPrefix(lines[n], "=> "))
	if err != nil {
		return bad(fmt.Sprintf("bad status line %q", lines[n]))
	}
	n++
	respH := readCaseHeaders(lines, &n)
	nl := "\n"
	if strings.HasPrefix(strings.ToLower(string(reqH.Peek("Content-Type"))), "multipart/") {
		nl = "\r\n"
	}
	x.Header, x.Body = reqH, []byte(strings.Join(body, nl))
	x.Status, x.RespHeader, x.RespBody = st, respH, []byte(strings.Join(lines[n:], "\n"))
	return nil
}

// readCaseHeaders reads "Name: value" lines from lines[*n] up to a blank line (consumed).
func readCaseHeaders(lines []string, n *int) CaseHeaders {
	h := CaseHeaders{}
	for *n < len(lines) {
		l := lines[*n]
		*n++
		if l == "" {
			break
		}
		k, v, _ := strings.Cut(l, ":")
		h = append(h, [2]string{k, strings.TrimSpace(v)})
	}
	return h
}

// LoadRules parses the case's rules: its inline source named c.Name, or the file its "@FILE"
// line names, read from dir and named FILE. A rules file that does not load is not an
// error here: its errors are the output (kind CaseErrors) that Run returns.
func (c *Case) LoadRules(dir string) (name string, src []byte, err error) {
	if c.RulesRef == "" {
		return c.Name, []byte(c.Rules), nil
	}
	data, err := os.ReadFile(filepath.Join(dir, c.RulesRef))
	if err != nil {
		return "", nil, fmt.Errorf("rules: %s:1: %v", c.Name, err)
	}
	return c.RulesRef, data, nil
}

// CaseFetcher is a fake upstream for lookups: it answers from the recorded answers, by path
// and query, and records each call. Slow answers advance Elapsed.
type CaseFetcher struct {
	Answers map[string]CaseAnswer
	Calls   []string
	Elapsed time.Duration
	// NoAnswers makes every lookup fail: the exchanges hold no lookup answers (a HAR file).
	NoAnswers bool
}

// ErrNoAnswer is the error of a lookup that a CaseFetcher with NoAnswers was asked.
var ErrNoAnswer = errors.New("no recorded answer")

// Add records answers (a later one for the same target replaces an earlier one).
func (f *CaseFetcher) Add(as []CaseAnswer) {
	if f.Answers == nil {
		f.Answers = map[string]CaseAnswer{}
	}
	for _, a := range as {
		f.Answers[a.Target] = a
	}
}

// Fetch implements Fetcher.
func (f *CaseFetcher) Fetch(dst []byte, pq []byte) (int, []byte, error) {
	f.Calls = append(f.Calls, string(pq))
	if f.NoAnswers {
		return 0, dst, ErrNoAnswer
	}
	a, ok := f.Answers[string(pq)]
	if !ok {
		return 404, append(dst, `{"message":"not found"}`...), nil
	}
	f.Elapsed += a.Delay
	if a.Err {
		return 0, dst, errors.New("fake: connection refused")
	}
	return a.Status, append(dst, a.Body...), nil
}

// caseSink records events as output lines, and refuses when told to.
type caseSink struct {
	got    []string
	refuse bool
}

func (s *caseSink) Enqueue(ev *Event) error {
	line := "event " + ev.Name + " " + string(ev.Payload)
	if ev.Time != CaseClock.UnixMilli() {
		line += fmt.Sprintf(" (time %d)", ev.Time)
	}
	s.got = append(s.got, line)
	if ev.Full != nil {
		s.got = append(s.got, "  full "+string(ev.Full))
	}
	if s.refuse {
		return errors.New("queue full")
	}
	return nil
}

// ParseFunc parses the rules file src, named name, as [Parse] does: package config's
// ParseRules parses a whole hooktap file, the sections of other packages included.
type ParseFunc func(name string, src []byte) (*File, error)

// RunCase parses the rules src (named name) with parse and plays the exchanges through a
// Classifier on CaseClock with a CaseFetcher, returning the output and its kind: CaseErrors
// with the file's errors when it does not parse, else CaseEvents with, per exchange, its line
// "== N METHOD path -> STATUS", then "not wanted", or its lookups, events and sink error;
// and a last stats line. The *_env keys read the process's environment.
func RunCase(parse ParseFunc, name string, src []byte, xs []CaseExchange) (out, kind string, err error) {
	f, err := parse(name, src)
	if err != nil {
		var es Errors
		if !errors.As(err, &es) {
			return "", "", err
		}
		return err.Error() + "\n", CaseErrors, nil
	}
	return runCase(f.Matcher(), f.Classify, xs), CaseEvents, nil
}

func runCase(m *Matcher, cfg ClassifySection, xs []CaseExchange) string {
	up := &CaseFetcher{}
	sk := &caseSink{}
	c := NewClassifier(m, cfg, sk, nil)
	c.Clock = func() time.Time { return CaseClock.Add(up.Elapsed) }
	var out strings.Builder
	seen := map[string]uint64{}
	for i := range xs {
		ce := &xs[i]
		up.Add(ce.Answers)
		if ce.Line < 0 {
			continue
		}
		x := ce.Exchange // a copy: the case's stays as parsed
		x.Upstream = up
		sk.refuse = ce.Refuse
		fmt.Fprintf(&out, "== %d %s %s", i+1, x.Method, x.Path)
		if len(x.Query) > 0 {
			fmt.Fprintf(&out, "?%s", x.Query)
		}
		fmt.Fprintf(&out, " -> %d\n", x.Status)
		if !c.Wants(x.Method, x.Path) {
			out.WriteString("not wanted\n")
			c.RecordUnmatched(x.Method, x.Path, x.Query, x.Status) // as the proxy does
			seen = writeUnmatched(&out, c, seen)
			continue
		}
		up.Calls = up.Calls[:0]
		sk.got = sk.got[:0]
		up.Elapsed = 0
		status, respHeader, respBody := x.Status, x.RespHeader, x.RespBody
		x.Status, x.RespHeader, x.RespBody = 0, nil, nil
		c.Before(&x)
		x.Status, x.RespHeader, x.RespBody = status, respHeader, respBody
		err := c.After(&x)
		for _, call := range up.Calls {
			out.WriteString("lookup " + call + "\n")
		}
		for _, line := range sk.got {
			out.WriteString(line + "\n")
		}
		if err != nil {
			out.WriteString("error " + err.Error() + "\n")
		}
		seen = writeUnmatched(&out, c, seen)
	}
	st := c.Stats()
	names := make([]string, 0, len(st.Events))
	for n := range st.Events {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(&out, "stats exchanges=%d lookups=%d lookup_errors=%d cache_hits=%d sink_errors=%d", st.Exchanges, st.Lookups, st.LookupErrors, st.CacheHits, st.SinkErrors)
	if st.LookupsLate > 0 || st.LookupsNotMade > 0 {
		fmt.Fprintf(&out, " lookups_late=%d lookups_not_made=%d", st.LookupsLate, st.LookupsNotMade)
	}
	for _, n := range names {
		fmt.Fprintf(&out, " %s=%d", n, st.Events[n])
	}
	out.WriteString("\n")
	return out.String()
}

// ExplainCase plays the exchanges as RunCase does (one Classifier on CaseClock, a
// CaseFetcher with the recorded answers) through [Classifier.Explain], returning one
// Explanation per exchange (nil for a setup-only one). With noAnswers every lookup fails.
func ExplainCase(m *Matcher, cfg ClassifySection, xs []CaseExchange, noAnswers bool) []*Explanation {
	up := &CaseFetcher{NoAnswers: noAnswers}
	c := NewClassifier(m, cfg, &caseSink{}, nil)
	c.Clock = func() time.Time { return CaseClock.Add(up.Elapsed) }
	out := make([]*Explanation, len(xs))
	for i := range xs {
		ce := &xs[i]
		up.Add(ce.Answers)
		if ce.Line < 0 {
			continue
		}
		x := ce.Exchange
		x.Upstream = up
		up.Elapsed = 0
		out[i] = c.Explain(&x)
	}
	return out
}

// writeUnmatched writes "unmatched METHOD ROUTE" for each unmatched write the last exchange
// added to c's table (seen holds the counts before it), so that a case shows the writes the
// rules leave unaccounted, and returns the counts now.
func writeUnmatched(out *strings.Builder, c *Classifier, seen map[string]uint64) map[string]uint64 {
	now := make(map[string]uint64, len(seen)+1)
	for _, u := range c.Unmatched() {
		k := u.Method + " " + u.Route
		now[k] = u.Count
		if u.Count > seen[k] {
			out.WriteString("unmatched " + k + "\n")
		}
	}
	return now
}
