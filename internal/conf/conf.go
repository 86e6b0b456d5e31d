// Package conf is what the packages that own a section of the rules file (proxy, dispatch,
// admin) validate it with: an error that names the TOML key it is about, so that the loader
// (package config) can put the file and line in front of it, and the few checks that more
// than one section makes (a listen address, a variable that must be set, a URL's password
// kept out of messages).
package conf

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Error is one mistake in a section, at a key.
type Error struct {
	// Key is the dotted path of the key the mistake is about, from the section's own table:
	// "upstream", "allow_targets", "3.url" (the fourth element of an array of tables); ""
	// for the section as a whole. A required key that is missing is named too: the loader
	// then reports the line of the nearest table that is in the file.
	Key string
	// Msg says what is wrong, naming the key ("upstream is required").
	Msg string
}

// Error returns e.Msg.
func (e *Error) Error() string { return e.Msg }

// Errors is every mistake found in a section, in the order found; nil when there is none.
type Errors []*Error

// Error prints one mistake per line.
func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Msg)
	}
	return b.String()
}

// Err returns es as an error, or nil when it is empty (a nil Errors in an error interface
// is not nil).
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// Add records a mistake at key.
func (es *Errors) Add(key, format string, args ...any) {
	*es = append(*es, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// Under appends sub's mistakes with their keys put under prefix ("webhook" + "3.url").
func (es *Errors) Under(prefix string, sub Errors) {
	for _, e := range sub {
		k := prefix
		if e.Key != "" {
			k += "." + e.Key
		}
		*es = append(*es, &Error{Key: k, Msg: e.Msg})
	}
}

// Env records a mistake at key when name (the value of key, an environment variable's name;
// "" for none) names a variable that is unset or empty: the part that reads it at startup
// refuses to start without it, or would silently do less than its author meant. The value is
// never shown.
func (es *Errors) Env(key, name string) {
	if name == "" {
		return
	}
	switch v, ok := os.LookupEnv(name); {
	case !ok:
		es.Add(key, "%s %s is not set", key, name)
	case v == "":
		es.Add(key, "%s %s is empty", key, name)
	}
}

// CheckListen returns why s is not a "host:port" listen address, or "".
func CheckListen(s string) string {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "want host:port"
	}
	p, err := strconv.Atoi(s[i+1:])
	if err != nil || p < 0 || p > 65535 {
		return "bad port"
	}
	return ""
}

// Redact returns s, a URL or a comma-separated list of URLs, with each password replaced by
// *** ("nats://user:***@host"), for messages. s need not parse.
func Redact(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	parts := strings.Split(s, ",")
	for i, p := range parts {
		scheme := strings.Index(p, "://")
		if scheme < 0 {
			continue
		}
		auth := p[scheme+3:]
		if end := strings.IndexAny(auth, "/?#"); end >= 0 {
			auth = auth[:end]
		}
		at := strings.LastIndexByte(auth, '@')
		if at < 0 {
			continue
		}
		user, _, hasPass := strings.Cut(auth[:at], ":")
		if !hasPass {
			continue
		}
		parts[i] = p[:scheme+3] + user + ":***" + p[scheme+3+at:]
	}
	return strings.Join(parts, ",")
}
