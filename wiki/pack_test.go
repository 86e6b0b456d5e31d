package wiki_test

import (
	"strings"
	"testing"

	"hooktap/wiki"
)

// The pack tests send the real request sequences of each Confluence event to the sample wiki,
// classify every exchange with the shipped rules.toml (see harness_test.go), and compare the
// events with the exact payloads Confluence sends (id-only shape). The classifier's clock is
// fixed, so the timestamps are exact too.

const (
	admin    = wiki.AdminKey
	aliceKey = "ff808081000000000000000000000002" // the first user created
	dark     = "com.example.confluence.themes.dark:dark"
	docTheme = "com.atlassian.confluence.themes.documentation:documentation"
)

func pageJSON(title, parent string) string {
	anc := ""
	if parent != "" {
		anc = `,"ancestors":[{"id":"` + parent + `"}]`
	}
	return `{"type":"page","title":"` + title + `","space":{"key":"DS"}` + anc +
		`,"body":{"storage":{"value":"<p>hello</p>","representation":"storage"}}}`
}

const (
	blogJSON    = `{"type":"blogpost","title":"News","space":{"key":"DS"},"body":{"storage":{"value":"<p>news</p>","representation":"storage"}}}`
	commentJSON = `{"type":"comment","container":{"id":"1001","type":"page"},"body":{"storage":{"value":"<p>nice</p>","representation":"storage"}}}`
	aliceJSON   = `{"userName":"Alice","fullName":"Alice Liddell","email":"alice@example.com","password":"pw","notifyViaEmail":false}`
)

// Helpers for the setup steps; each fails the test unless the wiki accepts the write.
func (h *packHarness) page(title, parent string) {
	h.t.Helper()
	h.must(200, jsonReq("POST", "/rest/api/content", pageJSON(title, parent)))
}

func (h *packHarness) upload() {
	h.t.Helper()
	h.must(200, uploadReq("/rest/api/content/1001/child/attachment", "notes.txt", "text/plain", "hello"))
}

func (h *packHarness) alice() {
	h.t.Helper()
	h.must(201, jsonReq("POST", "/rest/api/admin/user", aliceJSON))
}

type packCase struct {
	event string // the event this case proves
	name  string // what the case does
	setup func(h *packHarness)
	act   []packReq // sent in order after setup; every one must succeed (2xx)
	want  []string  // exact id-only payloads, any order
	full  map[string]string
}

func packCases() []packCase {
	const (
		page1002    = `,"page":{"id":1002}`
		content1002 = `,"content":{"id":1002}`
		att1002     = `,"attachedTo":{"id":1001},"attachments":[{"id":1002}]`
	)
	trashPage := func(h *packHarness) {
		h.page("Plan", "1001")
		h.must(204, jsonReq("DELETE", "/rest/api/content/1002", ""))
	}
	trashBlog := func(h *packHarness) {
		h.must(200, jsonReq("POST", "/rest/api/content", blogJSON))
		h.must(204, jsonReq("DELETE", "/rest/api/content/1002", ""))
	}
	trashAtt := func(h *packHarness) {
		h.upload()
		h.must(204, jsonReq("DELETE", "/rest/api/content/1001/child/attachment/att1002", ""))
	}
	return []packCase{
		// ---------------------------------------------------------------- pages (DC)
		{event: "page_created", name: "POST content type page",
			act:  []packReq{jsonReq("POST", "/rest/api/content", pageJSON("Plan", "1001"))},
			want: []string{ev("page_created", admin, page1002), ev("content_created", admin, content1002)},
			full: map[string]string{"page_created": ev("page_created", admin, `,"page":{"id":1002,"title":"Plan","contentType":"page","creatorKey":"`+admin+`","lastModifierKey":"`+admin+`","creationDate":1767225000123,"modificationDate":1767225000123,"version":1,"self":"{base}/pages/viewpage.action?pageId=1002","spaceKey":"DS"}`)}},
		{event: "page_created", name: "acting user is the caller",
			setup: func(h *packHarness) { h.alice(); h.user = "alice:pw" },
			act:   []packReq{jsonReq("POST", "/rest/api/content", pageJSON("Plan", ""))},
			want:  []string{ev("page_created", aliceKey, page1002), ev("content_created", aliceKey, content1002)}},
		{event: "page_updated", name: "PUT without ancestors",
			setup: func(h *packHarness) { h.page("Plan", "1001") },
			act:   []packReq{jsonReq("PUT", "/rest/api/content/1002", `{"type":"page","title":"Plan v2","version":{"number":2},"body":{"storage":{"value":"<p>v2</p>","representation":"storage"}}}`)},
			want:  []string{ev("page_updated", admin, page1002+`,"updateTrigger":"edit_page"`), ev("content_updated", admin, content1002)}},
		{event: "page_updated", name: "PUT restating the same parent is an edit, not a move",
			setup: func(h *packHarness) { h.page("Plan", "1001") },
			act:   []packReq{jsonReq("PUT", "/rest/api/content/1002", `{"type":"page","title":"Plan v2","version":{"number":2},"ancestors":[{"id":"1001"}]}`)},
			want:  []string{ev("page_updated", admin, page1002+`,"updateTrigger":"edit_page"`), ev("content_updated", admin, content1002)}},
		{event: "page_moved", name: "PUT with a new parent",
			setup: func(h *packHarness) { h.page("A", "1001"); h.page("B", "1001") },
			act:   []packReq{jsonReq("PUT", "/rest/api/content/1002", `{"type":"page","title":"A","version":{"number":2},"ancestors":[{"id":"1003"}]}`)},
			want: []string{ev("page_moved", admin, page1002+`,"oldParent":{"id":1001},"newParent":{"id":1003}`),
				ev("content_updated", admin, content1002)}},
		{event: "page_moved", name: "PUT giving a top-level page a parent",
			setup: func(h *packHarness) { h.page("Loose", "") },
			act:   []packReq{jsonReq("PUT", "/rest/api/content/1002", `{"type":"page","title":"Loose","version":{"number":2},"ancestors":[{"id":"1001"}]}`)},
			want: []string{ev("page_moved", admin, page1002+`,"newParent":{"id":1001}`),
				ev("content_updated", admin, content1002)}},
		{event: "page_updated", name: "PUT of a top-level page without ancestors",
			act:  []packReq{jsonReq("PUT", "/rest/api/content/1001", `{"type":"page","title":"Home","version":{"number":2}}`)},
			want: []string{ev("page_updated", admin, `,"page":{"id":1001},"updateTrigger":"edit_page"`), ev("content_updated", admin, `,"content":{"id":1001}`)}},
		{event: "page_removed", name: "DELETE sends to the trash (not a purge)",
			setup: func(h *packHarness) { h.page("Plan", "1001") },
			act:   []packReq{jsonReq("DELETE", "/rest/api/content/1002", "")},
			want:  []string{ev("page_removed", admin, page1002)}},
		{event: "page_trashed", name: "DELETE ?status=trashed purges",
			setup: trashPage,
			act:   []packReq{jsonReq("DELETE", "/rest/api/content/1002?status=trashed", "")},
			want:  []string{ev("page_trashed", admin, page1002), ev("content_trashed", admin, content1002)}},
		{event: "page_restored", name: "PUT status current on a trashed page",
			setup: trashPage,
			act:   []packReq{jsonReq("PUT", "/rest/api/content/1002?status=trashed", `{"type":"page","title":"Plan","status":"current","version":{"number":2}}`)},
			want:  []string{ev("page_restored", admin, page1002), ev("content_restored", admin, content1002)}},
		{event: "blueprint_page_created", name: "publish a blueprint draft",
			setup: func(h *packHarness) {
				h.must(200, jsonReq("POST", "/rest/create-dialog/1.0/content-blueprint/create-draft",
					`{"spaceKey":"DS","contentBlueprintId":"bp-meeting-notes","moduleCompleteKey":"com.atlassian.confluence.plugins.confluence-business-blueprints:meeting-notes-item","title":"Standup","context":{"meetingDate":"2026-01-01"}}`))
			},
			act: []packReq{jsonReq("POST", "/rest/api/content/blueprint/instance/1002", `{"title":"Standup 2026-01-01"}`)},
			want: []string{
				ev("blueprint_page_created", admin, `,"blueprintContext":{"meetingDate":"2026-01-01"},"blueprint":{"id":"bp-meeting-notes","indexKey":"meeting-notes-item","spaceKey":"DS","moduleCompleteKey":"com.atlassian.confluence.plugins.confluence-business-blueprints:meeting-notes-item"},"creator":"`+admin+`"`+page1002),
				ev("page_created", admin, page1002), ev("content_created", admin, content1002)}},

		// ---------------------------------------------------------------- blog posts (DC)
		{event: "blog_created", name: "POST content type blogpost",
			act:  []packReq{jsonReq("POST", "/rest/api/content", blogJSON)},
			want: []string{ev("blog_created", admin, `,"blog":{"id":1002}`), ev("content_created", admin, content1002)}},
		{event: "blog_updated", name: "PUT a blog post",
			setup: func(h *packHarness) { h.must(200, jsonReq("POST", "/rest/api/content", blogJSON)) },
			act:   []packReq{jsonReq("PUT", "/rest/api/content/1002", `{"type":"blogpost","title":"News 2","version":{"number":2}}`)},
			want:  []string{ev("blog_updated", admin, `,"blog":{"id":1002}`), ev("content_updated", admin, content1002)}},
		{event: "blog_removed", name: "DELETE sends to the trash",
			setup: func(h *packHarness) { h.must(200, jsonReq("POST", "/rest/api/content", blogJSON)) },
			act:   []packReq{jsonReq("DELETE", "/rest/api/content/1002", "")},
			want:  []string{ev("blog_removed", admin, `,"blog":{"id":1002}`)}},
		{event: "blog_trashed", name: "DELETE ?status=trashed purges",
			setup: trashBlog,
			act:   []packReq{jsonReq("DELETE", "/rest/api/content/1002?status=trashed", "")},
			want:  []string{ev("blog_trashed", admin, `,"blog":{"id":1002}`), ev("content_trashed", admin, content1002)}},
		{event: "blog_restored", name: "PUT status current on a trashed blog post",
			setup: trashBlog,
			act:   []packReq{jsonReq("PUT", "/rest/api/content/1002?status=trashed", `{"type":"blogpost","title":"News","status":"current","version":{"number":2}}`)},
			want:  []string{ev("blog_restored", admin, `,"blog":{"id":1002}`), ev("content_restored", admin, content1002)}},

		// ---------------------------------------------------------------- comments (DC)
		{event: "comment_created", name: "POST content type comment",
			act:  []packReq{jsonReq("POST", "/rest/api/content", commentJSON)},
			want: []string{ev("comment_created", admin, `,"comment":{"id":1002}`), ev("content_created", admin, content1002)}},
		{event: "comment_updated", name: "PUT a comment",
			setup: func(h *packHarness) { h.must(200, jsonReq("POST", "/rest/api/content", commentJSON)) },
			act:   []packReq{jsonReq("PUT", "/rest/api/content/1002", `{"type":"comment","version":{"number":2},"body":{"storage":{"value":"<p>nicer</p>","representation":"storage"}}}`)},
			want:  []string{ev("comment_updated", admin, `,"comment":{"id":1002}`), ev("content_updated", admin, content1002)}},
		{event: "comment_removed", name: "DELETE a comment",
			setup: func(h *packHarness) { h.must(200, jsonReq("POST", "/rest/api/content", commentJSON)) },
			act:   []packReq{jsonReq("DELETE", "/rest/api/content/1002", "")},
			want:  []string{ev("comment_removed", admin, `,"comment":{"id":1002}`)}},

		// ---------------------------------------------------------------- attachments (DC)
		{event: "attachment_created", name: "multipart upload",
			act:  []packReq{uploadReq("/rest/api/content/1001/child/attachment", "notes.txt", "text/plain", "hello")},
			want: []string{ev("attachment_created", admin, att1002), ev("content_created", admin, content1002)},
			full: map[string]string{"attachment_created": ev("attachment_created", admin, `,"attachedTo":{"id":1001,"title":"Demonstration Space Home","contentType":"page"},"attachments":[{"id":1002,"fileName":"notes.txt","version":1,"comment":"a test upload","fileSize":5,"creatorKey":"`+admin+`","lastModifierKey":"`+admin+`"}]`)}},
		{event: "attachment_updated", name: "new version through .../data",
			setup: func(h *packHarness) { h.upload() },
			act:   []packReq{uploadReq("/rest/api/content/1001/child/attachment/att1002/data", "notes.txt", "text/plain", "hello again")},
			want:  []string{ev("attachment_updated", admin, att1002), ev("content_updated", admin, content1002)}},
		{event: "attachment_removed", name: "DELETE from the attachments page",
			setup: func(h *packHarness) { h.upload() },
			act:   []packReq{jsonReq("DELETE", "/rest/api/content/1001/child/attachment/att1002", "")},
			want:  []string{ev("attachment_removed", admin, att1002)}},
		{event: "attachment_removed", name: "DELETE content att id",
			setup: func(h *packHarness) { h.upload() },
			act:   []packReq{jsonReq("DELETE", "/rest/api/content/att1002", "")},
			want:  []string{ev("attachment_removed", admin, att1002)}},
		{event: "attachment_trashed", name: "DELETE ?status=trashed purges",
			setup: trashAtt,
			act:   []packReq{jsonReq("DELETE", "/rest/api/content/att1002?status=trashed", "")},
			want:  []string{ev("attachment_trashed", admin, att1002), ev("content_trashed", admin, content1002)},
			full:  map[string]string{"attachment_trashed": ev("attachment_trashed", admin, `,"attachedTo":{"id":1001,"title":"Demonstration Space Home","contentType":"page"},"attachments":[{"id":1002,"fileName":"notes.txt","version":1,"comment":"a test upload","fileSize":5,"creatorKey":"`+admin+`","lastModifierKey":"`+admin+`"}]`)}},
		{event: "attachment_restored", name: "PUT status current on a trashed attachment",
			setup: trashAtt,
			act:   []packReq{jsonReq("PUT", "/rest/api/content/att1002?status=trashed", `{"type":"attachment","status":"current","version":{"number":2}}`)},
			want:  []string{ev("attachment_restored", admin, att1002), ev("content_restored", admin, content1002)}},

		// ---------------------------------------------------------------- labels
		{event: "label_created", name: "a label new everywhere",
			act: []packReq{jsonReq("POST", "/rest/api/content/1001/label", `[{"prefix":"global","name":"Alpha"}]`)},
			want: []string{ev("label_added", admin, `,"label":{"name":"alpha"},"labeled":{"labels":[{"name":"alpha"}],"id":1001}`),
				ev("label_created", admin, `,"label":{"name":"alpha"}`)}},
		{event: "label_added", name: "a label that exists elsewhere",
			setup: func(h *packHarness) {
				h.page("Other", "")
				h.must(200, jsonReq("POST", "/rest/api/content/1002/label", `[{"prefix":"global","name":"alpha"}]`))
			},
			act:  []packReq{jsonReq("POST", "/rest/api/content/1001/label", `{"prefix":"global","name":"alpha"}`)},
			want: []string{ev("label_added", admin, `,"label":{"name":"alpha"},"labeled":{"labels":[{"name":"alpha"}],"id":1001}`)}},
		{event: "label_added", name: "one per label posted, label_created for the new one",
			setup: func(h *packHarness) {
				h.page("Other", "")
				h.must(200, jsonReq("POST", "/rest/api/content/1002/label", `[{"prefix":"global","name":"alpha"}]`))
			},
			act: []packReq{jsonReq("POST", "/rest/api/content/1001/label", `[{"prefix":"global","name":"alpha"},{"prefix":"global","name":"beta"}]`)},
			want: []string{
				ev("label_added", admin, `,"label":{"name":"alpha"},"labeled":{"labels":[{"name":"alpha"},{"name":"beta"}],"id":1001}`),
				ev("label_added", admin, `,"label":{"name":"beta"},"labeled":{"labels":[{"name":"alpha"},{"name":"beta"}],"id":1001}`),
				ev("label_created", admin, `,"label":{"name":"beta"}`)}},
		{event: "label_created", name: "five labels posted at once, three of them new",
			setup: func(h *packHarness) {
				h.page("Plan", "1001")
				h.must(200, jsonReq("POST", "/rest/api/content/1002/label", `[{"prefix":"global","name":"alpha"},{"prefix":"global","name":"gamma"}]`))
			},
			act: []packReq{jsonReq("POST", "/rest/api/content/1001/label", `[{"prefix":"global","name":"alpha"},{"prefix":"global","name":"Beta"},{"prefix":"global","name":"gamma"},{"prefix":"global","name":"delta"},{"prefix":"global","name":"epsilon"}]`)},
			want: func() []string {
				const labeled = `"labeled":{"labels":[{"name":"alpha"},{"name":"beta"},{"name":"gamma"},{"name":"delta"},{"name":"epsilon"}],"id":1001}`
				var w []string
				for _, n := range []string{"alpha", "beta", "gamma", "delta", "epsilon"} {
					w = append(w, ev("label_added", admin, `,"label":{"name":"`+n+`"},`+labeled))
				}
				for _, n := range []string{"beta", "delta", "epsilon"} {
					w = append(w, ev("label_created", admin, `,"label":{"name":"`+n+`"}`))
				}
				return w
			}()},
		{event: "label_added", name: "re-posting labels the object has adds only the new one",
			setup: func(h *packHarness) {
				h.must(200, jsonReq("POST", "/rest/api/content/1001/label", `[{"prefix":"global","name":"alpha"}]`))
			},
			act: []packReq{
				jsonReq("POST", "/rest/api/content/1001/label", `[{"prefix":"global","name":"Alpha"},{"prefix":"global","name":"beta"}]`),
				jsonReq("POST", "/rest/api/content/1001/label", `{"prefix":"global","name":"beta"}`),
				jsonReq("POST", "/rest/api/content/1001/label", `[{"prefix":"global","name":"alpha"}]`),
			},
			want: []string{ev("label_added", admin, `,"label":{"name":"beta"},"labeled":{"labels":[{"name":"alpha"},{"name":"beta"}],"id":1001}`),
				ev("label_created", admin, `,"label":{"name":"beta"}`)}},
		{event: "label_removed", name: "DELETE .../label/{name}, still used elsewhere",
			setup: func(h *packHarness) {
				h.page("Other", "")
				h.must(200, jsonReq("POST", "/rest/api/content/1002/label", `[{"prefix":"global","name":"alpha"}]`))
				h.must(200, jsonReq("POST", "/rest/api/content/1001/label", `[{"prefix":"global","name":"alpha"},{"prefix":"global","name":"beta"}]`))
			},
			act:  []packReq{jsonReq("DELETE", "/rest/api/content/1001/label/alpha", "")},
			want: []string{ev("label_removed", admin, `,"label":{"name":"alpha"},"labeled":{"labels":[{"name":"beta"}],"id":1001}`)}},
		{event: "label_deleted", name: "DELETE ?name= of its last use",
			setup: func(h *packHarness) {
				h.must(200, jsonReq("POST", "/rest/api/content/1001/label", `[{"prefix":"global","name":"alpha"}]`))
			},
			act: []packReq{jsonReq("DELETE", "/rest/api/content/1001/label?name=alpha", "")},
			want: []string{ev("label_removed", admin, `,"label":{"name":"alpha"},"labeled":{"labels":[],"id":1001}`),
				ev("label_deleted", admin, `,"label":{"name":"alpha"}`)}},

		// ---------------------------------------------------------------- restrictions
		{event: "content_permissions_updated", name: "PUT restrictions for read and update",
			act: []packReq{jsonReq("PUT", "/rest/api/content/1001/restriction",
				`[{"operation":"read","restrictions":{"group":[{"type":"group","name":"confluence-users"}]}},{"operation":"update","restrictions":{"user":[{"type":"known","username":"admin"}]}}]`)},
			want: []string{ev("content_permissions_updated", admin, `,"content":{"id":1001},"type":"View"`),
				ev("content_permissions_updated", admin, `,"content":{"id":1001},"type":"Edit"`)}},
		{event: "content_permissions_updated", name: "byOperation group grant, user revoke, clear",
			act: []packReq{
				jsonReq("PUT", "/rest/api/content/1001/restriction/byOperation/update/group/confluence-users", ""),
				jsonReq("PUT", "/rest/api/content/1001/restriction/byOperation/read/user?userName=admin", ""),
				jsonReq("DELETE", "/rest/api/content/1001/restriction/byOperation/read/user?userName=admin", ""),
				jsonReq("DELETE", "/rest/api/content/1001/restriction", ""),
			},
			want: []string{ev("content_permissions_updated", admin, `,"content":{"id":1001},"type":"Edit"`),
				ev("content_permissions_updated", admin, `,"content":{"id":1001},"type":"View"`),
				ev("content_permissions_updated", admin, `,"content":{"id":1001},"type":"View"`),
				ev("content_permissions_updated", admin, `,"content":{"id":1001}`)}},

		// ---------------------------------------------------------------- spaces
		{event: "space_created", name: "POST space",
			act:  []packReq{jsonReq("POST", "/rest/api/space", `{"key":"ENG","name":"Engineering","description":{"plain":{"value":"Eng","representation":"plain"}}}`)},
			want: []string{ev("space_created", admin, `,"space":{"id":2},"homePage":{"id":1002},"creatorKey":"`+admin+`","creationDate":1767225000123`)},
			full: map[string]string{"space_created": ev("space_created", admin, `,"space":{"id":2,"key":"ENG","title":"Engineering","description":"Eng"},"homePage":{"id":1002,"title":"Engineering Home"},"creatorKey":"`+admin+`","creationDate":1767225000123`)}},
		{event: "space_updated", name: "PUT space",
			setup: func(h *packHarness) {
				h.must(200, jsonReq("POST", "/rest/api/space", `{"key":"ENG","name":"Engineering"}`))
			},
			act:  []packReq{jsonReq("PUT", "/rest/api/space/ENG", `{"name":"Eng","description":{"plain":{"value":"Try things","representation":"plain"}}}`)},
			want: []string{ev("space_updated", admin, `,"space":{"id":2},"homePage":{"id":1002},"creatorKey":"`+admin+`","creationDate":1767225000123,"lastModifierKey":"`+admin+`"`)}},
		{event: "space_removed", name: "DELETE space (202 long task)",
			setup: func(h *packHarness) {
				h.must(200, jsonReq("POST", "/rest/api/space", `{"key":"ENG","name":"Engineering"}`))
			},
			act:  []packReq{jsonReq("DELETE", "/rest/api/space/ENG", "")},
			want: []string{ev("space_removed", admin, `,"space":{"id":2},"homePage":{"id":1002},"creatorKey":"`+admin+`","creationDate":1767225000123`)}},
		{event: "space_permissions_updated", name: "POST, DELETE, PUT grant and revoke",
			act: []packReq{
				jsonReq("POST", "/rest/api/space/DS/permissions", `{"subject":{"type":"group","identifier":"confluence-users"},"operation":{"key":"read","target":"space"}}`),
				jsonReq("DELETE", "/rest/api/space/DS/permissions/1", ""),
				jsonReq("PUT", "/rest/api/space/DS/permissions/group/confluence-users/grant", `[{"key":"create","target":"page"}]`),
				jsonReq("PUT", "/rest/api/space/DS/permissions/anonymous/revoke", `[{"key":"read","target":"space"}]`),
			},
			want: []string{ev("space_permissions_updated", admin, `,"space":{"id":1}`), ev("space_permissions_updated", admin, `,"space":{"id":1}`),
				ev("space_permissions_updated", admin, `,"space":{"id":1}`), ev("space_permissions_updated", admin, `,"space":{"id":1}`)}},
		{event: "space_logo_updated", name: "logo upload (web UI action)",
			act:  []packReq{uploadReq("/spaces/doupdatespacelogo.action?key=DS", "logo.png", "image/png", "\x89PNG\r\n")},
			want: []string{ev("space_logo_updated", admin, `,"space":{"id":1}`), ev("content_created", admin, content1002)}},

		// ---------------------------------------------------------------- themes
		{event: "theme_enabled", name: "REST: set, change, reset a space's theme",
			act: []packReq{
				jsonReq("PUT", "/rest/api/space/DS/theme", `{"themeKey":"`+dark+`"}`),
				jsonReq("PUT", "/rest/api/space/DS/theme", `{"themeKey":"`+docTheme+`"}`),
				jsonReq("DELETE", "/rest/api/space/DS/theme", ""),
			},
			want: []string{
				ev("theme_enabled", admin, `,"global":false,"spaceKey":"DS","oldThemeKey":"`+wiki.DefaultTheme+`","newThemeKey":"`+dark+`"`),
				ev("theme_enabled", admin, `,"global":false,"spaceKey":"DS","oldThemeKey":"`+dark+`","newThemeKey":"`+docTheme+`"`),
				ev("theme_enabled", admin, `,"global":false,"spaceKey":"DS","oldThemeKey":"`+docTheme+`","newThemeKey":"`+wiki.DefaultTheme+`"`)}},
		{event: "theme_enabled", name: "web UI: a space's theme and the site's",
			act: []packReq{
				formReq("/spaces/doenabletheme.action?key=DS", "atl_token=t&themeKey="+dark),
				formReq("/admin/doenabletheme.action", "atl_token=t&themeKey="+docTheme),
			},
			want: []string{
				ev("theme_enabled", admin, `,"global":false,"spaceKey":"DS","oldThemeKey":"`+wiki.DefaultTheme+`","newThemeKey":"`+dark+`"`),
				ev("theme_enabled", admin, `,"global":true,"spaceKey":"","oldThemeKey":"`+wiki.DefaultTheme+`","newThemeKey":"`+docTheme+`"`)}},

		// ---------------------------------------------------------------- page tree order
		{event: "page_children_reordered", name: "sort children alphabetically (web UI action)",
			setup: func(h *packHarness) { h.page("Zulu", "1001"); h.page("alpha", "1001"); h.page("Mike", "1001") },
			act:   []packReq{formReq("/pages/children/reorder.action?pageId=1001", "atl_token=t")},
			want: []string{
				ev("page_children_reordered", admin, `,"page":{"id":1001},"oldSortedChildren":[{"id":1002},{"id":1003},{"id":1004}],"newSortedChildren":[{"id":1003},{"id":1004},{"id":1002}]`),
				ev("content_updated", admin, `,"content":{"id":1001}`)}},

		// ---------------------------------------------------------------- users and groups
		{event: "user_created", name: "POST admin/user (201)",
			act:  []packReq{jsonReq("POST", "/rest/api/admin/user", aliceJSON)},
			want: []string{ev("user_created", admin, `,"userProfile":{"userKey":"`+aliceKey+`"}`)},
			full: map[string]string{"user_created": ev("user_created", admin, `,"userProfile":{"userKey":"`+aliceKey+`","email":"alice@example.com","fullName":"Alice Liddell"}`)}},
		{event: "user_deactivated", name: "PUT admin/user/{name}/disable",
			setup: func(h *packHarness) { h.alice() },
			act:   []packReq{jsonReq("PUT", "/rest/api/admin/user/alice/disable", "")},
			want:  []string{ev("user_deactivated", admin, `,"userProfile":{"userKey":"`+aliceKey+`"}`)}},
		{event: "user_reactivated", name: "PUT admin/user/{name}/enable",
			setup: func(h *packHarness) { h.alice(); h.must(204, jsonReq("PUT", "/rest/api/admin/user/alice/disable", "")) },
			act:   []packReq{jsonReq("PUT", "/rest/api/admin/user/alice/enable", "")},
			want:  []string{ev("user_reactivated", admin, `,"userProfile":{"userKey":"`+aliceKey+`"}`)}},
		{event: "user_removed", name: "DELETE admin/user/{name}",
			setup: func(h *packHarness) { h.alice() },
			act:   []packReq{jsonReq("DELETE", "/rest/api/admin/user/alice", "")},
			want:  []string{ev("user_removed", admin, `,"userProfile":{"userKey":"`+aliceKey+`"}`)}},
		{event: "user_followed", name: "follow (web UI action)",
			setup: func(h *packHarness) { h.alice() },
			act:   []packReq{formReq("/users/follow.action?username=alice", "atl_token=t")},
			want:  []string{ev("user_followed", admin, "")}},
		{event: "group_created", name: "POST admin/group",
			act:  []packReq{jsonReq("POST", "/rest/api/admin/group", `{"type":"group","name":"Devs"}`)},
			want: []string{ev("group_created", admin, `,"group":"devs"`)}},
		{event: "group_removed", name: "DELETE admin/group/{name}",
			setup: func(h *packHarness) {
				h.must(201, jsonReq("POST", "/rest/api/admin/group", `{"type":"group","name":"devs"}`))
			},
			act:  []packReq{jsonReq("DELETE", "/rest/api/admin/group/devs", "")},
			want: []string{ev("group_removed", admin, `,"group":"devs"`)}},

		// ---------------------------------------------------------------- Confluence Cloud
		{event: "page_created", name: "Cloud v2 POST pages",
			act:  []packReq{jsonReq("POST", "/wiki/api/v2/pages", `{"spaceId":"1","status":"current","title":"Cloudy","parentId":"1001","body":{"representation":"storage","value":"<p>x</p>"}}`)},
			want: []string{ev("page_created", admin, page1002), ev("content_created", admin, content1002)},
			full: map[string]string{"page_created": ev("page_created", admin, `,"page":{"id":1002,"title":"Cloudy","contentType":"page","creatorKey":"`+admin+`","lastModifierKey":"`+admin+`","creationDate":1767225000123,"modificationDate":1767225000123,"version":1}`)}},
		{event: "blog_created", name: "Cloud v2 POST blogposts",
			act:  []packReq{jsonReq("POST", "/wiki/api/v2/blogposts", `{"spaceId":"1","status":"current","title":"Cloud news","body":{"representation":"storage","value":"<p>x</p>"}}`)},
			want: []string{ev("blog_created", admin, `,"blog":{"id":1002}`), ev("content_created", admin, content1002)}},
		{event: "comment_created", name: "Cloud v2 POST footer-comments",
			act:  []packReq{jsonReq("POST", "/wiki/api/v2/footer-comments", `{"pageId":"1001","body":{"representation":"storage","value":"<p>c</p>"}}`)},
			want: []string{ev("comment_created", admin, `,"comment":{"id":1002}`), ev("content_created", admin, content1002)}},
		{event: "comment_updated", name: "Cloud v2 PUT and DELETE footer-comments",
			setup: func(h *packHarness) {
				h.must(201, jsonReq("POST", "/wiki/api/v2/footer-comments", `{"pageId":"1001","body":{"representation":"storage","value":"<p>c</p>"}}`))
			},
			act: []packReq{
				jsonReq("PUT", "/wiki/api/v2/footer-comments/1002", `{"version":{"number":2},"body":{"representation":"storage","value":"<p>c2</p>"}}`),
				jsonReq("DELETE", "/wiki/api/v2/footer-comments/1002", ""),
			},
			want: []string{ev("comment_updated", admin, `,"comment":{"id":1002}`), ev("content_updated", admin, content1002),
				ev("comment_removed", admin, `,"comment":{"id":1002}`)}},
		{event: "page_updated", name: "Cloud v2 PUT, trash, restore, trash, purge a page",
			setup: func(h *packHarness) { h.page("Plan", "1001") },
			act: []packReq{
				jsonReq("PUT", "/wiki/api/v2/pages/1002", `{"id":"1002","status":"current","title":"Plan v2","version":{"number":2}}`),
				jsonReq("DELETE", "/wiki/api/v2/pages/1002", ""),
				jsonReq("PUT", "/wiki/api/v2/pages/1002", `{"id":"1002","status":"current","title":"Plan v2","version":{"number":3}}`),
				jsonReq("DELETE", "/wiki/api/v2/pages/1002", ""),
				jsonReq("DELETE", "/wiki/api/v2/pages/1002?purge=true", ""),
			},
			want: []string{
				ev("page_updated", admin, page1002+`,"updateTrigger":"edit_page"`), ev("content_updated", admin, content1002),
				ev("page_removed", admin, page1002),
				ev("page_restored", admin, page1002), ev("content_restored", admin, content1002),
				ev("page_removed", admin, page1002),
				ev("page_trashed", admin, page1002), ev("content_trashed", admin, content1002)}},
		{event: "blog_updated", name: "Cloud v2 PUT, trash, restore, trash, purge a blog post",
			setup: func(h *packHarness) { h.must(200, jsonReq("POST", "/rest/api/content", blogJSON)) },
			act: []packReq{
				jsonReq("PUT", "/wiki/api/v2/blogposts/1002", `{"id":"1002","status":"current","title":"News 2","version":{"number":2}}`),
				jsonReq("DELETE", "/wiki/api/v2/blogposts/1002", ""),
				jsonReq("PUT", "/wiki/api/v2/blogposts/1002", `{"id":"1002","status":"current","title":"News 2","version":{"number":3}}`),
				jsonReq("DELETE", "/wiki/api/v2/blogposts/1002", ""),
				jsonReq("DELETE", "/wiki/api/v2/blogposts/1002?purge=true", ""),
			},
			want: []string{
				ev("blog_updated", admin, `,"blog":{"id":1002}`), ev("content_updated", admin, content1002),
				ev("blog_removed", admin, `,"blog":{"id":1002}`),
				ev("blog_restored", admin, `,"blog":{"id":1002}`), ev("content_restored", admin, content1002),
				ev("blog_removed", admin, `,"blog":{"id":1002}`),
				ev("blog_trashed", admin, `,"blog":{"id":1002}`), ev("content_trashed", admin, content1002)}},
		{event: "attachment_removed", name: "Cloud v2 DELETE attachments, then purge",
			setup: func(h *packHarness) { h.upload() },
			act: []packReq{
				jsonReq("DELETE", "/wiki/api/v2/attachments/att1002", ""),
				jsonReq("DELETE", "/wiki/api/v2/attachments/att1002?purge=true", ""),
			},
			want: []string{ev("attachment_removed", admin, att1002),
				ev("attachment_trashed", admin, att1002), ev("content_trashed", admin, content1002)}},
		{event: "page_moved", name: "Cloud v1 PUT content/{id}/move/append/{target}",
			setup: func(h *packHarness) { h.page("A", "1001"); h.page("B", "1001") },
			act:   []packReq{jsonReq("PUT", "/wiki/rest/api/content/1002/move/append/1003", "")},
			want: []string{ev("page_moved", admin, page1002+`,"oldParent":{"id":1001},"newParent":{"id":1003}`),
				ev("content_updated", admin, content1002)}},
	}
}

// TestPackEvents proves each of the 43 events: the real request sequence, classified by the
// shipped rules.toml, yields exactly the expected events and payload bytes.
func TestPackEvents(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range packCases() {
		for _, w := range c.want {
			for _, name := range eventNames(w) {
				covered[name] = true
			}
		}
		t.Run(c.event+"/"+c.name, func(t *testing.T) {
			h := newPackHarness(t)
			if c.setup != nil {
				c.setup(h)
			}
			h.rec.take()
			for _, r := range c.act {
				if st, body := h.send(r); st < 200 || st > 299 {
					t.Fatalf("%s %s: status %d: %s", r.method, r.path, st, body)
				}
			}
			got := h.rec.take()
			sameEvents(t, "events", got, c.want)
			for name, want := range c.full {
				want = strings.ReplaceAll(want, "{base}", h.base)
				full, err := fullOf(got, name)
				if err != nil {
					t.Errorf("full %s: %v", name, err)
				} else if full != want {
					t.Errorf("full %s:\ngot  %s\nwant %s", name, full, want)
				}
			}
		})
	}
	for _, n := range allNames() {
		if !covered[n] {
			t.Errorf("no case proves %s", n)
		}
	}
}

func eventNames(payload string) []string {
	i := strings.Index(payload, `"event":"`)
	if i < 0 {
		return nil
	}
	rest := payload[i+len(`"event":"`):]
	return []string{rest[:strings.IndexByte(rest, '"')]}
}
