package akv

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestWriteLimitWithSDKRetries(t *testing.T) {
	s := startServer(t, Options{WriteLimit: 2, Window: time.Second})
	c := newClient(t, s)
	start := time.Now()
	for i := range 4 {
		set(t, c, fmt.Sprint("w", i), "v") // the SDK's retry policy rides out the 429s
	}
	elapsed := time.Since(start)
	cnt := s.Counts()
	if cnt.AppliedWrites != 4 || cnt.Throttled == 0 {
		t.Fatalf("counts %+v: want 4 applied writes and some throttled", cnt)
	}
	// Two writes per second: the 3rd and 4th wait for the window.
	if elapsed < 900*time.Millisecond {
		t.Errorf("4 writes at 2 per second took %s", elapsed)
	}
	// After each 429 the SDK waited for Retry-After (at least 1 s) before writing again.
	reqs := s.Requests()
	for i, r := range reqs {
		if r.Status != http.StatusTooManyRequests {
			continue
		}
		for _, next := range reqs[i+1:] {
			if next.Write {
				if gap := next.Time.Sub(r.Time); gap < 900*time.Millisecond {
					t.Errorf("write %s after a 429, %s later: Retry-After not honoured", next.Path, gap)
				}
				break
			}
		}
	}
	// Reads are never throttled.
	for range 5 {
		if _, err := c.GetSecret(context.Background(), "w0", "", nil); err != nil {
			t.Fatal(err)
		}
	}
}

func TestThrottleRetryAfterHeader(t *testing.T) {
	s := startServer(t, Options{WriteLimit: 1, Window: 10 * time.Second})
	hc := s.HTTPClient()
	put := func() *http.Response {
		return do(t, hc, s, http.MethodPut, "/secrets/x?api-version=7.6", `{"value":"v"}`, s.tokens.static, nil)
	}
	if r := put(); r.StatusCode != http.StatusOK {
		t.Fatalf("first write: %d", r.StatusCode)
	}
	r := put()
	body := readBody(t, r)
	if r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second write: %d %s", r.StatusCode, body)
	}
	ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || ra < 9 || ra > 10 {
		t.Errorf("Retry-After %q, want 9 or 10 seconds", r.Header.Get("Retry-After"))
	}
	const want = `{"error":{"code":"Throttled","message":"Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached"}}`
	if body != want || r.Header.Get("Content-Length") != "146" {
		t.Errorf("429 body %s (Content-Length %s)", body, r.Header.Get("Content-Length"))
	}
	s.SetWriteLimit(0, 0)
	if r := put(); r.StatusCode != http.StatusOK {
		t.Errorf("write after lifting the limit: %d", r.StatusCode)
	}
}

func TestInject(t *testing.T) {
	s := startServer(t, Options{})
	c := newClient(t, s)
	set(t, c, "k", "v")
	before := len(s.Requests())

	s.Inject(http.StatusServiceUnavailable, 2, time.Second)
	start := time.Now()
	if _, err := c.GetSecret(context.Background(), "k", "", nil); err != nil {
		t.Fatalf("get after two injected 503s: %v", err)
	}
	if el := time.Since(start); el < 1900*time.Millisecond {
		t.Errorf("the SDK retried after %s; Retry-After was 1 s twice", el)
	}
	var statuses []int
	for _, r := range s.Requests()[before:] {
		statuses = append(statuses, r.Status)
	}
	if fmt.Sprint(statuses) != "[503 503 200]" {
		t.Errorf("statuses %v", statuses)
	}

	// An injected 429 without retryAfter carries no Retry-After, like the one on record.
	s.Inject(http.StatusTooManyRequests, 1, 0)
	r := do(t, s.HTTPClient(), s, http.MethodGet, "/secrets/k?api-version=7.6", "", "", nil)
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "" {
		t.Errorf("injected 429: %d, Retry-After %q", r.StatusCode, r.Header.Get("Retry-After"))
	}
}

func TestLimiter(t *testing.T) {
	var l limiter
	l.set(2, 10*time.Second)
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		at       time.Duration
		ok       bool
		waitSecs int
	}{
		{0, true, 0},
		{time.Second, true, 0},
		{2 * time.Second, false, 8}, // the write at 0 leaves the window at 10 s
		{9500 * time.Millisecond, false, 1},
		{10 * time.Second, true, 0},
		{10500 * time.Millisecond, false, 1}, // writes at 1 s and 10 s are in the window
		{11 * time.Second, true, 0},
	} {
		wait, ok := l.admit(t0.Add(tc.at))
		if ok != tc.ok || (!ok && retryAfterSeconds(wait) != tc.waitSecs) {
			t.Errorf("at %s: ok %v wait %s, want ok %v wait %d s", tc.at, ok, wait, tc.ok, tc.waitSecs)
		}
	}
}
