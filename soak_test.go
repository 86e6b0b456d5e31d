package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// soakPage is the body of every read the soak test makes.
var soakPage = strings.Repeat("<p>wiki page text</p>\n", 400)

// soakDuration is how long TestSoak drives traffic: HOOKTAP_SOAK (a Go duration), else 20s,
// 5s with -short.
func soakDuration(t *testing.T) time.Duration {
	if v := os.Getenv("HOOKTAP_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("HOOKTAP_SOAK=%q: want a positive Go duration such as 3m", v)
		}
		return d
	}
	if testing.Short() {
		return 5 * time.Second
	}
	return 20 * time.Second
}

// flapper is a receiver that goes down and up on a schedule of request counts: of every 25
// requests, two get a 500 and two have their connection closed unanswered, in runs short of
// the breaker's threshold of 5; the rest go to the recording receiver.
type flapper struct {
	rc            *durReceiver
	n             atomic.Int64
	status500     atomic.Int64
	closed        atomic.Int64
	hijackFailure atomic.Int64
}

func (f *flapper) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch f.n.Add(1) % 25 {
	case 20, 21:
		_, _ = io.Copy(io.Discard, r.Body)
		f.status500.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	case 22, 23:
		f.closed.Add(1)
		c, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			f.hijackFailure.Add(1)
			return
		}
		_ = c.Close()
	default:
		f.rc.ServeHTTP(w, r)
	}
}

// vmRSS reads a process's resident memory (VmRSS) in KiB; 0 once it is gone.
func vmRSS(pid int) int64 {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}

// TestSoak runs the real binary for soakDuration under mixed load: reads of a wiki page
// (untapped), page-creating writes (tapped, durable queue), and a receiver that flaps. Then
// every write that got a 2xx must have its event delivered (duplicates are counted, not
// failed: at-least-once), every read must have got the page, and hooktap's resident memory
// over the last third of the run must not have grown past the first third's (after warm-up).
func TestSoak(t *testing.T) {
	dur := soakDuration(t)
	upstream := "http://" + serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/wiki/"):
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, soakPage)
		case r.Method == http.MethodPost && r.URL.Path == "/rest/api/content":
			var n int64
			b, _ := io.ReadAll(r.Body)
			if _, err := fmt.Sscanf(string(b), `{"n":%d`, &n); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":%d,"type":"page"}`, n)
		default:
			http.NotFound(w, r)
		}
	}))
	rc := newDurReceiver()
	fl := &flapper{rc: rc}
	hook := "http://" + serveHTTP(t, fl) + "/hook"
	config := durConfig(t, "disk", hook, 16, "enqueue_timeout = \"60s\"")
	p := startHooktap(t, config, upstream, t.TempDir())
	p.waitOpen(t)
	pid := p.cmd.Process.Pid

	w := startWriters(4, 1<<40, func(int) string { return p.addr })
	defer w.halt()
	var reads, badReads atomic.Int64
	var firstBad atomic.Value
	stopReads := make(chan struct{})
	var rwg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second}
	for g := 0; g < 4; g++ {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for i := 0; ; i++ {
				select {
				case <-stopReads:
					return
				default:
				}
				resp, err := client.Get("http://" + p.addr + "/wiki/Page_" + strconv.Itoa(i%100))
				if err != nil {
					badReads.Add(1)
					firstBad.CompareAndSwap(nil, err.Error())
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || string(b) != soakPage {
					badReads.Add(1)
					firstBad.CompareAndSwap(nil, fmt.Sprintf("status %d, %d bytes, %v", resp.StatusCode, len(b), err))
					continue
				}
				reads.Add(1)
			}
		}()
	}

	var samples []int64
	start := time.Now()
	tick := time.NewTicker(250 * time.Millisecond)
	lastLog := start
	for now := range tick.C {
		samples = append(samples, vmRSS(pid))
		if now.Sub(lastLog) >= 5*time.Second || now.Sub(start) >= dur {
			lastLog = now
			t.Logf("soak %v/%v: %d reads, %d writes accepted, %d receiver requests (%d 500s, %d closed), RSS %d MiB",
				now.Sub(start).Round(time.Second), dur, reads.Load(), w.count(), fl.n.Load(), fl.status500.Load(), fl.closed.Load(), samples[len(samples)-1]>>10)
		}
		if now.Sub(start) >= dur {
			break
		}
	}
	tick.Stop()
	close(stopReads)
	rwg.Wait()
	w.halt()

	waitDelivered(t, rc, w.ok, p.stderr)
	dups := checkDelivered(t, rc, w.ok, nil, -1)
	t.Logf("soak done: %d reads, %d writes accepted and all delivered (%d delivered more than once), receiver flapped %d+%d times",
		reads.Load(), len(w.ok), dups, fl.status500.Load(), fl.closed.Load())
	if n := badReads.Load(); n > 0 {
		t.Errorf("%d reads failed, first: %v", n, firstBad.Load())
	}
	if n := w.failed.Load(); n > 0 {
		t.Errorf("%d writes failed, want none (the queue accepts while the receiver flaps)", n)
	}
	if len(w.ok) == 0 || reads.Load() == 0 || fl.status500.Load() == 0 || fl.closed.Load() == 0 {
		t.Fatalf("the soak did not exercise every path: %d writes, %d reads, %d 500s, %d closes",
			len(w.ok), reads.Load(), fl.status500.Load(), fl.closed.Load())
	}

	// Memory: the first quarter is warm-up; of the rest, the last third's peak must stay
	// within 1.5x + 16 MiB of the first third's.
	rest := samples[len(samples)/4:]
	third := len(rest) / 3
	if third == 0 {
		t.Fatalf("only %d memory samples", len(samples))
	}
	first, last := slicesMax(rest[:third]), slicesMax(rest[len(rest)-third:])
	t.Logf("hooktap RSS after warm-up: first third's peak %d MiB, last third's peak %d MiB (%d samples)", first>>10, last>>10, len(samples))
	if last > first*3/2+16<<10 {
		t.Errorf("hooktap's memory grew during the soak: last third's peak %d KiB, first third's %d KiB", last, first)
	}
}

func slicesMax(s []int64) int64 {
	m := s[0]
	for _, v := range s[1:] {
		m = max(m, v)
	}
	return m
}
