package proxy

import (
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const gib = 1 << 30

// streamSize is what the big streaming tests move: 1 GiB, or 128 MiB under the race detector.
func streamSize() int64 {
	if raceEnabled {
		return 128 << 20
	}
	return gib
}

// heapWatch samples the heap in use while a transfer runs and reports the peak growth over
// the level measured (after a GC) when it started.
type heapWatch struct {
	base uint64
	peak atomic.Uint64
	stop chan struct{}
	done chan struct{}
}

func watchHeap() *heapWatch {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w := &heapWatch{base: ms.HeapInuse, stop: make(chan struct{}), done: make(chan struct{})}
	w.peak.Store(ms.HeapInuse)
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stop:
				return
			default:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > w.peak.Load() {
				w.peak.Store(ms.HeapInuse)
			}
			// ReadMemStats stops the world; a few hundred samples per second are plenty.
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return w
}

// growth stops sampling and returns the peak heap growth in bytes.
func (w *heapWatch) growth() uint64 {
	close(w.stop)
	<-w.done
	return w.peak.Load() - w.base
}

// TestStream1GiBUploadBoundedMemory sends 1 GiB through the proxy to an upstream that hashes
// it; the proxy (and the whole test process) must grow its heap by less than 64 MiB.
func TestStream1GiBUploadBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: moves 1 GiB over loopback (CI runs without -short)")
	}
	size := streamSize()
	var got [32]byte
	var n int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, _ = io.Copy(h, r.Body)
		copy(got[:], h.Sum(nil))
	}))
	defer up.Close()
	_, addr, _ := startProxy(t, cfgFor(up.URL), nil)
	want := patternHash(size)

	w := watchHeap()
	req, _ := http.NewRequest("PUT", "http://"+addr+"/rest/api/content/1/child/attachment", &countingReader{left: size})
	req.ContentLength = size
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	grew := w.growth()
	t.Logf("%d MiB upload: peak heap growth %.1f MiB", size>>20, float64(grew)/(1<<20))
	if resp.StatusCode != 200 || n != size || got != want {
		t.Fatalf("upload: status %d, upstream got %d bytes, hash match %v", resp.StatusCode, n, got == want)
	}
	if grew >= 64<<20 {
		t.Errorf("heap grew by %d MiB during a %d MiB upload, want < 64 MiB", grew>>20, size>>20)
	}
}

// TestStream1GiBDownloadBoundedMemory is the same for a response body.
func TestStream1GiBDownloadBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: moves 1 GiB over loopback (CI runs without -short)")
	}
	size := streamSize()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		_, _ = io.Copy(w, &countingReader{left: size})
	}))
	defer up.Close()
	_, addr, _ := startProxy(t, cfgFor(up.URL), nil)
	want := patternHash(size)

	w := watchHeap()
	resp, err := http.Get("http://" + addr + "/download/big.iso")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	grew := w.growth()
	t.Logf("%d MiB download: peak heap growth %.1f MiB", size>>20, float64(grew)/(1<<20))
	if err != nil || n != size || [32]byte(h.Sum(nil)) != want {
		t.Fatalf("download: %d bytes, err %v, hash match %v", n, err, [32]byte(h.Sum(nil)) == want)
	}
	if grew >= 64<<20 {
		t.Errorf("heap grew by %d MiB during a %d MiB download, want < 64 MiB", grew>>20, size>>20)
	}
}

// TestStreamChunkedDownloadIntact checks a large chunked (unknown-length) body end to end.
func TestStreamChunkedDownloadIntact(t *testing.T) {
	const size = 64 << 20
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, &countingReader{left: size}) // no Content-Length: chunked
	}))
	defer up.Close()
	_, addr, _ := startProxy(t, cfgFor(up.URL), nil)
	var wg sync.WaitGroup
	for range 4 { // concurrently, so pooled bodies and connections are reused under load
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get("http://" + addr + "/export")
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			h := sha256.New()
			n, err := io.Copy(h, resp.Body)
			if err != nil || n != size || [32]byte(h.Sum(nil)) != patternHash(size) {
				t.Errorf("chunked download: %d bytes, err %v", n, err)
			}
		}()
	}
	wg.Wait()
}

// TestUpgradeRefusalBodyBoundedMemory checks that the upstream's answer to an Upgrade
// request, when it is not 101, is streamed like any response rather than read whole.
func TestUpgradeRefusalBodyBoundedMemory(t *testing.T) {
	size := int64(128 << 20)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.Copy(w, &countingReader{left: size})
	}))
	defer up.Close()
	_, addr, _ := startProxy(t, cfgFor(up.URL), nil)
	want := patternHash(size)

	w := watchHeap()
	req, _ := http.NewRequest("GET", "http://"+addr+"/ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	grew := w.growth()
	t.Logf("%d MiB refusal body: peak heap growth %.1f MiB", size>>20, float64(grew)/(1<<20))
	if resp.StatusCode != 403 || err != nil || n != size || [32]byte(h.Sum(nil)) != want {
		t.Fatalf("refusal: status %d, %d bytes, err %v, hash match %v", resp.StatusCode, n, err, [32]byte(h.Sum(nil)) == want)
	}
	if grew >= 64<<20 {
		t.Errorf("heap grew by %d MiB relaying a %d MiB refusal, want < 64 MiB", grew>>20, size>>20)
	}
}
