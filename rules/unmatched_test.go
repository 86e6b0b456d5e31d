package rules

import (
	"strconv"
	"sync"
	"testing"
)

// Real write paths of the backends hooktap fronts (shared/reference/real-backends.md,
// ui-paths.md) and their shapes: ids collapsed, names and titles hidden, routing kept.
func TestAppendRouteShape(t *testing.T) {
	cases := []struct{ path, query, want string }{
		// MediaWiki
		{"/index.php", "title=Main_Page&action=submit", "/index.php?action=submit&title={}"},
		{"/w/index.php", "action=submit&title=Talk%3AMain_Page&wpEditToken=abc%2B%5C", "/w/index.php?action=submit&title={}&wpEditToken={}"},
		{"/index.php", "Main_Page&action=delete", "/index.php?action=delete"},
		{"/w/api.php", "", "/w/api.php"},
		{"/w/rest.php/v1/page/Main_Page", "", "/w/rest.php/v1/page/{}"},
		{"/index.php", "title=Special:Upload&action=%3Cscript%3E", "/index.php?action={}&title={}"},
		// WordPress
		{"/wp-json/wp/v2/posts/12", "", "/wp-json/wp/v2/posts/{id}"},
		{"/", "rest_route=%2Fwp%2Fv2%2Fposts%2F12&_locale=user", "/?_locale={}&rest_route=/wp/v2/posts/{id}"},
		{"/", "rest_route=/wp/v2/users/me&_method=DELETE", "/?_method=DELETE&rest_route=/wp/v2/users/me"},
		{"/wp-admin/post.php", "post=12&action=trash&_wpnonce=8f2a9c1d3e", "/wp-admin/post.php?_wpnonce={}&action=trash&post={}"},
		{"/wp-admin/admin-ajax.php", "", "/wp-admin/admin-ajax.php"},
		// Confluence
		{"/rest/api/content/1001/child/attachment", "", "/rest/api/content/{id}/child/attachment"},
		{"/rest/api/content/att1002", "status=trashed", "/rest/api/content/{id}?status={}"},
		{"/rest/api/space/DS/property", "", "/rest/api/space/{}/property"},
		{"/rest/create-dialog/1.0/content-blueprint/create-draft", "", "/rest/create-dialog/1.0/content-blueprint/create-draft"},
		{"/rest/api/user/watch/content/ff808081000000000000000000000002", "", "/rest/api/user/watch/content/{id}"},
		{"/wiki/api/v2/pages/550e8400-e29b-41d4-a716-446655440000", "", "/wiki/api/v2/pages/{id}"},
		{"/rest/api/content/1001/restriction/byOperation", "", "/rest/api/content/{id}/restriction/byOperation"},
		{"/plugins/servlet/token/eyJhbGciOiJIUzI1NiJ9x1", "", "/plugins/servlet/token/{id}"},
		// TiddlyWiki
		{"/recipes/default/tiddlers/HelloThere", "", "/recipes/default/tiddlers/{}"},
		{"/recipes/default/tiddlers/My%20Tiddler", "", "/recipes/default/tiddlers/{}"},
		{"/bags/default/tiddlers/%24%3A%2FStoryList", "", "/bags/default/tiddlers/{}"},
		// canonical form first: the same route however it is spelled
		{"/rest//api/./content/1001/", "", "/rest/api/content/{id}"},
		{"/rest/api/x/../content;jsessionid=1", "", "/rest/api/content"},
		{"", "", "{}"},
		{"/", "", "/"},
	}
	for _, c := range cases {
		if got := string(AppendRouteShape(nil, []byte(c.path), []byte(c.query))); got != c.want {
			t.Errorf("shape(%q, %q) = %q, want %q", c.path, c.query, got, c.want)
		}
	}
}

func TestRouteShapeBounded(t *testing.T) {
	long := ""
	for range 100 {
		long += "/segment"
	}
	got := AppendRouteShape(nil, []byte(long), nil)
	if len(got) > maxShape+8 || string(got[len(got)-6:]) != "/{...}" {
		t.Errorf("long path: %d bytes, %q", len(got), got)
	}
	q := ""
	for i := range 40 {
		q += "p" + strconv.Itoa(i) + "=1&"
	}
	if got := AppendRouteShape(nil, []byte("/x"), []byte(q)); len(got) > 16*8+8 {
		t.Errorf("many params: %d bytes, %q", len(got), got)
	}
}

func TestUnmatchedTableCountsAndBounds(t *testing.T) {
	tb := newUnmatchedTable()
	tb.record([]byte("POST"), []byte("/rest/api/content/1"), nil, 200, 10)
	tb.record([]byte("POST"), []byte("/rest/api/content/2"), nil, 302, 20)
	tb.record([]byte("POST"), []byte("/rest/api/content/3"), nil, 404, 30) // failed: not a gap
	tb.record([]byte("GET"), []byte("/rest/api/content/3"), nil, 200, 30)  // a read
	tb.record([]byte("OPTIONS"), []byte("/rest/api/content/3"), nil, 200, 30)
	tb.record([]byte("MKCOL"), []byte("/dav/x"), nil, 201, 40)
	rows := tb.snapshot()
	want := []UnmatchedWrite{
		{Method: "OTHER", Route: "/dav/x", Count: 1, LastStatus: 201, LastSeen: 40},
		{Method: "POST", Route: "/rest/api/content/{id}", Count: 2, Count3xx: 1, LastStatus: 302, LastSeen: 20},
	}
	if len(rows) != len(want) || rows[0] != want[0] || rows[1] != want[1] {
		t.Fatalf("rows %+v, want %+v", rows, want)
	}

	tb = newUnmatchedTable()
	for i := range MaxUnmatchedRoutes + 50 {
		tb.record([]byte("PUT"), []byte("/r"+strconv.Itoa(i)+"x/a"), nil, 200, int64(i))
	}
	rows = tb.snapshot()
	if len(rows) != MaxUnmatchedRoutes+1 {
		t.Fatalf("%d rows, want %d and the overflow row", len(rows), MaxUnmatchedRoutes)
	}
	var total uint64
	var over *UnmatchedWrite
	for i := range rows {
		total += rows[i].Count
		if rows[i].Route == UnmatchedOverflow {
			over = &rows[i]
		}
	}
	if over == nil || over.Count != 50 || over.Method != "PUT" || total != MaxUnmatchedRoutes+50 {
		t.Fatalf("overflow %+v, total %d", over, total)
	}
}

// Concurrent counting (run with -race): every write is counted once.
func TestUnmatchedTableConcurrent(t *testing.T) {
	tb := newUnmatchedTable()
	var wg sync.WaitGroup
	const workers, each = 8, 500
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				tb.record([]byte("POST"), []byte("/a/"+strconv.Itoa(w)+"/b"+strconv.Itoa(i%300)), nil, 200, int64(i))
				if i%100 == 0 {
					tb.snapshot()
				}
			}
		}()
	}
	wg.Wait()
	var total uint64
	for _, r := range tb.snapshot() {
		total += r.Count
	}
	if total != workers*each {
		t.Fatalf("counted %d, want %d", total, workers*each)
	}
}
