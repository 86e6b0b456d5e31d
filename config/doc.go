// Package config is the rules file's loader: it decodes the whole TOML file strictly and
// composes its sections, each declared, defaulted and validated by the package that runs it,
// into one [File].
//
//	[proxy]       proxy.Config       proxy/config.go
//	[admin]       admin.Config       admin/config.go
//	[dispatch]    dispatch.Config    dispatch/config.go
//	[[webhook]]   dispatch.Webhook   dispatch/webhook.go
//	[classify]    rules.ClassifySection, and [[rule]] rules.Rule: the embedded rules.File
//
// # Loading
//
// [Load] and [Parse] decode the file with rules' [rules.Doc], which keeps every key's line
// and every table's key order; apply [Overrides] (the command line's values); call each
// section's SetDefaults, the one place its defaults are filled; call each section's
// Validate, the one place it is checked (dispatch.New, proxy.New and the admin API call the
// same), whose mistakes name their TOML key; and have rules decode, validate and compile
// [classify] and the rules (rules.FromDoc), once: [File] embeds the rules.File, so
// f.Matcher() is that compilation.
//
// # Errors
//
// Every mistake in the file is reported, not just the first, as a [rules.Errors] in line
// order, one [rules.Error] per mistake: the key a section's Validate names is looked up in
// the file, so each carries the file, the line of the key (or of its nearest table, for a
// required key that is missing) and the section or the webhook or rule it is in:
//
//	rules.toml:3: [proxy]: upstream "https://wiki": must be http://host[:port]: the proxy reaches the upstream over plain HTTP
//	rules.toml:14: webhook "chat": unknown event "page_create"
//	rules.toml:20: rule "page created": unknown event "page_create"
//
// A value of the wrong type is reported once, by the decoder: the checks of that key are left
// out. A value given by an override is reported against its section, without a line.
//
// Validation refuses what the parts would refuse at startup, so that a file that passes
// hooktap -check starts: [proxy] upstream must be http://host[:port] with no path, query,
// user or fragment (the proxy speaks plain HTTP to the wiki); a secret_env, an [admin]
// token_env (unless listen = "off") and, for an external NATS queue, nats_password_env and
// nats_token_env must name a variable that is set and not empty (its value is never shown).
// A URL echoed in an error has its password replaced by *** ("nats://user:***@host"); a
// webhook URL every query value too ("https://bot:***@host/h?token=***").
// [File.CheckTargets] applies the target policy ([dispatch] allow_targets) to the webhooks,
// with lines too; it is apart from Parse so that case files may name loopback receivers.
//
// A good file's [File.Summary] is one line: "rules.toml: 61 rules, 43 events, 2 webhooks".
package config
