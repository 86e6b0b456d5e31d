package admin

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"hooktap/dispatch"
)

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
