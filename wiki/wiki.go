package wiki

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// AdminKey is the user key of the seeded administrator (user name "admin", password "admin").
const AdminKey = "ff808081000000000000000000000001"

// Group names that Confluence creates on installation.
const (
	AdminGroup = "confluence-administrators"
	UserGroup  = "confluence-users"
)

// DefaultTheme is the key of the theme every space and the site start with.
const DefaultTheme = "com.atlassian.confluence.themes.default:default"

// Wiki is the sample wiki. The zero value is not usable; call New.
type Wiki struct {
	// Now is the wiki's clock, used for creation and modification times. New sets time.Now;
	// tests may replace it before the first request.
	Now func() time.Time

	mu       sync.Mutex // guards everything below
	nextCont int64      // last content id handed out
	nextSp   int64      // last space id
	nextLbl  int64      // last label id
	nextPerm int64      // last space permission id
	nextUser int64      // last user key number
	nextTask int64      // last long task id
	contents map[int64]*content
	spaces   map[string]*space // by key
	users    map[string]*user  // by user name
	groups   map[string]bool
	labelIDs map[string]int64 // label name -> id, kept once a label has existed
	theme    string           // the site's theme
	follows  map[[2]string]bool
	titles   map[titleKey]int64 // current page/blog post by title; entries may be stale (see titleTakenLocked)
	nextPos  map[posKey]int     // next child position under a parent

	srvMu sync.Mutex // guards srv
	srv   *fasthttp.Server
}

type user struct {
	name, key, fullName, email, password string
	disabled                             bool
	groups                               map[string]bool
}

type content struct {
	id        int64
	typ       string // page, blogpost, comment, attachment
	status    string // current, trashed, draft
	title     string
	space     string // space key
	parent    int64  // parent page (pages) or parent comment (comments)
	container int64  // the page or blog post of a comment or attachment
	version   int
	body      string
	labels    []string
	creator   string // user keys
	modifier  string
	created   time.Time
	modified  time.Time
	position  int // among its parent's children; lower first
	// attachments
	mediaType string
	fileSize  int
	comment   string
	// comments
	location string // "footer" or "inline"
	// drafts made by the blueprint create dialog
	blueprint map[string]any
	// restrictions: operation ("read", "update") -> subjects ("user:<key>", "group:<name>")
	restrictions map[string][]string
}

type space struct {
	id          int64
	key, name   string
	description string
	homepage    int64
	creator     string
	modifier    string
	created     time.Time
	modified    time.Time
	theme       string // "" = the site's theme
	logo        int64  // attachment id of the logo, 0 = default
	perms       []spacePerm
	labels      []string
}

type spacePerm struct {
	id        int64
	subject   string // "user", "group", "anonymous"
	ident     string // user key or group name
	operation string // "read", "administer", "create", ...
	target    string // "space", "page", "blogpost", "comment", "attachment"
}

// New returns a wiki seeded with the administrator admin/admin and the space DS.
func New() *Wiki {
	w := &Wiki{
		Now:      time.Now,
		nextCont: 1000,
		contents: map[int64]*content{},
		spaces:   map[string]*space{},
		users:    map[string]*user{},
		groups:   map[string]bool{AdminGroup: true, UserGroup: true},
		labelIDs: map[string]int64{},
		theme:    DefaultTheme,
		follows:  map[[2]string]bool{},
		titles:   map[titleKey]int64{},
		nextPos:  map[posKey]int{},
	}
	w.nextUser = 1
	w.users["admin"] = &user{name: "admin", key: AdminKey, fullName: "Administrator",
		email: "admin@example.com", password: "admin",
		groups: map[string]bool{AdminGroup: true, UserGroup: true}}
	w.createSpaceLocked("DS", "Demonstration Space", "A space to try things in.", AdminKey, time.Unix(1767225600, 0).UTC())
	return w
}

// Handler returns the fasthttp handler that serves the wiki.
func (w *Wiki) Handler() fasthttp.RequestHandler { return w.serve }

// Serve serves the wiki on ln until Shutdown. It returns nil after Shutdown.
func (w *Wiki) Serve(ln net.Listener) error {
	srv := &fasthttp.Server{Handler: w.serve, Name: "sample-wiki", MaxRequestBodySize: 64 << 20}
	w.srvMu.Lock()
	if w.srv != nil {
		w.srvMu.Unlock()
		return errors.New("wiki: already serving")
	}
	w.srv = srv
	w.srvMu.Unlock()
	return srv.Serve(ln)
}

// Shutdown stops the server started by Serve and waits for requests in flight.
func (w *Wiki) Shutdown() error {
	w.srvMu.Lock()
	srv := w.srv
	w.srvMu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Shutdown()
}

// req is one request being served: its context, the caller, and parsed pieces.
type req struct {
	ctx  *fasthttp.RequestCtx
	user *user
	base string // "http://host"
}

func (w *Wiki) serve(ctx *fasthttp.RequestCtx) {
	r := &req{ctx: ctx, base: "http://" + string(ctx.Host())}
	ctx.Response.Header.Set("Cache-Control", "no-cache, no-store")
	w.mu.Lock()
	defer w.mu.Unlock()
	u, ok := w.authLocked(ctx)
	if !ok {
		ctx.Response.Header.Set("WWW-Authenticate", `Basic realm="Protected"`)
		r.fail(401, "This resource requires authentication")
		return
	}
	r.user = u
	ctx.Response.Header.Set("X-AUSERNAME", u.name)
	ctx.Response.Header.Set("X-AUSERKEY", u.key)
	path := string(ctx.Path())
	seg := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case strings.HasPrefix(path, "/rest/api/"):
		w.restLocked(r, seg[2:])
	case strings.HasPrefix(path, "/wiki/api/v2/"):
		w.cloudLocked(r, seg[3:])
	case strings.HasPrefix(path, "/wiki/rest/api/"):
		w.cloudV1Locked(r, seg[3:])
	case path == "/rest/create-dialog/1.0/content-blueprint/create-draft":
		w.createDraftLocked(r)
	case strings.HasSuffix(path, ".action"):
		w.uiLocked(r, path)
	default:
		r.fail(404, "null for uri: "+path)
	}
}

// authLocked resolves the Basic authorization to an enabled user.
func (w *Wiki) authLocked(ctx *fasthttp.RequestCtx) (*user, bool) {
	h := ctx.Request.Header.Peek("Authorization")
	const p = "Basic "
	if len(h) < len(p) || !strings.EqualFold(string(h[:len(p)]), p) {
		return nil, false
	}
	dec, err := base64.StdEncoding.DecodeString(string(h[len(p):]))
	if err != nil {
		return nil, false
	}
	name, pass, ok := strings.Cut(string(dec), ":")
	if !ok {
		return nil, false
	}
	u := w.users[name]
	if u == nil || u.disabled || u.password != pass {
		return nil, false
	}
	return u, true
}

func (u *user) isAdmin() bool { return u.groups[AdminGroup] }

var reasons = map[int]string{400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
	405: "Method Not Allowed", 409: "Conflict", 413: "Request Entity Too Large", 500: "Internal Server Error"}

// fail answers Confluence's error shape.
func (r *req) fail(status int, msg string) {
	r.json(status, map[string]any{
		"statusCode": status,
		"data": map[string]any{"authorized": status != 401 && status != 403, "valid": status != 400,
			"errors": []any{}, "successful": false},
		"message": msg,
		"reason":  reasons[status],
	})
}

func (r *req) json(status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("wiki: encoding response: %v", err)) // only our own types are encoded
	}
	r.ctx.SetStatusCode(status)
	r.ctx.SetContentType("application/json")
	r.ctx.SetBody(b)
}

func (r *req) noContent() { r.ctx.SetStatusCode(204) }

func (r *req) method() string { return string(r.ctx.Method()) }

func (r *req) query(name string) string { return string(r.ctx.QueryArgs().Peek(name)) }

// decode reads the JSON request body into v; it answers 400 and reports false on failure.
func (r *req) decode(v any) bool {
	body := r.ctx.PostBody()
	if len(bytes.TrimSpace(body)) == 0 {
		r.fail(400, "request body is empty")
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		r.fail(400, "invalid JSON: "+err.Error())
		return false
	}
	return true
}

// badMethod answers 405 for a known path with an unsupported method.
func (r *req) badMethod() { r.fail(405, "method "+r.method()+" not allowed here") }

func ids(id int64) string { return strconv.FormatInt(id, 10) }

// parseID reads a content id, with or without the "att" prefix.
func parseID(s string) (int64, bool) {
	s = strings.TrimPrefix(s, "att")
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}

func iso(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (w *Wiki) now() time.Time { return w.Now().UTC() }

// userJSON is Confluence's user shape.
func (w *Wiki) userJSON(base, key string) map[string]any {
	for _, u := range w.users {
		if u.key == key {
			return map[string]any{
				"type": "known", "username": u.name, "userKey": u.key,
				"profilePicture": map[string]any{"path": "/images/icons/profilepics/default.svg",
					"width": 48, "height": 48, "isDefault": true},
				"displayName": u.fullName,
				"_links":      map[string]any{"self": base + "/rest/api/user?key=" + u.key},
			}
		}
	}
	return map[string]any{"type": "anonymous"}
}

func (w *Wiki) userByKey(key string) *user {
	for _, u := range w.users {
		if u.key == key {
			return u
		}
	}
	return nil
}

// labelHoldersLocked lists the content (current or trashed) that holds the label, by id.
func (w *Wiki) labelHoldersLocked(name string) []*content {
	var out []*content
	for _, c := range w.contents {
		if c.status != "draft" && contains(c.labels, name) {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func (w *Wiki) labelOnSpaceLocked(name string) bool {
	for _, s := range w.spaces {
		if contains(s.labels, name) {
			return true
		}
	}
	return false
}

func (w *Wiki) labelIDLocked(name string) int64 {
	id, ok := w.labelIDs[name]
	if !ok {
		w.nextLbl++
		id = w.nextLbl
		w.labelIDs[name] = id
	}
	return id
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func remove(list []string, s string) []string {
	out := list[:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }
