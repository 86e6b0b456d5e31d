package dispatch

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"hooktap/internal/conf"
)

// Config is [dispatch] of the rules file: the queue and the delivery policy. A zero field
// means its default (the Default constants), which SetDefaults fills in.
type Config struct {
	// Queue is "memory", "disk" (default: embedded JetStream in DataDir) or
	// "nats://host:4222,nats://host2:4222" (an external JetStream cluster).
	Queue   string `toml:"queue"`
	DataDir string `toml:"data_dir"` // default "./data"

	MaxInFlight        int             `toml:"max_in_flight"`          // deliveries in flight in total; default 500
	MaxInFlightPerHook int             `toml:"max_in_flight_per_hook"` // per webhook; default 64
	Timeout            time.Duration   `toml:"timeout"`                // per attempt; default 20s
	Retry              []time.Duration `toml:"retry"`                  // delays after each failure; default 5s,5m,30m,2h,5h,10h; [] = never retry
	OnSkip             string          `toml:"on_skip"`                // "retry" (default) | "drop" (Confluence's behaviour)
	OnStoreError       string          `toml:"on_store_error"`         // "reject" (default: 503 to the client) | "pass"
	EnqueueTimeout     time.Duration   `toml:"enqueue_timeout"`        // bound on the write path's wait for the store; default 5s
	MemoryQueueSize    int             `toml:"memory_queue_size"`      // events held by queue = "memory"; default 65536
	HistorySize        int             `toml:"history_size"`           // attempts kept per webhook for the admin API; default 100

	// AllowTargets lists webhook targets that the target policy would otherwise refuse
	// (loopback, link-local, private, unique-local, unspecified, IPv4-mapped and cloud
	// metadata addresses): IP addresses ("127.0.0.1", "::1"), CIDR prefixes ("10.1.0.0/16")
	// or host names ("hooks.internal"). Default: none; public addresses are always allowed.
	AllowTargets []string `toml:"allow_targets"`

	// External NATS only.
	NATSCreds    string `toml:"nats_creds"`    // path to a .creds file
	NATSUser     string `toml:"nats_user"`     // user/password auth
	NATSPassword string `toml:"nats_password"` // or nats_password_env
	NATSPassEnv  string `toml:"nats_password_env"`
	NATSToken    string `toml:"nats_token_env"` // name of an env var holding a token

	// Stream limits (disk and nats).
	MaxAge   time.Duration `toml:"max_age"`   // how long undelivered events are kept; default 168h
	MaxBytes int64         `toml:"max_bytes"` // stream size cap in bytes; default 1 GiB (further writes are store errors)
}

// Defaults of the zero fields of Config (Retry's is defaultRetry).
const (
	DefaultQueue              = "disk"
	DefaultDataDir            = "./data"
	DefaultMaxInFlight        = 500
	DefaultMaxInFlightPerHook = 64
	DefaultTimeout            = 20 * time.Second
	DefaultOnSkip             = "retry"
	DefaultOnStoreError       = "reject"
	DefaultEnqueueTimeout     = 5 * time.Second
	DefaultMemoryQueueSize    = 65536
	DefaultHistorySize        = 100
	DefaultMaxAge             = 168 * time.Hour
	DefaultMaxBytes           = int64(1 << 30)
)

// defaultRetry is the retry schedule used when [dispatch] retry is not set: the delays
// after the 1st, 2nd, ... failed attempt (each with ±20 % jitter); a delivery whose 7th
// attempt fails is dead.
var defaultRetry = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour,
}

// SetDefaults sets every zero field of c to its default (a nil Retry to the default
// schedule; an empty one means never retry). A negative value stays, for Validate to
// refuse.
func (c *Config) SetDefaults() {
	setS := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	setI := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	setD := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	setS(&c.Queue, DefaultQueue)
	setS(&c.DataDir, DefaultDataDir)
	setI(&c.MaxInFlight, DefaultMaxInFlight)
	setI(&c.MaxInFlightPerHook, DefaultMaxInFlightPerHook)
	setD(&c.Timeout, DefaultTimeout)
	if c.Retry == nil {
		c.Retry = slices.Clone(defaultRetry)
	}
	setS(&c.OnSkip, DefaultOnSkip)
	setS(&c.OnStoreError, DefaultOnStoreError)
	setD(&c.EnqueueTimeout, DefaultEnqueueTimeout)
	setI(&c.MemoryQueueSize, DefaultMemoryQueueSize)
	setI(&c.HistorySize, DefaultHistorySize)
	setD(&c.MaxAge, DefaultMaxAge)
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
}

// Validate checks c, defaults filled: the queue (and an external queue's credentials), the
// policies, the limits and allow_targets. It returns a [conf.Errors] naming each mistake's
// key, or nil. (What only building the queue finds, as credentials given to the embedded
// server, New reports.)
func (c *Config) Validate() error {
	var es conf.Errors
	switch {
	case c.Queue == "memory" || c.Queue == "disk":
		if key := c.natsKeySet(); key != "" && c.Queue == "disk" {
			es.Add(key, "nats_* credentials are for an external cluster; queue = \"disk\" runs an embedded server")
		}
	case strings.HasPrefix(c.Queue, "nats://") || strings.HasPrefix(c.Queue, "tls://"):
		for _, u := range strings.Split(c.Queue, ",") {
			u = strings.TrimSpace(u)
			if pu, err := url.Parse(u); err != nil || pu.Host == "" {
				es.Add("queue", "queue: bad NATS URL %q", conf.Redact(u))
			} else if pu.Scheme != "nats" && pu.Scheme != "tls" {
				es.Add("queue", "queue: %q is not a nats:// or tls:// URL", conf.Redact(u))
			}
		}
		c.validateNATSAuth(&es)
	default:
		es.Add("queue", "queue must be \"memory\", \"disk\" or \"nats://host:port,...\", not %q", conf.Redact(c.Queue))
	}
	if c.OnSkip != "retry" && c.OnSkip != "drop" {
		es.Add("on_skip", "on_skip must be \"retry\" or \"drop\", not %q", c.OnSkip)
	}
	if c.OnStoreError != "reject" && c.OnStoreError != "pass" {
		es.Add("on_store_error", "on_store_error must be \"reject\" or \"pass\", not %q", c.OnStoreError)
	}
	for _, kv := range []struct {
		key string
		n   int64
	}{{"max_in_flight", int64(c.MaxInFlight)}, {"max_in_flight_per_hook", int64(c.MaxInFlightPerHook)},
		{"memory_queue_size", int64(c.MemoryQueueSize)}, {"history_size", int64(c.HistorySize)}, {"max_bytes", c.MaxBytes},
		{"timeout", int64(c.Timeout)}, {"enqueue_timeout", int64(c.EnqueueTimeout)}, {"max_age", int64(c.MaxAge)}} {
		if kv.n < 0 {
			es.Add(kv.key, "%s must not be negative", kv.key)
		}
	}
	for i, r := range c.Retry {
		if r <= 0 {
			es.Add("retry", "retry[%d] = %s: must be positive", i, r)
		}
	}
	for i, s := range c.AllowTargets {
		if _, _, err := ParseAllowTarget(s); err != nil {
			es.Add("allow_targets", "allow_targets[%d]: %v", i, err)
		}
	}
	return es.Err()
}

// natsKeySet returns the first nats_* key that c sets, or "".
func (c *Config) natsKeySet() string {
	for _, kv := range [...]struct{ key, v string }{{"nats_creds", c.NATSCreds}, {"nats_user", c.NATSUser},
		{"nats_password", c.NATSPassword}, {"nats_password_env", c.NATSPassEnv}, {"nats_token_env", c.NATSToken}} {
		if kv.v != "" {
			return kv.key
		}
	}
	return ""
}

// validateNATSAuth checks an external queue's credentials: one way to authenticate at most
// (a .creds file, a user and password, or a token), a password with its user, and a
// variable named that is set.
func (c *Config) validateNATSAuth(es *conf.Errors) {
	var ways []string
	if c.NATSCreds != "" {
		ways = append(ways, "nats_creds")
	}
	if c.NATSUser != "" || c.NATSPassword != "" || c.NATSPassEnv != "" {
		ways = append(ways, "nats_user")
		switch {
		case c.NATSPassword != "" && c.NATSPassEnv != "":
			es.Add("nats_password_env", "nats_password and nats_password_env are both set")
		case c.NATSPassword == "":
			es.Env("nats_password_env", c.NATSPassEnv)
		}
		if c.NATSUser == "" {
			es.Add("nats_user", "nats_password needs nats_user")
		}
	}
	if c.NATSToken != "" {
		ways = append(ways, "nats_token_env")
		es.Env("nats_token_env", c.NATSToken)
	}
	if len(ways) > 1 {
		es.Add(ways[len(ways)-1], "set one of nats_creds, nats_user, nats_token_env")
	}
}

// settings is a Config, defaults filled and checked, as the Dispatcher runs with it.
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

// resolveSettings fills cfg's defaults and validates it.
func resolveSettings(cfg Config) (settings, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return settings{}, prefixed(err)
	}
	p, err := NewTargetPolicy(cfg.AllowTargets)
	if err != nil {
		return settings{}, err // not reached: Validate parsed every entry
	}
	return settings{
		queue:           cfg.Queue,
		maxInFlight:     cfg.MaxInFlight,
		perHook:         cfg.MaxInFlightPerHook,
		timeout:         cfg.Timeout,
		retry:           slices.Clone(cfg.Retry),
		dropOnSkip:      cfg.OnSkip == "drop",
		passStoreErrors: cfg.OnStoreError == "pass",
		enqueueTimeout:  cfg.EnqueueTimeout,
		queueSize:       cfg.MemoryQueueSize,
		historySize:     cfg.HistorySize,
		policy:          p,
	}, nil
}

// prefixed returns err, a [conf.Errors], as one error per mistake, each "dispatch: ...", for
// New and NewJetStreamQueue.
func prefixed(err error) error {
	var es conf.Errors
	if !errors.As(err, &es) {
		return err
	}
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = fmt.Errorf("dispatch: %s", e.Msg)
	}
	return errors.Join(errs...)
}
