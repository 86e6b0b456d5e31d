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

// PingTimeout bounds a test connection, whatever the webhooks' timeout: an operator waits
// for its answer.
const PingTimeout = 10 * time.Second

// Ping sends a test connection to url, as Confluence's "Test connection": POST with body
// exactly {"test": true}, Content-Type: application/json, X-Event-Key: diagnostics:ping, a
// new X-Request-Id and User-Agent: hooktap/dev (a Dispatcher's Ping: its version); unsigned, no redirects followed. It
// touches no breaker, counter or delivery log. The attempt is bounded by ctx's deadline and
// by PingTimeout, whichever comes first. It applies the target policy with an empty
// allow-list; see PingWith.
func Ping(ctx context.Context, url string) PingResult {
	return PingWith(ctx, url, nil)
}

// PingWith is Ping under policy (nil: the policy with an empty allow-list), which is applied
// to url and, at dial time, to every address its host resolves to. A refused target is
// reported in Error, without a request.
func PingWith(ctx context.Context, url string, policy *TargetPolicy) PingResult {
	return ping(ctx, url, policy, defaultUserAgent)
}

// defaultUserAgent is the User-Agent without [WithVersion].
const defaultUserAgent = "hooktap/dev"

func ping(ctx context.Context, url string, policy *TargetPolicy, userAgent string) PingResult {
	deadline := time.Now().Add(PingTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	var res PingResult
	if err := ctx.Err(); err != nil {
		res.Error = err.Error()
		return res
	}
	if err := policy.CheckURL(url); err != nil {
		res.Error = err.Error()
		return res
	}
	c := &fasthttp.Client{NoDefaultUserAgentHeader: true, MaxResponseBodySize: maxResponseBody,
		DialTimeout: policy.dialFunc()}
	defer c.CloseIdleConnections()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.DisableNormalizing()
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI(url)
	req.Header.SetContentType("application/json")
	req.Header.SetUserAgent(userAgent)
	req.Header.Set("X-Event-Key", "diagnostics:ping")
	var seed [32]byte
	_, _ = rand.Read(seed[:])
	req.Header.SetBytesV("X-Request-Id", appendUUID(nil, newChaCha(seed)))
	req.SetBodyString(PingBody)
	t0 := time.Now()
	err := readLimited(c.DoDeadline(req, resp, deadline), resp)
	res.Duration = time.Since(t0)
	if err != nil {
		res.Error = err.Error()
		if isTimeout(err) {
			res.Error = "timeout: " + err.Error()
		}
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
