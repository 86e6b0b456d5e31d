package rules

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/BurntSushi/toml"
)

// Load reads, decodes and validates the rules' part of the rules file at path, as Parse. On
// any mistake it returns an [Errors] listing all of them.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	f, err := Parse(path, data)
	if f != nil {
		f.Path = path
	}
	return f, err
}

// Parse decodes and validates a rules file held in memory that holds only the rules' own
// sections, [classify] and [[rule]]; name is used in errors. A whole hooktap file, with
// [proxy], [dispatch], [[webhook]] and the like, is package config's to parse. Parse decodes
// strictly (unknown keys and sections, wrong types are errors), fills the defaults, and
// validates every rule by compiling it, once: [File.Matcher] returns that compilation. On any
// mistake it returns a nil File and an [Errors] listing all of them.
func Parse(name string, data []byte) (*File, error) {
	doc, err := ParseDoc(name, data)
	if err != nil {
		return nil, err
	}
	for _, k := range doc.Sections() {
		if k != "classify" && k != "rule" {
			doc.Errorf(k, "", "unknown section %q", k)
		}
	}
	f := FromDoc(doc)
	if err := doc.Err(); err != nil {
		return nil, err
	}
	return f, nil
}

// ParseDoc decodes the TOML of a rules file held in memory into a [Doc]; name is used in
// errors ("rules" when empty). A TOML syntax error is returned as an [Errors] with its line.
func ParseDoc(name string, data []byte) (*Doc, error) {
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
	return &Doc{d: d, raw: raw}, nil
}

// FromDoc decodes the rules' sections of doc, [classify] and [[rule]], fills their defaults,
// validates [classify] and compiles the rules, reporting every mistake to doc. It returns the
// File, its compilation kept for [File.Matcher], or nil when doc holds any error (the other
// sections' included).
func FromDoc(doc *Doc) *File {
	d := doc.d
	f := &File{}
	if v, ok := doc.raw["classify"]; ok {
		d.table(v, reflectValue(&f.Classify), "classify", "[classify]")
	}
	if v, ok := doc.raw["rule"]; ok {
		d.ruleWhere = d.tables(v, &f.Rules, "rule")
	}
	fillDefaults(f)
	d.validateClassify(&f.Classify)
	m, cerrs := compile(f, d)
	d.errs = append(d.errs, cerrs...)
	if len(d.errs) > 0 {
		return nil
	}
	f.meta = d
	f.matcher = m
	return f
}

// Matcher returns the Matcher that Parse compiled while it validated f, so that a loaded
// file is compiled once. It is f's rules as parsed: a File changed afterwards, or built in
// Go (nil here), needs [Compile].
func (f *File) Matcher() *Matcher { return f.matcher }

// Defaults of the zero fields of [classify] (User's is X-AUSERNAME, then the Basic-auth
// user).
const (
	DefaultCacheSize       = 10000
	DefaultCacheTTL        = 30 * time.Second
	DefaultLookupTimeout   = 2 * time.Second
	DefaultEachLookupLimit = 50
)

// SetDefaults sets every zero field of c to its default: the one place they are filled, for
// Parse, Compile and NewClassifier alike.
func (c *ClassifySection) SetDefaults() {
	if len(c.User) == 0 {
		c.User = []string{"respheader.X-AUSERNAME", "basic.user"}
	}
	setI(&c.CacheSize, DefaultCacheSize)
	setD(&c.CacheTTL, DefaultCacheTTL)
	setD(&c.LookupTimeout, DefaultLookupTimeout)
	setI(&c.EachLookupLimit, DefaultEachLookupLimit)
	for j := range c.Lookups {
		if c.Lookups[j].Cache == nil {
			t := true
			c.Lookups[j].Cache = &t
		}
	}
}

// fillDefaults sets every zero field of [classify] and the rules to its documented default.
func fillDefaults(f *File) {
	f.Classify.SetDefaults()
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
