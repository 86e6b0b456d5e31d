package dispatch

import (
	"strconv"
	"strings"

	"hooktap/rules"
)

// CheckFile applies f's target policy ([dispatch] allow_targets) to f itself: every
// allow_targets entry that does not parse, and every webhook whose URL the policy refuses,
// is a [rules.Error] with the file and line, as rules.Load reports its own mistakes (rules
// cannot know the policy: it lives here). It returns a [rules.Errors], or nil. main calls
// it after each load; New refuses the same file, without lines.
func CheckFile(f *rules.File) error {
	var errs rules.Errors
	for i, s := range f.Dispatch.AllowTargets {
		if _, _, err := ParseAllowTarget(s); err != nil {
			file, line := f.Pos("dispatch.allow_targets")
			errs = append(errs, &rules.Error{File: file, Line: line, Where: "[dispatch]",
				Msg: "allow_targets[" + strconv.Itoa(i) + "]: " + err.Error()})
		}
	}
	if len(errs) > 0 {
		return errs // the policy is not known: the webhooks cannot be checked against it
	}
	p, err := NewTargetPolicy(f.Dispatch.AllowTargets)
	if err != nil {
		return err // not reached: every entry parsed above
	}
	for i, w := range f.Webhooks {
		err := p.CheckURL(w.URL)
		if err == nil || !isRefused(err) {
			continue // a URL that is not http(s) is New's and rules.Load's to report
		}
		file, line := f.Pos("webhook." + strconv.Itoa(i) + ".url")
		if line == 0 {
			line = w.Line
		}
		errs = append(errs, &rules.Error{File: file, Line: line, Where: "webhook " + strconv.Quote(w.Name),
			Msg: "url " + RedactURL(w.URL) + ": " + strings.TrimPrefix(err.Error(), "dispatch: ")})
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}
