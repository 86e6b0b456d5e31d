package config

import (
	"fmt"

	"hooktap/admin"
	"hooktap/dispatch"
	"hooktap/proxy"
	"hooktap/rules"
)

// File is a whole rules file: each section as the package that runs it declares it, and the
// rules' part, [classify] and [[rule]], embedded (so that f.Rules, f.Classify, f.Path and
// f.Matcher() read it). Every section is optional; a zero field means its default, which
// Parse fills in by each package's SetDefaults. main passes each section to its package:
// Proxy to proxy.New, Dispatch to dispatch.New, Admin and Webhooks to admin.New, the rules
// part to rules.NewClassifier.
type File struct {
	Proxy    proxy.Config       `toml:"proxy"`
	Admin    admin.Config       `toml:"admin"`
	Dispatch dispatch.Config    `toml:"dispatch"`
	Webhooks []dispatch.Webhook `toml:"webhook"`
	rules.File

	// doc is what Parse decoded f from, for Pos and CheckTargets; nil for a File built in Go.
	doc *rules.Doc
}

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
	if name == "" && f.doc != nil {
		name = f.doc.Name()
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

// Pos returns where the key at path (dotted, with array indices: "dispatch.allow_targets",
// "webhook.0.url") was written: the file's name and the 1-based line of the key, or of its
// nearest table whose line is known; line is 0 for a File built in Go or a value given by an
// override.
func (f *File) Pos(path string) (file string, line int) {
	file = f.Path
	if f.doc == nil {
		return file, 0
	}
	if file == "" {
		file = f.doc.Name()
	}
	return file, f.doc.Line(path)
}
