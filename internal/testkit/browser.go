package testkit

import (
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// Chromium returns the Chromium binary to drive: HOOKTAP_CHROMIUM, else /usr/bin/chromium,
// else chromium or chromium-browser on PATH. Without one the test is skipped, saying how to
// run it, except under CI (CI set, as .ci/run runs), which installs Chromium and must never
// skip a browser test.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("HOOKTAP_CHROMIUM"), "/usr/bin/chromium"} {
		if fi, err := os.Stat(p); p != "" && err == nil && !fi.IsDir() {
			return p
		}
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const how = "`apt-get install -y chromium` (.ci/run does), or point HOOKTAP_CHROMIUM at a Chromium binary"
	if os.Getenv("CI") != "" {
		t.Fatal("Chromium is not installed, and CI must run the browser tests: install it with " + how)
	}
	t.Skip("Chromium is not installed (and CI is not set): " + how)
	return ""
}

// ChromeOptions are the options that start headless Chromium exe here (as root, on a machine
// with no network: background networking off), with a profile of the test's own.
func ChromeOptions(t testing.TB, exe string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	}
}
