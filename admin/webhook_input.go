package admin

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

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
