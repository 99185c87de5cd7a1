//go:build linux

package azurekv

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"mime"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/secretshift/secretshift/bench/internal/benchkit"
	"github.com/secretshift/secretshift/internal/testenv/akv"
)

const (
	// vaultLimit and vaultWindow are Key Vault's limit for secret writes, which the server
	// enforces in the throttled run and secretshift's --azure-write-rate defaults to.
	vaultLimit  = 300
	vaultWindow = 10 * time.Second
	// targetPctOver is the target: the run takes at most 10 % longer than the limit's
	// minimum time.
	targetPctOver = 10.0
	// burstSize and burstRetryAfter shape the injected 429 bursts; burstAt are the shares of the
	// writes applied after which one is injected.
	burstSize       = 20
	burstRetryAfter = time.Second
)

var burstAt = []float64{0.25, 0.5, 0.75}

// BenchmarkAzureKVThrottled runs the real `secretshift migrate --to azurekv -f DIR` binary, every
// flag but the keys at its default (--azure-write-rate 300/10s, --concurrency 16), over n
// Secrets × 3 keys into a fresh local Key Vault server that admits at most 300 writes in any
// 10 s and answers more with 429 and Retry-After, while bursts of 429s are injected at a
// quarter, half and three quarters of the writes. It reports the wall time against the least
// the limit allows (writes / 300 × 10 s), and from the server's request log the most writes
// that reached it in any 10 s window.
func BenchmarkAzureKVThrottled(b *testing.B) {
	f := setup(b)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	n := len(f.secrets)
	total := keysPerSecret * n

	srv := newServer(b, akv.Options{WriteLimit: vaultLimit, Window: vaultWindow})
	stop, stopWatch := injectBursts(srv, total), watchStalls()
	r := &throttledReport{f: f, run: f.migrate(ctx, b, srv, "throttled")}
	r.injected, r.stalls = stop(), stopWatch()
	r.counts = srv.Counts()
	r.readBack = readBack(ctx, b, srv, benchkit.Sample(f.secrets, checkSample))

	// Correctness, not speed: every Secret created, nothing failed, every key written exactly
	// once, and the sample reads back byte for byte.
	if got := r.run.counts["created"]; got != n || r.run.counts["failed"] != 0 {
		b.Errorf("throttled run: %q, want %d created and none failed", r.run.summary, n)
	}
	if r.counts.AppliedWrites != total {
		b.Errorf("throttled run: the server applied %d writes, want %d (one per key)", r.counts.AppliedWrites, total)
	}
	// The most writes in a window is printed with a verdict, not asserted: it depends on
	// timing too (a stall of this process bunches the requests it answers next).
	if r.writeTimes = writeTimes(r.run.requests); len(r.writeTimes) == 0 {
		b.Fatal("throttled run: the server logged no writes")
	}
	r.most, r.mostFrom = mostInWindow(r.writeTimes, vaultWindow)
	if r.readBack != len(benchkit.Sample(f.secrets, checkSample)) {
		b.Errorf("throttled run: %d of %d sampled Secrets read back as they are in the corpus", r.readBack, checkSample)
	}
	r.report(b)
}

// injectBursts makes srv answer burstSize requests with 429 (Retry-After burstRetryAfter) once
// each share of burstAt of the total writes is applied. The returned stop ends it and says how
// many requests it set up to fail.
func injectBursts(srv *akv.Server, total int) (stop func() int) {
	quit, done := make(chan struct{}), make(chan int)
	go func() {
		injected := 0
		defer func() { done <- injected }()
		for _, at := range burstAt {
			for srv.Counts().AppliedWrites < int(at*float64(total)) {
				select {
				case <-quit:
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
			srv.Inject(http.StatusTooManyRequests, burstSize, burstRetryAfter)
			injected += burstSize
		}
	}()
	return func() int {
		close(quit)
		return <-done
	}
}

// stall is a time this process's goroutines woke up late from a short sleep: it, and the
// server in it, was not running.
type stall struct {
	at   time.Time // when the late wake-up came
	late time.Duration
}

// stallEvery is the sleep watchStalls measures; stalls it records are at least stallMin late.
const (
	stallEvery = 10 * time.Millisecond
	stallMin   = 50 * time.Millisecond
)

// watchStalls sleeps stallEvery in a loop and records every wake-up at least stallMin late
// until stop: where this process (and the server in it) did not run, which tells a bunch of
// requests the server took at once after its own pause from one the client sent.
func watchStalls() (stop func() []stall) {
	quit, done := make(chan struct{}), make(chan []stall)
	go func() {
		var out []stall
		for {
			start := time.Now()
			select {
			case <-quit:
				done <- out
				return
			case now := <-time.After(stallEvery):
				if late := now.Sub(start) - stallEvery; late >= stallMin {
					out = append(out, stall{at: now, late: late})
				}
			}
		}
	}()
	return func() []stall {
		close(quit)
		return <-done
	}
}

// writeTimes are the times of a log's write requests (answered or refused), in order. The log
// has the time each answer was ready, microseconds after the request arrived.
func writeTimes(reqs []akv.Request) []time.Time {
	var ts []time.Time
	for _, q := range reqs {
		if q.Write {
			ts = append(ts, q.Time)
		}
	}
	slices.SortFunc(ts, time.Time.Compare)
	return ts
}

// mostInWindow is the most of the sorted times ts in any span of window, and the index of the
// first time of the first span holding that many.
func mostInWindow(ts []time.Time, window time.Duration) (most, from int) {
	j := 0
	for i := range ts {
		for ts[i].Sub(ts[j]) >= window {
			j++
		}
		if i-j+1 > most {
			most, from = i-j+1, j
		}
	}
	return most, from
}

// longestPause is the longest time between two consecutive times of the sorted ts.
func longestPause(ts []time.Time) time.Duration {
	var most time.Duration
	for i := 1; i < len(ts); i++ {
		most = max(most, ts[i].Sub(ts[i-1]))
	}
	return most
}

// readBack reads every key of the sampled Secrets from srv through the SDK, decodes what its
// content type marks as base64, and returns how many Secrets hold exactly the corpus's bytes.
func readBack(ctx context.Context, b *testing.B, srv *akv.Server, sample []*benchkit.Secret) int {
	b.Helper()
	c, err := srv.Client()
	if err != nil {
		b.Fatal(err)
	}
	ok := 0
	for _, s := range sample {
		same := true
		for _, k := range sortedKeys(s) {
			name := secretName(s, k)
			resp, err := c.GetSecret(ctx, name, "", nil)
			if err != nil {
				b.Errorf("read back %s key %s (%s): %v", s.Ref(), k, name, err)
				same = false
				continue
			}
			v := []byte(*resp.Value)
			if resp.ContentType != nil {
				if _, params, _ := mime.ParseMediaType(*resp.ContentType); params["encoding"] == "base64" {
					v, err = base64.StdEncoding.DecodeString(*resp.Value)
				}
			}
			same = same && err == nil && bytes.Equal(v, s.Data[k])
		}
		if same {
			ok++
		}
	}
	return ok
}

type throttledReport struct {
	f        *fixture
	run      cliRun
	injected int
	counts   akv.Counts
	// writeTimes are the times of the run's writes in the server's log, most the most of them
	// in any vaultWindow, and mostFrom the index of the first of the first such window.
	writeTimes []time.Time
	most       int
	mostFrom   int
	stalls     []stall // of this process during the run
	readBack   int
}

func (r *throttledReport) report(b *testing.B) {
	f, run := r.f, r.run
	n := len(f.secrets)
	total := keysPerSecret * n
	minimum := time.Duration(float64(total) / vaultLimit * float64(vaultWindow))
	pctOver := 100 * (run.Wall.Seconds()/minimum.Seconds() - 1)
	mb := benchkit.MB

	// The writes' span in the server's log, and the 429s by what they answered.
	ts := r.writeTimes
	first, last := ts[0], ts[len(ts)-1]
	span := last.Sub(first)
	throttledWrites, throttledOther := 0, 0
	for _, q := range run.requests {
		if q.Status == http.StatusTooManyRequests {
			if q.Write {
				throttledWrites++
			} else {
				throttledOther++
			}
		}
	}
	// Inside the busiest window: the longest pause between two writes, and the most writes in a
	// tenth of it. Paced writes arrive every 34 ms or so; a pause followed by a bunch is a stall
	// of one side or the other, not a client sending too fast.
	busiest := ts[r.mostFrom : r.mostFrom+r.most]
	bunch, _ := mostInWindow(busiest, vaultWindow/40)
	// This process's own stalls, in the run and in that window (and the second before it,
	// whose requests a stall would have held back into it).
	var worst, worstIn time.Duration
	for _, st := range r.stalls {
		worst = max(worst, st.late)
		if !st.at.Before(busiest[0].Add(-time.Second)) && !st.at.After(busiest[len(busiest)-1]) {
			worstIn = max(worstIn, st.late)
		}
	}

	b.ReportMetric(0, "ns/op")
	b.ReportMetric(run.Wall.Seconds(), "throttled-s")
	b.ReportMetric(minimum.Seconds(), "limit-min-s")
	b.ReportMetric(pctOver, "pct-over-limit-min")
	b.ReportMetric(float64(run.counts["failed"]), "failures")
	b.ReportMetric(float64(r.most), "max-writes-per-10s")
	b.ReportMetric(float64(r.counts.Throttled), "429-answers")
	b.ReportMetric(float64(len(run.requests))/float64(n), "requests/Secret")
	b.ReportMetric(mb(run.PeakRSS), "throttled-peakRSS-MB")

	var t strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&t, format+"\n", a...) }
	w("\n== BenchmarkAzureKVThrottled ==")
	w("corpus: the first %d Secrets of benchkit's corpus with exactly %d keys Key Vault can store (of the first %d): %s",
		n, keysPerSecret, f.scanned, benchkit.StatsOf(f.secrets))
	at := make([]string, len(burstAt))
	for i, share := range burstAt {
		at[i] = fmt.Sprintf("%.0f %%", 100*share)
	}
	w("server: the local Key Vault server in this process, at most %d writes in any %s (more get 429 with Retry-After); %d injected 429s (Retry-After %s) in bursts of %d after %s of the writes",
		vaultLimit, vaultWindow, r.injected, burstRetryAfter, burstSize, strings.Join(at, ", "))
	w("secretshift migrate --to azurekv -f DIR, every flag but the keys at its default (--azure-write-rate 300/10s, --concurrency 16); build %s, corpus written in %s; %d CPUs",
		f.buildTime.Round(time.Millisecond), f.genTime.Round(time.Millisecond), runtime.NumCPU())
	w("")
	w("wall: %s for %d Secrets (%d writes); the limit's minimum %d / %d × %s = %s; %.1f %% over it  [target within %.0f %%: %s]",
		run.Wall.Round(time.Millisecond), n, total, total, vaultLimit, vaultWindow, minimum, pctOver, targetPctOver, benchkit.Verdict(pctOver <= targetPctOver))
	w("  the writes reached the server over %s (first to last, %.0f per 10 s); the rest, %s, is start, reading, plan and the last read-backs and report",
		span.Round(time.Millisecond), float64(total-1)/span.Seconds()*10, (run.Wall - span).Round(time.Millisecond))
	w("failures: %d; %s", run.counts["failed"], run.summary)
	w("server's log: %d writes received, %d applied (want %d, one per key); most in any %s window: %d  [limit %d: %s]",
		writes(run.requests), r.counts.AppliedWrites, total, vaultWindow, r.most, vaultLimit, benchkit.Verdict(r.most <= vaultLimit))
	w("  the first such window starts %s after the first write; in it the longest pause between two writes is %s, and the most writes in %s %d (in the whole run: %s)",
		busiest[0].Sub(first).Round(time.Millisecond), longestPause(busiest).Round(time.Millisecond), vaultWindow/40, bunch, longestPause(ts).Round(time.Millisecond))
	w("  this process, which runs the server, stalled (woke from a %s sleep at least %s late) %d times; the longest %s, in or just before that window %s",
		stallEvery, stallMin, len(r.stalls), worst.Round(time.Millisecond), worstIn.Round(time.Millisecond))
	w("  429 answers: %d (%d to writes, %d to reads): %d injected, %d from the server's limit",
		r.counts.Throttled, throttledWrites, throttledOther, r.injected, max(0, r.counts.Throttled-r.injected))
	for _, note := range run.notes {
		w("  secretshift: %s", note)
	}
	w("  requests: %d, %.2f per Secret, by kind:", len(run.requests), float64(len(run.requests))/float64(n))
	for _, l := range requestKinds(run.requests) {
		w("    %s", l)
	}
	w("CPU: secretshift %s, the server (this process) %s; peak RSS of secretshift (VmHWM) %.0f MB",
		run.CPU().Round(10*time.Millisecond), run.serverCPU.Round(10*time.Millisecond), mb(run.PeakRSS))
	w("read back through the SDK: %d of %d sampled Secrets hold the corpus's bytes", r.readBack, len(benchkit.Sample(f.secrets, checkSample)))
	w("the load average when this run ended: %s", benchkit.LoadAvg())
	// Printed, not logged: the testing package cuts benchmark logs after ten lines.
	fmt.Print(t.String())
}
