// Package dispatch delivers hooktap's events to webhooks, with Confluence Data Center's
// delivery contract (same headers, same signature, same circuit breaker) and without its
// weaknesses: nothing accepted is dropped silently, failures are retried, and one bad
// receiver does not slow the others.
//
// A [Dispatcher] is built by [New] (or [NewWithQueue]) from the [dispatch] section and the
// [[webhook]]s of the rules file. [Dispatcher.Enqueue] (a rules.Sink) stores each event in a
// [Queue]; [Dispatcher.Run] fetches deliveries per webhook and POSTs them. The admin API
// reads [Dispatcher.Stats], [Dispatcher.History] and [Dispatcher.Dead], redelivers dead
// letters, reloads webhooks with [Dispatcher.SetHooks] and tests a URL with [Ping].
//
// # Delivery
//
// Each attempt is a POST of the payload bytes ("full" webhooks get the full shape) with
// Content-Type: application/json; charset=utf-8, X-Event-Key, a new UUID v4 X-Request-Id,
// User-Agent: hooktap/<version> (see [WithVersion]), the Standard Webhooks headers webhook-id (the event's [ID],
// the same on every attempt and redelivery) and webhook-timestamp, and, with a secret,
// X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, body)> and webhook-signature:
// v1,<base64 HMAC-SHA256(secret, id.timestamp.body)>. Redirects are not followed. A 2xx is
// success; any other status, a transport error or the timeout is a failure.
//
// Connections to a receiver are kept idle for 4 s, less than common keep-alive timeouts
// (Node.js, Apache: 5 s), so that the client closes them first. When a receiver still
// closes a reused connection as a request goes out (end of file, reset or broken pipe with
// no response byte), the request is sent once more on another connection, within the same
// timeout and as the same attempt: the receiver did not answer, and the webhook-id is the
// same. A failure on a fresh connection is not resent.
//
// A failure feeds the webhook's breaker (the 5th consecutive failure opens it for 10 s, each
// further one for 1.2 times longer, up to 10 h; a success closes it; when a window ends,
// with on_skip = "retry", one delivery goes out as a probe and the others wait for its
// outcome, instead of up to max_in_flight_per_hook at once) and the delivery is
// retried after the next delay of the retry schedule, ±20 % jitter, or kept as a dead
// letter once the schedule is exhausted. 429 and 503 with Retry-After pause the webhook and
// delay the retry at least that long. 410 Gone dead-letters the delivery and deactivates
// the webhook until [Dispatcher.Reactivate] or a reload that changes its URL; its pending
// deliveries are discarded. The client reads at most 4 MiB of a response (a larger one is
// a failure); the delivery log keeps its first 16 KiB.
//
// # Concurrency
//
// New starts nothing. Run owns every goroutine: per active webhook, up to
// max_in_flight_per_hook workers (started on demand), each worker with its own request,
// response, HMAC state and buffers, and each making one attempt at a time. With the memory
// queue the workers fetch for themselves: each waits in Fetch for one delivery, an event
// wakes the one worker that attempts it, a worker that finds backlog goes on without
// parking, and a new worker is started when the last waiting one takes a delivery; while
// the webhook is blocked (breaker open or half-open, Retry-After) one worker at a time
// fetches, so that a window's end lets one probe out. With a durable queue one fetcher per
// webhook fetches and hands deliveries to the workers. A global semaphore of max_in_flight
// slots bounds the attempts in flight; the per-hook cap keeps a slow receiver from taking
// them all. Enqueue,
// SetHooks, Reactivate, Stats, History, Dead and Redeliver are safe for concurrent use with
// Run and with each other. On shutdown Run stops intake, stops fetching, waits for the
// attempts in flight (each bounded by its timeout) and closes the queue.
//
// # Ordering
//
// Deliveries to one webhook are fetched in acceptance order, but up to
// max_in_flight_per_hook are in flight at once and failed ones come back later, so a
// receiver may see events out of order; the payload's timestamp and webhook-id let it
// order and deduplicate. There is no order across webhooks.
//
// # Drop guarantees
//
// Every event or delivery given up without an attempt is counted, by reason, in
// Stats.Drops: queue_full and store_error (Enqueue could not store the event; the error
// goes to the caller unless on_store_error = "pass"), closed (Enqueue before Run opened the
// queue or during shutdown), skipped (on_skip = "drop": the breaker was open, a Retry-After
// pause was on, or no in-flight slot came within 250 ms; the Confluence behaviour),
// unsubscribed (pending deliveries of a webhook that was removed, deactivated or gone), and
// evicted (the memory queue was full and dropped the oldest pending delivery of the webhook
// with the longest backlog, so that one receiver that is down cannot fill it for all).
// With on_skip = "retry" (the default) nothing is skipped: a blocked webhook is not fetched
// from and its backlog waits. Every failed attempt is retried or becomes a dead letter.
// An event that no subscribed webhook wants is no drop: nobody was to get it. Enqueue
// counts it in Stats.NoSubscriber and does not store it (the memory queue and the embedded
// JetStream server, whose subscriptions are all this process's; an external stream gets
// every event, as other instances may have subscribed).
//
// Dead letters do not take room from new events: the memory queue keeps at most
// memory_queue_size of them besides what it holds for delivery, and when a new one would
// exceed that it drops the oldest dead letter of the webhook with the most (dead_evicted),
// so a receiver that rejects everything for days never makes Enqueue fail. A deactivated
// or gone webhook keeps its dead letters; a deleted one's are discarded (dead_deleted),
// since nothing could list or redeliver them any more (see [DeadLetterStore]).
// The memory queue loses what it holds when the process exits; a durable queue keeps it,
// and deliveries in flight at a crash come back with the same webhook-id (at least once).
//
// # Allocation
//
// Enqueue, the memory queue's fan-out, signing, header building and the attempt itself do
// not allocate in the steady state (alloc_test.go): messages and deliveries are recycled,
// each worker reuses one HMAC (Reset, Sum into a fixed buffer) and appends hex, base64,
// timestamps and UUIDs into its own buffers.
package dispatch
