package dispatch

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/valyala/fasthttp"
)

// PingBody is the exact body of a test connection, as Confluence sends it.
const PingBody = `{"test": true}`

// PingResult is what a test connection saw.
type PingResult struct {
	Status   int           // HTTP status; 0 when there was no response
	OK       bool          // reports whether Status is 2xx
	Duration time.Duration // request to response (or error)
	Error    string        // transport error; "" with a response
	Body     string        // the first 1 KiB of the response body
}

// pingBodyExcerpt is how much of a ping's response body PingResult keeps.
const pingBodyExcerpt = 1 << 10

// Ping sends a test connection to url, as Confluence's "Test connection": POST with body
// exactly {"test": true}, Content-Type: application/json, X-Event-Key: diagnostics:ping, a
// new X-Request-Id and User-Agent: hooktap/<Version>; unsigned, no redirects followed. It
// touches no breaker, counter or delivery log. The attempt is bounded by ctx's deadline, or
// by the default timeout (20 s) when ctx has none.
func Ping(ctx context.Context, url string) PingResult {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultTimeout)
	}
	var res PingResult
	if err := ctx.Err(); err != nil {
		res.Error = err.Error()
		return res
	}
	c := &fasthttp.Client{NoDefaultUserAgentHeader: true, MaxResponseBodySize: clientMaxResponseBody}
	defer c.CloseIdleConnections()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.DisableNormalizing()
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI(url)
	req.Header.SetContentType("application/json")
	req.Header.SetUserAgent("hooktap/" + Version)
	req.Header.Set("X-Event-Key", "diagnostics:ping")
	var seed [32]byte
	_, _ = rand.Read(seed[:])
	req.Header.SetBytesV("X-Request-Id", appendUUID(nil, newChaCha(seed)))
	req.SetBodyString(PingBody)
	t0 := time.Now()
	err := c.DoDeadline(req, resp, deadline)
	res.Duration = time.Since(t0)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.Status = resp.StatusCode()
	res.OK = res.Status >= 200 && res.Status < 300
	b := resp.Body()
	if len(b) > pingBodyExcerpt {
		b = b[:pingBodyExcerpt]
	}
	res.Body = string(b)
	return res
}
