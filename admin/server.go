package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"hooktap/dispatch"
	"hooktap/rules"
)

// Server is the admin listener: the webhook REST API, /metrics, /healthz, /readyz and the web
// page. Create it with [New], call [Server.Load] once, then [Server.Serve].
type Server struct {
	log     *slog.Logger
	deps    Deps
	now     func() time.Time
	token   [sha256.Size]byte // SHA-256 of the admin token; compared in constant time
	hasTok  bool              // false: the API is read-only
	readTok [sha256.Size]byte // SHA-256 of the read-only token
	hasRead bool              // a read-only token is set
	store   store
	events  []string
	eventOK map[string]bool
	page    []byte // the rendered web page
	http    *http.Server
	cop     http.CrossOriginProtection // refuses cross-site browser writes
	start   time.Time

	// mu guards hooks, doc and loaded. Writes hold it while they push the new set to the
	// dispatcher and persist it, so that both see the same order of changes.
	mu     sync.Mutex
	hooks  []*hook  // merged set, sorted by id
	doc    storeDoc // the store as last written
	loaded bool
}

// hook is one webhook as the API sees it.
type hook struct {
	ID     int64
	Name   string
	URL    string
	Secret string // never leaves the process except into the store file
	// PreviousSecret is the secret being rotated out (API webhooks); like Secret.
	PreviousSecret string
	Events         []string
	Active         bool
	Payload        string
	Created        int64 // ms
	Updated        int64 // ms
	File           bool  // from the rules file: read-only
	file           dispatch.Webhook
	dispID         string // the dispatcher's id: the name for a file webhook, "api-<id>" for the API's
}

// apiDispID is the dispatcher id of the API-made webhook id: stable across renames, so that
// its breaker, counters, delivery log and dead letters carry over.
func apiDispID(id int64) string { return "api-" + strconv.FormatInt(id, 10) }

// New checks deps and returns a server. It reads the token (token, or the variable named by
// token_env) and does no other I/O; the webhook store is read by Load.
// It does not refuse what [Config.Validate] refuses (the loader does): a token variable that
// is unset leaves the API read-only, with a warning.
func New(cfg Config, deps Deps, log *slog.Logger) (*Server, error) {
	if deps.Dispatcher == nil {
		return nil, errors.New("admin: a dispatcher is required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{log: log, deps: deps, now: deps.Now}
	if s.now == nil {
		s.now = time.Now
	}
	if s.deps.Ping == nil {
		s.deps.Ping = s.defaultPing()
	}
	tok := cfg.Token
	if tok == "" && cfg.TokenEnv != "" {
		tok = os.Getenv(cfg.TokenEnv)
		if tok == "" {
			log.Warn("admin: token_env names an empty variable; the admin API is read-only", "token_env", cfg.TokenEnv)
		}
	}
	if tok != "" {
		s.token = sha256.Sum256([]byte(tok))
		s.hasTok = true
	}
	rtok := cfg.ReadToken
	if rtok == "" && cfg.ReadTokenEnv != "" {
		rtok = os.Getenv(cfg.ReadTokenEnv)
	}
	if rtok != "" {
		s.readTok = sha256.Sum256([]byte(rtok))
		s.hasRead = true
	}
	if deps.DataDir != "" {
		s.store.path = filepath.Join(deps.DataDir, storeFile)
	}
	s.events = deps.Events
	if s.events == nil {
		s.events = rules.Names[:]
	}
	s.eventOK = make(map[string]bool, len(s.events))
	for _, e := range s.events {
		s.eventOK[e] = true
	}
	names := map[string]bool{}
	for i, w := range deps.Webhooks {
		if w.Name == "" {
			return nil, fmt.Errorf("admin: rules file webhook %d has no name", i+1)
		}
		if names[w.Name] {
			return nil, fmt.Errorf("admin: rules file webhook name %q is used twice", w.Name)
		}
		names[w.Name] = true
	}
	page, err := renderPage(s.events)
	if err != nil {
		return nil, err
	}
	s.page = page
	s.start = s.now()
	s.http = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Load reads the webhook store, gives ids to new rules file webhooks, and pushes the merged
// set to the dispatcher. main calls it once before the dispatcher runs, whether or not the
// listener is on, so that API-made webhooks keep delivering; Serve calls it if main did not.
func (s *Server) Load() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loaded {
		return nil
	}
	doc, err := s.store.load()
	if err != nil {
		return err
	}
	hooks, doc, changed, err := s.mergeLocked(doc, s.deps.Webhooks)
	if err != nil {
		return err
	}
	if err := s.deps.Dispatcher.SetHooks(flatten(hooks)); err != nil {
		return fmt.Errorf("admin: applying webhooks: %w", err)
	}
	if changed {
		if err := s.store.save(doc); err != nil {
			return err
		}
	}
	s.hooks, s.doc, s.loaded = hooks, doc, true
	return nil
}

// SetFileWebhooks replaces the rules file's webhooks after a reload and pushes the merged set
// to the dispatcher. A name that an API-made webhook already uses is refused, and the old set
// stays.
func (s *Server) SetFileWebhooks(file []dispatch.Webhook) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loaded {
		s.deps.Webhooks = file
		return nil
	}
	hooks, doc, changed, err := s.mergeLocked(s.doc, file)
	if err != nil {
		return err
	}
	if err := s.deps.Dispatcher.SetHooks(flatten(hooks)); err != nil {
		return fmt.Errorf("admin: applying webhooks: %w", err)
	}
	if changed {
		if err := s.store.save(doc); err != nil {
			s.log.Error("admin: saving webhook ids", "err", err)
		}
	}
	s.deps.Webhooks = file
	s.hooks, s.doc = hooks, doc
	return nil
}

// mergeLocked builds the merged set from the store and the file's webhooks, giving each new
// file webhook the next id; changed reports whether doc gained ids.
func (s *Server) mergeLocked(doc storeDoc, file []dispatch.Webhook) (hooks []*hook, out storeDoc, changed bool, err error) {
	out = doc
	out.FileIDs = make(map[string]int64, len(file))
	for k, v := range doc.FileIDs {
		out.FileIDs[k] = v
	}
	api := map[string]bool{}
	for _, h := range doc.Webhooks {
		api[h.Name] = true
		api[apiDispID(h.ID)] = true
	}
	seen := make(map[string]bool, len(file))
	for _, w := range file {
		if seen[w.Name] {
			return nil, doc, false, fmt.Errorf("admin: rules file webhook name %q is used twice", w.Name)
		}
		seen[w.Name] = true
		if api[w.Name] {
			return nil, doc, false, fmt.Errorf("admin: webhook name %q is in the rules file and also used by a webhook made through the API; rename one", w.Name)
		}
		id, ok := out.FileIDs[w.Name]
		if !ok {
			id = out.NextID
			out.NextID++
			out.FileIDs[w.Name] = id
			changed = true
		}
		active := w.Active == nil || *w.Active
		hooks = append(hooks, &hook{
			ID: id, Name: w.Name, URL: w.URL, Events: w.Events, Active: active,
			Payload: w.Payload, File: true, file: w, dispID: w.Name,
			Secret: w.Secret,
		})
	}
	for _, h := range doc.Webhooks {
		hooks = append(hooks, &hook{
			ID: h.ID, Name: h.Name, URL: h.URL, Secret: h.Secret, PreviousSecret: h.PreviousSecret, Events: h.Events,
			Active: h.Active, Payload: h.Payload, Created: h.Created, Updated: h.Updated,
			dispID: apiDispID(h.ID),
		})
	}
	sortHooks(hooks)
	return hooks, out, changed, nil
}

// flatten turns the merged set into what the dispatcher takes: file webhooks exactly as the
// file has them (secret_env included), API webhooks built from the store.
func flatten(hooks []*hook) []dispatch.Hook {
	out := make([]dispatch.Hook, 0, len(hooks))
	for _, h := range hooks {
		if h.File {
			out = append(out, dispatch.Hook{ID: h.dispID, Webhook: h.file})
			continue
		}
		active := h.Active
		out = append(out, dispatch.Hook{ID: h.dispID, Webhook: dispatch.Webhook{
			Name: h.Name, URL: h.URL, Secret: h.Secret, PreviousSecret: h.PreviousSecret, Events: slices.Clone(h.Events),
			Active: &active, Payload: h.Payload,
		}})
	}
	return out
}

// Serve serves the admin API on ln until Shutdown. It returns nil after Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.Load(); err != nil {
		ln.Close()
		return err
	}
	err := s.http.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("admin: serving: %w", err)
}

// Shutdown stops accepting, waits for the requests in progress until ctx ends, then closes
// what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.http.Shutdown(ctx); err != nil {
		s.http.Close()
		return fmt.Errorf("admin: shutting down: %w", err)
	}
	return nil
}

// Handler returns the admin API's handler (for tests and for embedding in another server).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /rest/api/webhooks", s.read(s.listHooks))
	mux.HandleFunc("POST /rest/api/webhooks", s.write(s.createHook))
	mux.HandleFunc("POST /rest/api/webhooks/test", s.write(s.testHook))
	mux.HandleFunc("POST /rest/api/webhooks/secret", s.write(s.generateSecret))
	mux.HandleFunc("GET /rest/api/webhooks/{id}", s.read(s.getHook))
	mux.HandleFunc("PUT /rest/api/webhooks/{id}", s.write(s.updateHook))
	mux.HandleFunc("DELETE /rest/api/webhooks/{id}", s.write(s.deleteHook))
	mux.HandleFunc("GET /rest/api/webhooks/{id}/latest", s.read(s.latest))
	mux.HandleFunc("GET /rest/api/webhooks/{id}/statistics", s.read(s.statistics))
	mux.HandleFunc("GET /rest/api/webhooks/{id}/statistics/summary", s.read(s.statistics))
	mux.HandleFunc("GET /rest/api/webhooks/{id}/dead", s.read(s.dead))
	mux.HandleFunc("POST /rest/api/webhooks/{id}/dead/redeliver", s.write(s.redeliverAll))
	mux.HandleFunc("POST /rest/api/webhooks/{id}/dead/{delivery}/redeliver", s.write(s.redeliverOne))
	mux.HandleFunc("POST /rest/api/webhooks/{id}/reactivate", s.write(s.reactivate))
	mux.HandleFunc("GET /rest/api/unmatched", s.read(s.unmatched))
	mux.Handle("GET /metrics", s.metricsHandler())
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /{$}", s.servePage)
	// Paths that exist with another method: 405 with a JSON error (the patterns above, being
	// method-specific, win over these).
	for _, p := range []string{
		"/rest/api/webhooks", "/rest/api/webhooks/{id}",
		"/rest/api/webhooks/{id}/latest", "/rest/api/webhooks/{id}/statistics",
		"/rest/api/webhooks/{id}/dead", "/rest/api/webhooks/{id}/dead/redeliver",
		"/rest/api/webhooks/{id}/dead/{delivery}/redeliver", "/rest/api/webhooks/{id}/reactivate",
		"/metrics", "/healthz", "/readyz",
	} {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			writeErrors(w, http.StatusMethodNotAllowed, fieldError{Field: "method", Message: "method " + r.Method + " is not allowed on " + r.URL.Path})
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErrors(w, http.StatusNotFound, fieldError{Field: "path", Message: "no such endpoint: " + r.Method + " " + r.URL.Path})
	})
	return s.recoverer(mux)
}

// recoverer turns a handler panic into a 500 with a JSON error, logged once.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("admin: handler panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
				writeErrors(w, http.StatusInternalServerError, fieldError{Message: "internal error"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// write wraps a handler that changes something: it needs the admin token.
func (s *Server) write(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.hasTok {
			writeErrors(w, http.StatusForbidden, fieldError{Field: "token",
				Message: "the admin API is read-only: no admin token is configured ([admin] token or token_env)"})
			return
		}
		// A browser on another site must not use credentials it holds for this one (a cached
		// Basic login) to make changes.
		if err := s.cop.Check(r); err != nil {
			writeErrors(w, http.StatusForbidden, fieldError{Field: "origin", Message: "cross-origin write refused: " + err.Error()})
			return
		}
		got, ok := credential(r)
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], s.token[:]) != 1 || !ok {
			// Bearer only: a Basic challenge would make browsers prompt and then cache the
			// credentials.
			w.Header().Set("WWW-Authenticate", `Bearer realm="hooktap admin"`)
			msg := "wrong admin token"
			if !ok {
				msg = "the admin token is required: Authorization: Bearer <token>, or Basic with the token as password"
			}
			writeErrors(w, http.StatusUnauthorized, fieldError{Field: "token", Message: msg})
			return
		}
		h(w, r)
	}
}

// read wraps a handler that shows webhooks, deliveries or dead letters. With a token set
// (admin or read-only) it needs one of them; with none the API is open to read, as a
// read-only API for a local demo, and readers never see what receivers answered.
func (s *Server) read(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.hasTok && !s.hasRead {
			h(w, r)
			return
		}
		got, ok := credential(r)
		sum := sha256.Sum256([]byte(got))
		admin := subtle.ConstantTimeCompare(sum[:], s.token[:]) & boolInt(s.hasTok)
		reader := subtle.ConstantTimeCompare(sum[:], s.readTok[:]) & boolInt(s.hasRead)
		if !ok || admin|reader != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hooktap admin"`)
			msg := "wrong token"
			if !ok {
				msg = "reading the admin API needs a token (the admin token or read_token): Authorization: Bearer <token>"
			}
			writeErrors(w, http.StatusUnauthorized, fieldError{Field: "token", Message: msg})
			return
		}
		h(w, r)
	}
}

// anonymous reports whether r reads without any token: only possible when none is set. Such
// readers see no part of a receiver's answer.
func (s *Server) anonymous() bool { return !s.hasTok && !s.hasRead }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// credential returns the token a request carries: the bearer token, or the Basic password.
func credential(r *http.Request) (string, bool) {
	a := r.Header.Get("Authorization")
	if a == "" {
		return "", false
	}
	if scheme, rest, ok := strings.Cut(a, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(rest), true
	}
	if _, pass, ok := r.BasicAuth(); ok {
		return pass, true
	}
	return "", false
}

// fieldError is one entry of an error answer.
type fieldError struct {
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// writeErrors answers status with {"errors":[...]}.
func writeErrors(w http.ResponseWriter, status int, errs ...fieldError) {
	writeJSON(w, status, struct {
		Errors []fieldError `json:"errors"`
	}{errs})
}

// writeJSON answers status with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"errors":[{"message":"encoding the answer failed"}]}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
