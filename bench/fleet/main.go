// Command fleet measures secretshift at fleet scale: one `secretshift migrate --to vault`
// command over N Secret manifests (spread over 500 namespaces) into a fresh Vault test server on
// the same machine, with read-back verification, the audit log, the journal and the External
// Secrets Operator manifests, timed from outside with its peak resident memory sampled.
//
//	go run ./bench/fleet [-sizes 1000,10000,100000] [-namespaces 500] [-concurrency 16] [-values-mb N]
//
// For every size it prints the wall time, CPU, peak RSS, the time per Secret, and each phase
// of the run (start, reading, planning, applying, manifests, report) taken from the command's
// own -v log. The corpus is benchkit's (fixed seed: every run migrates the same bytes); all
// values are random test bytes, written under a temporary folder that is removed afterwards.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
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
		r, err := measure(context.Background(), filepath.Join(tmp, fmt.Sprint(n)), bins[0], bins[1], n, *namespaces, *concurrency, *valuesMB)
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
}

type phase struct {
	name string
	took time.Duration
}

func measure(ctx context.Context, dir, secretshift, testserver string, n, namespaces, concurrency int, valuesMB string) (row, error) {
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
	r.load = benchkit.LoadAvg()
	res, err := benchkit.Run(ctx, dir, env, filepath.Join(dir, "report.txt"), secretshift,
		"migrate", "--to", "vault", "-f", corpus, "--vault-mount", "secret", "--concurrency", fmt.Sprint(concurrency),
		"--manifests", filepath.Join(dir, "eso"), "--audit-log", filepath.Join(dir, "audit", "audit.jsonl"),
		"--journal-dir", filepath.Join(dir, "journal"), "-v")
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
