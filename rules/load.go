package rules

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Overrides are values given outside the file (hooktap's command-line flags, the demo) that
// replace the file's before defaults are filled and the file is validated, so that, for
// example, -upstream supplies an upstream the file lacks. A zero field keeps the file's.
type Overrides struct {
	Listen   string    // [proxy] listen
	Upstream string    // [proxy] upstream
	Admin    string    // [admin] listen
	DataDir  string    // [dispatch] data_dir
	Queue    string    // [dispatch] queue
	Webhooks []Webhook // when non-nil, replace the file's [[webhook]]s (validated the same way)
}

// Load reads, decodes and validates the rules file at path. On any mistake it returns an
// [Errors] listing all of them.
func Load(path string) (*File, error) {
	return LoadWith(path, Overrides{})
}

// LoadWith is Load with overrides applied before validation.
func LoadWith(path string, ov Overrides) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	f, err := ParseWith(path, data, ov)
	if f != nil {
		f.Path = path
	}
	return f, err
}

// Parse decodes and validates a rules file held in memory; name is used in errors. It
// decodes strictly (unknown keys and wrong types are errors), fills every section's
// defaults, and validates every section and rule (rules by compiling them). On any mistake
// it returns a nil File and an [Errors] listing all of them.
func Parse(name string, data []byte) (*File, error) {
	return ParseWith(name, data, Overrides{})
}

// ParseWith is Parse with overrides applied before validation. An overridden value that is
// wrong is reported against the section, without a line.
func ParseWith(name string, data []byte, ov Overrides) (*File, error) {
	if name == "" {
		name = "rules"
	}
	var raw map[string]any
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, Errors{{File: name, Line: pe.Position.Line, Msg: "toml: " + pe.Message}}
		}
		return nil, Errors{{File: name, Msg: "toml: " + err.Error()}}
	}
	d := &decoder{name: name, src: string(data)}
	d.index(&md, raw)
	f := &File{}
	d.decodeFile(raw, f)
	d.override(f, ov)
	fillDefaults(f)
	d.validateSections(f)
	m, cerrs := compile(f, d)
	d.errs = append(d.errs, cerrs...)
	if len(d.errs) > 0 {
		return nil, d.errs.sorted()
	}
	d.errs, d.bad = nil, nil
	f.meta = d
	f.matcher = m
	return f, nil
}

// Matcher returns the Matcher that Parse compiled while it validated f, so that a loaded
// file is compiled once. It is f's rules as parsed: a File changed afterwards, or built in
// Go (nil here), needs [Compile].
func (f *File) Matcher() *Matcher { return f.matcher }

// Summary describes f in one line: "rules.toml: 61 rules, 43 events, 2 webhooks", where
// events counts the distinct event names the rules can emit, and the name is the file's
// path, or the name given to Parse.
func (f *File) Summary() string {
	seen := map[string]bool{}
	for _, r := range f.Rules {
		for _, e := range r.Emit {
			seen[e.Event] = true
		}
	}
	name := f.Path
	if name == "" && f.meta != nil {
		name = f.meta.name // the name given to Parse
	}
	if name == "" {
		name = "rules"
	}
	return fmt.Sprintf("%s: %d %s, %d %s, %d %s", name,
		len(f.Rules), plural(len(f.Rules), "rule"),
		len(seen), plural(len(seen), "event"),
		len(f.Webhooks), plural(len(f.Webhooks), "webhook"))
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

// override applies ov to f. Overridden values lose their file lines: errors about them name
// the section only.
func (d *decoder) override(f *File, ov Overrides) {
	set := func(dst *string, v, path string) {
		if v != "" {
			*dst = v
			d.lines[path] = 0
		}
	}
	set(&f.Proxy.Listen, ov.Listen, "proxy"+sep+"listen")
	set(&f.Proxy.Upstream, ov.Upstream, "proxy"+sep+"upstream")
	set(&f.Admin.Listen, ov.Admin, "admin"+sep+"listen")
	set(&f.Dispatch.DataDir, ov.DataDir, "dispatch"+sep+"data_dir")
	set(&f.Dispatch.Queue, ov.Queue, "dispatch"+sep+"queue")
	if ov.Webhooks != nil {
		f.Webhooks = append([]Webhook(nil), ov.Webhooks...)
		d.hookWhere = d.hookWhere[:0]
		for i := range f.Webhooks {
			w := &f.Webhooks[i]
			w.Line = 0
			where := "webhook #" + strconv.Itoa(i+1)
			if w.Name != "" {
				where = "webhook " + strconv.Quote(w.Name)
			}
			d.hookWhere = append(d.hookWhere, where)
		}
		for k := range d.lines {
			if strings.HasPrefix(k, "webhook"+sep) || k == "webhook" {
				d.lines[k] = 0
			}
		}
	}
}

// fillDefaults sets every zero field of every section to its documented default.
func fillDefaults(f *File) {
	p := &f.Proxy
	setS(&p.Listen, ":8080")
	setD(&p.ReadTimeout, 10*time.Minute)
	setD(&p.WriteTimeout, 10*time.Minute)
	setD(&p.IdleTimeout, 90*time.Second)
	setD(&p.UpstreamTimeout, 60*time.Second)
	setD(&p.DialTimeout, 3*time.Second)
	setI(&p.MaxConns, 1024)
	setI(&p.MaxHeaderBytes, 65536)
	setI(&p.TapBodyLimit, 1<<20)
	setD(&p.ShutdownTimeout, 30*time.Second)

	setS(&f.Admin.Listen, "127.0.0.1:8081")

	q := &f.Dispatch
	setS(&q.Queue, "disk")
	setS(&q.DataDir, "./data")
	setI(&q.MaxInFlight, 500)
	setI(&q.MaxInFlightPerHook, 64)
	setD(&q.Timeout, 20*time.Second)
	if q.Retry == nil {
		q.Retry = []Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour}
	}
	setS(&q.OnSkip, "retry")
	setS(&q.OnStoreError, "reject")
	setD(&q.EnqueueTimeout, 5*time.Second)
	setI(&q.MemoryQueueSize, 65536)
	setI(&q.HistorySize, 100)
	setD(&q.MaxAge, 168*time.Hour)
	if q.MaxBytes == 0 {
		q.MaxBytes = 1 << 30
	}

	c := &f.Classify
	if len(c.User) == 0 {
		c.User = []string{"respheader.X-AUSERNAME", "basic.user"}
	}
	setI(&c.CacheSize, 10000)
	setD(&c.CacheTTL, 30*time.Second)
	setD(&c.LookupTimeout, 2*time.Second)
	setI(&c.EachLookupLimit, 50)
	for j := range c.Lookups {
		if c.Lookups[j].Cache == nil {
			t := true
			c.Lookups[j].Cache = &t
		}
	}

	for i := range f.Webhooks {
		w := &f.Webhooks[i]
		if w.Active == nil {
			t := true
			w.Active = &t
		}
		setS(&w.Payload, "id")
		setD(&w.Timeout, q.Timeout)
	}
	for i := range f.Rules {
		r := &f.Rules[i]
		if len(r.Status) == 0 {
			r.Status = []any{"2xx"}
		}
		setS(&r.OnLookupError, "skip")
		for j := range r.Lookups {
			setS(&r.Lookups[j].Stage, "before")
			if r.Lookups[j].Cache == nil {
				t := r.Lookups[j].XMLRPC == "" // an xmlrpc lookup is never cached (xmlrpc.go)
				r.Lookups[j].Cache = &t
			}
		}
	}
}

func setS(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setI(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setD(p *time.Duration, v time.Duration) {
	if *p == 0 {
		*p = v
	}
}
