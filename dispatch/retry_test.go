package dispatch

import (
	"testing"
	"time"
)

func TestRetryDelaySchedule(t *testing.T) {
	sched := defaultRetry
	for i, base := range sched {
		lo, _ := retryDelay(sched, i+1, 0, 0)
		mid, _ := retryDelay(sched, i+1, 0.5, 0)
		hi, ok := retryDelay(sched, i+1, 0.999999, 0)
		if !ok || lo != time.Duration(float64(base)*0.8) || mid != base || hi < base || hi > time.Duration(float64(base)*1.2) {
			t.Errorf("attempt %d: got %s..%s..%s (%v), want %s ±20%%", i+1, lo, mid, hi, ok, base)
		}
	}
	if _, ok := retryDelay(sched, len(sched)+1, 0.5, 0); ok {
		t.Errorf("attempt %d: got a retry, want dead after the schedule", len(sched)+1)
	}
	if _, ok := retryDelay(nil, 1, 0.5, 0); ok {
		t.Error("empty schedule: got a retry, want dead at once")
	}
	if d, _ := retryDelay(sched, 1, 0.5, time.Hour); d != time.Hour {
		t.Errorf("got %s with Retry-After 1h, want 1h (a floor)", d)
	}
	if d, _ := retryDelay(sched, 3, 0.5, time.Minute); d != 30*time.Minute {
		t.Errorf("got %s, want 30m (Retry-After below the schedule changes nothing)", d)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"120":                           2 * time.Minute,
		"0":                             0,
		"12x":                           0,
		"99999999999":                   10 * time.Hour,
		"Fri, 27 Nov 2026 00:01:30 GMT": 90 * time.Second,
		"Thu, 26 Nov 2026 23:00:00 GMT": 0,
		"soon":                          0,
	} {
		if got := parseRetryAfter([]byte(in), now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestParseID(t *testing.T) {
	var id ID
	copy(id[:], "0123456789abcdef0123456789abcdef")
	got, err := ParseID(id.String())
	if err != nil || got != id {
		t.Errorf("ParseID(%q) = %q, %v", id, got, err)
	}
	for _, bad := range []string{"", "0123", "0123456789ABCDEF0123456789abcdef", "0123456789abcdef0123456789abcdeg"} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q): got no error", bad)
		}
	}
}
