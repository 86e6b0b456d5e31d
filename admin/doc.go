// Package admin is hooktap's admin listener: a REST API for webhooks shaped like Confluence
// Data Center's /rest/api/webhooks, Prometheus metrics, health and readiness probes, and a
// web page for people.
//
// # Endpoints
//
//	GET    /rest/api/webhooks?event=&statistics=&start=&limit=   list (Confluence RestList shape)
//	POST   /rest/api/webhooks                                   create (201)
//	GET    /rest/api/webhooks/{id}?statistics=                  one webhook
//	PUT    /rest/api/webhooks/{id}                              update (same body as create)
//	DELETE /rest/api/webhooks/{id}                              delete (204)
//	POST   /rest/api/webhooks/test?url=                         test connection
//	POST   /rest/api/webhooks/secret                            a new whsec_ secret, shown once (hooktap's own)
//	GET    /rest/api/webhooks/{id}/latest?event=&outcome=       recent attempts, newest first
//	GET    /rest/api/webhooks/{id}/statistics                   counts, breaker, last outcomes
//	GET    /rest/api/webhooks/{id}/dead                         dead deliveries (hooktap's own)
//	POST   /rest/api/webhooks/{id}/dead/{deliveryId}/redeliver  redeliver one (hooktap's own)
//	POST   /rest/api/webhooks/{id}/dead/redeliver               redeliver all (hooktap's own)
//	POST   /rest/api/webhooks/{id}/reactivate                   turn on after a 410 Gone (hooktap's own)
//	GET    /metrics                                             Prometheus text format
//	GET    /healthz                                             200 while the process runs
//	GET    /readyz                                              200 when every check passes, else 503
//	GET    /                                                    the web page
//
// The create and update body is Confluence's:
//
//	{"name":"chat","url":"https://chat.example/hook","events":["page_created"],
//	 "configuration":{"secret":"s3cret"},"active":true}
//
// plus hooktap's optional "payload": "full" and configuration.previousSecret (the secret being
// rotated out; reads show only hasSecret and hasPreviousSecret). On update, a missing
// configuration.secret or previousSecret keeps it and a missing active keeps the switch. Errors are 4xx answers of the shape
// {"errors":[{"field":"url","message":"..."}]}, every problem of a body at once.
//
// # Webhooks and ids
//
// The merged set is the rules file's webhooks (listed with "source":"file", read-only: a
// change is refused with 403) plus those made through the API ("source":"api"). Ids are
// numbers, kept in the store with the API's webhooks so that a file webhook keeps its id
// across restarts. Names are unique across both. The dispatcher knows a file webhook by its
// name and an API-made one as "api-<id>", so renaming the latter keeps its breaker, counters,
// delivery log and dead letters. Each change is pushed to the dispatcher at
// once and written to the store (admin-webhooks.json in the data directory, mode 0600,
// written to a temporary file, synced and renamed); if the write fails, the dispatcher gets
// the old set back and the change is refused.
//
// # Security
//
// Reads need no token; the listener defaults to loopback. Unlike Confluence, loopback and
// private receiver addresses are allowed: a sidecar's receivers are often local. Every write (create, update,
// delete, test connection, redeliver, reactivate) needs the admin token, as "Authorization: Bearer
// <token>" or as the password of Basic authentication, compared in constant time. With no
// token configured the API is read-only and writes get 403. Secrets are write-only: no answer
// and no log line holds one; answers say "hasSecret". Test connection reaches any http(s) URL
// the admin names, which is why it is a write.
//
// # Concurrency
//
// Handlers run concurrently. Writes are serialised by one mutex, held while the new set is
// persisted and then pushed to the dispatcher, so the dispatcher and the store see changes in
// the same order. Persisting comes first: a change the store cannot keep never reaches the
// dispatcher (which would unsubscribe a removed webhook at once, discarding its pending
// deliveries), and one the dispatcher refuses is taken back from the store. Reads take a
// snapshot of the set and call the dispatcher's readers without the lock. The Server starts
// goroutines only in Serve (net/http's, one per connection) and in /readyz (one per check,
// joined before the answer); Shutdown waits for requests in progress.
package admin
