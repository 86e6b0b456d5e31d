package rules

import (
	"fmt"
	"reflect"
	"strings"
)

// Doc is a rules file's TOML, decoded generically, with the line of every key and the order
// of every table's keys: what the sections of the file are decoded from, strictly, each by
// the package that owns it, and where the mistakes found on the way are collected, each with
// its file and line. [ParseDoc] makes one; [FromDoc] takes the rules' sections from it and
// package config the others. Key paths are dotted, with array indices: "proxy.upstream",
// "webhook.0.url".
type Doc struct {
	d   *decoder
	raw map[string]any
}

// Name returns the name the file's errors carry: its path, or the name given to ParseDoc.
func (x *Doc) Name() string { return x.d.name }

// Sections returns the file's top-level keys in file order.
func (x *Doc) Sections() []string { return x.d.keysOf("", x.raw) }

// Decode decodes the table at the top-level key section into the struct v points to, by its
// toml tags, strictly: an unknown key or a value of the wrong type is a mistake, reported for
// where ("[proxy]"). A section the file lacks leaves v as it is.
func (x *Doc) Decode(section, where string, v any) {
	if t, ok := x.raw[section]; ok {
		x.d.table(t, reflect.ValueOf(v).Elem(), section, where)
	}
}

// DecodeTables decodes the array of tables at the top-level key section ([[webhook]]) into
// the slice of structs v points to, each element as Decode decodes a table, setting an int
// field named Line, when the struct has one, to the line of the element's [[section]]. It
// returns how errors name each element: `webhook "chat"`, or "webhook #3" without a name.
func (x *Doc) DecodeTables(section string, v any) []string {
	t, ok := x.raw[section]
	if !ok {
		return nil
	}
	return x.d.tables(t, v, section)
}

// Where returns how errors name element i of an array of tables section whose name is name
// (`webhook "chat"`, "webhook #3" when name is ""), for elements that did not come from the
// file.
func Where(section string, i int, name string) string { return elemWhere(section, i, name) }

// Errorf reports a mistake about the key at path (on its line, or on the line of its nearest
// table in the file) for where (`webhook "chat"`, "[proxy]"; "" for the file as a whole).
func (x *Doc) Errorf(path, where, format string, args ...any) {
	x.d.errorf(dotted(path), where, "%s", fmt.Sprintf(format, args...))
}

// Reported reports whether a mistake was reported at path already (a value of the wrong
// type, say), so that a check of the value that was not decoded can be left out.
func (x *Doc) Reported(path string) bool { return x.d.bad[dotted(path)] }

// Line returns the line of the key at path, or of its nearest table in the file; 0 when
// neither is known, or when Forget dropped it.
func (x *Doc) Line(path string) int { return x.d.line(dotted(path)) }

// Forget drops the line of the key at path and of every key under it: its value was given
// outside the file (a command-line flag), so its mistakes name no line.
func (x *Doc) Forget(path string) {
	p := dotted(path)
	x.d.lines[p] = 0
	for k := range x.d.lines {
		if strings.HasPrefix(k, p+sep) {
			x.d.lines[k] = 0
		}
	}
}

// Err returns every mistake reported so far as an [Errors] in line order, or nil.
func (x *Doc) Err() error {
	if len(x.d.errs) == 0 {
		return nil
	}
	return x.d.errs.sorted()
}

// dotted turns a dotted key path into the decoder's.
func dotted(path string) string { return strings.ReplaceAll(path, ".", sep) }
