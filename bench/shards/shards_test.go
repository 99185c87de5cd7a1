//go:build linux

package shards

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/bench/internal/benchkit"
)

const (
	// concurrency is the --concurrency of every process, one or a shard (as each pod of an
	// Indexed Job runs the same command). Giving each of 4 shards 4, the same load on the server
	// as one process, was tried: it adds more CPU (+33 % against +25 % in the same hour), as each
	// process then wakes up for fewer answers at a time.
	concurrency = 16
	// defaultSecrets is the size of a full run (benchkit.EnvSecrets overrides it).
	defaultSecrets = 10000
	// shards is the number of processes of the sharded run.
	shards = 4
	// targetCPUOverheadPct is the most CPU time the shards may add over one process.
	targetCPUOverheadPct = 10
)

// fixture is what the benchmark needs before it measures anything. It is built once and
// removed by TestMain.
type fixture struct {
	root        string
	secretshift string
	testserver  string
	buildTime   time.Duration
	token       string
	secrets     []*benchkit.Secret
	corpus      string
	genTime     time.Duration
	keys        audit.KeyFiles
}

var fix benchkit.Fixture[*fixture]

func TestMain(m *testing.M) {
	fix.Main(m, "bench/shards", "corpus, binaries, audit logs, journals, reports, server request logs")
}

func setup(b *testing.B) *fixture {
	b.Helper()
	if testing.Short() {
		b.Skip("the sharded migration benchmark takes minutes; not run with -short")
	}
	return fix.Get(b, newFixture)
}

func newFixture() (*fixture, error) {
	n, err := benchkit.EnvSize(benchkit.EnvSecrets, defaultSecrets)
	if err != nil {
		return nil, err
	}
	root, err := fix.TempDir("secretshift-bench-shards-")
	if err != nil {
		return nil, err
	}
	f := &fixture{root: root}
	bins, took, err := benchkit.BuildTools(root, "./cmd/secretshift", "./internal/cmd/vault-testserver")
	if err != nil {
		return nil, err
	}
	f.buildTime, f.secretshift, f.testserver = took, bins[0], bins[1]
	if f.token, err = benchkit.RandomToken(); err != nil {
		return nil, err
	}
	start := time.Now()
	f.secrets = benchkit.Generate(n, benchkit.Seed)
	f.corpus = filepath.Join(root, "corpus")
	if err := benchkit.WriteCorpus(f.corpus, f.secrets); err != nil {
		return nil, err
	}
	f.genTime = time.Since(start)
	if f.keys, _, err = audit.Keygen(filepath.Join(root, "keys")); err != nil {
		return nil, fmt.Errorf("create audit keys: %w", err)
	}
	return f, nil
}

// migrateRE is the summary line of each migrate process.
var migrateRE = regexp.MustCompile(`(?m)^migrate to vault in (\S+): (.+)$`)

// run is one measured migration: one process, or the shards at once.
type run struct {
	name      string
	procs     []benchkit.Result
	wall      time.Duration // from the first start to the last exit
	serverCPU time.Duration
	created   int
	requests  int
	setOK     bool // audit verify of the shards' logs as a set (shards only)
}

// cpu is the user + system CPU time of the run's secretshift processes.
func (r run) cpu() time.Duration {
	var d time.Duration
	for _, p := range r.procs {
		d += p.CPU()
	}
	return d
}

// migrate runs `secretshift migrate --to vault -f corpus` against a fresh server as n
// processes at once (n = 1: one process, no --shard), each with its own audit log, all sharing
// one journal folder, and measures them from outside.
func (f *fixture) migrate(ctx context.Context, b *testing.B, name string, n int, mode runMode) run {
	b.Helper()
	wd := filepath.Join(f.root, "runs", name)
	if err := os.MkdirAll(wd, 0o700); err != nil {
		b.Fatal(err)
	}
	srv, err := benchkit.StartVaultServer(f.testserver, filepath.Join(f.root, "servers", name), f.token)
	if err != nil {
		b.Fatalf("start vault-testserver for %s: %v", name, err)
	}
	defer srv.Stop()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + wd, "VAULT_ADDR=" + srv.Addr, "VAULT_TOKEN=" + f.token}
	if mode == atOnce {
		// N processes on this machine share its cores, as N pods of an Indexed Job share their
		// CPU limits: each gets GOMAXPROCS = cores/N, which Go sets by itself in a pod with a
		// CPU limit. Left at the number of cores, 4 processes run 8 Go schedulers on 2 cores,
		// and their CPU time grows by a third from contention alone (measured: +35 to +47 %).
		env = append(env, fmt.Sprintf("GOMAXPROCS=%d", shardProcs(n)))
	}
	benchkit.Settle()
	from, srvCPU := srv.LogOffset(), srv.CPU()

	r := run{name: name, procs: make([]benchkit.Result, n)}
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		args := []string{"migrate", "--to", "vault", "-f", f.corpus, "--concurrency", strconv.Itoa(concurrency),
			"--fingerprint-key", f.keys.HMACKey, "--audit-signing-key", f.keys.SigningKey,
			"--audit-log", filepath.Join(wd, "audit", fmt.Sprintf("audit-%d.jsonl", i)), "--journal-dir", filepath.Join(wd, "journal")}
		if n > 1 {
			args = append(args, "--shard", fmt.Sprintf("%d/%d", i, n))
		}
		one := func() {
			r.procs[i], errs[i] = benchkit.Run(ctx, wd, env, filepath.Join(wd, fmt.Sprintf("report-%d.txt", i)), f.secretshift, args...)
		}
		if mode == inSequence {
			one()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			one()
		}()
	}
	wg.Wait()
	r.wall = time.Since(start)
	r.serverCPU = srv.CPU() - srvCPU
	for i, err := range errs {
		if err != nil {
			b.Fatalf("%s, process %d: %v", name, i, err)
		}
		_, _, counts, ok := benchkit.ParseSummary(migrateRE, r.procs[i].Stderr)
		if !ok {
			b.Fatalf("%s, process %d: no summary line:\n%s", name, i, benchkit.LastLines([]byte(r.procs[i].Stderr), 10))
		}
		r.created += counts["created"]
	}
	if r.created != len(f.secrets) {
		b.Errorf("%s: %d Secrets created, want %d", name, r.created, len(f.secrets))
	}
	benchkit.Settle()
	tally, err := srv.Requests(from, -1)
	if err != nil {
		b.Fatal(err)
	}
	r.requests = tally.Total()
	if n > 1 {
		// The shards' logs verify as one whole sharded run (not timed).
		_, err := benchkit.Run(ctx, wd, env, filepath.Join(wd, "audit-verify.txt"), f.secretshift,
			"audit", "verify", "--public-key", f.keys.PublicKey, filepath.Join(wd, "audit"))
		r.setOK = err == nil
		if err != nil {
			b.Errorf("%s: audit verify of the shards' logs: %v", name, err)
		}
	}
	return r
}

// BenchmarkShardedMigrate migrates the corpus into the Vault test server as one process and as
// 4 shards at once, in the order one, shards, shards, one (the machine's speed drifts; the
// means count), each against a fresh server.
func BenchmarkShardedMigrate(b *testing.B) {
	f := setup(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	load := benchkit.LoadAvg()
	runs := []run{
		f.migrate(ctx, b, "one-1", 1, atOnce),
		f.migrate(ctx, b, "shards-1", shards, atOnce),
		f.migrate(ctx, b, "shards-2", shards, atOnce),
		f.migrate(ctx, b, "one-2", 1, atOnce),
		f.migrate(ctx, b, "shards-seq", shards, inSequence),
	}
	one := []run{runs[0], runs[3]}
	sh := []run{runs[1], runs[2]}
	mean := func(rs []run, v func(run) time.Duration) time.Duration { return (v(rs[0]) + v(rs[1])) / 2 }
	wall := func(r run) time.Duration { return r.wall }
	cpu := func(r run) time.Duration { return r.cpu() }
	oneWall, shWall := mean(one, wall), mean(sh, wall)
	oneCPU, shCPU := mean(one, cpu), mean(sh, cpu)
	n := float64(len(f.secrets))
	cpuRatio := shCPU.Seconds() / oneCPU.Seconds()
	overhead := (cpuRatio - 1) * 100

	b.ReportMetric(0, "ns/op")
	b.ReportMetric(oneWall.Seconds(), "one-s")
	b.ReportMetric(shWall.Seconds(), "shards-s")
	b.ReportMetric(n/oneWall.Seconds(), "one-Secrets/s")
	b.ReportMetric(n/shWall.Seconds(), "shards-Secrets/s")
	b.ReportMetric(oneWall.Seconds()/shWall.Seconds(), "wall-speedup")
	b.ReportMetric(oneCPU.Seconds(), "one-cpu-s")
	b.ReportMetric(shCPU.Seconds(), "shards-cpu-s")
	b.ReportMetric(cpuRatio, "cpu-ratio")
	b.ReportMetric(overhead, "cpu-overhead-pct")

	var t strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&t, format+"\n", a...) }
	w("\n== BenchmarkShardedMigrate ==")
	w("corpus: %s", benchkit.StatsOf(f.secrets))
	w("build of secretshift + vault-testserver: %s; corpus written in %s; %d CPUs; load average %s at the start, %s at the end",
		f.buildTime.Round(time.Millisecond), f.genTime.Round(time.Millisecond), runtime.NumCPU(), load, benchkit.LoadAvg())
	w("each run: `secretshift migrate --to vault -f DIR --concurrency 16` (with --shard I/%d in the sharded runs, %d processes at once, each with GOMAXPROCS=%d), a fresh vault-testserver", shards, shards, shardProcs(shards))
	w("")
	w("%-10s %10s %10s %12s %12s %10s %9s  %s", "run", "wall", "Secrets/s", "client CPU", "server CPU", "requests", "created", "per process: wall / CPU / peak RSS")
	for _, r := range runs {
		var per []string
		for _, p := range r.procs {
			per = append(per, fmt.Sprintf("%s / %s / %.0f MB", p.Wall.Round(10*time.Millisecond), p.CPU().Round(10*time.Millisecond), benchkit.MB(p.PeakRSS)))
		}
		w("%-10s %10s %10.0f %12s %12s %10d %9d  %s", r.name, r.wall.Round(time.Millisecond), n/r.wall.Seconds(),
			r.cpu().Round(10*time.Millisecond), r.serverCPU.Round(10*time.Millisecond), r.requests, r.created, strings.Join(per, ", "))
	}
	w("")
	// Where the shards' extra CPU shows: in context switches (each process blocks and wakes
	// alone for its own answers, fsyncs and timers), user and system time alike.
	w("%-10s %12s %12s %14s %14s", "run", "user CPU", "system CPU", "vol. switches", "invol. switches")
	for _, r := range runs {
		var user, sys time.Duration
		var vol, invol int64
		for _, p := range r.procs {
			if ru := p.Rusage; ru != nil {
				user += time.Duration(ru.Utime.Nano())
				sys += time.Duration(ru.Stime.Nano())
				vol += ru.Nvcsw
				invol += ru.Nivcsw
			}
		}
		w("%-10s %12s %12s %14d %14d", r.name, user.Round(10*time.Millisecond), sys.Round(10*time.Millisecond), vol, invol)
	}
	w("")
	w("wall: one process %s (%.0f Secrets/s), %d shards %s (%.0f Secrets/s): %.2fx",
		oneWall.Round(time.Millisecond), n/oneWall.Seconds(), shards, shWall.Round(time.Millisecond), n/shWall.Seconds(), oneWall.Seconds()/shWall.Seconds())
	w("CPU of the secretshift processes: one process %s, %d shards %s together: ratio %.3f, %+.1f %%  [target <= +%d %%: %s]",
		oneCPU.Round(10*time.Millisecond), shards, shCPU.Round(10*time.Millisecond), cpuRatio, overhead, targetCPUOverheadPct,
		benchkit.Verdict(overhead <= targetCPUOverheadPct))
	seqCPU := runs[4].cpu()
	w("the same %d shards one after another (each alone on the machine, GOMAXPROCS unset): CPU %s together, %+.1f %% over one process: the cost of dividing the work, without %d processes contending for %d cores",
		shards, seqCPU.Round(10*time.Millisecond), (seqCPU.Seconds()/oneCPU.Seconds()-1)*100, shards, runtime.NumCPU())
	b.ReportMetric((seqCPU.Seconds()/oneCPU.Seconds()-1)*100, "seq-cpu-overhead-pct")
	w("audit verify of each sharded run's %d logs as a set: %s", shards, strconv.FormatBool(sh[0].setOK && sh[1].setOK && runs[4].setOK))
	fmt.Print(t.String())
}

// shardProcs is the GOMAXPROCS of each of n processes sharing this machine's cores.
func shardProcs(n int) int { return max(1, runtime.NumCPU()/n) }

// runMode says how the processes of a run are started.
type runMode int

const (
	atOnce     runMode = iota // all at once, as the pods of an Indexed Job
	inSequence                // one after another, each alone on the machine
)
