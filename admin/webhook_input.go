package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"hooktap/dispatch"
	"hooktap/internal/conf"
	"hooktap/rules"
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

// validate checks in for a create or a full update, collecting every error: what only the
// API refuses (a blank or over-long name, an over-long URL or one with credentials, an event
// this server does not offer, an unknown configuration key), then the webhook as every
// webhook is checked ([dispatch.Webhook.Validate], the rules file's check), then the target
// policy. A field the API's own checks refused is not reported again. A secret not given
// here is the stored one on an update: checkHook checks the rotation on the stored result.
func (s *Server) validate(in hookInput) []fieldError {
	var errs []fieldError
	w := dispatch.Webhook{Events: in.Events, Secret: "-"} // "-": a stored secret may stand in
	switch {
	case in.Name == nil || strings.TrimSpace(*in.Name) == "":
		errs = append(errs, fieldError{Field: "name", Message: "name is required"})
	case utf8.RuneCountInString(*in.Name) > maxNameRunes:
		errs = append(errs, fieldError{Field: "name", Message: "name is longer than 255 characters"})
	default:
		w.Name = strings.TrimSpace(*in.Name)
	}
	switch {
	case in.URL == nil || *in.URL == "":
		errs = append(errs, fieldError{Field: "url", Message: "url is required"})
	case len(*in.URL) > maxURLLen:
		errs = append(errs, fieldError{Field: "url", Message: "url is longer than 2000 characters"})
	case hasUser(*in.URL):
		errs = append(errs, fieldError{Field: "url", Message: "url must not hold credentials; use the secret"})
	default:
		w.URL = *in.URL
	}
	errs = append(errs, s.checkOffered(in.Events)...)
	for k, v := range in.Configuration {
		switch k {
		case "secret":
			w.Secret = v
		case "previousSecret":
			w.PreviousSecret = v
		default:
			errs = append(errs, fieldError{Field: "configuration." + k, Message: "unknown configuration key " + strconv.Quote(k) + "; only secret and previousSecret are known"})
		}
	}
	if in.Payload != nil {
		w.Payload = *in.Payload
	}
	return s.checkWebhook(&w, errs)
}

// checkHook checks sh, a webhook as a create or update is about to store it, as validate
// checks the request: only the rotation can be wrong here (a previous secret left without a
// secret to rotate to), as the rest was checked.
func (s *Server) checkHook(sh *storedHook) []fieldError {
	w := dispatch.Webhook{Name: sh.Name, URL: sh.URL, Secret: sh.Secret, PreviousSecret: sh.PreviousSecret,
		Events: sh.Events, Payload: sh.Payload}
	return s.checkWebhook(&w, nil)
}

// checkWebhook appends to errs what [dispatch.Webhook.Validate] and the target policy find
// wrong with w, under the API's field names, leaving out the fields errs has already and
// the empty name and URL that stand for those.
func (s *Server) checkWebhook(w *dispatch.Webhook, errs []fieldError) []fieldError {
	done := make(map[string]bool, len(errs))
	for _, e := range errs {
		done[e.Field] = true
	}
	var es conf.Errors
	if err := w.Validate(); err != nil {
		errors.As(err, &es)
	}
	for _, e := range es {
		field, msg := apiField(e.Key), e.Msg
		if done[field] {
			continue
		}
		if e.Key == "previous_secret" || e.Key == "previous_secret_env" {
			msg = strings.ReplaceAll(msg, "previous_secret", "previousSecret")
		}
		errs = append(errs, fieldError{Field: field, Message: msg})
		if len(errs) >= 16 {
			break
		}
	}
	if w.URL != "" && !done["url"] && !slices.ContainsFunc(es, func(e *conf.Error) bool { return e.Key == "url" }) {
		if msg := s.checkTarget(w.URL); msg != "" {
			errs = append(errs, fieldError{Field: "url", Message: msg})
		}
	}
	return errs
}

// apiField names a webhook's TOML key as the API's body does.
func apiField(key string) string {
	switch key {
	case "secret":
		return "configuration.secret"
	case "previous_secret":
		return "configuration.previousSecret"
	}
	return key
}

// checkOffered refuses the events that are known but that this server does not offer
// (Deps.Events); Validate refuses the unknown ones. It reports at most a few.
func (s *Server) checkOffered(events []string) []fieldError {
	if len(events) > rules.MaxWebhookEvents {
		return nil // Validate refuses the list
	}
	var errs []fieldError
	for _, e := range events {
		if e != "*" && rules.IsName(e) && !s.eventOK[e] {
			errs = append(errs, fieldError{Field: "events", Message: "unknown event " + strconv.QuoteToASCII(e)})
			if len(errs) >= 8 {
				break
			}
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

// hasUser reports whether the URL u holds credentials (user or password).
func hasUser(u string) bool {
	p, err := url.Parse(u)
	return err == nil && p.User != nil
}

// checkURL returns why u cannot be a webhook URL, or "": what validate checks of a URL.
func checkURL(u string) string {
	switch {
	case len(u) > maxURLLen:
		return "url is longer than 2000 characters"
	case hasUser(u):
		return "url must not hold credentials; use the secret"
	}
	w := dispatch.Webhook{URL: u}
	var es conf.Errors
	if err := w.Validate(); err != nil {
		errors.As(err, &es)
	}
	for _, e := range es {
		if e.Key == "url" {
			return e.Msg
		}
	}
	return ""
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
