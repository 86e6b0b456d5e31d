package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"hooktap/dispatch"
	"hooktap/rules"
)

// Limits on what the API accepts.
const (
	maxBody        = 1 << 20 // request body
	maxSecretRunes = 255     // Confluence's limit
	maxNameRunes   = 255
	maxURLLen      = 2000 // Confluence's limit
	defaultLimit   = 100
	maxLimit       = 1000
	excerptLen     = 2048 // response bytes shown per attempt
	pingTimeout    = dispatch.PingTimeout
)

// hookInput is the body of POST and PUT /rest/api/webhooks, Confluence's shape:
// {"name":"…","events":["page_created"],"configuration":{"secret":"…"},"url":"http://…","active":true}.
// Unknown fields are ignored, as clients written for Confluence may send scopeType and the like.
type hookInput struct {
	Name          *string           `json:"name"`
	URL           *string           `json:"url"`
	Events        []string          `json:"events"`
	Active        *bool             `json:"active"`
	Configuration map[string]string `json:"configuration"`
	Payload       *string           `json:"payload"` // hooktap's own: "id" (default) or "full"
}

// hookView is a webhook in answers: Confluence's RestWebhook plus hooktap's fields. It never
// holds the secret.
type hookView struct {
	ID            int64             `json:"id"`
	Name          string            `json:"name"`
	CreatedDate   int64             `json:"createdDate"`
	UpdatedDate   int64             `json:"updatedDate"`
	Events        []string          `json:"events"`
	Configuration map[string]string `json:"configuration"`
	URL           string            `json:"url"`
	Active        bool              `json:"active"`
	ScopeType     string            `json:"scopeType"`
	SSLVerify     bool              `json:"sslVerificationRequired"`
	Payload       string            `json:"payload"`
	HasSecret     bool              `json:"hasSecret"`
	// HasPreviousSecret says a previous secret (rotation) is set; the secret itself never shows.
	HasPreviousSecret bool       `json:"hasPreviousSecret"`
	Source            string     `json:"source"` // "file" or "api"
	ReadOnly          bool       `json:"readOnly"`
	Statistics        *statsView `json:"statistics,omitempty"`
}

// statsView is a webhook's statistics and health.
type statsView struct {
	// Counts are the dispatcher's counters: delivered, failed, retried, dead, skipped.
	Counts map[string]uint64 `json:"counts"`
	// Failures counts failed attempts by reason (status_5xx, timeout, connection, ...).
	FailureReasons map[string]uint64 `json:"failureReasons"`
	Breaker        string            `json:"breaker"` // "closed" or "open"
	OpenUntil      int64             `json:"openUntil,omitempty"`
	Failures       int               `json:"failures"` // consecutive
	BreakerOpens   uint64            `json:"breakerOpens"`
	Gone           bool              `json:"gone"` // turned off by a 410 Gone
	PausedUntil    int64             `json:"pausedUntil,omitempty"`
	InFlight       int               `json:"inFlight"`
	Pending        int               `json:"pending"`
	Dead           int               `json:"dead"`
	LastDelivery   int64             `json:"lastDelivery,omitempty"`
	LastStatus     int               `json:"lastStatus,omitempty"`
	LastSuccess    *attemptView      `json:"lastSuccess"`
	LastFailure    *attemptView      `json:"lastFailure"`
	LastError      *attemptView      `json:"lastError"`
}

// attemptView is one delivery attempt in answers.
type attemptView struct {
	Time       int64  `json:"time"`
	Event      string `json:"event"`
	DeliveryID string `json:"deliveryId"`
	Attempt    int    `json:"attempt"`
	StatusCode int    `json:"statusCode"`
	Duration   int64  `json:"durationMillis"`
	// Result is Confluence's outcome: success (2xx), failure (another status) or error (no
	// response). Outcome is the dispatcher's finer one: delivered, status_5xx, timeout, ...
	Result       string `json:"result"`
	Outcome      string `json:"outcome"`
	Error        string `json:"error,omitempty"`
	ResponseBody string `json:"responseBody"`
}

// deadView is one dead delivery in answers.
type deadView struct {
	ID       string `json:"id"`
	Event    string `json:"event"`
	Time     int64  `json:"time"`     // the event's time
	Accepted int64  `json:"accepted"` // when hooktap accepted it
	Died     int64  `json:"died"`     // when it was given up
	Attempts int    `json:"attempts"`
	Reason   string `json:"reason"`
}

// restList is Confluence's RestList shape.
type restList[T any] struct {
	Results []T               `json:"results"`
	Start   int               `json:"start"`
	Limit   int               `json:"limit"`
	Size    int               `json:"size"`
	Links   map[string]string `json:"_links"`
}

// sortHooks orders hooks by id.
func sortHooks(hooks []*hook) {
	slices.SortFunc(hooks, func(a, b *hook) int { return int(a.ID - b.ID) })
}

// view builds h's answer; withStats adds its statistics.
func (s *Server) view(ctx context.Context, h *hook, withStats bool) hookView {
	v := hookView{
		ID: h.ID, Name: h.Name, CreatedDate: h.Created, UpdatedDate: h.Updated,
		Events: h.Events, Configuration: map[string]string{}, URL: redactURL(h.URL), Active: h.Active,
		ScopeType: "global", SSLVerify: true, Payload: h.Payload, HasSecret: h.Secret != "" || h.file.SecretEnv != "",
		HasPreviousSecret: h.PreviousSecret != "" || h.file.PreviousSecret != "" || h.file.PreviousSecretEnv != "",
		Source:            "api", ReadOnly: h.File,
	}
	if v.Events == nil {
		v.Events = []string{}
	}
	if v.Payload == "" {
		v.Payload = "id"
	}
	if h.File {
		v.Source = "file"
	}
	if withStats {
		v.Statistics = s.statsFor(h, s.stats(ctx))
	}
	return v
}

// stats returns the dispatcher's snapshot; a failure to read the queue's depth is logged
// and the rest is used.
func (s *Server) stats(ctx context.Context) dispatch.Stats {
	st, err := s.deps.Dispatcher.Stats(ctx)
	if err != nil {
		s.log.Warn("admin: reading dispatcher stats", "err", err)
	}
	return st
}

// hookStats finds webhook id in a snapshot.
func hookStats(st dispatch.Stats, id string) dispatch.HookStats {
	for _, hs := range st.Hooks {
		if hs.ID == id {
			return hs
		}
	}
	return dispatch.HookStats{}
}

// statsFor builds h's statistics from a snapshot and its delivery log.
func (s *Server) statsFor(h *hook, st dispatch.Stats) *statsView {
	hs := hookStats(st, h.dispID)
	sv := &statsView{
		Counts: map[string]uint64{
			"delivered": hs.Delivered, "failed": hs.Failed, "retried": hs.Retried, "dead": hs.Dead, "skipped": hs.Skipped,
		},
		FailureReasons: map[string]uint64{},
		Breaker:        "closed", Failures: hs.Breaker.Failures, BreakerOpens: hs.Breaker.Opens,
		Gone: hs.Gone, PausedUntil: ms(hs.PausedUntil), InFlight: hs.InFlight,
		Pending: hs.Depth.Pending + hs.Depth.Fetched, Dead: hs.Depth.Dead,
	}
	for k, n := range hs.Failures {
		sv.FailureReasons[k] = n
	}
	if hs.Breaker.Open {
		sv.Breaker = "open"
		sv.OpenUntil = ms(hs.Breaker.Until)
	}
	hist, _ := s.deps.Dispatcher.History(h.dispID) // newest first; unknown id: none
	if len(hist) > 0 {
		sv.LastDelivery, sv.LastStatus = ms(hist[0].Time), hist[0].Status
	}
	for i := range hist {
		av := s.viewAttempt(&hist[i])
		var slot **attemptView
		switch av.Result {
		case "success":
			slot = &sv.LastSuccess
		case "failure":
			slot = &sv.LastFailure
		default:
			slot = &sv.LastError
		}
		if *slot == nil {
			*slot = &av
		}
	}
	return sv
}

// ms is t in Unix milliseconds; 0 for the zero time.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// result is Confluence's outcome of an attempt.
func result(a *dispatch.Attempt) string {
	switch {
	case a.Status >= 200 && a.Status < 300:
		return "success"
	case a.Status != 0:
		return "failure"
	default:
		return "error"
	}
}

// viewAttempt builds an attempt's answer, with the start of the response as valid UTF-8;
// a reader without a token (possible only when none is set) sees none of the response.
func (s *Server) viewAttempt(a *dispatch.Attempt) attemptView {
	v := attemptView{
		Time: ms(a.Time), Event: a.Event, DeliveryID: a.ID.String(), Attempt: a.Attempt, StatusCode: a.Status,
		Duration: a.Duration.Milliseconds(), Result: result(a), Outcome: a.Outcome, Error: a.Error,
	}
	if !s.anonymous() {
		v.ResponseBody = excerpt(a.Body)
	}
	return v
}

// redactURL is how answers show a webhook URL: receivers' URLs often carry a token, so the
// userinfo and every query value become "***" (the names stay, to tell URLs apart). An
// update that sends the redacted form back keeps the stored URL (see updateHook).
func redactURL(raw string) string { return dispatch.RedactURL(raw) }

// excerpt returns the first excerptLen bytes of b as valid UTF-8.
func excerpt(b []byte) string {
	if len(b) > excerptLen {
		b = b[:excerptLen]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// pageParams reads start and limit.
func pageParams(q url.Values) (start, limit int, errs []fieldError) {
	start, limit = 0, defaultLimit
	if v := q.Get("start"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, fieldError{Field: "start", Message: "start must be a number >= 0"})
		}
		start = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			errs = append(errs, fieldError{Field: "limit", Message: "limit must be a number >= 1"})
		}
		limit = min(n, maxLimit)
	}
	return start, limit, errs
}

// page cuts items to [start, start+limit) and wraps them in a RestList.
func page[T any](r *http.Request, items []T, start, limit int) restList[T] {
	out := restList[T]{Start: start, Limit: limit, Links: map[string]string{"self": r.URL.Path, "base": "", "context": ""}}
	if start < len(items) {
		items = items[start:]
	} else {
		items = nil
	}
	if len(items) > limit {
		q := r.URL.Query()
		q.Set("start", strconv.Itoa(start+limit))
		q.Set("limit", strconv.Itoa(limit))
		out.Links["next"] = r.URL.Path + "?" + q.Encode()
		items = items[:limit]
	}
	if items == nil {
		items = []T{}
	}
	out.Results, out.Size = items, len(items)
	return out
}

// snapshot returns the merged set as it stands.
func (s *Server) snapshot() []*hook {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.hooks)
}

// lookup finds the webhook named by the path's {id}, or answers 400/404 and returns nil.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request) *hook {
	raw := r.PathValue("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id < 1 {
		writeErrors(w, http.StatusBadRequest, fieldError{Field: "id", Message: "webhook id must be a positive number, got " + strconv.Quote(raw)})
		return nil
	}
	for _, h := range s.snapshot() {
		if h.ID == id {
			return h
		}
	}
	writeErrors(w, http.StatusNotFound, fieldError{Field: "id", Message: "no webhook with id " + raw})
	return nil
}

// boolParam reads a true/false query parameter.
func boolParam(q url.Values, name string) bool {
	b, _ := strconv.ParseBool(q.Get(name))
	return b
}

// listHooks answers GET /rest/api/webhooks?event=&statistics=&start=&limit=.
func (s *Server) listHooks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	start, limit, errs := pageParams(q)
	ev := q.Get("event")
	if ev != "" && !s.eventOK[ev] {
		errs = append(errs, fieldError{Field: "event", Message: "unknown event " + strconv.Quote(ev)})
	}
	if len(errs) > 0 {
		writeErrors(w, http.StatusBadRequest, errs...)
		return
	}
	withStats := boolParam(q, "statistics")
	var st dispatch.Stats
	if withStats {
		st = s.stats(r.Context())
	}
	var views []hookView
	for _, h := range s.snapshot() {
		if ev != "" && !slices.Contains(h.Events, ev) && !slices.Contains(h.Events, "*") {
			continue
		}
		v := s.view(r.Context(), h, false)
		if withStats {
			v.Statistics = s.statsFor(h, st)
		}
		views = append(views, v)
	}
	writeJSON(w, http.StatusOK, page(r, views, start, limit))
}

// getHook answers GET /rest/api/webhooks/{id}?statistics=.
func (s *Server) getHook(w http.ResponseWriter, r *http.Request) {
	h := s.lookup(w, r)
	if h == nil {
		return
	}
	writeJSON(w, http.StatusOK, s.view(r.Context(), h, boolParam(r.URL.Query(), "statistics")))
}

// decodeInput reads a create or update body.
func decodeInput(r *http.Request) (hookInput, []fieldError) {
	var in hookInput
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return in, []fieldError{{Field: "body", Message: "reading the body: " + err.Error()}}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&in); err != nil {
		return in, []fieldError{{Field: "body", Message: "the body is not a JSON webhook object: " + err.Error()}}
	}
	// More is false before a stray '}' or ']', so ask for the next token: only EOF is clean.
	if _, err := dec.Token(); err != io.EOF {
		return in, []fieldError{{Field: "body", Message: "the body holds more than one JSON value"}}
	}
	return in, nil
}

// validate checks in for a create or a full update, collecting every error.
func (s *Server) validate(in hookInput) []fieldError {
	var errs []fieldError
	switch {
	case in.Name == nil || strings.TrimSpace(*in.Name) == "":
		errs = append(errs, fieldError{Field: "name", Message: "name is required"})
	case utf8.RuneCountInString(*in.Name) > maxNameRunes:
		errs = append(errs, fieldError{Field: "name", Message: "name is longer than 255 characters"})
	case rules.HasControl(*in.Name):
		errs = append(errs, fieldError{Field: "name", Message: "name holds a control character"})
	}
	if in.URL == nil || *in.URL == "" {
		errs = append(errs, fieldError{Field: "url", Message: "url is required"})
	} else if msg := checkURL(*in.URL); msg != "" {
		errs = append(errs, fieldError{Field: "url", Message: msg})
	} else if msg := s.checkTarget(*in.URL); msg != "" {
		errs = append(errs, fieldError{Field: "url", Message: msg})
	}
	errs = append(errs, s.checkEvents(in.Events)...)
	for k, v := range in.Configuration {
		switch k {
		case "secret", "previousSecret":
			errs = append(errs, checkSecret("configuration."+k, k, v)...)
		default:
			errs = append(errs, fieldError{Field: "configuration." + k, Message: "unknown configuration key " + strconv.Quote(k) + "; only secret and previousSecret are known"})
		}
	}
	if in.Payload != nil && *in.Payload != "" && *in.Payload != "id" && *in.Payload != "full" {
		errs = append(errs, fieldError{Field: "payload", Message: `payload must be "id" or "full"`})
	}
	return errs
}

// checkEvents checks a webhook's events: non-empty, no longer than every event once
// (rules.MaxWebhookEvents), known names (of this server's list) or a lone "*", none twice.
// It reports at most a few mistakes, so that a huge list gets a short answer.
func (s *Server) checkEvents(events []string) []fieldError {
	bad := func(msg string) fieldError { return fieldError{Field: "events", Message: msg} }
	switch {
	case len(events) == 0:
		return []fieldError{bad(`events is required: one or more event names, or ["*"]`)}
	case len(events) > rules.MaxWebhookEvents:
		return []fieldError{bad("events lists " + strconv.Itoa(len(events)) + " names, more than there are events; use [\"*\"] for all")}
	}
	var errs []fieldError
	seen := make(map[string]bool, len(events))
	for _, e := range events {
		switch {
		case e == "*" && len(events) == 1:
		case e == "*":
			errs = append(errs, bad(`"*" (every event) must be the only name in events`))
		case !s.eventOK[e]:
			errs = append(errs, bad("unknown event "+strconv.QuoteToASCII(e)))
		case seen[e]:
			errs = append(errs, bad("event "+strconv.Quote(e)+" is listed twice"))
		}
		seen[e] = true
		if len(errs) >= 8 {
			break
		}
	}
	return errs
}

// urlHost returns the scheme and host of a webhook URL, for logs: receivers' URLs often
// carry a token in their path or query, which must not be logged.
func urlHost(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "?"
	}
	return p.Scheme + "://" + p.Host
}

// checkURL returns why u cannot be a webhook URL, or "".
func checkURL(u string) string {
	if len(u) > maxURLLen {
		return "url is longer than 2000 characters"
	}
	if rules.HasControl(u) {
		return "url holds a control character"
	}
	p, err := url.Parse(u)
	if err != nil {
		return "url does not parse: " + err.Error()
	}
	if p.Scheme != "http" && p.Scheme != "https" {
		return "url must be http or https, got " + strconv.Quote(u)
	}
	if p.Host == "" || p.Hostname() == "" {
		return "url has no host"
	}
	if p.User != nil {
		return "url must not hold credentials; use the secret"
	}
	return ""
}

// createHook answers POST /rest/api/webhooks.
func (s *Server) createHook(w http.ResponseWriter, r *http.Request) {
	in, errs := decodeInput(r)
	if errs == nil {
		errs = s.validate(in)
	}
	if errs != nil {
		writeErrors(w, http.StatusBadRequest, errs...)
		return
	}
	now := s.now().UnixMilli()
	s.mu.Lock()
	defer s.mu.Unlock()
	if taken := s.nameTakenLocked(*in.Name, 0); taken != "" {
		writeErrors(w, http.StatusConflict, fieldError{Field: "name", Message: taken})
		return
	}
	doc := s.cloneDocLocked()
	sh := storedHook{ID: doc.NextID, Created: now, Updated: now}
	doc.NextID++
	fill(&sh, in, true)
	if e := checkRotation(&sh); e != nil {
		writeErrors(w, http.StatusBadRequest, *e)
		return
	}
	doc.Webhooks = append(doc.Webhooks, sh)
	if !s.applyLocked(w, doc) {
		return
	}
	s.log.Info("admin: webhook created", "id", sh.ID, "name", sh.Name, "host", urlHost(sh.URL))
	for _, h := range s.hooks {
		if h.ID == sh.ID {
			w.Header().Set("Location", "/rest/api/webhooks/"+strconv.FormatInt(sh.ID, 10))
			writeJSON(w, http.StatusCreated, s.view(r.Context(), h, false))
			return
		}
	}
}

// updateHook answers PUT /rest/api/webhooks/{id}. The body is the same as for a create; a
// missing configuration.secret keeps the secret, an empty one removes it; a missing active
// keeps the switch.
func (s *Server) updateHook(w http.ResponseWriter, r *http.Request) {
	h := s.lookup(w, r)
	if h == nil {
		return
	}
	if h.File {
		writeReadOnly(w, h)
		return
	}
	in, errs := decodeInput(r)
	if errs == nil {
		errs = s.validate(in)
	}
	if errs != nil {
		writeErrors(w, http.StatusBadRequest, errs...)
		return
	}
	now := s.now().UnixMilli()
	s.mu.Lock()
	defer s.mu.Unlock()
	if taken := s.nameTakenLocked(*in.Name, h.ID); taken != "" {
		writeErrors(w, http.StatusConflict, fieldError{Field: "name", Message: taken})
		return
	}
	doc := s.cloneDocLocked()
	i := slices.IndexFunc(doc.Webhooks, func(sh storedHook) bool { return sh.ID == h.ID })
	if i < 0 { // deleted meanwhile
		writeErrors(w, http.StatusNotFound, fieldError{Field: "id", Message: "no webhook with id " + strconv.FormatInt(h.ID, 10)})
		return
	}
	if old := doc.Webhooks[i].URL; *in.URL == redactURL(old) {
		in.URL = &old // the client sent back what it was shown: the URL is unchanged
	}
	fill(&doc.Webhooks[i], in, false)
	if e := checkRotation(&doc.Webhooks[i]); e != nil {
		writeErrors(w, http.StatusBadRequest, *e)
		return
	}
	doc.Webhooks[i].Updated = now
	if !s.applyLocked(w, doc) {
		return
	}
	s.log.Info("admin: webhook updated", "id", h.ID, "name", *in.Name, "host", urlHost(*in.URL))
	for _, nh := range s.hooks {
		if nh.ID == h.ID {
			writeJSON(w, http.StatusOK, s.view(r.Context(), nh, false))
			return
		}
	}
}

// deleteHook answers DELETE /rest/api/webhooks/{id} with 204.
func (s *Server) deleteHook(w http.ResponseWriter, r *http.Request) {
	h := s.lookup(w, r)
	if h == nil {
		return
	}
	if h.File {
		writeReadOnly(w, h)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	doc := s.cloneDocLocked()
	n := len(doc.Webhooks)
	doc.Webhooks = slices.DeleteFunc(doc.Webhooks, func(sh storedHook) bool { return sh.ID == h.ID })
	if len(doc.Webhooks) == n {
		writeErrors(w, http.StatusNotFound, fieldError{Field: "id", Message: "no webhook with id " + strconv.FormatInt(h.ID, 10)})
		return
	}
	if !s.applyLocked(w, doc) {
		return
	}
	s.log.Info("admin: webhook deleted", "id", h.ID, "name", h.Name)
	w.WriteHeader(http.StatusNoContent)
}

// writeReadOnly refuses a change to a rules file webhook.
func writeReadOnly(w http.ResponseWriter, h *hook) {
	writeErrors(w, http.StatusForbidden, fieldError{Field: "id",
		Message: "webhook " + strconv.FormatInt(h.ID, 10) + " (" + strconv.Quote(h.Name) + ") comes from the rules file and is read-only; edit the file and reload"})
}

// fill copies in onto sh; a missing secret keeps the old one, a missing active keeps the
// switch (on for a new webhook).
func fill(sh *storedHook, in hookInput, isNew bool) {
	sh.Name = strings.TrimSpace(*in.Name)
	sh.URL = *in.URL
	sh.Events = slices.Clone(in.Events)
	if sec, ok := in.Configuration["secret"]; ok {
		sh.Secret = sec
	}
	if prev, ok := in.Configuration["previousSecret"]; ok {
		sh.PreviousSecret = prev
	}
	switch {
	case in.Active != nil:
		sh.Active = *in.Active
	case isNew:
		sh.Active = true
	}
	sh.Payload = ""
	if in.Payload != nil && *in.Payload == "full" {
		sh.Payload = "full"
	}
}

// nameTakenLocked returns why name cannot be used by webhook self (0 for a new one), or "".
func (s *Server) nameTakenLocked(name string, self int64) string {
	name = strings.TrimSpace(name)
	for _, h := range s.hooks {
		if h.Name == name && h.ID != self {
			return "webhook " + strconv.FormatInt(h.ID, 10) + " already has the name " + strconv.Quote(name)
		}
	}
	return ""
}

// cloneDocLocked returns a copy of the store document that a write may change.
func (s *Server) cloneDocLocked() storeDoc {
	doc := s.doc
	doc.Webhooks = slices.Clone(s.doc.Webhooks)
	return doc
}

// applyLocked makes doc the new state: it persists doc, then pushes the merged set to the
// dispatcher; if the dispatcher refuses it, it writes the previous document back. Saving
// first matters: the dispatcher acts at once (a removed or deactivated webhook loses its
// pending deliveries, and a webhook put back only gets new events), so a change that cannot
// be kept must not reach it. On failure it answers the request and returns false, and
// neither the dispatcher nor the store has changed (unless restoring the file failed too,
// which is logged and said).
func (s *Server) applyLocked(w http.ResponseWriter, doc storeDoc) bool {
	hooks, doc, _, err := s.mergeLocked(doc, s.deps.Webhooks)
	if err != nil {
		writeErrors(w, http.StatusConflict, fieldError{Field: "name", Message: err.Error()})
		return false
	}
	if err := s.store.save(doc); err != nil {
		s.log.Error("admin: saving webhooks", "err", err)
		writeErrors(w, http.StatusInternalServerError, fieldError{Message: "saving the webhooks failed; nothing changed"})
		return false
	}
	if err := s.deps.Dispatcher.SetHooks(flatten(hooks)); err != nil {
		msg := "the dispatcher refused the webhooks: " + err.Error() + "; nothing changed"
		if err2 := s.store.save(s.doc); err2 != nil {
			s.log.Error("admin: restoring the webhook store", "err", err2)
			msg = "the dispatcher refused the webhooks: " + err.Error() + "; the store now holds the refused change and restoring it failed (see the log): it applies at the next start"
		}
		writeErrors(w, http.StatusInternalServerError, fieldError{Message: msg})
		return false
	}
	s.hooks, s.doc = hooks, doc
	return true
}

// pingView is the answer to a test connection.
type pingView struct {
	URL        string `json:"url"`
	Success    bool   `json:"success"`
	StatusCode int    `json:"statusCode"`
	Duration   int64  `json:"durationMillis"`
	Error      string `json:"error,omitempty"`
	Body       string `json:"responseBody"`
}

// testHook answers POST /rest/api/webhooks/test?url=: the test connection.
func (s *Server) testHook(w http.ResponseWriter, r *http.Request) {
	u := r.URL.Query().Get("url")
	if u == "" {
		writeErrors(w, http.StatusBadRequest, fieldError{Field: "url", Message: "url is required: POST /rest/api/webhooks/test?url=<url>"})
		return
	}
	if msg := checkURL(u); msg != "" {
		writeErrors(w, http.StatusBadRequest, fieldError{Field: "url", Message: msg})
		return
	}
	if msg := s.checkTarget(u); msg != "" {
		writeErrors(w, http.StatusBadRequest, fieldError{Field: "url", Message: msg})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), pingTimeout)
	defer cancel()
	res := s.deps.Ping(ctx, u)
	writeJSON(w, http.StatusOK, pingView{
		URL: u, Success: res.OK, StatusCode: res.Status,
		Duration: res.Duration.Milliseconds(), Error: res.Error, Body: excerpt([]byte(res.Body)),
	})
}

// outcomes are the values ?outcome= takes: Confluence's results and the dispatcher's outcomes.
var outcomes = []string{
	"success", "failure", "error",
	"delivered", "status_4xx", "status_5xx", "status_other", "throttled", "gone", "timeout", "connection", "refused",
}

// latest answers GET /rest/api/webhooks/{id}/latest?event=&outcome=&start=&limit=: recent
// attempts, newest first.
func (s *Server) latest(w http.ResponseWriter, r *http.Request) {
	h := s.lookup(w, r)
	if h == nil {
		return
	}
	q := r.URL.Query()
	start, limit, errs := pageParams(q)
	ev, outcome := q.Get("event"), q.Get("outcome")
	if ev != "" && !s.eventOK[ev] {
		errs = append(errs, fieldError{Field: "event", Message: "unknown event " + strconv.Quote(ev)})
	}
	if outcome != "" && !slices.Contains(outcomes, outcome) {
		errs = append(errs, fieldError{Field: "outcome", Message: "outcome must be one of " + strings.Join(outcomes, ", ")})
	}
	if len(errs) > 0 {
		writeErrors(w, http.StatusBadRequest, errs...)
		return
	}
	hist, _ := s.deps.Dispatcher.History(h.dispID) // unknown to the dispatcher: no attempts yet
	views := make([]attemptView, 0, len(hist))
	for i := range hist {
		v := s.viewAttempt(&hist[i])
		if (ev != "" && v.Event != ev) || (outcome != "" && v.Result != outcome && v.Outcome != outcome) {
			continue
		}
		views = append(views, v)
	}
	writeJSON(w, http.StatusOK, page(r, views, start, limit))
}

// statistics answers GET /rest/api/webhooks/{id}/statistics.
func (s *Server) statistics(w http.ResponseWriter, r *http.Request) {
	h := s.lookup(w, r)
	if h == nil {
		return
	}
	writeJSON(w, http.StatusOK, s.statsFor(h, s.stats(r.Context())))
}

// dead answers GET /rest/api/webhooks/{id}/dead: dead deliveries, oldest first.
func (s *Server) dead(w http.ResponseWriter, r *http.Request) {
	h := s.lookup(w, r)
	if h == nil {
		return
	}
	start, limit, errs := pageParams(r.URL.Query())
	if len(errs) > 0 {
		writeErrors(w, http.StatusBadRequest, errs...)
		return
	}
	dead, err := s.deps.Dispatcher.Dead(r.Context(), h.dispID, 0)
	if err != nil && !errors.Is(err, dispatch.ErrNotFound) {
		s.log.Error("admin: listing dead deliveries", "webhook", h.Name, "err", err)
		writeErrors(w, http.StatusInternalServerError, fieldError{Message: "listing dead deliveries failed: " + err.Error()})
		return
	}
	views := make([]deadView, 0, len(dead))
	for _, d := range dead {
		views = append(views, deadView{
			ID: d.ID.String(), Event: d.Event, Time: d.Time, Accepted: ms(d.Accepted), Died: ms(d.Died),
			Attempts: d.Attempts, Reason: d.Reason,
		})
	}
	writeJSON(w, http.StatusOK, page(r, views, start, limit))
}

// redeliverOne answers POST /rest/api/webhooks/{id}/dead/{delivery}/redeliver.
func (s *Server) redeliverOne(w http.ResponseWriter, r *http.Request) {
	h := s.lookup(w, r)
	if h == nil {
		return
	}
	id := r.PathValue("delivery")
	if _, err := dispatch.ParseID(id); err != nil {
		writeErrors(w, http.StatusBadRequest, fieldError{Field: "deliveryId", Message: "delivery id must be 32 lowercase hex digits, got " + strconv.Quote(id)})
		return
	}
	if err := s.deps.Dispatcher.Redeliver(r.Context(), h.dispID, id); err != nil {
		if errors.Is(err, dispatch.ErrNotFound) {
			writeErrors(w, http.StatusNotFound, fieldError{Field: "deliveryId", Message: "no dead delivery " + strconv.Quote(id) + " for this webhook"})
			return
		}
		s.log.Error("admin: redelivering", "webhook", h.Name, "delivery", id, "err", err)
		writeErrors(w, http.StatusInternalServerError, fieldError{Message: "redelivering failed: " + err.Error()})
		return
	}
	s.log.Info("admin: redelivered", "webhook", h.Name, "delivery", id)
	writeJSON(w, http.StatusOK, redelivered{1})
}

// redeliverAll answers POST /rest/api/webhooks/{id}/dead/redeliver.
func (s *Server) redeliverAll(w http.ResponseWriter, r *http.Request) {
	h := s.lookup(w, r)
	if h == nil {
		return
	}
	n, err := s.deps.Dispatcher.RedeliverAll(r.Context(), h.dispID)
	if err != nil && !errors.Is(err, dispatch.ErrNotFound) {
		s.log.Error("admin: redelivering", "webhook", h.Name, "err", err)
		writeErrors(w, http.StatusInternalServerError, fieldError{Message: "redelivering failed after " + strconv.Itoa(n) + ": " + err.Error()})
		return
	}
	s.log.Info("admin: redelivered", "webhook", h.Name, "count", n)
	writeJSON(w, http.StatusOK, redelivered{n})
}

// redelivered is the answer to a redelivery.
type redelivered struct {
	Redelivered int `json:"redelivered"`
}

// reactivate answers POST /rest/api/webhooks/{id}/reactivate: a webhook that a 410 Gone
// turned off is turned back on.
func (s *Server) reactivate(w http.ResponseWriter, r *http.Request) {
	h := s.lookup(w, r)
	if h == nil {
		return
	}
	if err := s.deps.Dispatcher.Reactivate(h.dispID); err != nil {
		if errors.Is(err, dispatch.ErrNotFound) {
			writeErrors(w, http.StatusNotFound, fieldError{Field: "id", Message: "the dispatcher does not know this webhook yet"})
			return
		}
		writeErrors(w, http.StatusInternalServerError, fieldError{Message: "reactivating failed: " + err.Error()})
		return
	}
	s.log.Info("admin: webhook reactivated", "webhook", h.Name)
	writeJSON(w, http.StatusOK, s.view(r.Context(), h, true))
}
