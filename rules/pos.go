package rules

import "strings"

// Pos returns where key path (dotted, with array indices: "dispatch.allow_targets",
// "webhook.0.url") was written: the file's
// name and the 1-based line of the key, or of its nearest table whose line is known; line
// is 0 for a File built in Go or a value given by an override. Packages that check a
// section against what only they know (dispatch's target policy) report with it, as
// [Error]s.
func (f *File) Pos(path string) (file string, line int) {
	file = f.Path
	if f.meta == nil {
		return file, 0
	}
	if file == "" {
		file = f.meta.name
	}
	return file, f.meta.line(strings.ReplaceAll(path, ".", sep))
}
