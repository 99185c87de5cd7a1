package akv

import (
	"net/http"
	"strings"
	"time"
)

// limiter admits at most limit writes in any window-long span (a sliding window over the
// times of admitted writes). Refused writes do not count.
type limiter struct {
	limit    int
	window   time.Duration
	admitted []time.Time
}

func (l *limiter) set(limit int, window time.Duration) {
	if window <= 0 {
		window = DefaultWindow
	}
	l.limit, l.window = max(limit, 0), window
}

func (l *limiter) clear() { l.admitted = nil }

// admit records a write at now and reports true, or reports false and how long until the
// oldest write in the window leaves it.
func (l *limiter) admit(now time.Time) (time.Duration, bool) {
	if l.limit == 0 {
		return 0, true
	}
	cut := now.Add(-l.window)
	i := 0
	for i < len(l.admitted) && !l.admitted[i].After(cut) {
		i++
	}
	l.admitted = l.admitted[i:]
	if len(l.admitted) >= l.limit {
		return l.admitted[len(l.admitted)-l.limit].Add(l.window).Sub(now), false
	}
	l.admitted = append(l.admitted, now)
	return 0, true
}

// retryAfterSeconds renders d as a Retry-After value: whole seconds, rounded up, at least 1.
func retryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// fault is an injected answer for the next left requests.
type fault struct {
	status     int
	left       int
	retryAfter time.Duration
}

func (f *fault) error() *apiError {
	var e *apiError
	switch f.status {
	case http.StatusTooManyRequests:
		e = errThrottled(0)
		e.retryAfter = 0
	case http.StatusServiceUnavailable:
		e = &apiError{status: f.status, code: "ServiceUnavailable",
			message: "The service is temporarily unavailable; retry the request. (injected by the test server)"}
	default:
		text := http.StatusText(f.status)
		if text == "" {
			text = "Error"
		}
		e = &apiError{status: f.status, code: strings.ReplaceAll(text, " ", ""),
			message: "Injected failure: " + text + "."}
	}
	if f.retryAfter > 0 {
		e.retryAfter = retryAfterSeconds(f.retryAfter)
	}
	return e
}
