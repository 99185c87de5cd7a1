package azurekv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// DefaultWriteRate is Key Vault's limit for secret writes: 300 per 10 seconds per vault.
const DefaultWriteRate = "300/10s"

// writeRate is a limit of n writes in any window of the given length; n == 0 is no limit.
type writeRate struct {
	n      int
	window time.Duration
}

func (r writeRate) String() string {
	if r.n == 0 {
		return "no limit"
	}
	return fmt.Sprintf("%d per %s", r.n, r.window)
}

// parseWriteRate reads --azure-write-rate: "N/DURATION" (300/10s), "N" (per 10 s) or "0".
func parseWriteRate(s string) (writeRate, error) {
	num, per, found := strings.Cut(strings.TrimSpace(s), "/")
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 {
		return writeRate{}, fmt.Errorf("--azure-write-rate %q: want N/DURATION, e.g. %s, or 0 for no limit", s, DefaultWriteRate)
	}
	r := writeRate{n: n, window: 10 * time.Second}
	if found {
		if r.window, err = time.ParseDuration(per); err != nil || r.window <= 0 {
			return writeRate{}, fmt.Errorf("--azure-write-rate %q: %q is not a duration such as 10s", s, per)
		}
	}
	return r, nil
}

// sendWindow lets at most n writes be sent in any window of the given length, by the times
// they are sent: a write waits until the n-th write before it was sent a window ago. The time
// is taken when the write goes, after any wait, so a goroutine that wakes late (a busy
// machine) cannot bunch writes up the way a token bucket's reservations can. The window is
// taken 2 % longer (at least 100 ms): requests reach the vault a little earlier or later than
// they leave, and one that arrives early must not be the one too many in the vault's own
// window. (20 ms was not enough on a loaded 2-core machine: a test saw 9 writes arrive in a
// 1 s window limited to 8.)
type sendWindow struct {
	mu     sync.Mutex
	window time.Duration
	sent   []time.Time // the last n send times, a ring; zero until filled
	next   int         // the oldest
}

// limiter returns r's sendWindow, or nil for no limit.
func (r writeRate) limiter() *sendWindow {
	if r.n == 0 {
		return nil
	}
	return &sendWindow{window: r.window + max(r.window/50, 100*time.Millisecond), sent: make([]time.Time, r.n)}
}

// wait returns when a write may be sent, recording it as sent at the time it returns; delayed
// says it had to wait.
func (w *sendWindow) wait(ctx context.Context) (at time.Time, delayed bool, err error) {
	for {
		w.mu.Lock()
		now := time.Now()
		oldest := w.sent[w.next]
		if oldest.IsZero() || now.Sub(oldest) >= w.window {
			w.sent[w.next] = now
			w.next = (w.next + 1) % len(w.sent)
			w.mu.Unlock()
			return now, delayed, nil
		}
		d := w.window - now.Sub(oldest)
		w.mu.Unlock()
		delayed = true
		if err := sleep(ctx, d); err != nil {
			return time.Time{}, delayed, err
		}
	}
}

// throttleCounter counts what the vault throttled, for the run's notes.
type throttleCounter struct {
	// throttled counts 429 and 503 answers, retried or not.
	throttled atomic.Int64
	// writes counts the requests that passed the limiter, delayed those it held back.
	writes, delayed atomic.Int64
	maxRetries      int
	rate            writeRate
}

// policies are the per-attempt policies of the client: the write limiter, then the counter of
// throttled answers. Reads (GET) are not limited: Key Vault's read limit is far higher, and
// they are few next to the writes.
func (c *throttleCounter) policies(lim *sendWindow) []policy.Policy {
	return []policy.Policy{policyFunc(func(req *policy.Request) (*http.Response, error) {
		if lim != nil && req.Raw().Method != http.MethodGet && req.Raw().Method != http.MethodHead {
			_, delayed, err := lim.wait(req.Raw().Context())
			if delayed {
				c.delayed.Add(1)
			}
			if err != nil {
				return nil, err
			}
			c.writes.Add(1)
		}
		resp, err := req.Next()
		if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
			c.throttled.Add(1)
		}
		return resp, err
	})}
}

type policyFunc func(*policy.Request) (*http.Response, error)

func (f policyFunc) Do(req *policy.Request) (*http.Response, error) { return f(req) }

// retryOptions are bounded retries honouring Retry-After: azcore's retry policy waits as long
// as the answer's Retry-After (or x-ms-retry-after-ms) asks, up to maxDelay, on 408, 429, 500,
// 502, 503 and 504 and on transport errors.
func retryOptions(maxRetries int) policy.RetryOptions {
	return policy.RetryOptions{MaxRetries: int32(maxRetries), RetryDelay: time.Second, MaxRetryDelay: time.Minute}
}

// writeRetryOptions are retryOptions for a write (a PUT of a new version), which Key Vault does
// not make idempotent: a write sent again after its answer was lost would add a second version
// of the same value. It is retried only when the vault cannot have applied it: answered 408,
// 429 or 503, or never reached (the connection was refused). Any other failure (a reset or a
// cut answer after the request went out, a 500, 502 or 504) is left to the caller, which reads
// the secret to learn whether the write landed (landed).
func writeRetryOptions(maxRetries int) policy.RetryOptions {
	o := retryOptions(maxRetries)
	o.ShouldRetry = func(resp *http.Response, err error) bool {
		if resp != nil {
			switch resp.StatusCode {
			case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusServiceUnavailable:
				return true
			}
			return false
		}
		var op *net.OpError
		return errors.As(err, &op) && op.Op == "dial"
	}
	return o
}
