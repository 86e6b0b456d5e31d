package rules

import (
	"testing"
	"time"
)

// FuzzParseISOMillis checks |ms's parser against time.Parse: every RFC 3339 date-time
// (two-digit fields) that time.Parse accepts gives the same instant (to the millisecond), and nothing panics.
func FuzzParseISOMillis(f *testing.F) {
	for _, s := range []string{"2026-01-01T00:00:00.000Z", "2026-01-01T01:02:03.456+01:00", "1970-01-01",
		"2000-02-29T12:00:00.5-01:30", "2026-06-01T10:00:00.123456789Z", "1969-12-31T23:59:59.999Z", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseISOMillis([]byte(s))
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || len(s) < 19 || s[13] != ':' || s[16] != ':' {
			return // time.Parse also takes one-digit hours ("T0:00:00"); |ms wants two
		}
		if !ok || got != want.Truncate(time.Millisecond).UnixMilli() && want.UnixMilli() != got {
			t.Fatalf("%q: got %d, %v; want %d", s, got, ok, want.UnixMilli())
		}
	})
}
