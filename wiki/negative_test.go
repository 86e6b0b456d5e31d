package wiki_test

import "testing"

// TestPackFailedWritesEmitNothing: a write the upstream refuses (4xx) or fails (5xx) raises no
// event, even where the rule's lookups succeeded.
func TestPackFailedWritesEmitNothing(t *testing.T) {
	cases := []struct {
		name   string
		user   string
		status int
		req    packReq
	}{
		{"duplicate title 400", "", 400, jsonReq("POST", "/rest/api/content", pageJSON("Plan", ""))},
		{"stale version 409", "", 409, jsonReq("PUT", "/rest/api/content/1002", `{"type":"page","title":"X","version":{"number":1}}`)},
		{"restore with a stale version 409", "", 409, jsonReq("PUT", "/rest/api/content/1003?status=trashed", `{"type":"page","title":"Gone","status":"current","version":{"number":1}}`)},
		{"delete of nothing 404", "", 404, jsonReq("DELETE", "/rest/api/content/999999", "")},
		{"purge of a current page 404", "", 404, jsonReq("DELETE", "/rest/api/content/1002?status=trashed", "")},
		{"label on nothing 404", "", 404, jsonReq("POST", "/rest/api/content/999999/label", `[{"prefix":"global","name":"x"}]`)},
		{"bad label 400", "", 400, jsonReq("POST", "/rest/api/content/1002/label", `[{"prefix":"global","name":"a b"}]`)},
		{"label not there 404", "", 404, jsonReq("DELETE", "/rest/api/content/1002/label/nope", "")},
		{"upload without XSRF token 403", "", 403, packReq{method: "POST", path: "/rest/api/content/1001/child/attachment", body: []byte("--x--"), ctype: "multipart/form-data; boundary=x"}},
		{"user by a non-admin 403", "alice:pw", 403, jsonReq("POST", "/rest/api/admin/user", `{"userName":"bob","fullName":"Bob","email":"bob@example.com","password":"pw"}`)},
		{"duplicate group 409", "", 409, jsonReq("POST", "/rest/api/admin/group", `{"type":"group","name":"confluence-users"}`)},
		{"space twice 400", "", 400, jsonReq("POST", "/rest/api/space", `{"key":"DS","name":"Again"}`)},
		{"unknown theme 400", "", 400, jsonReq("PUT", "/rest/api/space/DS/theme", `{"themeKey":"nope"}`)},
		{"anonymous write 401", "-", 401, jsonReq("POST", "/rest/api/content", pageJSON("Anon", ""))},
		{"v2 purge of a current page 400", "", 400, jsonReq("DELETE", "/wiki/api/v2/pages/1002?purge=true", "")},
		{"upstream 500 on create", "", 500, withHeader(jsonReq("POST", "/rest/api/content", pageJSON("Fresh", "")), failHeader, "1")},
		{"upstream 500 on delete", "", 500, withHeader(jsonReq("DELETE", "/rest/api/content/1002", ""), failHeader, "1")},
		{"upstream 500 on label", "", 500, withHeader(jsonReq("POST", "/rest/api/content/1002/label", `[{"prefix":"global","name":"fresh"}]`), failHeader, "1")},
		{"upstream 500 on user", "", 500, withHeader(jsonReq("POST", "/rest/api/admin/user", `{"userName":"bob","fullName":"Bob","email":"bob@example.com","password":"pw"}`), failHeader, "1")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newPackHarness(t)
			h.page("Plan", "")
			h.page("Gone", "")
			h.must(204, jsonReq("DELETE", "/rest/api/content/1003", ""))
			h.alice()
			h.rec.take()
			switch c.user {
			case "":
			case "-":
				h.user = ""
			default:
				h.user = c.user
			}
			h.must(c.status, c.req)
			sameEvents(t, "events", h.rec.take(), nil)
		})
	}
}

func withHeader(r packReq, k, v string) packReq {
	if r.header == nil {
		r.header = map[string]string{}
	}
	r.header[k] = v
	return r
}

// TestPackReadsEmitNothing: reads never reach the classifier past Wants, and raise nothing.
func TestPackReadsEmitNothing(t *testing.T) {
	h := newPackHarness(t)
	h.page("Plan", "1001")
	h.must(200, jsonReq("POST", "/rest/api/content/1002/label", `[{"prefix":"global","name":"alpha"}]`))
	h.rec.take()
	for _, path := range []string{
		"/rest/api/content/1002", "/rest/api/content/1002?status=any", "/rest/api/content?spaceKey=DS",
		"/rest/api/content/1002/label", "/rest/api/label?name=alpha", "/rest/api/content/1001/child/page",
		"/rest/api/space/DS", "/rest/api/space/DS/permissions", "/rest/api/user?username=admin",
		"/rest/api/group/confluence-users", "/wiki/api/v2/pages/1002", "/rest/api/content/1002/restriction",
		"/rest/api/settings/theme/selected",
	} {
		if h.cls.Wants([]byte("GET"), []byte(path)) {
			t.Errorf("GET %s: the classifier wants a read", path)
		}
		h.must(200, jsonReq("GET", path, ""))
	}
	sameEvents(t, "events after reads", h.rec.take(), nil)
}

// TestPackDraftsEmitNothing: a draft (REST status "draft", or the blueprint dialog's draft) is
// not published and raises nothing.
func TestPackDraftsEmitNothing(t *testing.T) {
	h := newPackHarness(t)
	h.must(200, jsonReq("POST", "/rest/api/content", `{"type":"page","title":"Draft","status":"draft","space":{"key":"DS"}}`))
	h.must(200, jsonReq("POST", "/wiki/api/v2/pages", `{"spaceId":"1","status":"draft","title":"Cloud draft"}`))
	h.must(200, jsonReq("POST", "/rest/create-dialog/1.0/content-blueprint/create-draft",
		`{"spaceKey":"DS","contentBlueprintId":"bp","moduleCompleteKey":"x:decisions","title":"Decide"}`))
	sameEvents(t, "events", h.rec.take(), nil)
}

// TestPackEditIsNotAMoveAndTrashIsNotAPurge runs the four look-alike writes on one page in a
// row and checks each raises its own event and no other.
func TestPackEditIsNotAMoveAndTrashIsNotAPurge(t *testing.T) {
	h := newPackHarness(t)
	h.page("A", "1001")
	h.page("B", "1001")
	h.rec.take()
	steps := []struct {
		req  packReq
		want []string
	}{
		{jsonReq("PUT", "/rest/api/content/1002", `{"type":"page","title":"A1","version":{"number":2}}`),
			[]string{ev("page_updated", admin, `,"page":{"id":1002},"updateTrigger":"edit_page"`), ev("content_updated", admin, `,"content":{"id":1002}`)}},
		{jsonReq("PUT", "/rest/api/content/1002", `{"type":"page","title":"A2","version":{"number":3},"ancestors":[{"id":"1001"}]}`),
			[]string{ev("page_updated", admin, `,"page":{"id":1002},"updateTrigger":"edit_page"`), ev("content_updated", admin, `,"content":{"id":1002}`)}},
		{jsonReq("PUT", "/rest/api/content/1002", `{"type":"page","title":"A2","version":{"number":4},"ancestors":[{"id":"1003"}]}`),
			[]string{ev("page_moved", admin, `,"page":{"id":1002},"oldParent":{"id":1001},"newParent":{"id":1003}`), ev("content_updated", admin, `,"content":{"id":1002}`)}},
		{jsonReq("PUT", "/rest/api/content/1002", `{"type":"page","title":"A3","version":{"number":5},"ancestors":[{"id":"1003"}]}`),
			[]string{ev("page_updated", admin, `,"page":{"id":1002},"updateTrigger":"edit_page"`), ev("content_updated", admin, `,"content":{"id":1002}`)}},
		{jsonReq("DELETE", "/rest/api/content/1002", ""), []string{ev("page_removed", admin, `,"page":{"id":1002}`)}},
		{jsonReq("DELETE", "/rest/api/content/1002?status=trashed", ""),
			[]string{ev("page_trashed", admin, `,"page":{"id":1002}`), ev("content_trashed", admin, `,"content":{"id":1002}`)}},
	}
	for i, s := range steps {
		if st, body := h.send(s.req); st < 200 || st > 299 {
			t.Fatalf("step %d: status %d: %s", i, st, body)
		}
		sameEvents(t, s.req.method+" "+s.req.path+" "+string(s.req.body), h.rec.take(), s.want)
	}
}
