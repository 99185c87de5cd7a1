//go:build linux

package vault

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/bench/internal/benchkit"
	"github.com/secretshift/secretshift/job"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/migrate"
	vaultprovider "github.com/secretshift/secretshift/providers/vault"
)

// defaultAuditPairs is how many runs with and without the audit log are made, in the order
// without, with, with, without, ... so that a drift in the machine's load hits both alike.
// SECRETSHIFT_BENCH_AUDIT_PAIRS overrides it.
const defaultAuditPairs = 15

// BenchmarkVaultAuditOverhead migrates the whole corpus through the library (migrate.BuildPlan
// and migrate.Apply, as `secretshift migrate` calls them) into a fresh vault-testserver process
// per run, once with Options.Recorder nil and once with an *audit.Log opened the way the CLI
// opens it, and reports how much longer the audited run takes.
func BenchmarkVaultAuditOverhead(b *testing.B) {
	f := setup(b)
	ctx := benchContext(b)
	pairs := defaultAuditPairs
	if v := os.Getenv("SECRETSHIFT_BENCH_AUDIT_PAIRS"); v != "" {
		var err error
		if pairs, err = strconv.Atoi(v); err != nil || pairs < 1 {
			b.Fatalf("SECRETSHIFT_BENCH_AUDIT_PAIRS=%q: want a positive number", v)
		}
	}

	fp, err := audit.LoadFingerprinter(f.keys.HMACKey, os.Getenv)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := audit.LoadSigner(f.keys.SigningKey, os.Getenv)
	if err != nil {
		b.Fatal(err)
	}
	// Reading the manifests is the same work either way; it happens once, outside the timing.
	inv, err := kube.Discover(ctx, kube.Options{Files: []string{f.full}, KeepValues: true, Fingerprinter: fp})
	if err != nil {
		b.Fatal(err)
	}
	var cands []migrate.Candidate
	for i := range inv.Items {
		it := &inv.Items[i]
		cands = append(cands, migrate.Candidate{Secret: it.Secret, Skip: it.Action == kube.ActionSkip, Reason: string(it.Reason), Message: it.Message})
	}
	spec := migrate.SourceSpec{Files: []string{f.full}}
	// The Vault adapter takes its token from the environment, as the CLI's does.
	b.Setenv("VAULT_TOKEN", f.token)

	fsync, err := benchkit.FsyncLatency(filepath.Join(f.root, "fsync-probe"), 50)
	if err != nil {
		b.Fatal(err)
	}

	var runs []libRun
	for i := range 2 * pairs {
		audited := i%4 == 1 || i%4 == 2
		name := fmt.Sprintf("library-%d-audit-%t", i+1, audited)
		// Labelled, so that a CPU profile of this benchmark (-cpuprofile) splits by arm:
		// go tool pprof -tagfocus audited=true.
		pprof.Do(ctx, pprof.Labels("audited", strconv.FormatBool(audited)), func(ctx context.Context) {
			runs = append(runs, runLibrary(ctx, b, f, name, cands, spec, fp, signer, audited))
		})
	}

	var with, without []libRun
	for _, r := range runs {
		if r.audited {
			with = append(with, r)
		} else {
			without = append(without, r)
		}
	}
	mean := func(rs []libRun, pick func(libRun) time.Duration) time.Duration {
		var sum time.Duration
		for _, r := range rs {
			sum += pick(r)
		}
		return sum / time.Duration(len(rs))
	}
	total := func(r libRun) time.Duration { return r.plan + r.apply }
	applyOnly := func(r libRun) time.Duration { return r.apply }
	overhead := 100 * (mean(with, total).Seconds()/mean(without, total).Seconds() - 1)
	applyOverhead := 100 * (mean(with, applyOnly).Seconds()/mean(without, applyOnly).Seconds() - 1)
	// Runs 2k and 2k+1 ran next to each other, one with and one without the log: the median
	// of their ratios is what a drift in the machine's load disturbs least.
	var pairPct []float64
	for k := 0; k+1 < len(runs); k += 2 {
		w, wo := runs[k], runs[k+1]
		if !w.audited {
			w, wo = wo, w
		}
		pairPct = append(pairPct, 100*(total(w).Seconds()/total(wo).Seconds()-1))
	}
	slices.Sort(pairPct)
	medianPct := pairPct[len(pairPct)/2]
	if len(pairPct)%2 == 0 {
		medianPct = (pairPct[len(pairPct)/2-1] + pairPct[len(pairPct)/2]) / 2
	}
	cpu := func(r libRun) time.Duration { return r.cpu }
	cpuOverhead := 100 * (mean(with, cpu).Seconds()/mean(without, cpu).Seconds() - 1)

	b.ReportMetric(0, "ns/op")
	b.ReportMetric(mean(without, total).Seconds(), "no-audit-s")
	b.ReportMetric(mean(with, total).Seconds(), "audit-s")
	b.ReportMetric(overhead, "audit-overhead-pct")
	b.ReportMetric(medianPct, "audit-overhead-median-pair-pct")
	b.ReportMetric(applyOverhead, "apply-audit-overhead-pct")
	b.ReportMetric(cpuOverhead, "audit-cpu-overhead-pct")

	var t strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&t, format+"\n", a...) }
	w("\n== BenchmarkVaultAuditOverhead ==")
	w("library migration of %d Secrets (BuildPlan + Apply, concurrency %d), each run against a fresh vault-testserver process", len(cands), concurrency)
	w("%-28s %9s %9s %9s %10s %10s %8s %s", "run", "plan", "apply", "total", "Secrets/s", "client CPU", "records", "Record() wait: mean / p50 / p99 / per Secret")
	for _, r := range runs {
		wait := "-"
		if r.audited {
			wait = r.wait.String(len(cands))
		}
		w("%-28s %9s %9s %9s %10.0f %10s %8d %s", r.name, r.plan.Round(time.Millisecond), r.apply.Round(time.Millisecond),
			total(r).Round(time.Millisecond), float64(len(cands))/total(r).Seconds(), r.cpu.Round(10*time.Millisecond), r.records, wait)
	}
	for _, r := range runs {
		if r.audited {
			w("audit log of %s: %d records, %d of them signed checkpoints (each checkpoint syncs the log, then writes, syncs and renames the head file and syncs the folder)", r.name, r.records, r.checkpoints)
			break
		}
	}
	w("fsync of a small append on this disk (the audit log's folder): median %s, p90 %s",
		fsync[len(fsync)/2].Round(10*time.Microsecond), fsync[len(fsync)*9/10].Round(10*time.Microsecond))
	verdict := "met"
	if medianPct > 5 {
		verdict = "NOT met"
	}
	pcts := make([]string, len(pairPct))
	for i, p := range pairPct {
		pcts[i] = fmt.Sprintf("%+.1f", p)
	}
	w("audit overhead: %s with vs %s without = %+.1f %% (apply alone %+.1f %%); adjacent pairs %s %%, median %+.1f %%  [target <= 5 %%: %s]",
		mean(with, total).Round(time.Millisecond), mean(without, total).Round(time.Millisecond), overhead, applyOverhead,
		strings.Join(pcts, " "), medianPct, verdict)
	w("client CPU (this process, user + system): %s with vs %s without = %+.1f %%",
		mean(with, cpu).Round(10*time.Millisecond), mean(without, cpu).Round(10*time.Millisecond), cpuOverhead)
	w("the load average when this run ended: %s", benchkit.LoadAvg())
	// Printed, not logged: the testing package cuts benchmark logs after ten lines.
	fmt.Print(t.String())
}

type libRun struct {
	name         string
	audited      bool
	plan, apply  time.Duration
	cpu          time.Duration
	records      int
	checkpoints  int
	createdCount int
	wait         *timedRecorder
}

// timedRecorder passes events to the audit log and keeps how long each Record call blocked
// its caller: with a durable log, that is how long a Secret's migration waits for the disk.
type timedRecorder struct {
	inner job.Recorder
	mu    sync.Mutex
	waits []time.Duration
	async []time.Duration
}

func (t *timedRecorder) Record(ctx context.Context, e audit.Event) error {
	return t.timed(&t.waits, func() error { return t.inner.Record(ctx, e) })
}

// RecordBatch forwards the engine's batched intents, timing the batch as one wait.
func (t *timedRecorder) RecordBatch(ctx context.Context, events []audit.Event) error {
	return t.timed(&t.waits, func() error { return t.inner.(job.BatchRecorder).RecordBatch(ctx, events) })
}

// RecordAsync forwards the engine's outcome records, which no worker waits for, and keeps
// how long each took to become durable.
func (t *timedRecorder) RecordAsync(e audit.Event, done func(error)) error {
	start := time.Now()
	return t.inner.(job.AsyncRecorder).RecordAsync(e, func(err error) {
		t.add(&t.async, time.Since(start))
		done(err)
	})
}

// Flush forwards the engine's final flush, timing it as one wait.
func (t *timedRecorder) Flush(ctx context.Context) error {
	return t.timed(&t.waits, func() error { return t.inner.(job.AsyncRecorder).Flush(ctx) })
}

// timed runs call and adds how long it took to list.
func (t *timedRecorder) timed(list *[]time.Duration, call func() error) error {
	start := time.Now()
	err := call()
	t.add(list, time.Since(start))
	return err
}

func (t *timedRecorder) add(list *[]time.Duration, d time.Duration) {
	t.mu.Lock()
	*list = append(*list, d)
	t.mu.Unlock()
}

// String summarises the waits; perItem divides their sum over that many Secrets.
func (t *timedRecorder) String(perItem int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := summarize(t.waits, perItem)
	if len(t.async) > 0 {
		s += fmt.Sprintf("; %d outcome records durable after %s", len(t.async), summarize(t.async, 0))
	}
	return s
}

// summarize prints mean / median / 99th percentile and, if perItem > 0, the sum per item.
func summarize(waits []time.Duration, perItem int) string {
	if len(waits) == 0 {
		return "-"
	}
	ws := slices.Clone(waits)
	slices.Sort(ws)
	var sum time.Duration
	for _, d := range ws {
		sum += d
	}
	r := func(d time.Duration) string { return d.Round(10 * time.Microsecond).String() }
	out := fmt.Sprintf("%s / %s / %s", r(sum/time.Duration(len(ws))), r(ws[len(ws)/2]), r(ws[len(ws)*99/100]))
	if perItem > 0 {
		out += " / " + r(sum/time.Duration(perItem))
	}
	return out
}

// runLibrary plans and applies cands against a fresh server. With audited it opens the audit
// log as cmd/secretshift/auditlog.go does, records the plan as applyPlan does, and closes (seals)
// the log; all of that is inside the timing, since the CLI pays it too.
func runLibrary(ctx context.Context, b *testing.B, f *fixture, name string, cands []migrate.Candidate, spec migrate.SourceSpec,
	fp *audit.Fingerprinter, signer ed25519.PrivateKey, audited bool) libRun {
	b.Helper()
	srv := f.newServer(b, name)
	defer func() { _, _ = srv.Stop() }()
	wd := f.workDir(b, name)

	cfg := vaultprovider.NewConfig().(*vaultprovider.Config)
	cfg.Address = srv.Addr
	p, err := cfg.Open(ctx)
	if err != nil {
		b.Fatalf("%s: open vault provider: %v", name, err)
	}
	runID := "bench-" + time.Now().UTC().Format("20060102T150405Z") + "-" + strconv.Itoa(len(name))
	opts := migrate.Options{Provider: p, Fingerprinter: fp, Concurrency: concurrency, JournalDir: filepath.Join(wd, "journal"), RunID: runID}
	sources := make(map[string]*kube.Secret, len(cands))
	for _, c := range cands {
		sources[c.Secret.Ref()] = c.Secret
	}

	r := libRun{name: name, audited: audited}
	cpu0 := benchkit.SelfCPU()
	start := time.Now()
	plan, err := migrate.BuildPlan(ctx, cands, spec, opts)
	if err != nil {
		b.Fatalf("%s: plan: %v", name, err)
	}
	r.plan = time.Since(start)

	start = time.Now()
	var log *audit.Log
	if audited {
		actor := audit.CurrentActor()
		actor.SetStore(p.Name(), audit.StoreIdentity(p.(*vaultprovider.Provider).ActorIdentity()))
		log, err = audit.Open(filepath.Join(wd, "audit", "audit.jsonl"), audit.Options{Fingerprinter: fp, Signer: signer, RunID: runID, Actor: actor})
		if err != nil {
			b.Fatalf("%s: open audit log: %v", name, err)
		}
		r.wait = &timedRecorder{inner: log}
		opts.Recorder = r.wait
		if err := r.wait.Record(ctx, audit.Event{Action: audit.ActionPlanCreate, Outcome: audit.OutcomeSuccess, Details: map[string]string{"job": plan.ID}}); err != nil {
			b.Fatalf("%s: record plan: %v", name, err)
		}
	}
	rep, err := migrate.Apply(ctx, plan, sources, opts)
	if err != nil {
		b.Fatalf("%s: apply: %v", name, err)
	}
	if log != nil {
		if err := log.Close(); err != nil {
			b.Fatalf("%s: close audit log: %v", name, err)
		}
	}
	r.apply = time.Since(start)
	r.cpu = benchkit.SelfCPU() - cpu0
	r.createdCount = rep.Counts[migrate.ResultCreated]
	if r.createdCount != len(cands) {
		b.Fatalf("%s: %d of %d Secrets created: %v", name, r.createdCount, len(cands), rep.Counts)
	}
	if audited {
		r.records, r.checkpoints = countAudit(b, filepath.Join(wd, "audit", "audit.jsonl"))
	}
	return r
}
