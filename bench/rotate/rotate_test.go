//go:build linux

package rotate

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"golang.org/x/sync/errgroup"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/bench/internal/benchkit"
)

const (
	// envDue names the variable that sets how many entries the --due run covers.
	envDue = "SECRETSHIFT_BENCH_DUE"
	// defaultRotate and defaultDue are the sizes of a full run: the entries rotated, and the
	// entries the --due run checks (benchkit.EnvSecrets and envDue override them).
	defaultRotate = 1000
	defaultDue    = 10000
	// concurrency is the number of workers of the metadata pass, and secretshift's
	// --concurrency for the migrations that fill the servers.
	concurrency = 16
	// loopSample is how many entries the shell loop rotates; its time is extrapolated.
	loopSample = 100
	// checkSample is how many rotated entries are compared value by value with what they held.
	checkSample = 50
	// maxAge is the policy's maxAge: nothing written during the benchmark is due.
	maxAge = 720 * time.Hour
	// passwordLen is the length of the new password, secretshift's (password generator,
	// length 32) and the loop's (openssl rand -base64 24).
	passwordLen = 32
	// Targets of the issue.
	targetSpeedup  = 50
	targetDueRatio = 1.0
	// kvFolder is the folder below the KV mount the entries live in: secret/bench/<ns>/<name>.
	mount    = "secret"
	kvFolder = "bench"
)

// policyYAML is rotation.yaml: one rotation of every entry's password, as a schedule would run
// it with --due.
const policyYAML = `apiVersion: secretshift.io/v1alpha1
kind: RotationPolicy
rotations:
- name: bench-passwords
  store: vault
  match:
    paths: ["secret/bench/*/*"]
  keys:
    password: {generator: password, length: 32}
  maxAge: 720h
  restart: none
`

// fixture is what the benchmark needs before it measures anything: the binaries, the corpus
// folders, the keys and the policy. It is built once and removed by TestMain.
type fixture struct {
	root        string // temporary folder holding everything below
	secretshift string // binary, built from this module
	testserver  string // vault-testserver binary, built from this module
	buildTime   time.Duration
	token       string

	secrets   []*benchkit.Secret // the first max(rotN, dueN) Secrets of the benchkit corpus
	rotN      int                // entries rotated
	dueN      int                // entries the --due run checks
	rotCorpus string             // manifests of the first rotN Secrets
	dueCorpus string             // manifests of the first dueN Secrets
	genTime   time.Duration

	keys   audit.KeyFiles
	policy string // rotation.yaml
}

var fix benchkit.Fixture[*fixture]

func TestMain(m *testing.M) {
	fix.Main(m, "bench/rotate", "corpus, binaries, policy, audit logs, journals, reports, server request logs")
}

// setup returns the shared fixture, building it on first use. Without the loop's tools the
// benchmark skips under -short and fails otherwise, so `make bench` cannot pass by accident.
func setup(b *testing.B) *fixture {
	b.Helper()
	for _, tool := range []string{"bash", "openssl", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if testing.Short() {
				b.Skipf("%s not on PATH: the rotation loop cannot be measured", tool)
			}
			b.Fatalf("the rotation loop needs %s on PATH: %v", tool, err)
		}
	}
	return fix.Get(b, newFixture)
}

func newFixture() (*fixture, error) {
	rotN, err := benchkit.EnvSize(benchkit.EnvSecrets, defaultRotate)
	if err != nil {
		return nil, err
	}
	dueN, err := benchkit.EnvSize(envDue, defaultDue)
	if err != nil {
		return nil, err
	}
	root, err := fix.TempDir("secretshift-bench-rotate-")
	if err != nil {
		return nil, err
	}
	f := &fixture{root: root, rotN: rotN, dueN: dueN}
	bins, took, err := benchkit.BuildTools(root, "./cmd/secretshift", "./internal/cmd/vault-testserver")
	if err != nil {
		return nil, err
	}
	f.buildTime, f.secretshift, f.testserver = took, bins[0], bins[1]
	if f.token, err = benchkit.RandomToken(); err != nil {
		return nil, err
	}

	// Generate is sequential over one seeded source, so the first n Secrets of a larger corpus
	// are the corpus of n: both folders hold the same bytes where they overlap.
	start := time.Now()
	f.secrets = benchkit.Generate(max(rotN, dueN), benchkit.Seed)
	f.rotCorpus, f.dueCorpus = filepath.Join(root, "corpus-rotate"), filepath.Join(root, "corpus-due")
	if err := benchkit.WriteCorpus(f.rotCorpus, f.secrets[:rotN]); err != nil {
		return nil, err
	}
	if err := benchkit.WriteCorpus(f.dueCorpus, f.secrets[:dueN]); err != nil {
		return nil, err
	}
	f.genTime = time.Since(start)

	if f.keys, _, err = audit.Keygen(filepath.Join(root, "keys")); err != nil {
		return nil, fmt.Errorf("create audit keys: %w", err)
	}
	f.policy = filepath.Join(root, "rotation.yaml")
	if err := os.WriteFile(f.policy, []byte(policyYAML), 0o600); err != nil {
		return nil, err
	}
	return f, nil
}

// newServer starts a fresh vault-testserver in its own folder below the fixture.
func (f *fixture) newServer(b *testing.B, name string) *benchkit.VaultServer {
	b.Helper()
	s, err := benchkit.StartVaultServer(f.testserver, filepath.Join(f.root, "servers", name), f.token)
	if err != nil {
		b.Fatalf("start vault-testserver for %s: %v", name, err)
	}
	// bench and bench/<ns> are folders: a GET of their metadata path is a LIST.
	s.IsFolder = func(p string) bool { return strings.Count(p, "/") < 2 }
	b.Cleanup(func() { _, _ = s.Stop() })
	return s
}

// workDir makes the folder of one run.
func (f *fixture) workDir(b *testing.B, name string) string {
	b.Helper()
	d := filepath.Join(f.root, "runs", name)
	if err := os.MkdirAll(d, 0o700); err != nil {
		b.Fatal(err)
	}
	return d
}

// kvPath is where a Secret's entry lives below the mount: bench/<namespace>/<name>, as
// `migrate --vault-path 'bench/{{.Namespace}}/{{.Name}}'` puts it.
func kvPath(s *benchkit.Secret) string { return kvFolder + "/" + s.Namespace + "/" + s.Name }

// BenchmarkRotate runs, side by side on this machine:
//
//   - secretshift rotating every entry of a store: `secretshift rotate --policy rotation.yaml`
//     over rotN entries that `secretshift migrate --to vault` wrote (as a user's store looks
//     after migrating: provenance in custom metadata, version 1);
//   - the loop people run today on a sample, openssl + curl | jq | curl per entry, against a
//     server filled the same way, extrapolated to rotN;
//   - a schedule's run, `secretshift rotate --policy rotation.yaml --due`, over dueN entries of
//     which none is due;
//   - one LIST pass over the same entries' metadata (a recursive LIST and a metadata read per
//     entry, 16 at a time) and the recursive LIST alone, in this process, before and after
//     secretshift's --due run (the mean counts);
//   - one read of each entry's data after the LIST, one at a time (as secretshift's --due run
//     reads them), as a diagnostic of where its time goes.
func BenchmarkRotate(b *testing.B) {
	f := setup(b)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	r := &report{f: f}

	// Rotation of every entry.
	srv := f.newServer(b, "rotate")
	r.rotFill = f.fill(ctx, b, srv, "fill-rotate", f.rotCorpus, f.rotN)
	checked := benchkit.Sample(f.secrets[:f.rotN], checkSample)
	before := read(ctx, b, f, srv, checked)
	r.rot = f.runRotate(ctx, b, srv, "rotate", false)
	if got := r.rot.counts["rotated"]; got != f.rotN {
		b.Errorf("secretshift rotated %d entries, want %d: %q", got, f.rotN, r.rot.summary)
	}
	r.rotCheck = metadataPass(ctx, b, f, srv, true)
	if r.rotCheck.entries != f.rotN || r.rotCheck.minVersion != 2 || r.rotCheck.maxVersion != 2 {
		b.Errorf("after the rotation: %d entries listed, current versions %d-%d; want %d entries, all at version 2",
			r.rotCheck.entries, r.rotCheck.minVersion, r.rotCheck.maxVersion, f.rotN)
	}
	r.rotSampleOK = compare(b, "secretshift", before, read(ctx, b, f, srv, checked), true)
	_, _ = srv.Stop()

	// The loop, on a sample, against a server filled the same way.
	lsrv := f.newServer(b, "loop")
	r.loopFill = f.fill(ctx, b, lsrv, "fill-loop", f.rotCorpus, f.rotN)
	r.loopSample = benchkit.Sample(f.secrets[:f.rotN], loopSample)
	before = read(ctx, b, f, lsrv, r.loopSample)
	r.loop = f.runLoop(ctx, b, lsrv, r.loopSample)
	r.loopOK = compare(b, "shell loop", before, read(ctx, b, f, lsrv, r.loopSample), false)
	_, _ = lsrv.Stop()

	// The scheduled --due run over entries of which none is due, bracketed by the passes over
	// their metadata: the machine's speed drifts, and their mean brackets secretshift's run.
	dsrv := f.newServer(b, "due")
	r.dueFill = f.fill(ctx, b, dsrv, "fill-due", f.dueCorpus, f.dueN)
	r.meta[0] = metadataPass(ctx, b, f, dsrv, true)
	r.list[0] = metadataPass(ctx, b, f, dsrv, false)
	r.due = f.runRotate(ctx, b, dsrv, "due", true)
	r.meta[1] = metadataPass(ctx, b, f, dsrv, true)
	r.list[1] = metadataPass(ctx, b, f, dsrv, false)
	r.seqRead = sequentialReads(ctx, b, f, dsrv)
	if got := r.due.counts["not-due"]; got != f.dueN || len(r.due.counts) != 1 {
		b.Errorf("the --due run: %q, want %d not-due and nothing else", r.due.summary, f.dueN)
	}
	for i, p := range r.meta {
		if p.entries != f.dueN || p.due != 0 || p.maxVersion != 1 {
			b.Errorf("metadata pass %d: %d entries, %d due, versions %d-%d; want %d entries, none due, all at version 1",
				i+1, p.entries, p.due, p.minVersion, p.maxVersion, f.dueN)
		}
	}
	_, _ = dsrv.Stop()

	var err error
	if r.fsync, err = benchkit.FsyncLatency(filepath.Join(f.root, "fsync-probe"), 200); err != nil {
		b.Fatal(err)
	}
	r.report(b)
}

// cliRun is one measured run of the secretshift binary against a server.
type cliRun struct {
	benchkit.Result
	serverCPU    time.Duration
	requests     benchkit.RequestTally
	summary      string         // the summary line on stderr
	inRun        time.Duration  // the duration that line reports
	counts       map[string]int // its counts by result
	auditRecords int
	checkpoints  int
}

var (
	migrateRE = regexp.MustCompile(`(?m)^migrate to vault in (\S+): (.+)$`)
	rotateRE  = regexp.MustCompile(`(?m)^rotate in \S+ in (\S+): (.+)$`)
)

// env is the environment of a secretshift run against srv.
func (f *fixture) env(wd string, srv *benchkit.VaultServer) []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + wd, "VAULT_ADDR=" + srv.Addr, "VAULT_TOKEN=" + f.token}
}

// keyArgs are the flags every secretshift run gets: the fixture's keys, and the audit log and
// journal in the run's folder.
func (f *fixture) keyArgs(wd string) []string {
	return []string{"--fingerprint-key", f.keys.HMACKey, "--audit-signing-key", f.keys.SigningKey,
		"--audit-log", filepath.Join(wd, "audit", "audit.jsonl"), "--journal-dir", filepath.Join(wd, "journal")}
}

// run runs secretshift with args in the folder of name against srv, and measures it: wall,
// CPU, peak RSS, the server's CPU and the requests it received, and the summary line.
func (f *fixture) run(ctx context.Context, b *testing.B, srv *benchkit.VaultServer, name string, re *regexp.Regexp, args ...string) cliRun {
	b.Helper()
	wd := f.workDir(b, name)
	args = append(args, f.keyArgs(wd)...)
	benchkit.Settle()
	from, srvCPU := srv.LogOffset(), srv.CPU()
	var r cliRun
	var err error
	if r.Result, err = benchkit.Run(ctx, wd, f.env(wd, srv), filepath.Join(wd, "stdout.txt"), f.secretshift, args...); err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	r.serverCPU = srv.CPU() - srvCPU
	benchkit.Settle()
	if r.requests, err = srv.Requests(from, -1); err != nil {
		b.Fatal(err)
	}
	var ok bool
	if r.summary, r.inRun, r.counts, ok = benchkit.ParseSummary(re, r.Stderr); !ok {
		b.Fatalf("%s: no summary line on stderr:\n%s", name, benchkit.LastLines([]byte(r.Stderr), 10))
	}
	if r.auditRecords, r.checkpoints, err = benchkit.CountAudit(filepath.Join(wd, "audit", "audit.jsonl")); err != nil {
		b.Fatal(err)
	}
	return r
}

// fill writes the n Secrets of corpus into srv below secret/bench/ with `secretshift migrate
// --to vault`, as a user's store looks after migrating: one entry per Secret at version 1, its
// source and keyed fingerprint in custom metadata.
func (f *fixture) fill(ctx context.Context, b *testing.B, srv *benchkit.VaultServer, name, corpus string, n int) cliRun {
	b.Helper()
	r := f.run(ctx, b, srv, name, migrateRE, "migrate", "--to", "vault", "-f", corpus,
		"--vault-path", kvFolder+"/{{.Namespace}}/{{.Name}}", "--concurrency", strconv.Itoa(concurrency))
	if r.counts["created"] != n {
		b.Fatalf("%s: %q, want %d created", name, r.summary, n)
	}
	return r
}

// runRotate runs `secretshift rotate --policy rotation.yaml` (with --due if due) against srv.
func (f *fixture) runRotate(ctx context.Context, b *testing.B, srv *benchkit.VaultServer, name string, due bool) cliRun {
	b.Helper()
	args := []string{"rotate", "--policy", f.policy}
	if due {
		args = append(args, "--due")
	}
	return f.run(ctx, b, srv, name, rotateRE, args...)
}

// client is a Vault client with the settings secretshift's adapter uses: the library's
// defaults, the connection pool widened so that sixteen workers keep their connections.
func client(b *testing.B, f *fixture, srv *benchkit.VaultServer) *api.Client {
	b.Helper()
	c, err := benchkit.VaultClient(srv.Addr, f.token)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// read returns the current version of each Secret's entry, by path.
func read(ctx context.Context, b *testing.B, f *fixture, srv *benchkit.VaultServer, ss []*benchkit.Secret) map[string]*api.KVSecret {
	b.Helper()
	kv := client(b, f, srv).KVv2(mount)
	out := make(map[string]*api.KVSecret, len(ss))
	for _, s := range ss {
		sec, err := kv.Get(ctx, kvPath(s))
		if err != nil {
			b.Fatalf("read %s: %v", kvPath(s), err)
		}
		out[kvPath(s)] = sec
	}
	return out
}

// compare checks that every entry of before has a new version in after: the version one
// higher, a new password of passwordLen characters, every other key as it was, and, with
// keepsMeta, the entry's source still named in its custom metadata. It returns how many passed.
func compare(b *testing.B, who string, before, after map[string]*api.KVSecret, keepsMeta bool) int {
	b.Helper()
	ok := 0
	for p, old := range before {
		cur := after[p]
		var problems []string
		if cur.VersionMetadata.Version != old.VersionMetadata.Version+1 {
			problems = append(problems, fmt.Sprintf("version %d -> %d", old.VersionMetadata.Version, cur.VersionMetadata.Version))
		}
		if pw, _ := cur.Data["password"].(string); len(pw) != passwordLen || pw == old.Data["password"] {
			problems = append(problems, fmt.Sprintf("password not changed to a new %d-character value", passwordLen))
		}
		for k, v := range old.Data {
			if k != "password" && !reflect.DeepEqual(cur.Data[k], v) {
				problems = append(problems, fmt.Sprintf("key %s changed", k))
			}
		}
		for k := range cur.Data {
			if _, had := old.Data[k]; !had && k != "password" {
				problems = append(problems, fmt.Sprintf("key %s added", k))
			}
		}
		if keepsMeta {
			for _, k := range []string{"source-namespace", "source-name", "source-type", "managed-by"} {
				if cur.CustomMetadata[k] != old.CustomMetadata[k] {
					problems = append(problems, fmt.Sprintf("custom metadata %s %v -> %v", k, old.CustomMetadata[k], cur.CustomMetadata[k]))
				}
			}
		}
		if len(problems) > 0 {
			b.Errorf("%s, %s: %s", who, p, strings.Join(problems, "; "))
			continue
		}
		ok++
	}
	return ok
}

// rotateLoop is the rotation people script today, one entry at a time: a new password from
// openssl, the entry read with curl, jq to set the password (keeping the other keys) and to
// take the version read for check-and-set, and the write with curl. That is what
// `vault kv patch -method=rw ENTRY password=$NEW` sends after its mount lookup.
const rotateLoop = `set -euo pipefail
while read -r path; do
  NEW=$(openssl rand -base64 24)
  curl -sf -H "X-Vault-Token: $VAULT_TOKEN" "$VAULT_ADDR/v1/secret/data/$path" \
    | jq -c --arg pw "$NEW" '{options: {cas: .data.metadata.version}, data: (.data.data + {password: $pw})}' \
    | curl -sf -o /dev/null -H "X-Vault-Token: $VAULT_TOKEN" -X POST --data @- "$VAULT_ADDR/v1/secret/data/$path"
done < "$1"
`

// loopRun is the loop's measurement.
type loopRun struct {
	wall, cpu, serverCPU time.Duration
	requests             benchkit.RequestTally
}

// runLoop runs rotateLoop over sample against srv, sequentially, in bash.
func (f *fixture) runLoop(ctx context.Context, b *testing.B, srv *benchkit.VaultServer, sample []*benchkit.Secret) loopRun {
	b.Helper()
	wd := f.workDir(b, "loop")
	var list strings.Builder
	for _, s := range sample {
		fmt.Fprintln(&list, kvPath(s))
	}
	listPath, scriptPath := filepath.Join(wd, "entries.txt"), filepath.Join(wd, "loop.sh")
	for path, body := range map[string]string{listPath: list.String(), scriptPath: rotateLoop} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	benchkit.Settle()
	from, srvCPU, kidsCPU := srv.LogOffset(), srv.CPU(), benchkit.ChildrenCPU()
	res, err := benchkit.Run(ctx, wd, f.env(wd, srv), filepath.Join(wd, "stdout.txt"), "bash", scriptPath, listPath)
	if err != nil {
		b.Fatalf("rotation loop: %v", err)
	}
	// bash waited for every openssl, curl and jq, and this process for bash: their CPU time is
	// in this process's children's rusage.
	r := loopRun{wall: res.Wall, cpu: benchkit.ChildrenCPU() - kidsCPU, serverCPU: srv.CPU() - srvCPU}
	benchkit.Settle()
	if r.requests, err = srv.Requests(from, -1); err != nil {
		b.Fatal(err)
	}
	if got := r.requests.Count("POST data 200", "PUT data 200"); got != len(sample) {
		b.Errorf("rotation loop: the server answered %d data writes with 200, want %d", got, len(sample))
	}
	return r
}

// pass is one pass over the entries' metadata (or folders only) in this process.
type pass struct {
	wall, cpu, serverCPU   time.Duration
	lists                  int // LIST requests
	entries                int // entries listed
	due                    int // entries whose current version is older than maxAge
	minVersion, maxVersion int // of the entries' current versions
	requests               benchkit.RequestTally
}

// metadataPass lists every entry below secret/metadata/bench/ (a LIST of each folder, the
// folders of one level 16 at a time) and, with meta, reads each entry's metadata with 16
// workers: the least any tool must do to know every entry's age. Each pass has its own client
// (new connections), as a new process would.
func metadataPass(ctx context.Context, b *testing.B, f *fixture, srv *benchkit.VaultServer, meta bool) pass {
	b.Helper()
	benchkit.Settle()
	from, srvCPU, myCPU := srv.LogOffset(), srv.CPU(), benchkit.SelfCPU()
	start := time.Now()
	c := client(b, f, srv)
	paths, lists, err := listAll(ctx, c, kvFolder+"/")
	if err != nil {
		b.Fatal(err)
	}
	p := pass{lists: lists, entries: len(paths), minVersion: 1 << 30}
	if meta {
		kv := c.KVv2(mount)
		now := time.Now()
		var mu sync.Mutex
		var next atomic.Int64
		g, gctx := errgroup.WithContext(ctx)
		for range concurrency {
			g.Go(func() error {
				for {
					i := int(next.Add(1) - 1)
					if i >= len(paths) {
						return nil
					}
					md, err := kv.GetMetadata(gctx, paths[i])
					if err != nil {
						return fmt.Errorf("metadata of %s: %w", paths[i], err)
					}
					v, ok := md.Versions[strconv.Itoa(md.CurrentVersion)]
					if !ok {
						return fmt.Errorf("metadata of %s: no current version %d", paths[i], md.CurrentVersion)
					}
					mu.Lock()
					if now.Sub(v.CreatedTime) >= maxAge {
						p.due++
					}
					p.minVersion, p.maxVersion = min(p.minVersion, md.CurrentVersion), max(p.maxVersion, md.CurrentVersion)
					mu.Unlock()
				}
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
	}
	p.wall, p.cpu, p.serverCPU = time.Since(start), benchkit.SelfCPU()-myCPU, srv.CPU()-srvCPU
	benchkit.Settle()
	if p.requests, err = srv.Requests(from, -1); err != nil {
		b.Fatal(err)
	}
	return p
}

// listAll lists every entry below dir (a folder of the mount, "x/"), level by level, the
// folders of each level 16 at a time. It returns the entries' paths below the mount and the
// number of LIST requests.
func listAll(ctx context.Context, c *api.Client, dir string) ([]string, int, error) {
	var out []string
	lists := 0
	level := []string{dir}
	for len(level) > 0 {
		var mu sync.Mutex
		var next []string
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(concurrency)
		for _, d := range level {
			lists++
			g.Go(func() error {
				s, err := c.Logical().ListWithContext(gctx, mount+"/metadata/"+d)
				if err != nil {
					return fmt.Errorf("list %s/metadata/%s: %w", mount, d, err)
				}
				if s == nil || s.Data == nil {
					return nil
				}
				keys, _ := s.Data["keys"].([]any)
				mu.Lock()
				defer mu.Unlock()
				for _, k := range keys {
					name, _ := k.(string)
					switch {
					case name == "":
					case strings.HasSuffix(name, "/"):
						next = append(next, d+name)
					default:
						out = append(out, d+name)
					}
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, lists, err
		}
		level = next
	}
	return out, lists, nil
}

// seqRun is the diagnostic pass: the recursive LIST, then each entry's data read one at a
// time, as secretshift's --due run reads them (for the version time), without anything else it
// does per entry.
type seqRun struct {
	wall, cpu time.Duration
	entries   int
}

func sequentialReads(ctx context.Context, b *testing.B, f *fixture, srv *benchkit.VaultServer) seqRun {
	b.Helper()
	benchkit.Settle()
	myCPU, start := benchkit.SelfCPU(), time.Now()
	c := client(b, f, srv)
	paths, _, err := listAll(ctx, c, kvFolder+"/")
	if err != nil {
		b.Fatal(err)
	}
	kv := c.KVv2(mount)
	for _, p := range paths {
		sec, err := kv.Get(ctx, p)
		if err != nil {
			b.Fatalf("read %s: %v", p, err)
		}
		if sec.VersionMetadata == nil || sec.VersionMetadata.CreatedTime.IsZero() {
			b.Fatalf("read %s: no version time", p)
		}
	}
	return seqRun{wall: time.Since(start), cpu: benchkit.SelfCPU() - myCPU, entries: len(paths)}
}

type report struct {
	f *fixture

	rotFill, loopFill, dueFill cliRun
	rot                        cliRun
	rotCheck                   pass
	rotSampleOK                int

	loop       loopRun
	loopSample []*benchkit.Secret
	loopOK     int

	due     cliRun
	meta    [2]pass
	list    [2]pass
	seqRead seqRun

	fsync []time.Duration
}

func (r *report) report(b *testing.B) {
	f := r.f
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	mb := benchkit.MB
	rotN, dueN := float64(f.rotN), float64(f.dueN)

	loopPer := r.loop.wall / time.Duration(len(r.loopSample))
	loopTotal := loopPer * time.Duration(f.rotN)
	speedup := loopTotal.Seconds() / r.rot.Wall.Seconds()
	metaWall := (r.meta[0].wall + r.meta[1].wall) / 2
	listWall := (r.list[0].wall + r.list[1].wall) / 2
	dueRatio := r.due.Wall.Seconds() / metaWall.Seconds()
	dueVsList := r.due.Wall.Seconds() / listWall.Seconds()
	fsyncMed := r.fsync[len(r.fsync)/2]

	b.ReportMetric(0, "ns/op")
	b.ReportMetric(r.rot.Wall.Seconds(), "rotate-s")
	b.ReportMetric(r.rot.CPU().Seconds(), "rotate-cpu-s")
	b.ReportMetric(rotN/r.rot.Wall.Seconds(), "rotate-entries/s")
	b.ReportMetric(ms(loopPer), "loop-ms/entry")
	b.ReportMetric(speedup, "x-faster-than-loop")
	b.ReportMetric(float64(r.rot.requests.Total())/rotN, "rotate-requests/entry")
	b.ReportMetric(r.due.Wall.Seconds(), "due-s")
	b.ReportMetric(r.due.CPU().Seconds(), "due-cpu-s")
	b.ReportMetric(dueN/r.due.Wall.Seconds(), "due-entries/s")
	b.ReportMetric(metaWall.Seconds(), "list-meta-s")
	b.ReportMetric(listWall.Seconds(), "list-s")
	b.ReportMetric(dueRatio, "due-ratio")
	b.ReportMetric(dueVsList, "due-ratio-vs-list")
	b.ReportMetric(float64(r.due.requests.Total())/dueN, "due-requests/entry")
	b.ReportMetric(float64(r.due.requests.Writes())/dueN, "due-writes/entry")
	b.ReportMetric(mb(r.rot.PeakRSS), "peakRSS-rotate-MB")
	b.ReportMetric(mb(r.due.PeakRSS), "peakRSS-due-MB")

	var t strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&t, format+"\n", a...) }
	w("\n== BenchmarkRotate ==")
	w("entries: %d rotated (the first of the benchkit corpus: %s)", f.rotN, benchkit.StatsOf(f.secrets[:f.rotN]))
	w("         %d checked by --due (%s)", f.dueN, benchkit.StatsOf(f.secrets[:f.dueN]))
	w("policy: one rotation, store vault, paths [secret/bench/*/*], keys password: {generator: password, length: 32}, maxAge 720h, restart none")
	w("build of secretshift + vault-testserver: %s; corpus written in %s; %d CPUs", f.buildTime.Round(time.Millisecond), f.genTime.Round(time.Millisecond), runtime.NumCPU())
	w("")
	w("%-52s %10s %11s %10s %10s %9s %9s", "run", "wall", "entries/s", "client CPU", "server CPU", "requests", "peak RSS")
	row := func(name string, wall, cpu, srvCPU time.Duration, n, reqs int, rss int64) {
		rssText := "-"
		if rss > 0 {
			rssText = fmt.Sprintf("%.0f MB", mb(rss))
		}
		w("%-52s %10s %11.0f %10s %10s %9d %9s", name, wall.Round(time.Millisecond), float64(n)/wall.Seconds(),
			cpu.Round(10*time.Millisecond), srvCPU.Round(10*time.Millisecond), reqs, rssText)
	}
	cli := func(name string, c cliRun, n int) {
		row(name, c.Wall, c.CPU(), c.serverCPU, n, c.requests.Total(), c.PeakRSS)
	}
	ps := func(name string, p pass, n int) { row(name, p.wall, p.cpu, p.serverCPU, n, p.requests.Total(), 0) }
	cli(fmt.Sprintf("setup: secretshift migrate, %d entries", f.rotN), r.rotFill, f.rotN)
	cli("secretshift rotate --policy", r.rot, f.rotN)
	cli(fmt.Sprintf("setup: secretshift migrate, %d entries (loop)", f.rotN), r.loopFill, f.rotN)
	row(fmt.Sprintf("loop: openssl+curl|jq|curl, %d entries", len(r.loopSample)), r.loop.wall, r.loop.cpu, r.loop.serverCPU, len(r.loopSample), r.loop.requests.Total(), 0)
	cli(fmt.Sprintf("setup: secretshift migrate, %d entries", f.dueN), r.dueFill, f.dueN)
	ps("LIST + metadata GET x16, run 1", r.meta[0], f.dueN)
	ps("recursive LIST alone, run 1", r.list[0], f.dueN)
	cli("secretshift rotate --policy --due (none due)", r.due, f.dueN)
	ps("LIST + metadata GET x16, run 2", r.meta[1], f.dueN)
	ps("recursive LIST alone, run 2", r.list[1], f.dueN)
	row("diagnostic: LIST + data GET one at a time", r.seqRead.wall, r.seqRead.cpu, 0, r.seqRead.entries, 0, 0)
	w("")

	w("rotation: secretshift %s for %d entries = %.0f entries/s (%s per entry); %s",
		r.rot.Wall.Round(time.Millisecond), f.rotN, rotN/r.rot.Wall.Seconds(), benchkit.PerItem(r.rot.Wall, f.rotN), r.rot.summary)
	w("  loop: %.1f ms per entry (%s CPU each: bash, openssl, 2 curl, jq) -> %s for %d; secretshift = %.1fx faster  [target >= %dx: %s]",
		ms(loopPer), benchkit.PerItem(r.loop.cpu, len(r.loopSample)), loopTotal.Round(time.Millisecond), f.rotN, speedup, targetSpeedup, benchkit.Verdict(speedup >= targetSpeedup))
	if need, srv := loopPer/targetSpeedup, r.rot.serverCPU/time.Duration(f.rotN*runtime.NumCPU()); srv > need {
		w("  the target: %dx needs %s per entry, and the test server's CPU alone for secretshift's requests is %s per entry on %d cores: out of reach on this machine, whatever the client does",
			targetSpeedup, need.Round(time.Microsecond), srv.Round(time.Microsecond), runtime.NumCPU())
	}
	w("  checks: all %d entries at version 2 after the run (a metadata pass); %d of %d sampled have a new %d-character password, every other key and their source metadata as before; the loop's %d of %d likewise",
		r.rotCheck.entries, r.rotSampleOK, checkSample, passwordLen, r.loopOK, len(r.loopSample))
	w("  where the time goes: %s in rotate.Run (its summary; 16 entries in flight, --concurrency's default) + %s before and after (start, policy, mount check, %d LISTs, audit log open and seal, report)",
		r.rot.inRun, (r.rot.Wall - r.rot.inRun).Round(time.Millisecond), r.rot.requests.Count("GET metadata (LIST) 200"))
	r.parts(&t, r.rot, f.rotN, fsyncMed)
	w("    requests by kind (method, path kind, status):")
	for _, l := range r.rot.requests.Lines() {
		w("      %s", l)
	}
	w("")
	w("--due, none due: secretshift %s for %d entries = %.0f entries/s (%s per entry); %s",
		r.due.Wall.Round(time.Millisecond), f.dueN, dueN/r.due.Wall.Seconds(), benchkit.PerItem(r.due.Wall, f.dueN), r.due.summary)
	w("  one LIST pass over their metadata (LIST + metadata GET x16): %s and %s, mean %s; secretshift / that = %.2f  [target <= %.0f: %s]",
		r.meta[0].wall.Round(time.Millisecond), r.meta[1].wall.Round(time.Millisecond), metaWall.Round(time.Millisecond),
		dueRatio, targetDueRatio, benchkit.Verdict(dueRatio <= targetDueRatio))
	w("  the recursive LIST alone (%d LISTs): %s and %s, mean %s; secretshift / that = %.1f",
		r.list[0].lists, r.list[0].wall.Round(time.Millisecond), r.list[1].wall.Round(time.Millisecond), listWall.Round(time.Millisecond), dueVsList)
	w("  requests: secretshift %d (%.2f per entry, %.2f of them writes, though nothing was due), the metadata pass %d (%.2f per entry)",
		r.due.requests.Total(), float64(r.due.requests.Total())/dueN, float64(r.due.requests.Writes())/dueN, r.meta[0].requests.Total(), float64(r.meta[0].requests.Total())/dueN)
	w("    secretshift's requests by kind:")
	for _, l := range r.due.requests.Lines() {
		w("      %s", l)
	}
	w("  where the time goes: %s in rotate.Run (its summary; 16 entries in flight, each its requests above and a rotate.due record) + %s before and after (start, policy, mount check, LISTs, audit log, a report of %d rows)",
		r.due.inRun, (r.due.Wall - r.due.inRun).Round(time.Millisecond), f.dueN)
	r.parts(&t, r.due, f.dueN, fsyncMed)
	w("    the same LIST and data GETs one at a time from this process, without audit records: %s per entry (%s in all, %s CPU);",
		benchkit.PerItem(r.seqRead.wall, r.seqRead.entries), r.seqRead.wall.Round(time.Millisecond), r.seqRead.cpu.Round(10*time.Millisecond))
	w("    audit log: %d records, %d of them signed checkpoints; fsync of a small append: median %s, p90 %s",
		r.due.auditRecords, r.due.checkpoints, fsyncMed.Round(10*time.Microsecond), r.fsync[len(r.fsync)*9/10].Round(10*time.Microsecond))
	w("")
	w("peak RSS of secretshift (VmHWM): rotate %.0f MB (%d entries), --due %.0f MB (%d entries); migrate of %d: %.0f MB",
		mb(r.rot.PeakRSS), f.rotN, mb(r.due.PeakRSS), f.dueN, f.dueN, mb(r.dueFill.PeakRSS))
	w("setup: migrate wrote %d entries in %s (%.0f/s) and %d in %s (%.0f/s), %.2f requests per entry",
		f.rotN, r.rotFill.Wall.Round(time.Millisecond), rotN/r.rotFill.Wall.Seconds(), f.dueN, r.dueFill.Wall.Round(time.Millisecond), dueN/r.dueFill.Wall.Seconds(),
		float64(r.dueFill.requests.Total())/dueN)
	w("the load average when this run ended: %s", benchkit.LoadAvg())
	// Printed, not logged: the testing package cuts benchmark logs after ten lines.
	fmt.Print(t.String())
}

// parts splits a run's wall time per entry into what adds up when entries go one after
// another: the client's CPU time, the server's time answering its requests, and the fsyncs of
// its audit records (at the probe's median); the rest is waiting on the loopback, scheduling
// on a busy machine, and what the probe's median misses. The parts overlap a little: the
// client's CPU time includes the kernel's side of its fsyncs.
func (r *report) parts(t *strings.Builder, c cliRun, n int, fsyncMed time.Duration) {
	cpu := c.CPU() + c.serverCPU
	floor := cpu / time.Duration(runtime.NumCPU())
	fmt.Fprintf(t, "    per entry: %s wall; %s client CPU + %s server CPU (%.2f requests) = %s of CPU, which on %d cores takes at least %s of wall (%.0f %% of the wall: entries run side by side, so the run is as fast as the CPU lets it be); %.2f audit records, fsync median %s\n",
		benchkit.PerItem(c.Wall, n), benchkit.PerItem(c.CPU(), n), benchkit.PerItem(c.serverCPU, n), float64(c.requests.Total())/float64(n),
		benchkit.PerItem(cpu, n), runtime.NumCPU(), benchkit.PerItem(floor, n), 100*floor.Seconds()/c.Wall.Seconds(),
		float64(c.auditRecords)/float64(n), fsyncMed.Round(10*time.Microsecond))
}
