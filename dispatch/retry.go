package dispatch

import (
	"net/http"
	"time"
)

// jitter is the relative spread of a retry delay: a delay d is drawn from [d×(1−jitter),
// d×(1+jitter)] so that a burst of failures does not come back as a burst.
const jitter = 0.2

// maxRetryAfter caps a receiver's Retry-After: beyond it the header is taken as this.
const maxRetryAfter = 10 * time.Hour

// retryDelay returns the delay before the next attempt after attempt number attempt (from 1)
// failed, with r in [0,1) choosing the jitter; ok is false when schedule is exhausted and the
// delivery is dead. A receiver's Retry-After (0 when none) is a floor on the delay.
func retryDelay(schedule []time.Duration, attempt int, r float64, retryAfter time.Duration) (d time.Duration, ok bool) {
	if attempt < 1 || attempt > len(schedule) {
		return 0, false
	}
	base := schedule[attempt-1]
	d = time.Duration(float64(base) * (1 - jitter + 2*jitter*r))
	if d < retryAfter {
		d = retryAfter
	}
	return d, true
}

// parseRetryAfter reads a Retry-After header value: delay-seconds or an HTTP-date (relative
// to now). It returns 0 for an absent, malformed or past value, and caps the result at
// maxRetryAfter. The delay-seconds form does not allocate.
func parseRetryAfter(v []byte, now time.Time) time.Duration {
	if len(v) == 0 {
		return 0
	}
	if v[0] >= '0' && v[0] <= '9' {
		var n int64
		for _, c := range v {
			if c < '0' || c > '9' {
				return 0
			}
			n = n*10 + int64(c-'0')
			if n > int64(maxRetryAfter/time.Second) {
				return maxRetryAfter
			}
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(string(v))
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}
