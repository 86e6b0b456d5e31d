package e2e

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// xrClient calls WordPress's XML-RPC endpoint (POST /xmlrpc.php) as desktop and mobile
// clients do: a text/xml methodCall, a methodResponse or a <fault> back, always 200.
type xrClient struct {
	t    *testing.T
	base string
	host string // the Host header: WordPress's (Debian reads its config file by it)
	hc   *http.Client
}

// xrFault is an XML-RPC fault answer.
type xrFault struct {
	code int64
	msg  string
}

// call sends method with params and returns the answer's value, or its fault.
func (c *xrClient) call(method string, params ...any) (any, *xrFault) {
	c.t.Helper()
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><methodCall><methodName>` + method + `</methodName><params>`)
	for _, p := range params {
		b.WriteString("<param>")
		xrEncode(&b, p)
		b.WriteString("</param>")
	}
	b.WriteString("</params></methodCall>")
	req, _ := http.NewRequest(http.MethodPost, c.base+"/xmlrpc.php", strings.NewReader(b.String()))
	req.Host = c.host
	req.Header.Set("Content-Type", "text/xml")
	req.Header.Set("User-Agent", "hooktap-e2e XML-RPC client")
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		c.t.Fatalf("%s: status %d: %.300s", method, resp.StatusCode, body)
	}
	var r struct {
		Params []xrNode `xml:"params>param>value"`
		Fault  []xrNode `xml:"fault>value"`
	}
	if err := xml.Unmarshal(body, &r); err != nil {
		c.t.Fatalf("%s: answer is not XML: %v: %.300s", method, err, body)
	}
	switch {
	case len(r.Fault) == 1:
		f, _ := r.Fault[0].decode().(map[string]any)
		code, _ := f["faultCode"].(int64)
		msg, _ := f["faultString"].(string)
		return nil, &xrFault{code, msg}
	case len(r.Params) == 1:
		return r.Params[0].decode(), nil
	}
	c.t.Fatalf("%s: not a methodResponse: %.300s", method, body)
	return nil, nil
}

// xrEncode writes v as an XML-RPC <value>.
func xrEncode(b *strings.Builder, v any) {
	switch x := v.(type) {
	case int:
		fmt.Fprintf(b, "<value><int>%d</int></value>", x)
	case int64:
		fmt.Fprintf(b, "<value><int>%d</int></value>", x)
	case bool:
		if x {
			b.WriteString("<value><boolean>1</boolean></value>")
		} else {
			b.WriteString("<value><boolean>0</boolean></value>")
		}
	case string:
		b.WriteString("<value><string>")
		xml.EscapeText(b, []byte(x))
		b.WriteString("</string></value>")
	case []int64:
		b.WriteString("<value><array><data>")
		for _, e := range x {
			xrEncode(b, e)
		}
		b.WriteString("</data></array></value>")
	case []string:
		b.WriteString("<value><array><data>")
		for _, e := range x {
			xrEncode(b, e)
		}
		b.WriteString("</data></array></value>")
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("<value><struct>")
		for _, k := range keys {
			b.WriteString("<member><name>" + k + "</name>")
			xrEncode(b, x[k])
			b.WriteString("</member>")
		}
		b.WriteString("</struct></value>")
	default:
		panic(fmt.Sprintf("xrEncode: %T", v))
	}
}

// xrNode is an XML element of an answer, decoded generically.
type xrNode struct {
	XMLName xml.Name
	Text    string   `xml:",chardata"`
	Kids    []xrNode `xml:",any"`
}

// decode turns a <value> node into a string, int64, bool, map[string]any or []any.
func (n *xrNode) decode() any {
	if len(n.Kids) == 0 {
		return n.Text
	}
	k := &n.Kids[0]
	switch k.XMLName.Local {
	case "int", "i4", "i8":
		v, _ := strconv.ParseInt(strings.TrimSpace(k.Text), 10, 64)
		return v
	case "boolean":
		return strings.TrimSpace(k.Text) == "1"
	case "struct":
		m := map[string]any{}
		for i := range k.Kids {
			mem := &k.Kids[i]
			var name string
			var val any
			for j := range mem.Kids {
				switch mem.Kids[j].XMLName.Local {
				case "name":
					name = mem.Kids[j].Text
				case "value":
					val = mem.Kids[j].decode()
				}
			}
			m[name] = val
		}
		return m
	case "array":
		var out []any
		if len(k.Kids) > 0 {
			for i := range k.Kids[0].Kids {
				out = append(out, k.Kids[0].Kids[i].decode())
			}
		}
		return out
	}
	return k.Text
}

// xrID reads an id answered as a <string> (posts, terms) or an <int> (comments).
func xrID(t *testing.T, what string, v any) int64 {
	t.Helper()
	switch x := v.(type) {
	case int64:
		return x
	case string:
		if id, err := strconv.ParseInt(x, 10, 64); err == nil {
			return id
		}
	}
	t.Fatalf("%s: answer %#v is not an id", what, v)
	return 0
}

// TestWordPressXMLRPC drives the real WordPress through hooktap with a seeded random
// workload of XML-RPC calls (posts, pages, comments, terms; wp.*, metaWeblog.* and
// blogger.* methods; faults: wrong passwords, missing objects, existing terms), half of
// them with the admin's login password and half with an application password, and
// compares the events delivered with what WordPress's state, read straight from the
// backend's REST API before and after each call, says happened (wpRecord, as the REST test
// does). Every event must name the XML-RPC user, and no payload may hold a password.
func TestWordPressXMLRPC(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	start := time.Now()
	seed, n := workloadSeed(t)
	n = max(1, n/3) // each call makes up to four upstream requests: a third of the REST test's actions
	// A WordPress of its own on 127.0.0.3 (its own Debian config file), so that it runs beside
	// TestWordPress's.
	be := startBackend(t, "wordpress", "WP_HOST=127.0.0.3")
	rcv := newReceiver(t)
	ht := startHooktap(t, "wordpress", be.url(), rcv)
	hc := &http.Client{Timeout: 60 * time.Second}
	bu, err := url.Parse(be.url())
	if err != nil {
		t.Fatal(err)
	}
	hu, _ := url.Parse(ht.url)
	via := &xrClient{t: t, base: ht.url, host: bu.Hostname() + ":" + hu.Port(), hc: hc}
	direct := &wpClient{t: t, base: be.url(), user: be.env["USER"], pass: be.env["PASS"], hc: hc}
	state := &wpState{c: direct, names: map[string]string{}}
	user := be.env["USER"]
	passwords := []string{be.env["ADMIN_PASS"], be.env["PASS"]} // login password, application password
	if passwords[0] == "" || passwords[1] == "" {
		t.Fatalf("wordpress.env has no ADMIN_PASS or PASS: %v", be.env)
	}

	rng := newRand(seed)
	next := 0
	uniq := func(p string) string { next++; return fmt.Sprintf("%s %d", p, next) }
	pw := func() string { return passwords[rng.IntN(2)] }
	type ref struct {
		kind wpKind
		id   int64
	}
	live := map[wpKind][]int64{}
	trashed := map[wpKind][]int64{}
	parent := map[int64]int64{}
	commentPost := map[int64]int64{}
	pick := func(xs []int64) int64 { return xs[rng.IntN(len(xs))] }
	drop := func(xs []int64, x int64) []int64 {
		return slices.DeleteFunc(slices.Clone(xs), func(y int64) bool { return y == x })
	}
	tagIDs, catIDs := []int64{}, []int64{1}
	randIDs := func(xs []int64) []int64 {
		out := []int64{}
		for _, x := range xs {
			if rng.IntN(3) == 0 {
				out = append(out, x)
			}
		}
		return out
	}
	names := func(kind wpKind, ids []int64) []string {
		out := []string{}
		for _, id := range ids {
			out = append(out, state.termName(kind, id))
		}
		return out
	}
	isAncestor := func(a, p int64) bool {
		for i := 0; p != 0 && i < 1000; i++ {
			if p == a {
				return true
			}
			p = parent[p]
		}
		return false
	}
	ok := func(i int, what string, v any, f *xrFault) any {
		t.Helper()
		if f != nil {
			t.Fatalf("action %d %s: fault %d %q", i, what, f.code, f.msg)
		}
		return v
	}
	isTrue := func(i int, what string, v any, f *xrFault) {
		t.Helper()
		if b, _ := ok(i, what, v, f).(bool); !b {
			t.Fatalf("action %d %s: answer %#v, want true", i, what, v)
		}
	}
	fault := func(i int, what string, want int64, v any, f *xrFault) {
		t.Helper()
		if f == nil || want != 0 && f.code != want {
			t.Fatalf("action %d %s: answer %#v fault %v, want fault %d", i, what, v, f, want)
		}
	}

	var record []string
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		var touched, created []ref
		snap := func() map[ref]*wpObj {
			m := map[ref]*wpObj{}
			for _, r := range touched {
				m[r] = state.get(r.kind, r.id)
			}
			return m
		}
		var before map[ref]*wpObj
		act := func(kind string, refs ...ref) {
			touched = refs
			before = snap()
			counts[kind]++
		}
		k := rng.IntN(100)
		if len(live[wpPost]) < 2 || len(live[wpPage]) < 2 || len(tagIDs) < 2 {
			k = []int{0, 35, 75}[i%3]
		}
		switch {
		case k < 12: // a post: wp.newPost (terms by id or tags by name) or metaWeblog.newPost
			act("post create")
			var v any
			var f *xrFault
			if rng.IntN(2) == 0 {
				content := map[string]any{"post_type": "post", "post_title": uniq("Post"), "post_content": fmt.Sprintf("body %d", rng.Int()),
					"post_status": []string{"publish", "draft"}[rng.IntN(2)]}
				if rng.IntN(3) != 0 { // else WordPress closes its comments (see comment create)
					content["comment_status"] = "open"
				}
				terms := map[string]any{}
				if cs := randIDs(catIDs); len(cs) > 0 {
					terms["category"] = cs
				}
				if rng.IntN(2) == 0 {
					terms["post_tag"] = randIDs(tagIDs)
				} else {
					content["terms_names"] = map[string]any{"post_tag": names(wpTag, randIDs(tagIDs))}
				}
				content["terms"] = terms
				v, f = via.call("wp.newPost", 1, user, pw(), content)
			} else {
				v, f = via.call("metaWeblog.newPost", 1, user, pw(), map[string]any{"title": uniq("MW post"), "description": fmt.Sprintf("mw body %d", rng.Int()),
					"mt_keywords": strings.Join(names(wpTag, randIDs(tagIDs)), ","), "categories": names(wpCategory, randIDs(catIDs))}, rng.IntN(2) == 0)
			}
			id := xrID(t, "post create", ok(i, "post create", v, f))
			live[wpPost] = append(live[wpPost], id)
			created = append(created, ref{wpPost, id})
		case k < 22: // a post edited, sometimes retagged: wp.editPost or metaWeblog.editPost
			id := pick(live[wpPost])
			act("post edit", ref{wpPost, id})
			if rng.IntN(2) == 0 {
				content := map[string]any{"post_content": fmt.Sprintf("new body %d", rng.Int())}
				if rng.IntN(2) == 0 {
					content["terms"] = map[string]any{"post_tag": randIDs(tagIDs)}
				}
				v, f := via.call("wp.editPost", 1, user, pw(), id, content)
				isTrue(i, "wp.editPost", v, f)
			} else {
				content := map[string]any{"description": fmt.Sprintf("new mw body %d", rng.Int()), "title": uniq("MW title")}
				if rng.IntN(2) == 0 {
					content["mt_keywords"] = strings.Join(names(wpTag, randIDs(tagIDs)), ",")
				}
				v, f := via.call("metaWeblog.editPost", strconv.FormatInt(id, 10), user, pw(), content, rng.IntN(2) == 0)
				isTrue(i, "metaWeblog.editPost", v, f)
			}
		case k < 27: // a post to the trash: wp.deletePost or blogger.deletePost
			id := pick(live[wpPost])
			act("post trash", ref{wpPost, id})
			if rng.IntN(2) == 0 {
				v, f := via.call("wp.deletePost", 1, user, pw(), id)
				isTrue(i, "wp.deletePost", v, f)
			} else {
				v, f := via.call("blogger.deletePost", "", strconv.FormatInt(id, 10), user, pw(), false)
				isTrue(i, "blogger.deletePost", v, f)
			}
			live[wpPost], trashed[wpPost] = drop(live[wpPost], id), append(trashed[wpPost], id)
		case k < 30 && len(trashed[wpPost]) > 0: // restored: its status set again
			id := pick(trashed[wpPost])
			act("post restore", ref{wpPost, id})
			v, f := via.call("wp.editPost", 1, user, pw(), id, map[string]any{"post_status": "publish"})
			isTrue(i, "post restore", v, f)
			trashed[wpPost], live[wpPost] = drop(trashed[wpPost], id), append(live[wpPost], id)
		case k < 33 && len(trashed[wpPost]) > 0: // deleted again from the trash: purged
			id := pick(trashed[wpPost])
			act("post purge", ref{wpPost, id})
			v, f := via.call("wp.deletePost", 1, user, pw(), id)
			isTrue(i, "post purge", v, f)
			trashed[wpPost] = drop(trashed[wpPost], id)
			for c, p := range commentPost {
				if p == id {
					delete(commentPost, c)
					live[wpComment], trashed[wpComment] = drop(live[wpComment], c), drop(trashed[wpComment], c)
				}
			}
		case k < 40: // a page, under another or not
			var p int64
			if rng.IntN(2) == 0 && len(live[wpPage]) > 0 {
				p = pick(live[wpPage])
			}
			act("page create")
			v, f := via.call("wp.newPost", 1, user, pw(), map[string]any{"post_type": "page", "post_title": uniq("Page"), "post_content": "page body", "post_status": "publish", "post_parent": p})
			id := xrID(t, "page create", ok(i, "page create", v, f))
			live[wpPage], parent[id] = append(live[wpPage], id), p
			created = append(created, ref{wpPage, id})
		case k < 45: // a page edited
			id := pick(live[wpPage])
			act("page edit", ref{wpPage, id})
			v, f := via.call("wp.editPost", 1, user, pw(), id, map[string]any{"post_content": fmt.Sprintf("page body %d", rng.Int())})
			isTrue(i, "page edit", v, f)
		case k < 50: // a page moved under another (not itself or below it) or to the top
			id := pick(live[wpPage])
			np := int64(-1)
			for _, c := range append([]int64{0}, live[wpPage]...) {
				if c != parent[id] && (c == 0 || !isAncestor(id, c)) && rng.IntN(2) == 0 {
					np = c
					break
				}
			}
			if np < 0 {
				continue
			}
			act("page move", ref{wpPage, id})
			v, f := via.call("wp.editPost", 1, user, pw(), id, map[string]any{"post_parent": np})
			isTrue(i, "page move", v, f)
			parent[id] = np
		case k < 53: // a page to the trash
			id := pick(live[wpPage])
			act("page trash", ref{wpPage, id})
			v, f := via.call("wp.deletePost", 1, user, pw(), id)
			isTrue(i, "page trash", v, f)
			live[wpPage], trashed[wpPage] = drop(live[wpPage], id), append(trashed[wpPage], id)
		case k < 55 && len(trashed[wpPage]) > 0:
			id := pick(trashed[wpPage])
			act("page restore", ref{wpPage, id})
			v, f := via.call("wp.editPost", 1, user, pw(), id, map[string]any{"post_status": "publish"})
			isTrue(i, "page restore", v, f)
			trashed[wpPage], live[wpPage] = drop(trashed[wpPage], id), append(live[wpPage], id)
		case k < 58 && len(trashed[wpPage]) > 0: // a page purged: its children move to its parent
			id := pick(trashed[wpPage])
			refs := []ref{{wpPage, id}}
			for c, p := range parent {
				if p == id && c != id {
					refs = append(refs, ref{wpPage, c})
				}
			}
			act("page purge", refs...)
			v, f := via.call("wp.deletePost", 1, user, pw(), id)
			isTrue(i, "page purge", v, f)
			for _, rf := range refs[1:] {
				parent[rf.id] = parent[id]
			}
			delete(parent, id)
			trashed[wpPage] = drop(trashed[wpPage], id)
		case k < 66: // a comment on a post (published or draft), or a fault where comments are closed
			post := pick(live[wpPost])
			// wp.newPost makes an auto-draft first and updates it, and WordPress closes the
			// comments of an update that does not say: such posts refuse comments.
			_, pr := direct.call(http.MethodGet, fmt.Sprintf("posts/%d?context=edit&_fields=comment_status", post), nil)
			if pr.Get("comment_status").String() == "closed" {
				act("fault comments closed")
				v, f := via.call("wp.newComment", 1, user, pw(), post, map[string]any{"content": "no"})
				fault(i, "comment where closed", 403, v, f)
				break
			}
			act("comment create")
			v, f := via.call("wp.newComment", 1, user, pw(), post, map[string]any{"content": fmt.Sprintf("comment %d", rng.Int())})
			id := xrID(t, "comment create", ok(i, "comment create", v, f))
			live[wpComment], commentPost[id] = append(live[wpComment], id), post
			created = append(created, ref{wpComment, id})
		case k < 70 && len(live[wpComment]) > 0:
			id := pick(live[wpComment])
			act("comment edit", ref{wpComment, id})
			v, f := via.call("wp.editComment", 1, user, pw(), id, map[string]any{"content": fmt.Sprintf("edited %d", rng.Int())})
			isTrue(i, "comment edit", v, f)
		case k < 74 && len(live[wpComment])+len(trashed[wpComment]) > 0: // to the trash, or purged from it
			id := pick(append(slices.Clone(live[wpComment]), trashed[wpComment]...))
			act("comment delete", ref{wpComment, id})
			v, f := via.call("wp.deleteComment", 1, user, pw(), id)
			isTrue(i, "comment delete", v, f)
			if slices.Contains(trashed[wpComment], id) {
				trashed[wpComment] = drop(trashed[wpComment], id)
				delete(commentPost, id)
			} else {
				live[wpComment], trashed[wpComment] = drop(live[wpComment], id), append(trashed[wpComment], id)
			}
		case k < 80: // a tag or category
			kind, tax := wpTag, "post_tag"
			if rng.IntN(3) == 0 {
				kind, tax = wpCategory, "category"
			}
			act(string(kind) + " create")
			v, f := via.call("wp.newTerm", 1, user, pw(), map[string]any{"taxonomy": tax, "name": uniq("label")})
			id := xrID(t, "term create", ok(i, "term create", v, f))
			if kind == wpTag {
				tagIDs = append(tagIDs, id)
			} else {
				catIDs = append(catIDs, id)
			}
			created = append(created, ref{kind, id})
		case k < 82: // a tag that exists already: a fault, no event
			act("fault tag exists")
			v, f := via.call("wp.newTerm", 1, user, pw(), map[string]any{"taxonomy": "post_tag", "name": state.termName(wpTag, pick(tagIDs))})
			fault(i, "tag exists", 0, v, f)
		case k < 86 && len(tagIDs) > 0: // a tag deleted: removed from every post that had it
			id := pick(tagIDs)
			act("tag delete", ref{wpTag, id})
			postsBefore := state.allPosts()
			v, f := via.call("wp.deleteTerm", 1, user, pw(), "post_tag", id)
			isTrue(i, "tag delete", v, f)
			tagIDs = drop(tagIDs, id)
			for pid, b := range postsBefore {
				a := state.get(wpPost, pid)
				if a == nil {
					t.Fatalf("action %d: post %d vanished with a tag", i, pid)
				}
				for _, tg := range setMinus(b.terms, a.terms) {
					record = append(record, "label_removed "+strconv.FormatInt(pid, 10)+"|"+tg)
				}
			}
		case k < 88 && len(tagIDs) > 0: // a tag renamed: no event (as a REST term update)
			id := pick(tagIDs)
			act("tag rename", ref{wpTag, id})
			v, f := via.call("wp.editTerm", 1, user, pw(), id, map[string]any{"taxonomy": "post_tag", "name": uniq("renamed")})
			isTrue(i, "tag rename", v, f)
			delete(state.names, fmt.Sprintf("%s/%d", wpTag, id))
		case k < 96: // a wrong password: a 403 fault, no event, nothing changed
			id := pick(live[wpPost])
			act("fault wrong password", ref{wpPost, id})
			var v any
			var f *xrFault
			switch rng.IntN(5) {
			case 0:
				v, f = via.call("wp.newPost", 1, user, "wrong-password", map[string]any{"post_title": "x"})
			case 1:
				v, f = via.call("wp.editPost", 1, user, "wrong-password", id, map[string]any{"post_content": "x"})
			case 2:
				v, f = via.call("wp.deletePost", 1, user, "wrong-password", id)
			case 3:
				v, f = via.call("metaWeblog.editPost", strconv.FormatInt(id, 10), user, "wrong-password", map[string]any{"description": "x"}, true)
			default:
				v, f = via.call("blogger.deletePost", "", strconv.FormatInt(id, 10), user, "wrong-password", true)
			}
			fault(i, "wrong password", 403, v, f)
		default: // an edit of a post that does not exist: a 404 fault, no event
			act("fault edit missing")
			v, f := via.call("wp.editPost", 1, user, pw(), 999999, map[string]any{"post_content": "x"})
			fault(i, "edit missing", 404, v, f)
		}
		after := snap()
		for _, r := range touched {
			record = append(record, wpRecord(r.kind, r.id, before[r], after[r])...)
		}
		for _, r := range created {
			record = append(record, wpRecord(r.kind, r.id, nil, state.get(r.kind, r.id))...)
		}
	}
	t.Logf("actions by kind: %v", counts)
	got := rcv.settle(notGap(record, wpGaps, wpKey))
	checkReceiver(t, rcv)
	delivered := make([]string, len(got))
	for i, d := range got {
		delivered[i] = wpKey(d)
		if u := d.payload.Get("userKey").String(); u != user {
			t.Errorf("%s: userKey %q, want the XML-RPC user %q", delivered[i], u, user)
		}
		if bytes.Contains([]byte(d.payload.Raw), []byte(passwords[0])) || bytes.Contains([]byte(d.payload.Raw), []byte(passwords[1])) {
			t.Errorf("%s: the payload holds a password: %s", delivered[i], d.payload.Raw)
		}
	}
	tally(t, "wordpress xmlrpc", seed, n, delivered, record, wpGaps)
	t.Logf("wordpress xmlrpc: %v in all (backend start, %d actions, settle)", time.Since(start).Round(time.Millisecond), n)
}
