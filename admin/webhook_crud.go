package admin

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"hooktap/dispatch"
)

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
	if errs := s.checkHook(&sh); errs != nil {
		writeErrors(w, http.StatusBadRequest, errs...)
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
	if errs := s.checkHook(&doc.Webhooks[i]); errs != nil {
		writeErrors(w, http.StatusBadRequest, errs...)
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
