// Command fleet measures secretshift at fleet scale: one `secretshift migrate --to vault`
// command over N Secret manifests (spread over 500 namespaces) into a fresh Vault test server on
// the same machine, with read-back verification, the audit log, the journal and the External
// Secrets Operator manifests, timed from outside with its peak resident memory sampled.
//
//	go run ./bench/fleet [-sizes 1000,10000,100000] [-namespaces 500] [-concurrency 16] [-values-mb N] [-memory-limit MB]
//
// For every size it prints the wall time, CPU, peak RSS, the time per Secret, and each phase
// of the run (start, reading, planning, applying, manifests, report) taken from the command's
// own -v log, and the least wall time the server's own CPU allows on these cores. With
// -memory-limit the command runs in a memory cgroup of that size, as in a pod with that
// limits.memory (Linux, root, cgroup v1). The corpus is benchkit's (fixed seed: every run migrates the same bytes); all
// values are random test bytes, written under a temporary folder that is removed afterwards.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/secretshift/secretshift/bench/internal/benchkit"
)

// Targets of the fleet headline: 100,000 Secrets end to end under a minute, memory flat in N.
const (
	targetSeconds = 60
	targetPeakMB  = 300
	targetAt      = 100_000
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/fleet:", err)
		os.Exit(1)
	}
}

func run() error {
	sizes := flag.String("sizes", "1000,10000,100000", "numbers of Secrets to migrate, one run each")
	namespaces := flag.Int("namespaces", 500, "namespaces the Secrets spread over")
	concurrency := flag.Int("concurrency", 16, "secretshift --concurrency")
	keep := flag.Bool("keep", false, "keep the temporary folder and print its path")
	valuesMB := flag.String("values-mb", "", "SECRETSHIFT_VALUES_IN_MEMORY_MB for the command (default: its own default)")
	memLimit := flag.Int("memory-limit", 0, "run the command in a memory cgroup of this many MB, as a pod with that memory limit (0: none)")
	flag.Parse()
	var ns []int
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("-sizes: %q is not a positive number", f)
		}
		ns = append(ns, n)
	}
	tmp, err := os.MkdirTemp("", "secretshift-fleet-")
	if err != nil {
		return err
	}
	if *keep {
		fmt.Println("keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	bins, took, err := benchkit.BuildTools(tmp, "./cmd/secretshift", "./internal/cmd/vault-testserver")
	if err != nil {
		return err
	}
	fmt.Printf("built secretshift and vault-testserver in %s; load average %s; GOMAXPROCS of the command: its default\n\n", took.Round(time.Second), benchkit.LoadAvg())
	var rows []row
	for _, n := range ns {
		r, err := measure(context.Background(), filepath.Join(tmp, fmt.Sprint(n)), bins[0], bins[1], n, *namespaces, *concurrency, *valuesMB, *memLimit)
		if err != nil {
			return err
		}
		rows = append(rows, r)
		r.print()
	}
	summary(rows)
	return nil
}

type row struct {
	n             int
	wall, cpu     time.Duration
	serverCPU     time.Duration
	peak          int64
	phases        []phase
	written, load string
	limitMB       int
}

type phase struct {
	name string
	took time.Duration
}

func measure(ctx context.Context, dir, secretshift, testserver string, n, namespaces, concurrency int, valuesMB string, memLimitMB int) (row, error) {
	r := row{n: n}
	corpus := filepath.Join(dir, "corpus")
	ss := benchkit.GenerateIn(n, namespaces, 1)
	if err := benchkit.WriteCorpus(corpus, ss); err != nil {
		return r, err
	}
	ss = nil
	token, err := benchkit.RandomToken()
	if err != nil {
		return r, err
	}
	srv, err := benchkit.StartVaultServer(testserver, filepath.Join(dir, "server"), token)
	if err != nil {
		return r, err
	}
	defer srv.Stop()
	cpu0 := srv.CPU()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "VAULT_ADDR=" + srv.Addr, "VAULT_TOKEN=" + token}
	if valuesMB != "" {
		env = append(env, "SECRETSHIFT_VALUES_IN_MEMORY_MB="+valuesMB)
	}
	args := []string{"migrate", "--to", "vault", "-f", corpus, "--vault-mount", "secret", "--concurrency", fmt.Sprint(concurrency),
		"--manifests", filepath.Join(dir, "eso"), "--audit-log", filepath.Join(dir, "audit", "audit.jsonl"),
		"--journal-dir", filepath.Join(dir, "journal"), "-v"}
	name := secretshift
	if memLimitMB > 0 {
		procs, remove, err := memoryCgroup(n, int64(memLimitMB)<<20)
		if err != nil {
			return r, err
		}
		defer remove()
		// The shell puts itself in the cgroup, then becomes the command (same process).
		args = append([]string{"-c", `echo $$ > "$0" && exec "$@"`, procs, secretshift}, args...)
		name = "sh"
		r.limitMB = memLimitMB
	}
	r.load = benchkit.LoadAvg()
	res, err := benchkit.Run(ctx, dir, env, filepath.Join(dir, "report.txt"), name, args...)
	if err != nil {
		return r, err
	}
	r.wall, r.cpu, r.peak, r.serverCPU = res.Wall, res.CPU(), res.PeakRSS, srv.CPU()-cpu0
	r.phases = phases(res.Stderr, res.Wall)
	r.written = summaryLine(res.Stderr)
	return r, nil
}

// marks are the -v log messages that end each phase, in order.
var marks = []struct{ msg, phase string }{
	{"reading manifests", "start"},
	{"read Secrets", "read"},
	{"plan built", "plan"},
	{"applied", "apply"},
	{"manifests written", "manifests"},
}

// phases splits wall by the times of the log lines that end each phase; what follows the last
// is the report.
func phases(stderr string, wall time.Duration) []phase {
	var first time.Time
	var out []phase
	prev := time.Duration(0)
	sc := bufio.NewScanner(strings.NewReader(stderr))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	next := 0
	for sc.Scan() && next < len(marks) {
		line := sc.Text()
		t, msg, ok := logLine(line)
		if !ok {
			continue
		}
		if first.IsZero() {
			first = t // the first log line: after flag parsing, a few ms into the process
		}
		if msg != marks[next].msg {
			continue
		}
		at := t.Sub(first)
		out = append(out, phase{marks[next].phase, at - prev})
		prev = at
		next++
	}
	return append(out, phase{"report", max(0, wall-prev)})
}

// logLine returns the time and message of a slog text line.
func logLine(line string) (time.Time, string, bool) {
	ts, rest, ok := strings.Cut(strings.TrimPrefix(line, "time="), " ")
	if !ok || !strings.HasPrefix(line, "time=") {
		return time.Time{}, "", false
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return time.Time{}, "", false
	}
	_, msg, ok := strings.Cut(rest, "msg=")
	if !ok {
		return time.Time{}, "", false
	}
	if strings.HasPrefix(msg, `"`) {
		if m, err := strconv.QuotedPrefix(msg); err == nil {
			msg, _ = strconv.Unquote(m)
		}
	} else {
		msg, _, _ = strings.Cut(msg, " ")
	}
	return t, msg, true
}

// summaryLine is the command's one-line summary (the line that counts what was done).
func summaryLine(stderr string) string {
	for line := range strings.Lines(stderr) {
		if strings.HasPrefix(line, "migrated ") || strings.Contains(line, " created") {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

func (r row) print() {
	fmt.Printf("%d Secrets (load %s): wall %s, CPU %s (server %s), peak RSS %.0f MB, %s per Secret\n",
		r.n, r.load, r.wall.Round(time.Millisecond), r.cpu.Round(time.Millisecond), r.serverCPU.Round(time.Millisecond),
		benchkit.MB(r.peak), benchkit.PerItem(r.wall, r.n))
	var parts []string
	for _, p := range r.phases {
		parts = append(parts, fmt.Sprintf("%s %s (%s/Secret)", p.name, p.took.Round(time.Millisecond), benchkit.PerItem(p.took, r.n)))
	}
	fmt.Printf("  phases: %s\n", strings.Join(parts, ", "))
	if r.written != "" {
		fmt.Printf("  %s\n", r.written)
	}
	if r.limitMB > 0 {
		fmt.Printf("  in a memory cgroup of %d MB (the command's Go memory limit: 90 %% of it)\n", r.limitMB)
	}
	// The server runs on the same cores: its own CPU, spread over every core, is the least
	// wall time any client could take here.
	cores := runtime.NumCPU()
	fmt.Printf("  server CPU alone over %d cores: %s (%s/Secret), the least wall time on this machine whatever the client does\n",
		cores, (r.serverCPU / time.Duration(cores)).Round(time.Millisecond), benchkit.PerItem(r.serverCPU, r.n))
	fmt.Println()
}

func summary(rows []row) {
	fmt.Println("| Secrets | wall | per Secret | CPU | peak RSS | RSS per 1,000 Secrets |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		fmt.Printf("| %d | %s | %s | %s | %.0f MB | %.1f MB |\n", r.n, r.wall.Round(time.Millisecond), benchkit.PerItem(r.wall, r.n),
			r.cpu.Round(time.Millisecond), benchkit.MB(r.peak), benchkit.MB(r.peak)/float64(r.n)*1000)
	}
	for _, r := range rows {
		if r.n == targetAt {
			fmt.Printf("\n%d Secrets end to end in %s (target < %d s): %s; peak RSS %.0f MB (target ≤ %d MB): %s\n",
				r.n, r.wall.Round(time.Millisecond), targetSeconds, benchkit.Verdict(r.wall < targetSeconds*time.Second),
				benchkit.MB(r.peak), targetPeakMB, benchkit.Verdict(benchkit.MB(r.peak) <= targetPeakMB))
		}
	}
}

// memoryCgroup makes a cgroup v1 memory controller folder limited to limit bytes (memory and
// swap, as a container runtime does for limits.memory); it returns its cgroup.procs file and a
// function that removes it.
func memoryCgroup(n int, limit int64) (string, func(), error) {
	dir := filepath.Join("/sys/fs/cgroup/memory", fmt.Sprintf("secretshift-fleet-%d-%d", os.Getpid(), n))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("-memory-limit needs root and a cgroup v1 memory controller: %w", err)
	}
	remove := func() { _ = os.Remove(dir) }
	for _, f := range []string{"memory.limit_in_bytes", "memory.memsw.limit_in_bytes"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(fmt.Sprint(limit)), 0o644); err != nil {
			remove()
			return "", nil, fmt.Errorf("-memory-limit: %w", err)
		}
	}
	return filepath.Join(dir, "cgroup.procs"), remove, nil
}
