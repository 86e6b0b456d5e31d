package rules

import (
	"strconv"
	"unicode/utf8"
)

// Names lists the 43 Confluence Data Center webhook events, in Confluence's own order
// (enum ApplicationWebhookEvent). A rule may emit only these.
var Names = [...]string{
	"attachment_created", "attachment_removed", "attachment_restored", "attachment_trashed", "attachment_updated",
	"blog_created", "blog_removed", "blog_restored", "blog_trashed", "blog_updated",
	"blueprint_page_created",
	"comment_created", "comment_removed", "comment_updated",
	"content_created", "content_restored", "content_trashed", "content_updated",
	"content_permissions_updated",
	"group_created", "group_removed",
	"label_added", "label_created", "label_deleted", "label_removed",
	"page_children_reordered", "page_created", "page_moved", "page_removed", "page_restored",
	"page_trashed", "page_updated",
	"space_created", "space_logo_updated", "space_permissions_updated", "space_removed", "space_updated",
	"theme_enabled",
	"user_created", "user_deactivated", "user_followed", "user_reactivated", "user_removed",
}

// nameIndex maps an event name to its index in Names.
var nameIndex = func() map[string]int {
	m := make(map[string]int, len(Names))
	for i, n := range Names {
		m[n] = i
	}
	return m
}()

// IsName reports whether name is one of the 43 event names.
func IsName(name string) bool {
	_, ok := nameIndex[name]
	return ok
}

// Name returns the constant string from Names equal to name, so that callers holding a
// transient string or []byte can keep the interned one; ok is false for an unknown name.
func Name(name []byte) (s string, ok bool) {
	i, ok := nameIndex[string(name)]
	if !ok {
		return "", false
	}
	return Names[i], true
}

// MaxWebhookEvents bounds a webhook's list of events: every event name once, or "*".
const MaxWebhookEvents = len(Names)

// CheckEvents returns what is wrong with a webhook's list of events, one message per
// mistake (at most a few: a list of 60,000 names gets one message, not 60,000): it must be
// non-empty, at most MaxWebhookEvents long, hold only known event names or a lone "*", and
// name no event twice.
func CheckEvents(events []string) []string {
	var errs []string
	switch {
	case len(events) == 0:
		return []string{`events is required (event names, or ["*"])`}
	case len(events) > MaxWebhookEvents:
		return []string{"events lists " + strconv.Itoa(len(events)) + " names; there are only " + strconv.Itoa(len(Names)) + " events (or use [\"*\"])"}
	}
	seen := make(map[string]bool, len(events))
	for _, e := range events {
		switch {
		case e == "*" && len(events) == 1:
		case e == "*":
			errs = append(errs, `"*" (every event) must be the only name in events`)
		case !IsName(e):
			errs = append(errs, "unknown event "+strconv.QuoteToASCII(e))
		case seen[e]:
			errs = append(errs, "event "+strconv.Quote(e)+" is listed twice")
		}
		seen[e] = true
		if len(errs) >= 8 {
			errs = append(errs, "(and more)")
			break
		}
	}
	return errs
}

// HasControl reports whether s holds a control character (C0, DEL or C1) or is not valid
// UTF-8: such a webhook name or URL would corrupt logs, headers and the admin page.
func HasControl(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
			return true
		}
	}
	return false
}
