package wiki_test

import (
	"encoding/base64"
	"strconv"
	"testing"

	"hooktap/wiki"

	"github.com/valyala/fasthttp"
)

// BenchmarkCreatePage measures the sample wiki's handler alone on its most common write, so
// that a benchmark using it as the upstream knows what the upstream costs. Creates stay cheap
// however many pages exist (titles and positions are indexed).
func BenchmarkCreatePage(b *testing.B) {
	w := wiki.New()
	h := w.Handler()
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:admin"))
	var ctx fasthttp.RequestCtx
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		var req fasthttp.Request
		req.Header.SetMethod("POST")
		req.SetRequestURI("http://wiki.local/rest/api/content")
		req.Header.Set("Authorization", auth)
		req.Header.SetContentType("application/json")
		req.SetBodyString(`{"type":"page","title":"Page ` + strconv.Itoa(i) + `","space":{"key":"DS"},"ancestors":[{"id":"1001"}]}`)
		ctx.Init(&req, nil, nil)
		h(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
}
