package config

import (
	"errors"
	"strconv"

	"hooktap/dispatch"
	"hooktap/internal/conf"
	"hooktap/rules"
)

// CheckTargets applies f's target policy ([dispatch] allow_targets) to f's webhooks: every
// webhook whose URL the policy refuses is a [rules.Error] with the file and line, as Parse
// reports its own mistakes. It returns a [rules.Errors], or nil. main calls it after each
// load; dispatch.New refuses the same webhooks, without lines. It is apart from Parse so that
// case files and tests may name loopback receivers without allowing them.
func (f *File) CheckTargets() error {
	p, err := dispatch.NewTargetPolicy(f.Dispatch.AllowTargets)
	if err != nil {
		return err // not reached for a parsed File: Parse checked every entry
	}
	err = dispatch.CheckWebhooks(f.Webhooks, p)
	var es conf.Errors
	if !errors.As(err, &es) {
		return err
	}
	var out rules.Errors
	for _, e := range es {
		i := index(e.Key)
		if e.Key != strconv.Itoa(i)+".url" {
			continue // not the policy's: Parse reported it
		}
		w := &f.Webhooks[i]
		file, line := f.Pos("webhook." + e.Key)
		if line == 0 {
			line = w.Line
		}
		out = append(out, &rules.Error{File: file, Line: line, Where: rules.Where("webhook", i, w.Name), Msg: e.Msg})
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
