package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"hooktap/dispatch"
	"hooktap/internal/conf"
	"hooktap/rules"
)

// Overrides are values given outside the file (hooktap's command-line flags, the demo) that
// replace the file's before defaults are filled and the file is validated, so that, for
// example, -upstream supplies an upstream the file lacks. A zero field keeps the file's.
type Overrides struct {
	Listen   string             // [proxy] listen
	Upstream string             // [proxy] upstream
	Admin    string             // [admin] listen
	DataDir  string             // [dispatch] data_dir
	Queue    string             // [dispatch] queue
	Webhooks []dispatch.Webhook // when non-nil, replace the file's [[webhook]]s (validated the same way)
}

// Load reads, decodes and validates the rules file at path. On any mistake it returns a
// [rules.Errors] listing all of them.
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
// decodes strictly (unknown sections and keys, wrong types are errors), fills every section's
// defaults (each package's SetDefaults), validates every section (each package's Validate)
// and every rule (rules compiles them, once: f.Matcher() is that compilation), and puts the
// file and line in front of each mistake. On any mistake it returns a nil File and a
// [rules.Errors] listing all of them, in line order. It does not apply the target policy to
// the webhooks: CheckTargets does.
func Parse(name string, data []byte) (*File, error) {
	return ParseWith(name, data, Overrides{})
}

// ParseRules is Parse for what needs the rules' part only: a [rules.ParseFunc].
func ParseRules(name string, data []byte) (*rules.File, error) {
	f, err := Parse(name, data)
	if err != nil {
		return nil, err
	}
	return &f.File, nil
}

// ParseWith is Parse with overrides applied before validation. An overridden value that is
// wrong is reported against the section, without a line.
func ParseWith(name string, data []byte, ov Overrides) (*File, error) {
	doc, err := rules.ParseDoc(name, data)
	if err != nil {
		return nil, err
	}
	f := &File{doc: doc}
	var hookWhere []string
	for _, k := range doc.Sections() {
		switch k {
		case "proxy":
			doc.Decode(k, "[proxy]", &f.Proxy)
		case "admin":
			doc.Decode(k, "[admin]", &f.Admin)
		case "dispatch":
			doc.Decode(k, "[dispatch]", &f.Dispatch)
		case "webhook":
			hookWhere = doc.DecodeTables(k, &f.Webhooks)
		case "classify", "rule": // the rules', decoded by FromDoc below
		default:
			doc.Errorf(k, "", "unknown section %q", k)
		}
	}
	hookWhere = ov.apply(f, doc, hookWhere)
	f.Proxy.SetDefaults()
	f.Admin.SetDefaults()
	f.Dispatch.SetDefaults()
	for i := range f.Webhooks {
		f.Webhooks[i].SetDefaults(f.Dispatch.Timeout)
	}
	report(doc, "proxy", func(string) string { return "[proxy]" }, f.Proxy.Validate())
	report(doc, "admin", func(string) string { return "[admin]" }, f.Admin.Validate())
	report(doc, "dispatch", func(string) string { return "[dispatch]" }, f.Dispatch.Validate())
	report(doc, "webhook", func(key string) string { return hookWhere[index(key)] }, dispatch.CheckWebhooks(f.Webhooks, nil))
	rf := rules.FromDoc(doc)
	if err := doc.Err(); err != nil {
		return nil, err
	}
	f.File = *rf
	return f, nil
}

// apply applies ov to f, whose [[webhook]]s' names in errors are hookWhere; it returns them
// as they are after ov. Overridden values lose their file lines: errors about them name the
// section only.
func (ov Overrides) apply(f *File, doc *rules.Doc, hookWhere []string) []string {
	set := func(dst *string, v, path string) {
		if v != "" {
			*dst = v
			doc.Forget(path)
		}
	}
	set(&f.Proxy.Listen, ov.Listen, "proxy.listen")
	set(&f.Proxy.Upstream, ov.Upstream, "proxy.upstream")
	set(&f.Admin.Listen, ov.Admin, "admin.listen")
	set(&f.Dispatch.DataDir, ov.DataDir, "dispatch.data_dir")
	set(&f.Dispatch.Queue, ov.Queue, "dispatch.queue")
	if ov.Webhooks == nil {
		return hookWhere
	}
	f.Webhooks = append([]dispatch.Webhook(nil), ov.Webhooks...)
	hookWhere = make([]string, len(f.Webhooks))
	for i := range f.Webhooks {
		f.Webhooks[i].Line = 0
		hookWhere[i] = rules.Where("webhook", i, f.Webhooks[i].Name)
	}
	doc.Forget("webhook")
	return hookWhere
}

// report reports to doc each mistake of err, a [conf.Errors] about the section at path, on
// the line of its key (or of the key's nearest table) and for where(key); a mistake at a key
// whose value was already reported as mistyped is left out.
func report(doc *rules.Doc, path string, where func(key string) string, err error) {
	if err == nil {
		return
	}
	var es conf.Errors
	if !errors.As(err, &es) {
		doc.Errorf(path, where(""), "%v", err)
		return
	}
	paths := make([]string, len(es))
	for i, e := range es { // before reporting: a key reported now is not mistyped
		paths[i] = path
		if e.Key != "" {
			paths[i] += "." + e.Key
		}
		if doc.Reported(paths[i]) {
			paths[i] = ""
		}
	}
	for i, e := range es {
		if paths[i] != "" {
			doc.Errorf(paths[i], where(e.Key), "%s", e.Msg)
		}
	}
}

// index returns the leading array index of a key ("3" of "3.url").
func index(key string) int {
	for i := 0; i < len(key); i++ {
		if key[i] == '.' {
			key = key[:i]
			break
		}
	}
	n, _ := strconv.Atoi(key)
	return n
}
