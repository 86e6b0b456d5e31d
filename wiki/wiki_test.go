package wiki_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"hooktap/wiki"

	"github.com/tidwall/gjson"
)

// client talks to a sample wiki served on a loopback listener.
type client struct {
	t    *testing.T
	base string
	user string
	pass string
}

func serveWiki(t *testing.T) (*wiki.Wiki, *client) {
	t.Helper()
	w := wiki.New()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Serve(ln) }()
	t.Cleanup(func() {
		if err := w.Shutdown(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return w, &client{t: t, base: "http://" + ln.Addr().String(), user: "admin", pass: "admin"}
}

type resp struct {
	status int
	header http.Header
	body   string
}

func (r resp) get(path string) string { return gjson.Get(r.body, path).String() }

func (c *client) do(method, path, contentType string, body []byte, hdr ...string) resp {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: string(b)}
}

func (c *client) json(method, path, body string) resp {
	c.t.Helper()
	return c.do(method, path, "application/json", []byte(body))
}

func (c *client) upload(path, name, mediaType, data string) resp {
	c.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := make(map[string][]string)
	h["Content-Disposition"] = []string{`form-data; name="file"; filename="` + name + `"`}
	h["Content-Type"] = []string{mediaType}
	part, err := mw.CreatePart(h)
	if err != nil {
		c.t.Fatal(err)
	}
	io.WriteString(part, data)
	mw.WriteField("comment", "uploaded by a test")
	mw.Close()
	return c.do("POST", path, mw.FormDataContentType(), buf.Bytes(), "X-Atlassian-Token", "nocheck")
}

func want(t *testing.T, what string, got, want any) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

func TestAuthAndActingUser(t *testing.T) {
	_, c := serveWiki(t)
	r := c.do("GET", "/rest/api/space/DS", "", nil)
	want(t, "status", r.status, 200)
	want(t, "X-AUSERNAME", r.header.Get("X-AUSERNAME"), "admin")
	want(t, "X-AUSERKEY", r.header.Get("X-AUSERKEY"), wiki.AdminKey)

	anon := *c
	anon.user = ""
	r = anon.do("GET", "/rest/api/space/DS", "", nil)
	want(t, "anonymous status", r.status, 401)
	want(t, "error shape", r.get("statusCode"), "401")
	bad := *c
	bad.pass = "wrong"
	want(t, "bad password", bad.do("GET", "/rest/api/space/DS", "", nil).status, 401)

	r = c.json("POST", "/rest/api/admin/user", `{"userName":"alice","fullName":"Alice","email":"alice@example.com","password":"pw"}`)
	want(t, "create user", r.status, 201)
	want(t, "create user again", c.json("POST", "/rest/api/admin/user", `{"userName":"alice","fullName":"Alice","email":"alice@example.com","password":"pw"}`).status, 409)
	r = c.do("GET", "/rest/api/user?username=alice", "", nil)
	want(t, "lookup", r.status, 200)
	key := r.get("userKey")
	want(t, "alice key", key, "ff808081000000000000000000000002")
	want(t, "lookup by key", c.do("GET", "/rest/api/user?key="+key, "", nil).get("username"), "alice")

	alice := &client{t: t, base: c.base, user: "alice", pass: "pw"}
	r = alice.do("GET", "/rest/api/user/current", "", nil)
	want(t, "alice current", r.get("userKey"), key)
	want(t, "alice header", r.header.Get("X-AUSERKEY"), key)
	want(t, "alice is no admin", alice.json("POST", "/rest/api/admin/group", `{"type":"group","name":"x"}`).status, 403)

	want(t, "disable", c.do("PUT", "/rest/api/admin/user/alice/disable", "", nil).status, 204)
	want(t, "disabled cannot log in", alice.do("GET", "/rest/api/user/current", "", nil).status, 401)
	want(t, "enable", c.do("PUT", "/rest/api/admin/user/alice/enable", "", nil).status, 204)
	want(t, "enabled can log in", alice.do("GET", "/rest/api/user/current", "", nil).status, 200)
	want(t, "delete", c.do("DELETE", "/rest/api/admin/user/alice", "", nil).status, 204)
	want(t, "deleted", c.do("GET", "/rest/api/user?username=alice", "", nil).status, 404)
	want(t, "delete again", c.do("DELETE", "/rest/api/admin/user/alice", "", nil).status, 404)
}

func TestPageLifecycle(t *testing.T) {
	_, c := serveWiki(t)
	r := c.json("POST", "/rest/api/content", `{"type":"page","title":"Plan","space":{"key":"DS"},"body":{"storage":{"value":"<p>x</p>","representation":"storage"}}}`)
	want(t, "create", r.status, 200)
	want(t, "id is a string", gjson.Get(r.body, "id").Type, gjson.String)
	want(t, "id", r.get("id"), "1002") // 1001 is DS's home page
	want(t, "version", r.get("version.number"), "1")
	want(t, "space", r.get("space.key"), "DS")
	want(t, "duplicate title", c.json("POST", "/rest/api/content", `{"type":"page","title":"Plan","space":{"key":"DS"}}`).status, 400)
	want(t, "no such space", c.json("POST", "/rest/api/content", `{"type":"page","title":"X","space":{"key":"NOPE"}}`).status, 400)

	r = c.json("POST", "/rest/api/content", `{"type":"page","title":"Child","space":{"key":"DS"},"ancestors":[{"id":"1002"}]}`)
	want(t, "child", r.get("id"), "1003")
	want(t, "child ancestors", r.get("ancestors.#.id"), `["1002"]`)

	want(t, "stale version", c.json("PUT", "/rest/api/content/1002", `{"type":"page","title":"Plan","version":{"number":1}}`).status, 409)
	r = c.json("PUT", "/rest/api/content/1002", `{"type":"page","title":"Plan v2","version":{"number":2}}`)
	want(t, "edit", r.status, 200)
	want(t, "edited version", r.get("version.number"), "2")
	want(t, "edited title", r.get("title"), "Plan v2")

	// move the child to the home page
	r = c.json("PUT", "/rest/api/content/1003", `{"type":"page","title":"Child","version":{"number":2},"ancestors":[{"id":"1001"}]}`)
	want(t, "move", r.status, 200)
	want(t, "moved ancestors", r.get("ancestors.#.id"), `["1001"]`)

	want(t, "purge before trash", c.do("DELETE", "/rest/api/content/1002?status=trashed", "", nil).status, 404)
	want(t, "trash", c.do("DELETE", "/rest/api/content/1002", "", nil).status, 204)
	want(t, "trashed is hidden", c.do("GET", "/rest/api/content/1002", "", nil).status, 404)
	r = c.do("GET", "/rest/api/content/1002?status=any", "", nil)
	want(t, "trashed status", r.get("status"), "trashed")
	want(t, "trash again", c.do("DELETE", "/rest/api/content/1002", "", nil).status, 404)
	want(t, "edit trashed", c.json("PUT", "/rest/api/content/1002", `{"type":"page","title":"Z","version":{"number":3}}`).status, 400)
	r = c.json("PUT", "/rest/api/content/1002?status=trashed", `{"type":"page","title":"Plan v2","status":"current","version":{"number":3}}`)
	want(t, "restore", r.status, 200)
	want(t, "restored status", r.get("status"), "current")
	want(t, "trash", c.do("DELETE", "/rest/api/content/1002", "", nil).status, 204)
	want(t, "purge", c.do("DELETE", "/rest/api/content/1002?status=trashed", "", nil).status, 204)
	want(t, "purged", c.do("GET", "/rest/api/content/1002?status=any", "", nil).status, 404)
}

func TestCommentsAttachmentsLabels(t *testing.T) {
	_, c := serveWiki(t)
	r := c.json("POST", "/rest/api/content", `{"type":"comment","container":{"id":"1001","type":"page"},"body":{"storage":{"value":"hi","representation":"storage"}}}`)
	want(t, "comment", r.status, 200)
	want(t, "comment container", r.get("container.id"), "1001")
	want(t, "comment delete", c.do("DELETE", "/rest/api/content/"+r.get("id"), "", nil).status, 204)
	want(t, "comment gone", c.do("GET", "/rest/api/content/"+r.get("id")+"?status=any", "", nil).status, 404)

	want(t, "upload without token", c.do("POST", "/rest/api/content/1001/child/attachment", "multipart/form-data; boundary=x", []byte("--x--")).status, 403)
	r = c.upload("/rest/api/content/1001/child/attachment", "a.txt", "text/plain", "hello")
	want(t, "upload", r.status, 200)
	att := r.get("results.0.id")
	want(t, "attachment id", att, "att1003")
	want(t, "file size", r.get("results.0.extensions.fileSize"), "5")
	want(t, "same name", c.upload("/rest/api/content/1001/child/attachment", "a.txt", "text/plain", "x").status, 400)
	r = c.upload("/rest/api/content/1001/child/attachment/"+att+"/data", "a.txt", "text/plain", "hello again")
	want(t, "new version", r.get("version.number"), "2")
	want(t, "trash attachment", c.do("DELETE", "/rest/api/content/1001/child/attachment/"+att, "", nil).status, 204)
	want(t, "attachment trashed", c.do("GET", "/rest/api/content/"+att+"?status=trashed", "", nil).get("status"), "trashed")
	want(t, "purge attachment", c.do("DELETE", "/rest/api/content/"+att+"?status=trashed", "", nil).status, 204)

	want(t, "unknown label", c.do("GET", "/rest/api/label?name=alpha", "", nil).status, 404)
	r = c.json("POST", "/rest/api/content/1001/label", `[{"prefix":"global","name":"alpha"},{"prefix":"global","name":"beta"}]`)
	want(t, "add labels", r.status, 200)
	want(t, "labels", r.get("results.#.name"), `["alpha","beta"]`)
	r = c.do("GET", "/rest/api/label?name=alpha", "", nil)
	want(t, "label exists", r.status, 200)
	want(t, "label holders", r.get("associatedContents.size"), "1")
	want(t, "bad label", c.json("POST", "/rest/api/content/1001/label", `[{"prefix":"global","name":"a b"}]`).status, 400)
	want(t, "remove label", c.do("DELETE", "/rest/api/content/1001/label/alpha", "", nil).status, 204)
	want(t, "remove label by query", c.do("DELETE", "/rest/api/content/1001/label?name=beta", "", nil).status, 204)
	want(t, "remove absent label", c.do("DELETE", "/rest/api/content/1001/label/beta", "", nil).status, 404)
	want(t, "label gone", c.do("GET", "/rest/api/label?name=alpha", "", nil).status, 404)
}

func TestSpacesPermissionsGroups(t *testing.T) {
	_, c := serveWiki(t)
	r := c.json("POST", "/rest/api/space", `{"key":"ENG","name":"Engineering","description":{"plain":{"value":"d","representation":"plain"}}}`)
	want(t, "create space", r.status, 200)
	want(t, "space id is a number", gjson.Get(r.body, "id").Type, gjson.Number)
	want(t, "space id", r.get("id"), "2")
	want(t, "home page", r.get("homepage.id"), "1002")
	want(t, "dup space", c.json("POST", "/rest/api/space", `{"key":"ENG","name":"E"}`).status, 400)
	want(t, "update space", c.json("PUT", "/rest/api/space/ENG", `{"name":"Eng"}`).get("name"), "Eng")

	r = c.json("POST", "/rest/api/space/ENG/permissions", `{"subject":{"type":"group","identifier":"confluence-users"},"operation":{"key":"read","target":"space"}}`)
	want(t, "grant", r.status, 200)
	want(t, "revoke", c.do("DELETE", "/rest/api/space/ENG/permissions/"+r.get("id"), "", nil).status, 204)
	want(t, "grant by PUT", c.json("PUT", "/rest/api/space/ENG/permissions/user/"+wiki.AdminKey+"/grant", `[{"key":"administer","target":"space"}]`).status, 204)
	want(t, "revoke by PUT", c.json("PUT", "/rest/api/space/ENG/permissions/user/"+wiki.AdminKey+"/revoke", `[{"key":"administer","target":"space"}]`).status, 204)
	want(t, "no perms left", c.do("GET", "/rest/api/space/ENG/permissions", "", nil).get("size"), "0")

	r = c.json("PUT", "/rest/api/content/1002/restriction", `[{"operation":"read","restrictions":{"group":[{"type":"group","name":"confluence-users"}]}}]`)
	want(t, "restrict", r.status, 200)
	want(t, "restriction", r.get("results.0.restrictions.group.results.0.name"), "confluence-users")
	want(t, "drop restriction", c.do("DELETE", "/rest/api/content/1002/restriction/byOperation/read/group/confluence-users", "", nil).status, 204)

	want(t, "theme unset", c.do("GET", "/rest/api/space/ENG/theme", "", nil).status, 404)
	want(t, "set theme", c.json("PUT", "/rest/api/space/ENG/theme", `{"themeKey":"com.atlassian.confluence.themes.documentation:documentation"}`).status, 200)
	want(t, "bad theme", c.json("PUT", "/rest/api/space/ENG/theme", `{"themeKey":"nope"}`).status, 400)

	r = c.do("DELETE", "/rest/api/space/ENG", "", nil)
	want(t, "delete space", r.status, 202)
	want(t, "long task", strings.HasPrefix(r.get("links.status"), c.base+"/rest/api/longtask/"), true)
	want(t, "space gone", c.do("GET", "/rest/api/space/ENG", "", nil).status, 404)
	want(t, "home page gone", c.do("GET", "/rest/api/content/1002?status=any", "", nil).status, 404)

	want(t, "group", c.json("POST", "/rest/api/admin/group", `{"type":"group","name":"devs"}`).status, 201)
	want(t, "dup group", c.json("POST", "/rest/api/admin/group", `{"type":"group","name":"devs"}`).status, 409)
	want(t, "get group", c.do("GET", "/rest/api/group/devs", "", nil).get("name"), "devs")
	want(t, "delete group", c.do("DELETE", "/rest/api/admin/group/devs", "", nil).status, 204)
	want(t, "group gone", c.do("GET", "/rest/api/group/devs", "", nil).status, 404)
}

func TestUIActionsAndBlueprint(t *testing.T) {
	_, c := serveWiki(t)
	for _, title := range []string{"Zulu", "alpha", "Mike"} {
		want(t, "child "+title, c.json("POST", "/rest/api/content", `{"type":"page","title":"`+title+`","space":{"key":"DS"},"ancestors":[{"id":"1001"}]}`).status, 200)
	}
	form := "application/x-www-form-urlencoded"
	want(t, "no xsrf token", c.do("POST", "/pages/children/reorder.action?pageId=1001", form, nil).status, 403)
	r := c.do("POST", "/pages/children/reorder.action?pageId=1001", form, []byte("atl_token=t"))
	want(t, "reorder", r.status, 200)
	want(t, "old order", r.get("oldSortedChildren.#.id"), `[1002,1003,1004]`)
	want(t, "new order", r.get("newSortedChildren.#.id"), `[1003,1004,1002]`)
	r = c.do("GET", "/rest/api/content/1001/child/page", "", nil)
	want(t, "children now", r.get("results.#.title"), `["alpha","Mike","Zulu"]`)

	r = c.upload("/spaces/doupdatespacelogo.action?key=DS", "logo.png", "image/png", "\x89PNG")
	want(t, "logo", r.status, 200)
	want(t, "logo id", r.get("logo.id"), "att1005")
	want(t, "logo not image", c.upload("/spaces/doupdatespacelogo.action?key=DS", "logo.txt", "text/plain", "x").status, 400)

	r = c.do("POST", "/spaces/doenabletheme.action?key=DS", form, []byte("atl_token=t&themeKey=com.example.confluence.themes.dark:dark"))
	want(t, "space theme", r.get("oldThemeKey"), wiki.DefaultTheme)
	want(t, "space theme now", c.do("GET", "/rest/api/space/DS/theme", "", nil).get("themeKey"), "com.example.confluence.themes.dark:dark")
	r = c.do("POST", "/admin/doenabletheme.action", form, []byte("atl_token=t&themeKey=com.example.confluence.themes.dark:dark"))
	want(t, "site theme", r.status, 200)
	want(t, "site theme now", c.do("GET", "/rest/api/settings/theme/selected", "", nil).get("themeKey"), "com.example.confluence.themes.dark:dark")

	c.json("POST", "/rest/api/admin/user", `{"userName":"bob","fullName":"Bob","email":"bob@example.com","password":"pw"}`)
	want(t, "follow", c.do("POST", "/users/follow.action?username=bob", form, []byte("atl_token=t")).get("following"), "true")
	want(t, "follow nobody", c.do("POST", "/users/follow.action?username=nobody", form, []byte("atl_token=t")).status, 404)

	r = c.json("POST", "/rest/create-dialog/1.0/content-blueprint/create-draft",
		`{"spaceKey":"DS","contentBlueprintId":"bp-1","moduleCompleteKey":"com.atlassian.confluence.plugins.confluence-business-blueprints:meeting-notes-item","title":"Standup"}`)
	want(t, "draft", r.status, 200)
	draft := r.get("draftId")
	want(t, "draft not current", c.do("GET", "/rest/api/content/"+draft, "", nil).status, 404)
	r = c.do("GET", "/rest/api/content/"+draft+"?status=draft", "", nil)
	want(t, "draft blueprint", r.get("extensions.blueprint.indexKey"), "meeting-notes-item")
	r = c.json("POST", "/rest/api/content/blueprint/instance/"+draft, `{"title":"Standup 1"}`)
	want(t, "publish", r.status, 200)
	want(t, "published", r.get("status"), "current")
	want(t, "publish again", c.json("POST", "/rest/api/content/blueprint/instance/"+draft, `{}`).status, 404)
}

func TestCloudV2(t *testing.T) {
	_, c := serveWiki(t)
	r := c.json("POST", "/wiki/api/v2/pages", `{"spaceId":"1","status":"current","title":"Cloudy","parentId":"1001","body":{"representation":"storage","value":"x"}}`)
	want(t, "create", r.status, 200)
	want(t, "v2 shape", r.get("parentId"), "1001")
	want(t, "v2 space id", r.get("spaceId"), "1")
	id := r.get("id")
	want(t, "v2 stale", c.json("PUT", "/wiki/api/v2/pages/"+id, `{"id":"`+id+`","status":"current","title":"C","version":{"number":1}}`).status, 409)
	want(t, "v2 edit", c.json("PUT", "/wiki/api/v2/pages/"+id, `{"id":"`+id+`","status":"current","title":"C","version":{"number":2}}`).get("version.number"), "2")
	r = c.json("POST", "/wiki/api/v2/footer-comments", `{"pageId":"`+id+`","body":{"representation":"storage","value":"c"}}`)
	want(t, "v2 comment", r.status, 201)
	want(t, "v2 comment page", r.get("pageId"), id)
	want(t, "v2 purge current", c.do("DELETE", "/wiki/api/v2/pages/"+id+"?purge=true", "", nil).status, 400)
	want(t, "v2 trash", c.do("DELETE", "/wiki/api/v2/pages/"+id, "", nil).status, 204)
	want(t, "v2 trashed", c.do("GET", "/wiki/api/v2/pages/"+id, "", nil).get("status"), "trashed")
	want(t, "v2 restore", c.json("PUT", "/wiki/api/v2/pages/"+id, `{"id":"`+id+`","status":"current","title":"C","version":{"number":3}}`).get("status"), "current")
	want(t, "v2 trash", c.do("DELETE", "/wiki/api/v2/pages/"+id, "", nil).status, 204)
	want(t, "v2 purge", c.do("DELETE", "/wiki/api/v2/pages/"+id+"?purge=true", "", nil).status, 204)

	r = c.json("POST", "/rest/api/content", `{"type":"page","title":"Mover","space":{"key":"DS"}}`)
	mover := r.get("id")
	want(t, "cloud move", c.do("PUT", "/wiki/rest/api/content/"+mover+"/move/append/1001", "", nil).status, 200)
	want(t, "moved", c.do("GET", "/rest/api/content/"+mover, "", nil).get("ancestors.#.id"), `["1001"]`)
}

func TestDeterministicIDs(t *testing.T) {
	run := func() string {
		_, c := serveWiki(t)
		var out []string
		out = append(out, c.json("POST", "/rest/api/content", `{"type":"blogpost","title":"B","space":{"key":"DS"}}`).get("id"))
		out = append(out, c.upload("/rest/api/content/1001/child/attachment", "f.bin", "application/octet-stream", "x").get("results.0.id"))
		out = append(out, c.json("POST", "/rest/api/space", `{"key":"S2","name":"S2"}`).get("id"))
		b, _ := json.Marshal(out)
		return string(b)
	}
	a, b := run(), run()
	want(t, "ids", a, `["1002","att1003","2"]`)
	want(t, "same ids twice", b, a)
}

func TestCQLSearchAndCloudV1Alias(t *testing.T) {
	_, c := serveWiki(t)
	c.json("POST", "/rest/api/content", `{"type":"page","title":"A","space":{"key":"DS"},"ancestors":[{"id":"1001"}]}`)
	c.json("POST", "/rest/api/content/1002/label", `[{"name":"alpha"}]`)
	r := c.do("GET", "/rest/api/content/search?cql="+url.QueryEscape(`id=1002 and parent=1001`), "", nil)
	want(t, "search status", r.status, 200)
	want(t, "child found", r.get("size"), "1")
	r = c.do("GET", "/rest/api/content/search?cql="+url.QueryEscape(`id=1002 AND parent = "1003"`), "", nil)
	want(t, "not a child", r.get("size"), "0")
	r = c.do("GET", "/rest/api/content/search?cql="+url.QueryEscape(`label = alpha and type != blogpost`), "", nil)
	want(t, "by label", r.get("results.#.id"), `["1002"]`)
	want(t, "bad cql", c.do("GET", "/rest/api/content/search?cql="+url.QueryEscape(`creator ~ x`), "", nil).status, 400)
	r = c.do("GET", "/wiki/rest/api/content/1002", "", nil)
	want(t, "cloud v1 alias", r.get("title"), "A")
	want(t, "bad move position", c.do("PUT", "/wiki/rest/api/content/1002/move/inside/1001", "", nil).status, 400)
	want(t, "move below itself", c.do("PUT", "/wiki/rest/api/content/1001/move/append/1002", "", nil).status, 400)
}
