package azurekv

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"golang.org/x/time/rate"
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

// limiter is the policy that spaces out writes. A token bucket of one token refilled n-1
// times per window lets at most n writes start in any window of that length — also across
// the window's edges, where a bucket that starts full would let through twice its size.
// Every attempt passes it, the SDK's retries too (it runs after the retry policy). The window
// is taken 2 % longer (at least 20 ms): requests reach the vault a little earlier or later
// than they leave, and one that arrives early must not be the one too many in the vault's
// own window.
func (r writeRate) limiter() *rate.Limiter {
	if r.n == 0 {
		return nil
	}
	window := r.window + max(r.window/50, 20*time.Millisecond)
	if r.n == 1 {
		return rate.NewLimiter(rate.Every(window), 1)
	}
	return rate.NewLimiter(rate.Limit(float64(r.n-1)/window.Seconds()), 1)
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
func (c *throttleCounter) policies(lim *rate.Limiter) []policy.Policy {
	return []policy.Policy{policyFunc(func(req *policy.Request) (*http.Response, error) {
		if lim != nil && req.Raw().Method != http.MethodGet && req.Raw().Method != http.MethodHead {
			if r := lim.Reserve(); r.Delay() > 0 {
				c.delayed.Add(1)
				if err := sleep(req.Raw().Context(), r.Delay()); err != nil {
					r.Cancel()
					return nil, err
				}
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
