//go:build linux

package azurekv

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"golang.org/x/sync/errgroup"

	"github.com/secretshift/secretshift/bench/internal/benchkit"
	"github.com/secretshift/secretshift/internal/testenv/akv"
)

// BenchmarkAzureKVUnlimited runs, side by side on this machine, with no write limit on either
// side and each against a fresh local Key Vault server in this process:
//
//   - the raw loop: azsecrets SetSecret of every key of the corpus (the same names, values and
//     content types secretshift writes) from 16 goroutines, with the transport settings of
//     secretshift's adapter; before and after secretshift, the mean counts;
//   - secretshift: the real `secretshift migrate --to azurekv -f DIR --azure-write-rate 0
//     --concurrency 16` binary, timed from outside;
//   - the same command again in the same folder over the unchanged Secrets (must write nothing).
func BenchmarkAzureKVUnlimited(b *testing.B) {
	f := setup(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	n := len(f.secrets)
	r := &unlimitedReport{f: f}

	// Loop, secretshift, loop: the machine's speed drifts, and the mean of the two loops
	// brackets the secretshift run.
	r.loop[0] = rawLoop(ctx, b, f)
	srv := newServer(b, akv.Options{})
	flags := []string{"--azure-write-rate", "0", "--concurrency", strconv.Itoa(concurrency)}
	r.run = f.migrate(ctx, b, srv, "unlimited", flags...)
	r.rerun = f.migrate(ctx, b, srv, "unlimited", flags...)
	r.loop[1] = rawLoop(ctx, b, f)

	if got := r.run.counts["created"]; got != n || r.run.counts["failed"] != 0 {
		b.Errorf("unlimited run: %q, want %d created and none failed", r.run.summary, n)
	}
	if got := r.rerun.counts["unchanged"]; got != n {
		b.Errorf("re-run: %q, want %d unchanged", r.rerun.summary, n)
	}
	if w := writes(r.rerun.requests); w != 0 {
		b.Errorf("the unchanged re-run sent %d writes, want 0", w)
	}
	r.report(b)
}

// loopRun is one pass of the raw SetSecret loop.
type loopRun struct {
	wall, cpu time.Duration // cpu: this process's, the loop's and the server's together
	writes    int
}

// rawLoop writes every key of the corpus to a fresh server with azsecrets SetSecret from
// concurrency goroutines: the names, values and content types secretshift writes (no tags, no
// read before or after). The values are encoded before the clock starts.
func rawLoop(ctx context.Context, b *testing.B, f *fixture) loopRun {
	b.Helper()
	srv := newServer(b, akv.Options{})
	defer srv.Close()
	c, err := rawClient(srv)
	if err != nil {
		b.Fatal(err)
	}
	type item struct {
		name string
		p    azsecrets.SetSecretParameters
	}
	items := make([]item, 0, keysPerSecret*len(f.secrets))
	for _, s := range f.secrets {
		for _, k := range sortedKeys(s) {
			v, ct := storedValue(s.Data[k])
			items = append(items, item{name: secretName(s, k), p: azsecrets.SetSecretParameters{Value: &v, ContentType: &ct}})
		}
	}
	runtime.GC()
	var next atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	cpu0, start := benchkit.SelfCPU(), time.Now()
	for range concurrency {
		g.Go(func() error {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(items) {
					return nil
				}
				if _, err := c.SetSecret(gctx, items[i].name, items[i].p, nil); err != nil {
					return fmt.Errorf("set %s: %w", items[i].name, err)
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatalf("raw SetSecret loop: %v", err)
	}
	r := loopRun{wall: time.Since(start), cpu: benchkit.SelfCPU() - cpu0, writes: len(items)}
	if got := srv.Counts().AppliedWrites; got != len(items) {
		b.Errorf("raw SetSecret loop: the server applied %d writes, want %d", got, len(items))
	}
	return r
}

// rawClient is an azsecrets client for srv with the transport secretshift's adapter uses
// (providers/azurekv newTransport): Go's default transport with 256 idle connections per host
// and TLS 1.2 at least, trusting the server's certificate; the server's static token.
func rawClient(srv *akv.Server) (*azsecrets.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: srv.CertPool()}
	return azsecrets.NewClient(srv.URL(), srv.Credential(), &azsecrets.ClientOptions{
		ClientOptions:                        azcore.ClientOptions{Transport: &http.Client{Transport: tr}},
		DisableChallengeResourceVerification: true,
	})
}

type unlimitedReport struct {
	f          *fixture
	loop       [2]loopRun
	run, rerun cliRun
}

func (r *unlimitedReport) report(b *testing.B) {
	f := r.f
	n := len(f.secrets)
	nf := float64(n)
	loopWall := (r.loop[0].wall + r.loop[1].wall) / 2
	loopCPU := (r.loop[0].cpu + r.loop[1].cpu) / 2
	ours, loopRate := nf/r.run.Wall.Seconds(), nf/loopWall.Seconds()
	pctOfLoop := 100 * ours / loopRate
	mb := benchkit.MB

	b.ReportMetric(0, "ns/op")
	b.ReportMetric(r.run.Wall.Seconds(), "secretshift-s")
	b.ReportMetric(ours, "secretshift-Secrets/s")
	b.ReportMetric(loopRate, "loop-Secrets/s")
	b.ReportMetric(pctOfLoop, "pct-of-loop")
	b.ReportMetric(float64(len(r.run.requests))/nf, "requests/Secret")
	b.ReportMetric(r.rerun.Wall.Seconds(), "rerun-s")
	b.ReportMetric(float64(writes(r.rerun.requests)), "rerun-writes")
	b.ReportMetric(mb(r.run.PeakRSS), "peakRSS-MB")

	var t strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&t, format+"\n", a...) }
	w("\n== BenchmarkAzureKVUnlimited ==")
	w("corpus: the first %d Secrets of benchkit's corpus with exactly %d keys Key Vault can store (of the first %d): %s",
		n, keysPerSecret, f.scanned, benchkit.StatsOf(f.secrets))
	w("server: a fresh local Key Vault server in this process for each run, no write limit; %d CPUs", runtime.NumCPU())
	w("")
	w("%-58s %10s %10s %12s %12s %9s %9s", "run", "wall", "Secrets/s", "client CPU", "server CPU", "requests", "peak RSS")
	cli := func(name string, c cliRun) {
		w("%-58s %10s %10.0f %12s %12s %9d %6.0f MB", name, c.Wall.Round(time.Millisecond), nf/c.Wall.Seconds(),
			c.CPU().Round(10*time.Millisecond), c.serverCPU.Round(10*time.Millisecond), len(c.requests), mb(c.PeakRSS))
	}
	loop := func(name string, l loopRun) {
		w("%-58s %10s %10.0f %25s %9d %9s", name, l.wall.Round(time.Millisecond), nf/l.wall.Seconds(),
			l.cpu.Round(10*time.Millisecond).String()+" both sides", l.writes, "-")
	}
	loop(fmt.Sprintf("raw SetSecret loop, %d goroutines, 1", concurrency), r.loop[0])
	cli("secretshift migrate --azure-write-rate 0 --concurrency 16", r.run)
	cli("secretshift migrate again (all unchanged)", r.rerun)
	loop(fmt.Sprintf("raw SetSecret loop, %d goroutines, 2", concurrency), r.loop[1])
	w("")
	w("secretshift vs the raw loop: %.0f vs %.0f Secrets/s (the loops' mean, %s) = %.1f %% of the loop's rate",
		ours, loopRate, loopWall.Round(time.Millisecond), pctOfLoop)
	w("  per Secret: secretshift %.2f requests (%d writes), the loop %d; CPU %s client + %s server = %s, the loop's (both sides) %s",
		float64(len(r.run.requests))/nf, writes(r.run.requests), keysPerSecret,
		benchkit.PerItem(r.run.CPU(), n), benchkit.PerItem(r.run.serverCPU, n), benchkit.PerItem(r.run.CPU()+r.run.serverCPU, n), benchkit.PerItem(loopCPU, n))
	w("  where secretshift's time goes: %s apply (its summary: read, write, read back, record) + %s start, reading, plan and report",
		r.run.apply, (r.run.Wall - r.run.apply).Round(time.Millisecond))
	w("  first run: %s", r.run.summary)
	w("  requests by kind:")
	for _, l := range requestKinds(r.run.requests) {
		w("    %s", l)
	}
	w("re-run: %s for %d Secrets, %d writes; %s", r.rerun.Wall.Round(time.Millisecond), n, writes(r.rerun.requests), r.rerun.summary)
	w("  requests by kind:")
	for _, l := range requestKinds(r.rerun.requests) {
		w("    %s", l)
	}
	w("peak RSS of secretshift (VmHWM): %.0f MB, the re-run %.0f MB", mb(r.run.PeakRSS), mb(r.rerun.PeakRSS))
	w("the load average when this run ended: %s", benchkit.LoadAvg())
	// Printed, not logged: the testing package cuts benchmark logs after ten lines.
	fmt.Print(t.String())
}
