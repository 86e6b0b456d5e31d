// Package proxy is hooktap's reverse proxy: a fasthttp server that forwards every request to
// one upstream (a wiki or CMS) through a fasthttp HostClient, as transparently as Go's
// httputil.ReverseProxy, and hands the exchanges that a rule may want to a Tap.
//
// # Usage
//
//	srv, err := proxy.New(cfg.Proxy, classifier, log) // no I/O, no goroutines
//	go srv.Serve(ln)                                   // blocks until Shutdown
//	...
//	srv.Shutdown(ctx)                                  // stop accepting, drain until ctx ends
//
// # Transparency
//
// The request line's path and query go upstream byte for byte (no normalisation, no
// re-encoding), header names keep their case, no User-Agent or Content-Type is invented, and
// multipart bodies are neither parsed nor re-serialised. The client's Host is kept unless host_header is set.
// Hop-by-hop headers (Connection and every header it names, Keep-Alive, Proxy-*, Te, Trailer,
// Transfer-Encoding, Upgrade) are removed in both directions, whatever their case. The
// client's address is appended to X-Forwarded-For (prior values comma-joined);
// X-Forwarded-Proto and X-Forwarded-Host are set when the client did not send them (a TLS
// front that sets them is believed). Every path, /healthz included, goes upstream.
//
// Known differences from httputil.ReverseProxy: interim 1xx responses (100, 103) are not
// relayed (fasthttp's server answers Expect: 100-continue itself), response trailers are
// dropped, a close-delimited upstream body reaches the client chunked, and a tunnelled
// Upgrade is not tapped. Header names keep their case except fasthttp's special ones (Host,
// Content-Type, Content-Length, User-Agent, Transfer-Encoding), which it writes canonically.
//
// # Streaming and memory
//
// Request bodies are streamed to the upstream (Server.StreamRequestBody). Response bodies of
// known length up to 64 KiB are read into fasthttp's pooled buffer; every other body
// (larger, chunked, close-delimited, text/event-stream) is streamed to the client as the
// upstream produces it, each chunk flushed. An Upgrade request (WebSocket) without a body that
// the tap does not want is tunnelled over a hijacked connection; if the upstream refuses it
// (anything but 101), its answer is streamed like any response. Any other request that asks
// to upgrade (a write with "Upgrade: h2c", or one the tap wants) loses its Upgrade header,
// which is hop-by-hop, and is forwarded and tapped as usual. Memory per request is therefore
// bounded by the buffers, whatever the body size.
//
// # Failures and timeouts
//
// An upstream that cannot be dialled within dial_timeout, or that breaks the connection,
// gives 502; one that makes no progress (no byte read or written) for upstream_timeout gives
// 504. Both have a short text/plain body and one log line. A client whose own request body
// cannot be read (malformed chunked framing, abort before its Content-Length, read_timeout)
// gets 400 and a closed connection, counted in Stats.ClientErrors, not against the upstream.
// The upstream timeout is an inactivity timeout, so long downloads and uploads pass as long
// as bytes flow; tunnels have none, and a tunnel closes both ends as soon as either side is
// done. A write reaches the upstream exactly once: only GET and HEAD are retried, once, when
// a pooled connection turns out to be closed before any answer.
//
// # Tap
//
// For each request the proxy calls Tap.Wants(method, path). When it returns false the request
// takes the pass-through path, which allocates nothing in steady state. When it returns true
// the proxy keeps at most tap_body_limit bytes of each body (a streamed body is read up to
// the limit, then forwarded as prefix + rest, so huge bodies still pass intact and the tap
// sees BodyTrunc), calls Before, forwards, calls After with the response, and answers 503
// (text/plain) if After returns an error — the upstream has applied the write by then, and
// the log line says so. After is also called when the round trip failed (Status 502/504, or
// 400 when the client's body broke off past the tap's prefix; no response headers) so the
// tap can release its per-exchange State. Lookups made through Exchange.Upstream are GETs
// with the client's Authorization and Cookie and the Host sent upstream, on a separate small
// connection pool, each bounded by the tap's LookupTimeout when it has one ([classify]
// lookup_timeout for rules.Classifier), else by upstream_timeout; a lookup body over
// tap_body_limit is an error. A streamed text/event-stream response is never read ahead
// for the tap (its RespBody stays empty).
//
// # Concurrency
//
// A Server is safe for concurrent use. Its goroutines are fasthttp's per-connection workers,
// started by Serve, plus two per open tunnel; Shutdown waits for all of them. SetTap swaps the
// tap atomically; a request uses the tap it saw when it started. Stats are atomics, read
// without locks. Everything an Exchange points to belongs to the proxy and is valid only
// during the Before or After call that received it.
package proxy
