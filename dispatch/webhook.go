package dispatch

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"hooktap/internal/conf"
	"hooktap/rules"
)

// Webhook is one [[webhook]] of the rules file, or one made through the admin API: a
// subscriber. Validate is the one check of a webhook, wherever it comes from.
type Webhook struct {
	Name      string `toml:"name"`       // required, unique
	URL       string `toml:"url"`        // required, http or https
	Secret    string `toml:"secret"`     // up to 255 characters; signs deliveries; "whsec_<base64>" = Standard Webhooks form
	SecretEnv string `toml:"secret_env"` // or the name of an env variable holding it
	// PreviousSecret (or the variable PreviousSecretEnv names) is the secret being rotated
	// out: webhook-signature then carries a signature with each, new first; X-Hub-Signature
	// only the new one's. Remove it to end the rotation. Requires a secret.
	PreviousSecret    string        `toml:"previous_secret"`
	PreviousSecretEnv string        `toml:"previous_secret_env"`
	Events            []string      `toml:"events"`  // event names, or ["*"]; required
	Active            *bool         `toml:"active"`  // default true
	Payload           string        `toml:"payload"` // "id" (default) | "full"
	Timeout           time.Duration `toml:"timeout"` // per attempt; default [dispatch] timeout

	Line int `toml:"-"` // line of [[webhook]] in the file, for errors; 0 when not from a file
}

// SetDefaults sets w's zero fields to their defaults: active, payload "id", and timeout, the
// [dispatch] timeout.
func (w *Webhook) SetDefaults(timeout time.Duration) {
	if w.Active == nil {
		t := true
		w.Active = &t
	}
	if w.Payload == "" {
		w.Payload = "id"
	}
	if w.Timeout == 0 {
		w.Timeout = timeout
	}
}

// Validate checks w: a name and an http(s) URL with a host, neither holding a control
// character; the secrets (length, the whsec_ form, secret and secret_env exclusive, a named
// variable set, a previous secret only beside a secret); known events; the payload kind; the
// timeout. It returns a [conf.Errors] naming each mistake's key, or nil. It checks neither
// the target policy nor that names are unique: [CheckWebhooks] does, for a set. No secret is
// ever shown.
func (w *Webhook) Validate() error {
	var es conf.Errors
	switch {
	case w.Name == "":
		es.Add("name", "name is required")
	case hasControl(w.Name):
		es.Add("name", "name %s holds a control character", strconv.QuoteToASCII(w.Name))
	}
	if w.URL == "" {
		es.Add("url", "url is required")
	} else if err := checkHookURL(w.URL); err != "" {
		es.Add("url", "url %q: %s", redactHookURL(w.URL), err)
	}
	w.checkSecrets(&es)
	for _, msg := range rules.CheckEvents(w.Events) {
		es.Add("events", "%s", msg)
	}
	if w.Payload != "" && w.Payload != "id" && w.Payload != "full" {
		es.Add("payload", "payload must be \"id\" or \"full\", not %q", w.Payload)
	}
	if w.Timeout < 0 {
		es.Add("timeout", "timeout must not be negative")
	}
	return es.Err()
}

// checkSecrets checks w's secret, secret_env, previous_secret and previous_secret_env, and
// the secret a variable named holds as the value would be. No value is ever shown.
func (w *Webhook) checkSecrets(es *conf.Errors) {
	for _, s := range []struct{ key, envKey, v, env string }{
		{"secret", "secret_env", w.Secret, w.SecretEnv},
		{"previous_secret", "previous_secret_env", w.PreviousSecret, w.PreviousSecretEnv},
	} {
		if len(s.v) > rules.MaxSecretLen {
			es.Add(s.key, "%s is %d characters, at most %d allowed", s.key, len(s.v), rules.MaxSecretLen)
		} else if _, err := rules.StandardKey(s.v); err != nil {
			es.Add(s.key, "%s: %v", s.key, err)
		}
		switch v := os.Getenv(s.env); {
		case s.v != "" && s.env != "":
			es.Add(s.envKey, "%s and %s are exclusive", s.key, s.envKey)
		case v == "":
			es.Env(s.envKey, s.env)
		case len(v) > rules.MaxSecretLen:
			es.Add(s.envKey, "%s %s holds %d characters, at most %d allowed", s.envKey, s.env, len(v), rules.MaxSecretLen)
		default:
			if _, err := rules.StandardKey(v); err != nil {
				es.Add(s.envKey, "%s %s: %v", s.envKey, s.env, err)
			}
		}
	}
	if (w.PreviousSecret != "" || w.PreviousSecretEnv != "") && w.Secret == "" && w.SecretEnv == "" {
		key := "previous_secret"
		if w.PreviousSecret == "" {
			key = "previous_secret_env"
		}
		es.Add(key, "%s needs a secret (the new one) to rotate to", key)
	}
}

// CheckWebhooks checks a rules file's webhooks as a set: each as [Webhook.Validate] does,
// their names unique (the name is a file webhook's ID), and, with a non-nil policy, each
// valid URL against it. It returns a [conf.Errors] whose keys start with the webhook's index
// ("2.url"), or nil.
func CheckWebhooks(hooks []Webhook, policy *TargetPolicy) error {
	var es conf.Errors
	names := make(map[string]int, len(hooks))
	for i := range hooks {
		w := &hooks[i]
		var one conf.Errors
		if err := w.Validate(); err != nil {
			errors.As(err, &one)
		}
		badURL := false
		for _, e := range one {
			badURL = badURL || e.Key == "url"
		}
		if prev, dup := names[w.Name]; dup && w.Name != "" && !hasControl(w.Name) {
			one.Add("name", "duplicate webhook name (first at line %d)", prev)
		} else if w.Name != "" {
			names[w.Name] = w.Line
		}
		if policy != nil && !badURL {
			if err := policy.CheckURL(w.URL); err != nil {
				one.Add("url", "url %s: %s", RedactURL(w.URL), strings.TrimPrefix(err.Error(), "dispatch: "))
			}
		}
		es.Under(strconv.Itoa(i), one)
	}
	return es.Err()
}

// hasControl reports whether s holds a control character, is not UTF-8 (rules.HasControl)
// or holds a format character that hides text (isControl): such a name or URL would corrupt
// logs, headers and the admin page.
func hasControl(s string) bool {
	return rules.HasControl(s) || strings.ContainsFunc(s, isControl)
}

// checkHookURL returns why s is not an absolute http(s) URL with a host, or "".
func checkHookURL(s string) string {
	if hasControl(s) {
		return "holds a control character"
	}
	u, err := url.Parse(s)
	if err != nil {
		return "not a URL"
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "must be http or https"
	}
	if u.Host == "" {
		return "has no host"
	}
	return ""
}

// redactHookURL returns s, a webhook URL that may not parse, for an error: its password and
// every query value replaced by *** ("https://bot:***@host/h?token=***"), since receivers'
// URLs carry their tokens there; the rest is kept as written.
func redactHookURL(s string) string {
	s = conf.Redact(s)
	q := strings.IndexByte(s, '?')
	if q < 0 {
		return s
	}
	query, frag := s[q+1:], ""
	if h := strings.IndexByte(query, '#'); h >= 0 {
		query, frag = query[:h], query[h:]
	}
	parts := strings.Split(query, "&")
	for i, kv := range parts {
		if k, _, ok := strings.Cut(kv, "="); ok {
			parts[i] = k + "=***"
		} else if kv != "" {
			parts[i] = "***" // a bare token
		}
	}
	return s[:q+1] + strings.Join(parts, "&") + frag
}

// hookConfig is one webhook's resolved configuration; immutable once built (a reload
// swaps in a new one).
type hookConfig struct {
	name    string
	url     string
	secret  string // resolved from secret or secret_env; never logged
	prev    string // resolved from previous_secret(_env): the secret being rotated out; never logged
	full    bool
	timeout time.Duration
	events  []string
	active  bool
}

func fromWebhooks(hooks []Webhook) []Hook {
	out := make([]Hook, len(hooks))
	for i, w := range hooks {
		out[i] = Hook{ID: w.Name, Webhook: w}
	}
	return out
}

// resolveHook checks one webhook (Validate, then the target policy when there is one) and
// reads its secrets; a zero timeout becomes defTimeout.
func resolveHook(h Hook, defTimeout time.Duration, policy *TargetPolicy) (string, *hookConfig, error) {
	w := h.Webhook
	w.SetDefaults(defTimeout)
	id := h.ID
	if id == "" {
		id = w.Name
	}
	where := fmt.Sprintf("webhook %q", w.Name)
	if w.Line > 0 {
		where = fmt.Sprintf("line %d: %s", w.Line, where)
	}
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("dispatch: %s: "+format, append([]any{where}, a...)...))
	}
	var es conf.Errors
	if err := w.Validate(); err != nil {
		errors.As(err, &es)
	}
	badURL := false
	for _, e := range es {
		bad("%s", e.Msg)
		badURL = badURL || e.Key == "url"
	}
	if id == "" {
		bad("id is required")
	}
	if policy != nil && !badURL {
		if err := policy.CheckURL(w.URL); err != nil {
			bad("url %s: %s", RedactURL(w.URL), strings.TrimPrefix(err.Error(), "dispatch: "))
		}
	}
	secret := resolveSecret(w.Secret, w.SecretEnv)
	prev := resolveSecret(w.PreviousSecret, w.PreviousSecretEnv)
	return id, &hookConfig{
		name:    w.Name,
		url:     w.URL,
		secret:  secret,
		prev:    prev,
		full:    w.Payload == "full",
		timeout: w.Timeout,
		events:  slices.Clone(w.Events),
		active:  *w.Active,
	}, errors.Join(errs...)
}

// resolveSecret returns the secret that value or the variable env names holds (Validate
// checked it).
func resolveSecret(value, env string) string {
	if env == "" || value != "" {
		return value
	}
	return os.Getenv(env)
}

// resolveHooks checks every hook, collecting all errors.
func resolveHooks(hooks []Hook, defTimeout time.Duration, policy *TargetPolicy) ([]string, []*hookConfig, error) {
	cfgs := make([]*hookConfig, len(hooks))
	ids := make([]string, len(hooks))
	seen := make(map[string]bool, len(hooks))
	var errs []error
	for i, h := range hooks {
		id, c, err := resolveHook(h, defTimeout, policy)
		if err != nil {
			errs = append(errs, err)
		}
		if seen[id] {
			errs = append(errs, fmt.Errorf("dispatch: webhook id %q is not unique", id))
		}
		seen[id] = true
		ids[i], cfgs[i] = id, c
	}
	return ids, cfgs, errors.Join(errs...)
}
