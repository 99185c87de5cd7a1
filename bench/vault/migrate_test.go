//go:build linux

package vault

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"golang.org/x/sync/errgroup"

	"github.com/secretshift/secretshift/bench/internal/benchkit"
)

// BenchmarkVaultMigrate runs, side by side on this machine:
//
//   - secretshift: the real `secretshift migrate --to vault -f DIR --concurrency 16` binary
//     against a vault-testserver process, all Secrets of the corpus;
//   - the ceiling: KVv2(mount).Put of the same payloads by 16 goroutines against a fresh server
//     process (run before and after secretshift; the mean counts);
//   - the protocol floor: the three requests per Secret that secretshift's write protocol needs
//     (custom metadata, check-and-set write, read-back), sent the same way;
//   - the same secretshift command again over the unchanged Secrets (must write nothing);
//   - secretshift on a tenth of the corpus, for peak RSS against corpus size;
//   - the shell loop on a sample: kubectl | jq | curl per Secret, extrapolated to the corpus.
func BenchmarkVaultMigrate(b *testing.B) {
	f := setup(b)
	ctx := benchContext(b)
	n := len(f.secrets)
	rep := &migrateReport{n: n, corpus: benchkit.StatsOf(f.secrets)}

	// Ceiling first, then secretshift, then the ceiling again: the machine's load drifts, and
	// the mean of the two ceilings brackets the secretshift run.
	rep.ceiling[0] = runCeiling(ctx, b, f, "ceiling-1")
	rep.protocol[0] = runProtocol(ctx, b, f, "protocol-1")
	rep.full = runCLI(ctx, b, f, "secretshift-full", f.full, nil)
	rep.protocol[1] = runProtocol(ctx, b, f, "protocol-2")
	rep.ceiling[1] = runCeiling(ctx, b, f, "ceiling-2")

	// The unchanged re-run goes to the first run's server and working folder, as a user
	// repeating the command would.
	rep.rerun = runCLI(ctx, b, f, "secretshift-full", f.full, rep.full.server)
	_, _ = rep.full.server.Stop()

	rep.small = runCLI(ctx, b, f, "secretshift-small", f.small, nil)
	_, _ = rep.small.server.Stop()
	rep.parse = runDiscover(ctx, b, f)
	rep.loop = runShellLoop(ctx, b, f)

	if !strings.Contains(rep.full.summary, fmt.Sprintf(": %d created", n)) {
		b.Errorf("secretshift did not create every Secret: %q", rep.full.summary)
	}
	if w := rep.rerun.requests.Writes(); w != 0 {
		b.Errorf("the unchanged re-run sent %d write requests, want 0", w)
	}
	// Per written Secret: the intent before the write, and the verified outcome after it.
	if got := rep.full.auditRecords; got < 2*n {
		b.Errorf("audit log holds %d records for %d Secrets, want at least %d", got, n, 2*n)
	}
	rep.report(b, f)
}

// phase is one measured command or client run.
type phase struct {
	wall      time.Duration
	clientCPU time.Duration
	serverCPU time.Duration
	peakRSS   int64 // bytes, VmHWM (see benchkit.Result)
	maxRSS    int64 // bytes, rusage Maxrss, floored by parentRSS
	parentRSS int64 // bytes, this test process's peak RSS when it started the command
	requests  benchkit.RequestTally
	server    *benchkit.VaultServer
	summary   string        // secretshift's summary line on stderr
	apply     time.Duration // the apply duration secretshift reports in that line
	resumed   string        // secretshift's "resumed job" line, if any

	auditRecords, checkpoints int
}

func (p *phase) setRSS(res benchkit.Result) {
	p.peakRSS, p.parentRSS, p.maxRSS = res.PeakRSS, res.ParentPeak, res.MaxRSS()
}

// runCeiling writes every Secret once with KVv2.Put from 16 goroutines in this process.
func runCeiling(ctx context.Context, b *testing.B, f *fixture, name string) phase {
	return runClient(ctx, b, f, name, func(ctx context.Context, kv *api.KVv2, s *benchkit.Secret, data map[string]any) error {
		_, err := kv.Put(ctx, kvPath(s), data)
		return err
	})
}

// runProtocol sends, per Secret, the three requests secretshift's write protocol needs and
// nothing else: custom metadata, the check-and-set write, and the read-back (compared).
func runProtocol(ctx context.Context, b *testing.B, f *fixture, name string) phase {
	return runClient(ctx, b, f, name, func(ctx context.Context, kv *api.KVv2, s *benchkit.Secret, data map[string]any) error {
		meta := map[string]any{"managed-by": "secretshift", "source-namespace": s.Namespace, "source-name": s.Name,
			"source-type": s.Type, "secretshift-fingerprint": "hmac-sha256:" + strings.Repeat("0", 64)}
		if err := kv.PutMetadata(ctx, kvPath(s), api.KVMetadataPutInput{CustomMetadata: meta}); err != nil {
			return err
		}
		if _, err := kv.Put(ctx, kvPath(s), data, api.WithCheckAndSet(0)); err != nil {
			return err
		}
		got, err := kv.Get(ctx, kvPath(s))
		if err != nil {
			return err
		}
		if len(got.Data) != len(data) {
			return fmt.Errorf("read back %s: %d keys, want %d", kvPath(s), len(got.Data), len(data))
		}
		return nil
	})
}

// runClient runs op for every Secret from 16 goroutines in this process against a fresh
// server, with the client setup secretshift's Vault adapter uses.
func runClient(ctx context.Context, b *testing.B, f *fixture, name string, op func(context.Context, *api.KVv2, *benchkit.Secret, map[string]any) error) phase {
	b.Helper()
	srv := f.newServer(b, name)
	defer func() { _, _ = srv.Stop() }()
	p := clientAgainst(ctx, b, f, srv, op)
	benchkit.Settle()
	var err error
	if p.requests, err = srv.Requests(0, -1); err != nil {
		b.Fatal(err)
	}
	return p
}

// clientAgainst runs op for every Secret against srv and measures it.
func clientAgainst(ctx context.Context, b *testing.B, f *fixture, srv *benchkit.VaultServer, op func(context.Context, *api.KVv2, *benchkit.Secret, map[string]any) error) phase {
	// The same client setup as secretshift's Vault adapter: the library defaults, the pool
	// widened so that sixteen writers keep their connections.
	c, err := benchkit.VaultClient(srv.Addr, f.token)
	if err != nil {
		b.Fatal(err)
	}
	kv := c.KVv2("secret")
	payloads := make([]map[string]any, len(f.secrets))
	for i, s := range f.secrets {
		payloads[i] = kvData(s)
	}

	srvCPU, myCPU := srv.CPU(), benchkit.SelfCPU()
	start := time.Now()
	var next atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for range concurrency {
		g.Go(func() error {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(payloads) {
					return nil
				}
				if err := op(gctx, kv, f.secrets[i], payloads[i]); err != nil {
					return fmt.Errorf("%s: %w", kvPath(f.secrets[i]), err)
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatalf("client run: %v", err)
	}
	p := phase{wall: time.Since(start), clientCPU: benchkit.SelfCPU() - myCPU, server: srv}
	p.serverCPU = srv.CPU() - srvCPU
	return p
}

var summaryRE = regexp.MustCompile(`(?m)^migrate to vault in (\S+): (.+)$`)

// runCLI runs `secretshift migrate --to vault` over corpus. With srv nil it starts a fresh
// server; otherwise it reuses srv and the working folder of the earlier run of the same name.
func runCLI(ctx context.Context, b *testing.B, f *fixture, name, corpus string, srv *benchkit.VaultServer) phase {
	b.Helper()
	if srv == nil {
		srv = f.newServer(b, name)
	}
	wd := f.workDir(b, name)
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + wd,
		"VAULT_ADDR=" + srv.Addr, "VAULT_TOKEN=" + f.token,
	}
	auditLog := filepath.Join(wd, "audit", "audit.jsonl")
	args := []string{"migrate", "--to", "vault", "-f", corpus, "--concurrency", fmt.Sprint(concurrency),
		"--fingerprint-key", f.keys.HMACKey, "--audit-signing-key", f.keys.SigningKey,
		"--audit-log", auditLog, "--journal-dir", filepath.Join(wd, "journal")}

	benchkit.Settle()
	from, srvCPU := srv.LogOffset(), srv.CPU()
	res, err := benchkit.Run(ctx, wd, env, filepath.Join(wd, "stdout.txt"), f.secretshift, args...)
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	stderr := res.Stderr
	p := phase{wall: res.Wall, clientCPU: res.CPU(), serverCPU: srv.CPU() - srvCPU, server: srv}
	p.setRSS(res)
	benchkit.Settle()
	if p.requests, err = srv.Requests(from, -1); err != nil {
		b.Fatal(err)
	}
	if m := summaryRE.FindStringSubmatch(stderr); m != nil {
		p.summary = m[0]
		p.apply, _ = time.ParseDuration(m[1])
	} else {
		b.Fatalf("%s: no summary line on stderr:\n%s", name, benchkit.LastLines([]byte(stderr), 10))
	}
	for line := range strings.Lines(stderr) {
		if strings.HasPrefix(line, "resumed job") {
			p.resumed = strings.TrimSpace(line)
		}
	}
	p.auditRecords, p.checkpoints = countAudit(b, auditLog)
	return p
}

// countAudit counts the records of an audit log and how many are checkpoints.
func countAudit(b *testing.B, path string) (records, checkpoints int) {
	b.Helper()
	records, checkpoints, err := benchkit.CountAudit(path)
	if err != nil {
		b.Fatal(err)
	}
	return records, checkpoints
}

// runDiscover times `secretshift discover -f DIR -o json`: reading, decoding and classifying
// the manifests, which migrate does first. It needs no server.
func runDiscover(ctx context.Context, b *testing.B, f *fixture) phase {
	b.Helper()
	res, err := benchkit.Discover(ctx, f.workDir(b, "discover"), f.secretshift, f.full, f.keys.HMACKey)
	if err != nil {
		b.Fatalf("discover: %v", err)
	}
	p := phase{wall: res.Wall, clientCPU: res.CPU()}
	p.setRSS(res)
	return p
}

// shellLoop is the migration people script today, one Secret at a time: the manifest through
// kubectl (as `kubectl get secret -o json` would print it), jq to decode the values into a KV v2
// body, and one HTTP write, which is what `vault kv put` sends after its own mount lookup.
// jq's error messages may quote the input, so its stderr is dropped; a failure still stops the
// loop through pipefail.
const shellLoop = `set -euo pipefail
while read -r ns name file; do
  kubectl patch --local -f "$file" --type merge -p '{}' -o json \
    | jq -c '{data: ((.data // {}) | map_values(@base64d))}' 2>/dev/null \
    | curl -sf -o /dev/null -H "X-Vault-Token: $VAULT_TOKEN" -X POST --data @- "$VAULT_ADDR/v1/secret/data/$ns/$name"
done < "$1"
`

// runShellLoop runs shellLoop over the sample against a fresh server.
func runShellLoop(ctx context.Context, b *testing.B, f *fixture) phase {
	b.Helper()
	srv := f.newServer(b, "shell-loop")
	defer func() { _, _ = srv.Stop() }()
	wd := f.workDir(b, "shell-loop")
	var list strings.Builder
	for _, s := range f.sample {
		fmt.Fprintf(&list, "%s %s %s\n", s.Namespace, s.Name, filepath.Join(f.full, s.File()))
	}
	listPath, scriptPath, kubeconfig := filepath.Join(wd, "secrets.txt"), filepath.Join(wd, "loop.sh"), filepath.Join(wd, "kubeconfig")
	for path, body := range map[string]string{listPath: list.String(), scriptPath: shellLoop, kubeconfig: ""} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + wd, "KUBECONFIG=" + kubeconfig,
		"VAULT_ADDR=" + srv.Addr, "VAULT_TOKEN=" + f.token,
	}
	srvCPU, kidsCPU := srv.CPU(), benchkit.ChildrenCPU()
	res, err := benchkit.Run(ctx, wd, env, filepath.Join(wd, "stdout.txt"), "bash", scriptPath, listPath)
	if err != nil {
		b.Fatalf("shell loop: %v", err)
	}
	wall := res.Wall
	// The loop's processes were all waited for by bash, and bash by us: their CPU time is in
	// this process's children's rusage.
	p := phase{wall: wall, clientCPU: benchkit.ChildrenCPU() - kidsCPU, serverCPU: srv.CPU() - srvCPU, server: srv}
	benchkit.Settle()
	if p.requests, err = srv.Requests(0, -1); err != nil {
		b.Fatal(err)
	}
	if got := p.requests.Count("POST data 200", "PUT data 200"); got != len(f.sample) {
		b.Errorf("shell loop: the server answered %d data writes with 200, want %d", got, len(f.sample))
	}
	return p
}

type migrateReport struct {
	n        int
	corpus   benchkit.Stats
	ceiling  [2]phase
	protocol [2]phase
	full     phase
	rerun    phase
	small    phase
	parse    phase
	loop     phase
}

func (r *migrateReport) report(b *testing.B, f *fixture) {
	n := float64(r.n)
	ceilWall := (r.ceiling[0].wall + r.ceiling[1].wall) / 2
	ssRate, ceilRate := n/r.full.wall.Seconds(), n/ceilWall.Seconds()
	pct := 100 * ssRate / ceilRate
	loopPer := r.loop.wall / time.Duration(len(f.sample))
	loopTotal := loopPer * time.Duration(r.n)
	speedup := loopTotal.Seconds() / r.full.wall.Seconds()
	reqPer := float64(r.full.requests.Total()) / n
	writesPer := float64(r.full.requests.Writes()) / n
	ceilReqPer := float64(r.ceiling[0].requests.Total()) / n
	protoRate := n / ((r.protocol[0].wall + r.protocol[1].wall) / 2).Seconds()
	protoPct := 100 * ssRate / protoRate
	mb := func(v int64) float64 { return float64(v) / (1 << 20) }

	b.ReportMetric(0, "ns/op")
	b.ReportMetric(r.full.wall.Seconds(), "secretshift-s")
	b.ReportMetric(ssRate, "secretshift-Secrets/s")
	b.ReportMetric(ceilRate, "ceiling-Secrets/s")
	b.ReportMetric(pct, "pct-of-ceiling")
	b.ReportMetric(protoRate, "protocol-Secrets/s")
	b.ReportMetric(protoPct, "pct-of-protocol")
	b.ReportMetric(float64(loopPer)/float64(time.Millisecond), "loop-ms/Secret")
	b.ReportMetric(speedup, "x-faster-than-loop")
	b.ReportMetric(reqPer, "requests/Secret")
	b.ReportMetric(r.rerun.wall.Seconds(), "rerun-s")
	b.ReportMetric(float64(r.rerun.requests.Writes()), "rerun-writes")
	b.ReportMetric(mb(r.small.peakRSS), fmt.Sprintf("peakRSS-%d-MB", f.smallN))
	b.ReportMetric(mb(r.full.peakRSS), fmt.Sprintf("peakRSS-%d-MB", r.n))

	var t strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&t, format+"\n", a...) }
	c := r.corpus
	w("\n== BenchmarkVaultMigrate ==")
	w("corpus: %s", c)
	w("build of secretshift + vault-testserver: %s; corpus written in %s; concurrency %d; %d CPUs",
		f.buildTime.Round(time.Millisecond), f.genTime.Round(time.Millisecond), concurrency, runtime.NumCPU())
	w("")
	w("%-44s %10s %12s %10s %10s %9s", "run", "wall", "Secrets/s", "client CPU", "server CPU", "requests")
	row := func(name string, p phase, secrets int) {
		rate := "-"
		if secrets > 0 {
			rate = fmt.Sprintf("%.0f", float64(secrets)/p.wall.Seconds())
		}
		srvCPU, reqs := "-", "-"
		if p.server != nil {
			srvCPU, reqs = p.serverCPU.Round(10*time.Millisecond).String(), fmt.Sprint(p.requests.Total())
		}
		w("%-44s %10s %12s %10s %10s %9s", name, p.wall.Round(time.Millisecond), rate, p.clientCPU.Round(10*time.Millisecond), srvCPU, reqs)
	}
	row("(a) ceiling: KVv2.Put x16, run 1", r.ceiling[0], r.n)
	row("(a) ceiling: KVv2.Put x16, run 2", r.ceiling[1], r.n)
	row("(a') protocol: metadata+CAS put+get x16, 1", r.protocol[0], r.n)
	row("(a') protocol: metadata+CAS put+get x16, 2", r.protocol[1], r.n)
	row("secretshift migrate --to vault", r.full, r.n)
	row("secretshift migrate again (all unchanged)", r.rerun, r.n)
	row(fmt.Sprintf("secretshift migrate, %d Secrets", f.smallN), r.small, f.smallN)
	row("secretshift discover -f (reading only)", r.parse, r.n)
	row(fmt.Sprintf("(b) shell loop, %d Secrets", len(f.sample)), r.loop, len(f.sample))
	w("")
	w("secretshift vs ceiling: %.0f vs %.0f Secrets/s = %.1f %% of (a)  [target >= 85 %%: %s]", ssRate, ceilRate, pct, benchkit.Verdict(pct >= 85))
	w("secretshift vs its protocol's floor: %.0f vs %.0f Secrets/s = %.1f %% of (a'); the floor itself is %.1f %% of (a)",
		ssRate, protoRate, protoPct, 100*protoRate/ceilRate)
	w("secretshift vs shell loop: loop %.1f ms/Secret -> %s for %d; secretshift %s = %.0fx faster  [target >= 50x: %s]",
		float64(loopPer)/float64(time.Millisecond), loopTotal.Round(time.Second), r.n, r.full.wall.Round(time.Millisecond), speedup, benchkit.Verdict(speedup >= 50))
	w("where secretshift's time goes: %s total = %s apply (its summary) + %s start, read, plan and report;",
		r.full.wall.Round(time.Millisecond), r.full.apply, (r.full.wall - r.full.apply).Round(time.Millisecond))
	w("  the unchanged re-run (read + plan + nothing to write) took %s; reading the manifests alone (discover) %s",
		r.rerun.wall.Round(time.Millisecond), r.parse.wall.Round(time.Millisecond))
	w("requests per Secret: secretshift %.2f (%.2f writes), ceiling %.2f; CPU per Secret: secretshift %s client + %s server, ceiling %s client + %s server",
		reqPer, writesPer, ceilReqPer,
		benchkit.PerItem(r.full.clientCPU, r.n), benchkit.PerItem(r.full.serverCPU, r.n),
		benchkit.PerItem((r.ceiling[0].clientCPU+r.ceiling[1].clientCPU)/2, r.n), benchkit.PerItem((r.ceiling[0].serverCPU+r.ceiling[1].serverCPU)/2, r.n))
	w("secretshift requests by kind (method, path kind, status):")
	for _, l := range r.full.requests.CountLines() {
		w("  %s", l)
	}
	w("audit log of the first run: %d records (%.2f per Secret), %d of them signed checkpoints", r.full.auditRecords, float64(r.full.auditRecords)/n, r.full.checkpoints)
	w("re-run: %s; %d requests, %d writes; %s", r.rerun.summary, r.rerun.requests.Total(), r.rerun.requests.Writes(), r.rerun.resumed)
	w("peak RSS of secretshift (VmHWM): %.0f MB at %d Secrets, %.0f MB at %d (%.1f MB per 1000 Secrets added); discover alone at %d: %.0f MB",
		mb(r.small.peakRSS), f.smallN, mb(r.full.peakRSS), r.n, (mb(r.full.peakRSS)-mb(r.small.peakRSS))/float64(r.n-f.smallN)*1000, r.n, mb(r.parse.peakRSS))
	w("  (rusage Maxrss says %.0f and %.0f MB, but on Linux it cannot fall below the peak RSS this test process had reached when it started them: %.0f and %.0f MB)",
		mb(r.small.maxRSS), mb(r.full.maxRSS), mb(r.small.parentRSS), mb(r.full.parentRSS))
	w("server CPU is sampled from /proc; the load average when this run ended: %s", benchkit.LoadAvg())
	// Printed, not logged: the testing package cuts benchmark logs after ten lines.
	fmt.Print(t.String())
}
