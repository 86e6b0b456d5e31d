package rules

import (
	"sort"
	"strconv"
	"strings"
)

// Error is one mistake in a rules file, located by file and line and, inside a rule or a
// webhook, by its name.
type Error struct {
	File  string // the file's path, or the name given to Parse
	Line  int    // 1-based; 0 when unknown
	Where string // `rule "page created"`, `webhook "chat"`, "[proxy]"; "" for the file as a whole
	Msg   string
}

// Error formats e as "file:line: where: message".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Where != "" {
		b.WriteString(e.Where)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every mistake found in a rules file, in line order. Load, Parse and Compile return
// it (as error) when there is at least one.
type Errors []*Error

// Error prints one error per line.
func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// sorted orders errors by line, keeping the order of discovery for equal lines.
func (es Errors) sorted() Errors {
	sort.SliceStable(es, func(i, j int) bool { return es[i].Line < es[j].Line })
	return es
}
