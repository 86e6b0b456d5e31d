package main

import (
	"crypto/hmac"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"hooktap/config"
	"hooktap/dispatch"
	"hooktap/wiki"
)

// shippedRules is the default rule pack, built into the binary so that `hooktap demo` needs
// no file on disk.
//
//go:embed rules.toml
var shippedRules []byte

// demoSecret signs the demo's deliveries; the demo receiver checks both signatures with it.
const demoSecret = "demo-secret"

// demoFlags are the flags of `hooktap demo`.
type demoFlags struct {
	listen, wiki, receiver, admin, queue string
	verbose                              bool
}

// parseDemoFlags reads args; when it returns ok false, the demo exits with code.
func parseDemoFlags(args []string, stderr io.Writer) (f demoFlags, code int, ok bool) {
	fs := flag.NewFlagSet("hooktap demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "where hooktap listens (the wiki as users see it)")
	fs.StringVar(&f.wiki, "wiki", "127.0.0.1:8090", "where the sample wiki listens")
	fs.StringVar(&f.receiver, "receiver", "127.0.0.1:9000", "where the demo receiver listens")
	fs.StringVar(&f.admin, "admin", "127.0.0.1:8081", `admin API and page, or "off"`)
	fs.StringVar(&f.queue, "queue", "memory", `"memory" or "disk" (embedded JetStream in a temporary directory)`)
	fs.BoolVar(&f.verbose, "v", false, "log hooktap's own lines too")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: hooktap demo [flags]\n\nRuns a sample Confluence-like wiki, hooktap in front of it with the default rules,\nand a receiver that verifies signatures and prints every event.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return f, 0, false
		}
		return f, 2, false
	}
	return f, 0, true
}

// runDemo runs the whole loop on one machine: the sample wiki as upstream, hooktap in front of
// it with the shipped rules.toml, and a receiver that checks signatures and prints each event.
func runDemo(args []string, stdout, stderr io.Writer) int {
	f, code, ok := parseDemoFlags(args, stderr)
	if !ok {
		return code
	}

	ctx := signalContext()

	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	// The sample wiki.
	wln, err := listenOrAny(f.wiki)
	if err != nil {
		fmt.Fprintln(stderr, "demo: wiki listener:", err)
		return 1
	}
	w := wiki.New()
	wsrv := &fasthttp.Server{Handler: w.Handler(), Name: "sample-wiki"}
	go wsrv.Serve(wln)
	defer wsrv.Shutdown()

	// The receiver.
	rln, err := listenOrAny(f.receiver)
	if err != nil {
		fmt.Fprintln(stderr, "demo: receiver listener:", err)
		return 1
	}
	rcv := &demoReceiver{out: stdout, secret: []byte(demoSecret)}
	rsrv := &http.Server{Handler: rcv, ReadHeaderTimeout: 10 * time.Second}
	go rsrv.Serve(rln)
	defer rsrv.Close()

	// hooktap's data directory (the disk queue, the admin API's webhooks) is always a new
	// temporary one: a demo must never read or rewrite the ./data of the directory it happens
	// to run in.
	data, err := os.MkdirTemp("", "hooktap-demo-")
	if err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 1
	}
	defer os.RemoveAll(data)
	file, err := demoRules(f, wln.Addr(), rln.Addr(), data)
	if err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 1
	}

	onReady := func(p, a net.Addr) {
		printDemoIntro(stdout, p.String(), wln.Addr().String(), rln.Addr().String(), a)
	}
	if err := serve(ctx, file, nil, nil, log, onReady); err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 1
	}
	fmt.Fprintf(stdout, "\ndemo stopped: %d events received, %d with bad signatures\n", rcv.count(), rcv.badCount())
	return 0
}

// demoRules is hooktap's configuration for the demo: the shipped rules pointed at the wiki
// (upstream), with one webhook to the receiver and data kept under data.
func demoRules(f demoFlags, upstream, receiver net.Addr, data string) (*config.File, error) {
	file, err := config.ParseWith("rules.toml (built in)", shippedRules, config.Overrides{
		Listen:   f.listen,
		Upstream: "http://" + upstream.String(),
		Admin:    f.admin,
		DataDir:  data,
		Queue:    f.queue,
		Webhooks: []dispatch.Webhook{{
			Name:   "demo receiver",
			URL:    "http://" + receiver.String() + "/hook",
			Secret: demoSecret,
			Events: []string{"*"},
		}},
	})
	if err != nil {
		return nil, err
	}
	// The receiver is local, which the target policy refuses by default: allow exactly its
	// address.
	file.Dispatch.AllowTargets = append(file.Dispatch.AllowTargets, receiver.(*net.TCPAddr).AddrPort().Addr().Unmap().String())
	// A busy demo port falls back to any free one.
	if ln, err := listenOrAny(file.Proxy.Listen); err == nil {
		file.Proxy.Listen = ln.Addr().String()
		ln.Close()
	}
	if file.Admin.Listen != "off" {
		if ln, err := listenOrAny(file.Admin.Listen); err == nil {
			file.Admin.Listen = ln.Addr().String()
			ln.Close()
		}
	}
	return file, nil
}

// listenOrAny listens on addr, or on any free port of the same host when addr is taken.
func listenOrAny(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	host, _, serr := net.SplitHostPort(addr)
	if serr != nil {
		return nil, err
	}
	return net.Listen("tcp", net.JoinHostPort(host, "0"))
}

func printDemoIntro(w io.Writer, proxyAddr, wikiAddr, recvAddr string, adminAddr net.Addr) {
	base := "http://" + proxyAddr
	fmt.Fprintf(w, `hooktap demo
  sample wiki   http://%s   (Confluence-like REST API; user admin/admin, space DS)
  hooktap       %s   (the wiki as users see it, with the default rules.toml)
  receiver      http://%s/hook   (checks X-Hub-Signature and webhook-signature)
`, wikiAddr, base, recvAddr)
	if adminAddr != nil {
		fmt.Fprintf(w, "  admin page    http://%s/\n", adminAddr)
	}
	fmt.Fprintf(w, `
Try, in another terminal:

  # create a page: page_created + content_created
  curl -s -u admin:admin -H 'Content-Type: application/json' \
    -d '{"type":"page","title":"Hello","space":{"key":"DS"},"body":{"storage":{"value":"<p>hi</p>","representation":"storage"}}}' \
    %[1]s/rest/api/content

  # label it: label_created + label_added
  curl -s -u admin:admin -H 'Content-Type: application/json' \
    -d '[{"prefix":"global","name":"release"}]' %[1]s/rest/api/content/1002/label

  # edit it: page_updated + content_updated
  curl -s -u admin:admin -X PUT -H 'Content-Type: application/json' \
    -d '{"type":"page","title":"Hello again","version":{"number":2},"body":{"storage":{"value":"<p>hi!</p>","representation":"storage"}}}' \
    %[1]s/rest/api/content/1002

  # send it to the trash (page_removed), then purge it (page_trashed + content_trashed)
  curl -s -u admin:admin -X DELETE %[1]s/rest/api/content/1002
  curl -s -u admin:admin -X DELETE '%[1]s/rest/api/content/1002?status=trashed'

  # a read: no event
  curl -s -u admin:admin %[1]s/rest/api/content/1002

Events appear below as the receiver gets them. Ctrl-C stops everything.

`, base)
}

// demoReceiver is the demo's webhook receiver: it checks both signatures of every delivery
// with the standard library alone and prints the event.
type demoReceiver struct {
	out    io.Writer
	secret []byte

	mu  sync.Mutex // guards n, bad and writes to out
	n   int
	bad int
}

func (r *demoReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "read error", http.StatusBadRequest)
		return
	}
	hubOK := verifyHub(r.secret, body, req.Header.Get("X-Hub-Signature"))
	swOK := verifyStandard(r.secret, body, req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp"), req.Header.Get("webhook-signature"))
	event := req.Header.Get("X-Event-Key")

	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	mark := "ok"
	if !hubOK || !swOK {
		r.bad++
		mark = fmt.Sprintf("BAD SIGNATURE (X-Hub-Signature %v, webhook-signature %v)", hubOK, swOK)
	}
	fmt.Fprintf(r.out, "%s  %-27s signatures %s  webhook-id %s\n    %s\n",
		time.Now().Format("15:04:05.000"), event, mark, req.Header.Get("webhook-id"), body)
	w.WriteHeader(http.StatusNoContent)
}

func (r *demoReceiver) count() int    { r.mu.Lock(); defer r.mu.Unlock(); return r.n }
func (r *demoReceiver) badCount() int { r.mu.Lock(); defer r.mu.Unlock(); return r.bad }

// verifyHub checks X-Hub-Signature: sha256=<lowercase hex HMAC-SHA256(secret, body)>.
func verifyHub(secret, body []byte, header string) bool {
	got, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal([]byte(got), []byte(hex.EncodeToString(mac.Sum(nil))))
}

// verifyStandard checks Standard Webhooks' webhook-signature: v1,<base64 HMAC-SHA256(secret,
// id.timestamp.body)>, any of the space-separated entries.
func verifyStandard(secret, body []byte, id, ts, header string) bool {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(header) {
		if v, ok := strings.CutPrefix(sig, "v1,"); ok && hmac.Equal([]byte(v), []byte(want)) {
			return true
		}
	}
	return false
}
