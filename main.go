// Command hooktap is a reverse proxy that gives any wiki or CMS Confluence's webhooks: it
// forwards every request to the upstream untouched, recognises write requests with the rules
// of a TOML file, and delivers each recognised event as a signed JSON webhook.
//
//	hooktap -config rules.toml            run the sidecar
//	hooktap -config rules.toml -check     validate the file and exit
//	hooktap demo                          a sample wiki, hooktap and a receiver on one machine
//	hooktap explain -config rules.toml F  why each exchange of a case or HAR file matched or not
//	hooktap test -config rules.toml DIR   run case files against the rules, diff per failure
//
// main only parses flags, loads the rules file and wires proxy, rules, dispatch and admin
// together; the logic lives in those packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"syscall"
	"time"

	"hooktap/admin"
	"hooktap/config"
	"hooktap/dispatch"
	"hooktap/proxy"
	"hooktap/rules"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	if len(os.Args) > 1 {
		if sub := subcommand(os.Args[1]); sub != nil { // demo, explain, test
			os.Exit(sub(os.Args[2:], os.Stdout, os.Stderr))
		}
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// flags are the command line of the sidecar; a non-empty value overrides the rules file.
type flags struct {
	config, listen, upstream, admin, data string
	check, version                        bool
}

func parseFlags(args []string, stderr io.Writer) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("hooktap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.config, "config", "rules.toml", "the rules file")
	fs.StringVar(&f.listen, "listen", "", "address clients connect to (overrides [proxy] listen)")
	fs.StringVar(&f.upstream, "upstream", "", "URL of the wiki/CMS (overrides [proxy] upstream)")
	fs.StringVar(&f.admin, "admin", "", `admin API address, or "off" (overrides [admin] listen)`)
	fs.StringVar(&f.data, "data", "", "data directory of the durable queue (overrides [dispatch] data_dir)")
	fs.BoolVar(&f.check, "check", false, "validate the rules file, print every error with file:line, and exit")
	fs.BoolVar(&f.version, "version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: hooktap [flags]\n       hooktap demo [-h]\n       hooktap explain [-config rules.toml] FILE\n       hooktap test [-config rules.toml] DIR...\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return f, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return f, nil
}

// overrides returns the command-line values that replace the rules file's.
func (f flags) overrides() config.Overrides {
	return config.Overrides{Listen: f.listen, Upstream: f.upstream, Admin: f.admin, DataDir: f.data}
}

func run(args []string, stdout, stderr io.Writer) int {
	fl, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fl.version {
		fmt.Fprintf(stdout, "hooktap %s\n", version)
		return 0
	}
	file, err := loadFile(fl.config, fl.overrides())
	if fl.check {
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintln(stdout, file.Summary())
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	ctx := signalContext()
	// A reload is asked for by SIGHUP or by a change of the file (polled: cheap, and it works
	// on every file system and editor's way of saving).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	go watchFile(wctx, fl.config, 2*time.Second, hup)

	reload := func() (*config.File, error) { return loadFile(fl.config, fl.overrides()) }
	if err := serve(ctx, file, reload, hup, log, nil); err != nil {
		log.Error("hooktap stopped", "err", err)
		return 1
	}
	return 0
}

// watchFile sends on ch (without blocking: one pending reload is enough) whenever the file at
// path changes its size or modification time, checking every interval until ctx ends.
func watchFile(ctx context.Context, path string, interval time.Duration, ch chan<- os.Signal) {
	stamp := func() (time.Time, int64) {
		fi, err := os.Stat(path)
		if err != nil {
			return time.Time{}, -1
		}
		return fi.ModTime(), fi.Size()
	}
	mt, size := stamp()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m, sz := stamp()
		if m.Equal(mt) && sz == size {
			continue
		}
		mt, size = m, sz
		select {
		case ch <- syscall.SIGHUP:
		default:
		}
	}
}

// signalContext returns a context that ends at the first SIGINT or SIGTERM. The signals are
// handed back to the runtime before the context ends, so a second one ends the process at
// once instead of waiting for the graceful shutdown, however late the shutdown code runs.
// (signal.NotifyContext ends the context first: a second signal arriving before its stop
// function ran was swallowed.)
func signalContext() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-ch
		signal.Stop(ch)
		cancel()
	}()
	return ctx
}

// loadFile loads the rules file and applies the target policy it sets to its webhooks, so
// that a refused webhook URL is a load error with its file and line.
func loadFile(path string, ov config.Overrides) (*config.File, error) {
	file, err := config.LoadWith(path, ov)
	if err != nil {
		return nil, err
	}
	if err := file.CheckTargets(); err != nil {
		return nil, err
	}
	return file, nil
}

// restartOnly names the sections of next that differ from cur and that a reload does not
// apply: they take effect at the next start.
func restartOnly(cur, next *config.File) []string {
	var s []string
	if !reflect.DeepEqual(cur.Proxy, next.Proxy) {
		s = append(s, "[proxy]")
	}
	if !reflect.DeepEqual(cur.Admin, next.Admin) {
		s = append(s, "[admin]")
	}
	if !reflect.DeepEqual(cur.Dispatch, next.Dispatch) {
		s = append(s, "[dispatch]")
	}
	if cur.Classify.CacheSize != next.Classify.CacheSize || cur.Classify.CacheTTL != next.Classify.CacheTTL {
		s = append(s, "[classify] cache_size/cache_ttl")
	}
	return s
}

// ready is told the addresses actually bound, for the demo and tests.
type ready func(proxyAddr, adminAddr net.Addr)

// serve runs hooktap until ctx ends: the dispatcher, the proxy tapping into the classifier,
// and the admin server. A value on hup (SIGHUP, or the file watcher) reloads the rules file
// through reload; a bad file is refused and the running one stays. Shutdown runs in a fixed
// order (see members).
func serve(ctx context.Context, file *config.File, reload func() (*config.File, error), hup <-chan os.Signal, log *slog.Logger, onReady ready) error {
	p, err := build(file, log)
	if err != nil {
		return err
	}
	log.Info("hooktap running", "version", version, "listen", p.pln.Addr().String(),
		"upstream", file.Proxy.Upstream, "admin", addrOf(p.aln), "queue", queueKind(file.Dispatch.Queue),
		"rules", len(file.Rules), "webhooks", len(file.Webhooks))
	if onReady != nil {
		var aa net.Addr
		if p.aln != nil {
			aa = p.aln.Addr()
		}
		onReady(p.pln.Addr(), aa)
	}
	err = runGroup(ctx, log, p.members(file, reload, hup, log)...)
	log.Info("hooktap stopped")
	return err
}

// parts are hooktap's wired parts and its bound listeners (aln is nil when the admin
// listener is off).
type parts struct {
	cls      *rules.Classifier
	d        *dispatch.Dispatcher
	px       *proxy.Server
	adm      *admin.Server
	pln, aln net.Listener
}

// build compiles the rules and wires the dispatcher, the classifier, the proxy and the admin
// server, then binds the listeners.
func build(file *config.File, log *slog.Logger) (*parts, error) {
	m, err := matcher(file)
	if err != nil {
		return nil, err
	}
	// No webhooks here: they have one way in, the admin server's Load below, which merges the
	// file's with those made through its API and hands the dispatcher the set.
	d, err := dispatch.New(file.Dispatch, nil, log.With("part", "dispatch"), dispatch.WithVersion(version))
	if err != nil {
		return nil, err
	}
	// hooktap's own listeners are never webhook targets (a loop), whatever allow_targets
	// says: the configured addresses now, so that webhooks the admin API adds are checked
	// against them, and the bound ones (a port 0 resolved) below.
	own := []string{file.Proxy.Listen}
	if file.Admin.Listen != "off" {
		own = append(own, file.Admin.Listen)
	}
	d.SetOwnListeners(own...)
	cls := rules.NewClassifier(m, file.Classify, d, log.With("part", "rules"))
	px, err := proxy.New(file.Proxy, cls, log.With("part", "proxy"))
	if err != nil {
		return nil, err
	}
	// The admin server is built even when its listener is off: it owns the webhooks made
	// through its API (kept in the data directory) and pushes the merged set to the dispatcher.
	upCheck, err := admin.UpstreamCheck(file.Proxy.Upstream)
	if err != nil {
		return nil, err
	}
	adm, err := admin.New(file.Admin, admin.Deps{
		Dispatcher: d,
		Proxy:      admin.ProxyStatsFunc(func() admin.ProxyCounters { return proxyCounters(px.Stats()) }),
		Classifier: cls,
		Checks: []admin.Check{
			{Name: "upstream", Checker: upCheck},
			{Name: "queue", Checker: admin.QueueCheck(d)},
		},
		Webhooks: file.Webhooks,
		DataDir:  file.Dispatch.DataDir,
	}, log.With("part", "admin"))
	if err != nil {
		return nil, err
	}
	if err := adm.Load(); err != nil {
		return nil, err
	}
	p := &parts{cls: cls, d: d, px: px, adm: adm}
	if p.pln, err = net.Listen("tcp", file.Proxy.Listen); err != nil {
		return nil, fmt.Errorf("proxy listener: %w", err)
	}
	if file.Admin.Listen != "off" {
		if p.aln, err = net.Listen("tcp", file.Admin.Listen); err != nil {
			p.pln.Close()
			return nil, fmt.Errorf("admin listener: %w", err)
		}
		own = append(own, p.aln.Addr().String())
	}
	d.SetOwnListeners(append(own, p.pln.Addr().String())...)
	return p, nil
}

// members are the run group's members in their stop order: the reloader (no reload during
// a shutdown), the proxy (it stops accepting and finishes in-flight requests, whose events
// are enqueued), the dispatcher (in-flight attempts finish or stay unacknowledged in the
// queue), then the admin server, which reports on the others until the end.
func (p *parts) members(file *config.File, reload func() (*config.File, error), hup <-chan os.Signal, log *slog.Logger) []member {
	grace := file.Proxy.ShutdownTimeout
	dctx, dcancel := context.WithCancel(context.Background())
	rctx, rcancel := context.WithCancel(context.Background())
	members := []member{
		{name: "reloader", grace: time.Minute, stop: rcancel, run: func() error {
			reloader(rctx, file, reload, hup, p.cls, p.adm, log)
			return nil
		}},
		{name: "proxy", grace: time.Minute, run: func() error { return p.px.Serve(p.pln) }, stop: func() {
			log.Info("shutting down: finishing in-flight requests", "grace", grace)
			sctx, scancel := context.WithTimeout(context.Background(), grace)
			defer scancel()
			if err := p.px.Shutdown(sctx); err != nil {
				log.Warn("proxy shutdown", "err", err)
			}
		}},
		{name: "dispatcher", grace: grace + 30*time.Second, stop: dcancel, run: func() error {
			if err := p.d.Run(dctx); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		}},
	}
	if p.aln != nil {
		members = append(members, member{name: "admin server", grace: time.Minute, run: func() error { return p.adm.Serve(p.aln) }, stop: func() {
			actx, acancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer acancel()
			_ = p.adm.Shutdown(actx)
		}})
	}
	return members
}

// reloader applies the rules file again at each value on hup until ctx ends. A file that
// does not load or compile, or whose webhooks the admin server refuses, is refused whole
// and the running rules stay.
func reloader(ctx context.Context, file *config.File, reload func() (*config.File, error), hup <-chan os.Signal, cls *rules.Classifier, adm *admin.Server, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		next, err := reload()
		if err != nil {
			log.Error("reload refused; the running rules stay", "err", err)
			continue
		}
		nm, err := matcher(next)
		if err != nil {
			log.Error("reload refused; the running rules stay", "err", err)
			continue
		}
		// The admin server merges the file's webhooks with the API's and applies the set.
		if err := adm.SetFileWebhooks(next.Webhooks); err != nil {
			log.Error("reload refused; the running rules stay", "err", err)
			continue
		}
		cls.Reload(nm)
		log.Info("rules reloaded", "rules", len(next.Rules), "webhooks", len(next.Webhooks))
		if changed := restartOnly(file, next); len(changed) > 0 {
			log.Warn("reload applies rules and webhooks only; these changes take effect at the next start", "sections", strings.Join(changed, ", "))
		}
	}
}

// queueKind names the queue for the log without its URLs, which may carry credentials.
func queueKind(q string) string {
	switch {
	case q == "memory" || q == "disk":
		return q
	case q == "":
		return "disk"
	}
	return fmt.Sprintf("nats (%d servers)", len(strings.Split(q, ",")))
}

func addrOf(ln net.Listener) string {
	if ln == nil {
		return "off"
	}
	return ln.Addr().String()
}

// proxyCounters adapts the proxy's counters to the admin server's shape (admin does not
// import proxy).
func proxyCounters(st proxy.Stats) admin.ProxyCounters {
	c := admin.ProxyCounters{
		UpstreamErrors: st.UpstreamErrors, Timeouts: st.Timeouts, Tapped: st.Tapped,
		TapRejected: st.TapRejected, TapTruncated: st.TapTruncated, Upgrades: st.Upgrades,
		ClientErrors: st.ClientErrors,
	}
	for m := range st.Requests {
		for k, n := range st.Requests[m] {
			c.Requests = append(c.Requests, admin.RequestCount{Method: proxy.MethodNames[m], Class: proxy.ClassNames[k], N: n})
		}
	}
	return c
}

// matcher is file's compiled rules: the compilation its loading made, else a new one (a File
// built in Go, as the demo's).
func matcher(file *config.File) (*rules.Matcher, error) {
	if m := file.Matcher(); m != nil {
		return m, nil
	}
	return rules.Compile(&file.File)
}
