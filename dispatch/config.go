package dispatch

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"hooktap/rules"
)

// settings is rules.DispatchSection with defaults filled and values checked.
type settings struct {
	queue           string
	maxInFlight     int
	perHook         int
	timeout         time.Duration
	retry           []time.Duration
	dropOnSkip      bool
	passStoreErrors bool
	enqueueTimeout  time.Duration
	queueSize       int
	historySize     int
	policy          *TargetPolicy // [dispatch] allow_targets
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

func resolveSettings(cfg rules.DispatchSection) (settings, error) {
	s := settings{
		queue:          cfg.Queue,
		maxInFlight:    cfg.MaxInFlight,
		perHook:        cfg.MaxInFlightPerHook,
		timeout:        cfg.Timeout,
		retry:          cfg.Retry,
		enqueueTimeout: cfg.EnqueueTimeout,
		queueSize:      cfg.MemoryQueueSize,
		historySize:    cfg.HistorySize,
	}
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("dispatch: "+format, a...)) }
	if s.queue == "" {
		s.queue = defaultQueue
	}
	pos := func(name string, v *int, def int) {
		switch {
		case *v == 0:
			*v = def
		case *v < 0:
			bad("%s = %d: must be positive", name, *v)
		}
	}
	pos("max_in_flight", &s.maxInFlight, defaultMaxInFlight)
	pos("max_in_flight_per_hook", &s.perHook, defaultMaxInFlightPerHook)
	pos("memory_queue_size", &s.queueSize, defaultMemoryQueueSize)
	pos("history_size", &s.historySize, defaultHistorySize)
	dur := func(name string, v *time.Duration, def time.Duration) {
		switch {
		case *v == 0:
			*v = def
		case *v < 0:
			bad("%s = %s: must be positive", name, *v)
		}
	}
	dur("timeout", &s.timeout, defaultTimeout)
	dur("enqueue_timeout", &s.enqueueTimeout, defaultEnqueueTimeout)
	if s.retry == nil {
		s.retry = defaultRetry
	}
	s.retry = slices.Clone(s.retry)
	p, err := NewTargetPolicy(cfg.AllowTargets)
	if err != nil {
		errs = append(errs, err)
	}
	s.policy = p
	for i, r := range s.retry {
		if r <= 0 {
			bad("retry[%d] = %s: must be positive", i, r)
		}
	}
	switch cfg.OnSkip {
	case "", "retry":
	case "drop":
		s.dropOnSkip = true
	default:
		bad("on_skip = %q: want \"retry\" or \"drop\"", cfg.OnSkip)
	}
	switch cfg.OnStoreError {
	case "", "reject":
	case "pass":
		s.passStoreErrors = true
	default:
		bad("on_store_error = %q: want \"reject\" or \"pass\"", cfg.OnStoreError)
	}
	return s, errors.Join(errs...)
}

func fromWebhooks(hooks []rules.Webhook) []Hook {
	out := make([]Hook, len(hooks))
	for i, w := range hooks {
		out[i] = Hook{ID: w.Name, Webhook: w}
	}
	return out
}

// resolveHook checks one webhook and resolves its secret; a zero timeout becomes
// defTimeout.
func resolveHook(h Hook, defTimeout time.Duration, policy *TargetPolicy) (string, *hookConfig, error) {
	w := h.Webhook
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
	if w.Name == "" {
		bad("name is required")
	}
	if id == "" {
		bad("id is required")
	}
	if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("url %q: want an absolute http or https URL", RedactURL(w.URL))
	} else if err := policy.CheckURL(w.URL); err != nil {
		bad("url %s: %s", RedactURL(w.URL), strings.TrimPrefix(err.Error(), "dispatch: "))
	}
	if strings.ContainsFunc(w.URL, isControl) {
		bad("url holds a control character")
	}
	if strings.ContainsFunc(w.Name, isControl) {
		bad("name holds a control character")
	}
	if len(w.Events) > len(rules.Names)+1 {
		bad("events lists %d names; there are only %d events", len(w.Events), len(rules.Names))
	}
	secret := resolveSecret(w.Secret, w.SecretEnv, "secret", bad)
	prev := resolveSecret(w.PreviousSecret, w.PreviousSecretEnv, "previous_secret", bad)
	if prev != "" && secret == "" {
		bad("previous_secret needs a secret (the new one) to rotate to")
	}
	checkEvents(w.Events, bad)
	full := false
	switch w.Payload {
	case "", "id":
	case "full":
		full = true
	default:
		bad("payload = %q: want \"id\" or \"full\"", w.Payload)
	}
	timeout := w.Timeout
	if timeout < 0 {
		bad("timeout = %s: must be positive", timeout)
	} else if timeout == 0 {
		timeout = defTimeout
	}
	return id, &hookConfig{
		name:    w.Name,
		url:     w.URL,
		secret:  secret,
		prev:    prev,
		full:    full,
		timeout: timeout,
		events:  slices.Clone(w.Events),
		active:  w.Active == nil || *w.Active,
	}, errors.Join(errs...)
}

// checkEvents reports through bad what is wrong with a webhook's event list: empty, a name
// listed twice, an unknown name, or "*" with others.
func checkEvents(events []string, bad func(string, ...any)) {
	if len(events) == 0 {
		bad("events is required (event names, or [\"*\"])")
	}
	seenEv := make(map[string]bool, len(events))
	for _, e := range events {
		if seenEv[e] {
			bad("event %q is listed twice", e)
			continue
		}
		seenEv[e] = true
		if e == "*" {
			if len(events) > 1 {
				bad("\"*\" must be the only event")
			}
		} else if !rules.IsName(e) {
			bad("unknown event %q", e)
		}
	}
}

// resolveSecret returns the secret that value or the variable env names holds, reporting
// through bad when both are set, the variable is empty, or the secret is too long or a whsec_
// secret that does not decode. key is "secret" or "previous_secret". The value is never shown.
func resolveSecret(value, env, key string, bad func(string, ...any)) string {
	secret := value
	if env != "" {
		if value != "" {
			bad("%s and %s_env are both set", key, key)
		}
		secret = os.Getenv(env)
		if secret == "" {
			bad("%s_env %s is empty or unset", key, env)
		}
	}
	if len(secret) > maxSecretLen {
		bad("%s is %d characters long, at most %d", key, len(secret), maxSecretLen)
	} else if _, err := rules.StandardKey(secret); err != nil {
		bad("%s: %v", key, err)
	}
	return secret
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
