package admin

import "hooktap/internal/conf"

// Config is [admin] of the rules file: the admin API, metrics and web page. A zero field
// means its default, which SetDefaults fills in.
type Config struct {
	Listen   string `toml:"listen"`    // default "127.0.0.1:8081" (DefaultListen); "off" disables the listener
	Token    string `toml:"token"`     // bearer/basic token for writes; "" with no token_env = read-only API
	TokenEnv string `toml:"token_env"` // name of an environment variable holding the token
	// ReadToken (or the variable named by ReadTokenEnv) may read what the admin token may
	// read, and change nothing. With either token set, reads of webhooks, deliveries and
	// dead letters need one of them.
	ReadToken    string `toml:"read_token"`
	ReadTokenEnv string `toml:"read_token_env"`
}

// DefaultListen is the admin listener's address when [admin] listen is not set.
const DefaultListen = "127.0.0.1:8081"

// SetDefaults sets c's zero fields to their defaults.
func (c *Config) SetDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
}

// Validate checks c, defaults filled (nothing when listen = "off"): the listen address, that
// a token variable named is set (one that names nothing would leave the admin API read-only,
// which is not what its author meant), and that the read token differs from the admin token.
// It returns a [conf.Errors] naming each mistake's key, or nil.
func (c *Config) Validate() error {
	if c.Listen == "off" {
		return nil
	}
	var es conf.Errors
	if err := conf.CheckListen(c.Listen); err != "" {
		es.Add("listen", "listen %q: %s", c.Listen, err)
	}
	if c.Token == "" {
		es.Env("token_env", c.TokenEnv)
	}
	if c.ReadToken == "" {
		es.Env("read_token_env", c.ReadTokenEnv)
	}
	if c.ReadToken != "" && c.ReadToken == c.Token {
		es.Add("read_token", "read_token must differ from token: it is the one that cannot change anything")
	}
	return es.Err()
}
