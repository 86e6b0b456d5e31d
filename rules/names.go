package rules

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
