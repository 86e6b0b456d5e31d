package admin

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"hooktap/dispatch"
)

// Limits on what the API accepts.
const (
	maxBody      = 1 << 20 // request body
	maxNameRunes = 255
	maxURLLen    = 2000 // Confluence's limit
	defaultLimit = 100
	maxLimit     = 1000
	excerptLen   = 2048 // response bytes shown per attempt
	pingTimeout  = dispatch.PingTimeout
)

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
