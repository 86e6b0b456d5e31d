package rules

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Overrides are values given outside the file (hooktap's command-line flags, the demo) that
// replace the file's before defaults are filled and the file is validated, so that, for
// example, -upstream supplies an upstream the file lacks. A zero field keeps the file's.
type Overrides struct {
	Listen   string    // [proxy] listen
	Upstream string    // [proxy] upstream
	Admin    string    // [admin] listen
	DataDir  string    // [dispatch] data_dir
	Queue    string    // [dispatch] queue
	Webhooks []Webhook // when non-nil, replace the file's [[webhook]]s (validated the same way)
}

// Load reads, decodes and validates the rules file at path. On any mistake it returns an
// [Errors] listing all of them.
func Load(path string) (*File, error) {
	return LoadWith(path, Overrides{})
}

// LoadWith is Load with overrides applied before validation.
func LoadWith(path string, ov Overrides) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	f, err := ParseWith(path, data, ov)
	if f != nil {
		f.Path = path
	}
	return f, err
}

// Parse decodes and validates a rules file held in memory; name is used in errors. It
// decodes strictly (unknown keys and wrong types are errors), fills every section's
// defaults, and validates every section and rule (rules by compiling them). On any mistake
// it returns a nil File and an [Errors] listing all of them.
func Parse(name string, data []byte) (*File, error) {
	return ParseWith(name, data, Overrides{})
}

// ParseWith is Parse with overrides applied before validation. An overridden value that is
// wrong is reported against the section, without a line.
func ParseWith(name string, data []byte, ov Overrides) (*File, error) {
	if name == "" {
		name = "rules"
	}
	var raw map[string]any
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, Errors{{File: name, Line: pe.Position.Line, Msg: "toml: " + pe.Message}}
		}
		return nil, Errors{{File: name, Msg: "toml: " + err.Error()}}
	}
	d := &decoder{name: name, src: string(data)}
	d.index(&md, raw)
	f := &File{}
	d.decodeFile(raw, f)
	d.override(f, ov)
	fillDefaults(f)
	d.validateSections(f)
	_, cerrs := compile(f, d)
	d.errs = append(d.errs, cerrs...)
	if len(d.errs) > 0 {
		return nil, d.errs.sorted()
	}
	d.errs, d.bad = nil, nil
	f.meta = d
	return f, nil
}

// Summary describes f in one line: "rules.toml: 61 rules, 43 events, 2 webhooks", where
// events counts the distinct event names the rules can emit, and the name is the file's
// path, or the name given to Parse.
func (f *File) Summary() string {
	seen := map[string]bool{}
	for _, r := range f.Rules {
		for _, e := range r.Emit {
			seen[e.Event] = true
		}
	}
	name := f.Path
	if name == "" && f.meta != nil {
		name = f.meta.name // the name given to Parse
	}
	if name == "" {
		name = "rules"
	}
	return fmt.Sprintf("%s: %d %s, %d %s, %d %s", name,
		len(f.Rules), plural(len(f.Rules), "rule"),
		len(seen), plural(len(seen), "event"),
		len(f.Webhooks), plural(len(f.Webhooks), "webhook"))
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

// sep joins the components of a key path with array indices: "rule\x1f3\x1femit\x1f0".
const sep = "\x1f"

// decoder turns the generic TOML tree into a File, collecting every error with its line.
type decoder struct {
	name  string
	src   string
	lines map[string]int      // key path -> line
	order map[string][]string // table key path -> child keys in file order
	errs  Errors
	bad   map[string]bool // key paths already reported as mistyped
	memo  memoTable       // the Matcher being compiled's req and resp paths
	// ruleWhere/hookWhere name each rule and webhook in errors.
	ruleWhere []string
	hookWhere []string
}

func (d *decoder) errorf(path, where, format string, args ...any) {
	if d.bad == nil {
		d.bad = map[string]bool{}
	}
	d.bad[path] = true
	d.errs = append(d.errs, &Error{File: d.name, Line: d.line(path), Where: where, Msg: fmt.Sprintf(format, args...)})
}

// line returns the line of path, or of its nearest ancestor whose line is known.
func (d *decoder) line(path string) int {
	for path != "" {
		if l, ok := d.lines[path]; ok {
			return l
		}
		i := strings.LastIndex(path, sep)
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// keysOf returns the keys of the table at path in file order, or sorted when unknown.
func (d *decoder) keysOf(path string, m map[string]any) []string {
	if ks, ok := d.order[path]; ok && len(ks) == len(m) {
		return ks
	}
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// index recovers each key's line and each table's key order from the metadata: Keys lists
// keys in file order, an array-of-tables header once per element, and the keys inside an
// inline array of tables without their element, which raw's element sizes tell.
func (d *decoder) index(md *toml.MetaData, raw map[string]any) {
	d.lines = map[string]int{}
	d.order = map[string][]string{}
	lines := strings.Split(d.src, "\n")
	counters := map[string]int{}
	type arrState struct{ elem, seen int }
	arrays := map[string]*arrState{}
	cur := 0
	for _, k := range md.Keys() {
		// Build the indexed path, component by component.
		comps := make([]string, 0, 2*len(k))
		parentLen := 0 // components of the parent table's path
		for i := range k {
			if i == len(k)-1 {
				parentLen = len(comps)
			}
			comps = append(comps, k[i])
			p := strings.Join(comps, sep)
			switch md.Type(k[:i+1]...) {
			case "ArrayHash":
				if i == len(k)-1 {
					counters[p]++
				}
				comps = append(comps, strconv.Itoa(counters[p]-1))
			case "Array":
				st := arrays[p]
				if i == len(k)-1 || st == nil {
					arrays[p] = &arrState{elem: -1}
					continue
				}
				if i == len(k)-2 { // k's last part is a key of an element
					if st.elem < 0 || st.seen >= len(tableAt(raw, comps, st.elem)) {
						st.elem++
						st.seen = 0
					}
					st.seen++
				}
				comps = append(comps, strconv.Itoa(max(st.elem, 0)))
			}
		}
		path := strings.Join(comps, sep)
		leaf := k[len(k)-1]
		if md.Type(k...) != "ArrayHash" {
			parent := strings.Join(comps[:parentLen], sep)
			d.order[parent] = append(d.order[parent], leaf)
		}
		for l := cur; l < len(lines); l++ {
			if keyOnLine(stripComment(lines[l]), leaf) {
				cur = l
				break
			}
		}
		d.lines[path] = cur + 1
	}
}

// tableAt returns element elem of the array at the indexed path comps in raw, if it is a
// table.
func tableAt(raw map[string]any, comps []string, elem int) map[string]any {
	var v any = raw
	for _, c := range comps {
		switch x := v.(type) {
		case map[string]any:
			v = x[c]
		case []map[string]any:
			i, err := strconv.Atoi(c)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		case []any:
			i, err := strconv.Atoi(c)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	list, _ := asTables(v)
	if elem < 0 || elem >= len(list) {
		return nil
	}
	return list[elem]
}

// stripComment cuts a TOML comment off line (a '#' outside quotes).
func stripComment(line string) string {
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#':
			return line[:i]
		}
	}
	return line
}

// keyOnLine reports whether line defines key (bare or quoted) or names it in a table header.
func keyOnLine(line, key string) bool {
	for off := 0; off <= len(line); {
		i := strings.Index(line[off:], key)
		if i < 0 {
			return false
		}
		i += off
		off = i + 1
		before := byte(' ')
		if i > 0 {
			before = line[i-1]
		}
		if !strings.ContainsRune(" \t[{,.\"'", rune(before)) {
			continue
		}
		rest := line[i+len(key):]
		if len(rest) > 0 && (rest[0] == '"' || rest[0] == '\'') {
			rest = rest[1:]
		}
		rest = strings.TrimLeft(rest, " \t")
		if rest != "" && (rest[0] == '=' || rest[0] == '.' || rest[0] == ']') {
			return true
		}
	}
	return false
}

func (d *decoder) decodeFile(raw map[string]any, f *File) {
	for _, k := range d.keysOf("", raw) {
		v := raw[k]
		switch k {
		case "proxy":
			d.table(v, reflect.ValueOf(&f.Proxy).Elem(), "proxy", "[proxy]")
		case "admin":
			d.table(v, reflect.ValueOf(&f.Admin).Elem(), "admin", "[admin]")
		case "dispatch":
			d.table(v, reflect.ValueOf(&f.Dispatch).Elem(), "dispatch", "[dispatch]")
		case "classify":
			d.table(v, reflect.ValueOf(&f.Classify).Elem(), "classify", "[classify]")
		case "webhook":
			list, ok := asTables(v)
			if !ok {
				d.errorf("webhook", "", "webhook must be an array of tables ([[webhook]])")
				continue
			}
			f.Webhooks = make([]Webhook, len(list))
			for i, m := range list {
				p := "webhook" + sep + strconv.Itoa(i)
				where := "webhook #" + strconv.Itoa(i+1)
				if n, ok := m["name"].(string); ok && n != "" {
					where = "webhook " + strconv.Quote(n)
				}
				d.hookWhere = append(d.hookWhere, where)
				f.Webhooks[i].Line = d.line(p)
				d.table(m, reflect.ValueOf(&f.Webhooks[i]).Elem(), p, where)
			}
		case "rule":
			list, ok := asTables(v)
			if !ok {
				d.errorf("rule", "", "rule must be an array of tables ([[rule]])")
				continue
			}
			f.Rules = make([]Rule, len(list))
			for i, m := range list {
				p := "rule" + sep + strconv.Itoa(i)
				where := "rule #" + strconv.Itoa(i+1)
				if n, ok := m["name"].(string); ok && n != "" {
					where = "rule " + strconv.Quote(n)
				}
				d.ruleWhere = append(d.ruleWhere, where)
				f.Rules[i].Line = d.line(p)
				d.table(m, reflect.ValueOf(&f.Rules[i]).Elem(), p, where)
			}
		default:
			d.errorf(k, "", "unknown section %q", k)
		}
	}
}

// asTables returns v as a list of tables: an array of tables ([[x]]) or an array of inline
// tables (x = [{...}]).
func asTables(v any) ([]map[string]any, bool) {
	switch x := v.(type) {
	case []map[string]any:
		return x, true
	case []any:
		out := make([]map[string]any, len(x))
		for i, e := range x {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, false
			}
			out[i] = m
		}
		return out, true
	}
	return nil, false
}

var durationType = reflect.TypeOf(time.Duration(0))

// table decodes a TOML table into the struct rv by toml tags, strictly.
func (d *decoder) table(v any, rv reflect.Value, path, where string) {
	m, ok := v.(map[string]any)
	if !ok {
		d.errorf(path, where, "must be a table, not %s", tomlType(v))
		return
	}
	t := rv.Type()
	for _, k := range d.keysOf(path, m) {
		fi := -1
		for i := 0; i < t.NumField(); i++ {
			if tag := t.Field(i).Tag.Get("toml"); tag == k && tag != "-" {
				fi = i
				break
			}
		}
		kp := path + sep + k
		if fi < 0 {
			d.errorf(kp, where, "unknown key %q", k)
			continue
		}
		d.value(m[k], rv.Field(fi), kp, where, k)
	}
}

func (d *decoder) value(v any, rv reflect.Value, path, where, key string) {
	bad := func(want string) {
		d.errorf(path, where, "%s must be %s, not %s", key, want, tomlType(v))
	}
	if rv.Type() == durationType {
		switch x := v.(type) {
		case string:
			dur, err := time.ParseDuration(x)
			if err != nil || dur < 0 {
				d.errorf(path, where, "%s: bad duration %q", key, x)
				return
			}
			rv.SetInt(int64(dur))
		case int64:
			rv.SetInt(x)
		default:
			bad("a duration string (\"5s\")")
		}
		return
	}
	switch rv.Kind() {
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			bad("a string")
			return
		}
		rv.SetString(s)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			bad("a boolean")
			return
		}
		rv.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, ok := v.(int64)
		if !ok {
			bad("an integer")
			return
		}
		rv.SetInt(n)
	case reflect.Pointer:
		p := reflect.New(rv.Type().Elem())
		d.value(v, p.Elem(), path, where, key)
		rv.Set(p)
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			bad("a table")
			return
		}
		rv.Set(reflect.ValueOf(m))
	case reflect.Slice:
		et := rv.Type().Elem()
		if et.Kind() == reflect.Interface {
			list, ok := v.([]any)
			if !ok {
				bad("an array")
				return
			}
			rv.Set(reflect.ValueOf(list))
			return
		}
		if et.Kind() == reflect.Struct {
			list, ok := asTables(v)
			if !ok {
				bad("an array of tables")
				return
			}
			s := reflect.MakeSlice(rv.Type(), len(list), len(list))
			for i, m := range list {
				d.table(m, s.Index(i), path+sep+strconv.Itoa(i), where)
			}
			rv.Set(s)
			return
		}
		if s, ok := v.(string); ok && key == "method" {
			v = []any{s}
		}
		list, ok := v.([]any)
		if !ok {
			bad("an array")
			return
		}
		s := reflect.MakeSlice(rv.Type(), len(list), len(list))
		for i, e := range list {
			d.value(e, s.Index(i), path, where, key+"["+strconv.Itoa(i)+"]")
		}
		rv.Set(s)
	default:
		bad("a " + rv.Kind().String())
	}
}

func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a datetime"
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("%T", v)
}

// override applies ov to f. Overridden values lose their file lines: errors about them name
// the section only.
func (d *decoder) override(f *File, ov Overrides) {
	set := func(dst *string, v, path string) {
		if v != "" {
			*dst = v
			d.lines[path] = 0
		}
	}
	set(&f.Proxy.Listen, ov.Listen, "proxy"+sep+"listen")
	set(&f.Proxy.Upstream, ov.Upstream, "proxy"+sep+"upstream")
	set(&f.Admin.Listen, ov.Admin, "admin"+sep+"listen")
	set(&f.Dispatch.DataDir, ov.DataDir, "dispatch"+sep+"data_dir")
	set(&f.Dispatch.Queue, ov.Queue, "dispatch"+sep+"queue")
	if ov.Webhooks != nil {
		f.Webhooks = append([]Webhook(nil), ov.Webhooks...)
		d.hookWhere = d.hookWhere[:0]
		for i := range f.Webhooks {
			w := &f.Webhooks[i]
			w.Line = 0
			where := "webhook #" + strconv.Itoa(i+1)
			if w.Name != "" {
				where = "webhook " + strconv.Quote(w.Name)
			}
			d.hookWhere = append(d.hookWhere, where)
		}
		for k := range d.lines {
			if strings.HasPrefix(k, "webhook"+sep) || k == "webhook" {
				d.lines[k] = 0
			}
		}
	}
}

// fillDefaults sets every zero field of every section to its documented default.
func fillDefaults(f *File) {
	p := &f.Proxy
	setS(&p.Listen, ":8080")
	setD(&p.ReadTimeout, 10*time.Minute)
	setD(&p.WriteTimeout, 10*time.Minute)
	setD(&p.IdleTimeout, 90*time.Second)
	setD(&p.UpstreamTimeout, 60*time.Second)
	setD(&p.DialTimeout, 3*time.Second)
	setI(&p.MaxConns, 1024)
	setI(&p.MaxHeaderBytes, 65536)
	setI(&p.TapBodyLimit, 1<<20)
	setD(&p.ShutdownTimeout, 30*time.Second)

	setS(&f.Admin.Listen, "127.0.0.1:8081")

	q := &f.Dispatch
	setS(&q.Queue, "disk")
	setS(&q.DataDir, "./data")
	setI(&q.MaxInFlight, 500)
	setI(&q.MaxInFlightPerHook, 64)
	setD(&q.Timeout, 20*time.Second)
	if q.Retry == nil {
		q.Retry = []Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour}
	}
	setS(&q.OnSkip, "retry")
	setS(&q.OnStoreError, "reject")
	setD(&q.EnqueueTimeout, 5*time.Second)
	setI(&q.MemoryQueueSize, 65536)
	setI(&q.HistorySize, 100)
	setD(&q.MaxAge, 168*time.Hour)
	if q.MaxBytes == 0 {
		q.MaxBytes = 1 << 30
	}

	c := &f.Classify
	if len(c.User) == 0 {
		c.User = []string{"respheader.X-AUSERNAME", "basic.user"}
	}
	setI(&c.CacheSize, 10000)
	setD(&c.CacheTTL, 30*time.Second)
	setD(&c.LookupTimeout, 2*time.Second)
	setI(&c.EachLookupLimit, 50)
	for j := range c.Lookups {
		if c.Lookups[j].Cache == nil {
			t := true
			c.Lookups[j].Cache = &t
		}
	}

	for i := range f.Webhooks {
		w := &f.Webhooks[i]
		if w.Active == nil {
			t := true
			w.Active = &t
		}
		setS(&w.Payload, "id")
		setD(&w.Timeout, q.Timeout)
	}
	for i := range f.Rules {
		r := &f.Rules[i]
		if len(r.Status) == 0 {
			r.Status = []any{"2xx"}
		}
		setS(&r.OnLookupError, "skip")
		for j := range r.Lookups {
			setS(&r.Lookups[j].Stage, "before")
			if r.Lookups[j].Cache == nil {
				t := r.Lookups[j].XMLRPC == "" // an xmlrpc lookup is never cached (xmlrpc.go)
				r.Lookups[j].Cache = &t
			}
		}
	}
}

func setS(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setI(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setD(p *time.Duration, v time.Duration) {
	if *p == 0 {
		*p = v
	}
}

// validateSections checks everything but the rules, which compile checks.
func (d *decoder) validateSections(f *File) {
	if f.Proxy.Upstream == "" {
		if !d.bad["proxy"+sep+"upstream"] {
			d.errorf("proxy", "[proxy]", "upstream is required (the wiki's \"http://host:port\")")
		}
	} else if err := checkUpstream(f.Proxy.Upstream); err != "" {
		d.errorf("proxy"+sep+"upstream", "[proxy]", "upstream %q: %s", redact(f.Proxy.Upstream), err)
	}
	if err := checkListen(f.Proxy.Listen); err != "" {
		d.errorf("proxy"+sep+"listen", "[proxy]", "listen %q: %s", f.Proxy.Listen, err)
	}
	for _, kv := range []struct {
		key string
		n   int
	}{{"max_conns", f.Proxy.MaxConns}, {"max_header_bytes", f.Proxy.MaxHeaderBytes}, {"tap_body_limit", f.Proxy.TapBodyLimit}} {
		if kv.n < 0 {
			d.errorf("proxy"+sep+kv.key, "[proxy]", "%s must not be negative", kv.key)
		}
	}
	if n := f.Proxy.MaxHeaderBytes; n > 0 && n < 4096 {
		d.errorf("proxy"+sep+"max_header_bytes", "[proxy]", "max_header_bytes must be at least 4096, not %d", n)
	}
	if f.Admin.Listen != "off" {
		if err := checkListen(f.Admin.Listen); err != "" {
			d.errorf("admin"+sep+"listen", "[admin]", "listen %q: %s", f.Admin.Listen, err)
		}
		if f.Admin.Token == "" {
			d.checkEnv("admin"+sep+"token_env", "[admin]", "token_env", f.Admin.TokenEnv)
		}
		if f.Admin.ReadToken == "" {
			d.checkEnv("admin"+sep+"read_token_env", "[admin]", "read_token_env", f.Admin.ReadTokenEnv)
		}
		if f.Admin.ReadToken != "" && f.Admin.ReadToken == f.Admin.Token {
			d.errorf("admin"+sep+"read_token", "[admin]", "read_token must differ from token: it is the one that cannot change anything")
		}
	}
	q := f.Dispatch
	switch {
	case q.Queue == "memory" || q.Queue == "disk":
	case strings.HasPrefix(q.Queue, "nats://") || strings.HasPrefix(q.Queue, "tls://"):
		for _, u := range strings.Split(q.Queue, ",") {
			if pu, err := url.Parse(strings.TrimSpace(u)); err != nil || pu.Host == "" {
				d.errorf("dispatch"+sep+"queue", "[dispatch]", "queue: bad NATS URL %q", redact(u))
			}
		}
		if q.NATSPassword == "" {
			d.checkEnv("dispatch"+sep+"nats_password_env", "[dispatch]", "nats_password_env", q.NATSPassEnv)
		}
		d.checkEnv("dispatch"+sep+"nats_token_env", "[dispatch]", "nats_token_env", q.NATSToken)
	default:
		d.errorf("dispatch"+sep+"queue", "[dispatch]", "queue must be \"memory\", \"disk\" or \"nats://host:port,...\", not %q", redact(q.Queue))
	}
	if q.OnSkip != "retry" && q.OnSkip != "drop" {
		d.errorf("dispatch"+sep+"on_skip", "[dispatch]", "on_skip must be \"retry\" or \"drop\", not %q", q.OnSkip)
	}
	if q.OnStoreError != "reject" && q.OnStoreError != "pass" {
		d.errorf("dispatch"+sep+"on_store_error", "[dispatch]", "on_store_error must be \"reject\" or \"pass\", not %q", q.OnStoreError)
	}
	for _, kv := range []struct {
		key string
		n   int64
	}{{"max_in_flight", int64(q.MaxInFlight)}, {"max_in_flight_per_hook", int64(q.MaxInFlightPerHook)},
		{"memory_queue_size", int64(q.MemoryQueueSize)}, {"history_size", int64(q.HistorySize)}, {"max_bytes", q.MaxBytes}} {
		if kv.n < 0 {
			d.errorf("dispatch"+sep+kv.key, "[dispatch]", "%s must not be negative", kv.key)
		}
	}
	if f.Classify.CacheSize < 0 {
		d.errorf("classify"+sep+"cache_size", "[classify]", "cache_size must not be negative")
	}
	if f.Classify.EachLookupLimit < 0 {
		d.errorf("classify"+sep+"each_lookup_limit", "[classify]", "each_lookup_limit must not be negative")
	}
	for _, p := range f.Classify.RouteAt {
		if !strings.HasPrefix(p, "/") {
			d.errorf("classify"+sep+"route_at", "[classify]", "route_at path %q must start with '/'", p)
		}
	}

	names := map[string]int{}
	for i := range f.Webhooks {
		w := &f.Webhooks[i]
		p := "webhook" + sep + strconv.Itoa(i)
		where := d.hookWhere[i]
		if w.Name == "" && !d.bad[p+sep+"name"] {
			d.errorf(p, where, "name is required")
		} else if HasControl(w.Name) {
			d.errorf(p+sep+"name", where, "name %s holds a control character", strconv.QuoteToASCII(w.Name))
		} else if prev, dup := names[w.Name]; dup && w.Name != "" {
			d.errorf(p+sep+"name", where, "duplicate webhook name (first at line %d)", prev)
		} else {
			names[w.Name] = w.Line
		}
		if w.URL == "" && !d.bad[p+sep+"url"] {
			d.errorf(p, where, "url is required")
		} else if err := checkURL(w.URL); w.URL != "" && err != "" {
			d.errorf(p+sep+"url", where, "url %q: %s", redact(w.URL), err)
		}
		d.checkSecrets(w, p, where)
		if !d.bad[p+sep+"events"] {
			for _, msg := range CheckEvents(w.Events) {
				d.errorf(p+sep+"events", where, "%s", msg)
			}
		}
		if w.Payload != "id" && w.Payload != "full" {
			d.errorf(p+sep+"payload", where, "payload must be \"id\" or \"full\", not %q", w.Payload)
		}
	}
}

// checkEnv reports an error at path when key names an environment variable (name != "")
// that is unset or empty: the part that reads it at startup (the dispatcher for secret_env
// and the NATS credentials) refuses to start without it, and an admin token_env that names
// nothing would leave the admin API read-only, which is not what its author meant. Checking
// here makes -check refuse the file too. The value itself is never shown.
func (d *decoder) checkEnv(path, where, key, name string) {
	if name == "" {
		return
	}
	switch v, ok := os.LookupEnv(name); {
	case !ok:
		d.errorf(path, where, "%s %s is not set", key, name)
	case v == "":
		d.errorf(path, where, "%s %s is empty", key, name)
	}
}

// checkUpstream returns why s is not an upstream the proxy can use, or "": the proxy
// (proxy.New) takes http://host[:port] and nothing else (no https, path, query, user or
// fragment; a lone "/" path is allowed).
func checkUpstream(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "not a URL"
	}
	if u.Scheme != "http" {
		return "must be http://host[:port]: the proxy reaches the upstream over plain HTTP"
	}
	if u.Host == "" || u.Hostname() == "" {
		return "has no host"
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.ForceQuery || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return "must be http://host[:port], with no path, query, user or fragment"
	}
	return ""
}

// redact returns s, a URL or a comma-separated list of URLs, with each password replaced
// by *** ("nats://user:***@host"), for error messages. s need not parse.
func redact(s string) string {
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

// checkURL returns why s is not an absolute http(s) URL with a host, or "".
func checkURL(s string) string {
	if HasControl(s) {
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

// checkListen returns why s is not a "host:port" listen address, or "".
func checkListen(s string) string {
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
