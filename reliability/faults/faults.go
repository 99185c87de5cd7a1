// Package faults runs network-fault cases against a real migration to Vault or Azure Key
// Vault: the secretshift binary migrates a corpus through a fault proxy (Proxy) on 127.0.0.1
// that stands between it and a vault-testserver (or, over HTTPS, the Key Vault test server of
// internal/testenv/akv), and faults the requests a Case picks: connection resets, 429 bursts,
// 503s, stalls, truncated answers, a server gone mid-run.
//
// A case passes when the faulted run either finishes (exit 0, every Secret in Vault at version
// 1 with the source's values byte for byte; in Key Vault, every key's secret at one version)
// or stops with a non-zero exit and an error whose
// last lines give counts and say that running again resumes; and when the same command, run
// again with the fault removed, exits 0 with every Secret present, byte-exact, none at a
// version above 1 (no duplicate write), and `secretshift audit verify` exits 0. No run may
// hang beyond a bound, panic, or show a canary value planted in the corpus. Vault is read
// directly over its HTTP API, never through the proxy. Results hold counts, Secret names and
// error lines, never values.
package faults

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/secretshift/secretshift/migrate"
	"github.com/secretshift/secretshift/reliability/crash"
	"github.com/secretshift/secretshift/reliability/internal/brief"
	"github.com/secretshift/secretshift/reliability/internal/vaultkv"
)

// Plan is what a case's fault is drawn from.
type Plan struct {
	// Seed makes the faulted request numbers.
	Seed uint64
	// Requests is how many requests an unfaulted run of the corpus made, Opening how many of
	// them came before the first to the KV mount.
	Requests int
	Opening  int
	// Stall is how long a stalled request is held.
	Stall time.Duration
}

// Case is one fault.
type Case struct {
	Name string
	// Fault says what the proxy does, in words.
	Fault string
	// Decide makes the proxy's choice for each request.
	Decide func(p Plan) Decide
}

// chance is a seeded draw in [0,1) for request n, the same whatever order requests come in.
func chance(seed uint64, n int) float64 {
	return rand.New(rand.NewPCG(seed, uint64(n))).Float64()
}

// every faults about a fraction frac of requests with k, from the first to the KV mount on:
// the faults aim at the migration's reads and writes, and a fault in the opening requests
// would, for some seeds, end the run before it did anything.
func every(k Kind, frac float64) func(Plan) Decide {
	return func(p Plan) Decide {
		return func(n int) Action {
			if n > p.Opening && chance(p.Seed, n) < frac {
				return Action{Kind: k}
			}
			return Action{Kind: Forward}
		}
	}
}

// Cases lists every case, in report order.
var Cases = []Case{
	{Name: "reset", Fault: "TCP reset, no answer, on 5% of KV requests (seeded)", Decide: every(Reset, 0.05)},
	{Name: "429-burst", Fault: "429 with Retry-After: 1 on requests 50-59 of every 100", Decide: func(Plan) Decide {
		return func(n int) Action {
			if m := n % 100; m >= 50 && m < 60 {
				return Action{Kind: Throttle}
			}
			return Action{Kind: Forward}
		}
	}},
	{Name: "503", Fault: "503 on 5% of KV requests (seeded)", Decide: every(Unavailable, 0.05)},
	{Name: "stall", Fault: "3 requests held for the stall time, then forwarded", Decide: func(p Plan) Decide {
		return func(n int) Action {
			if q := max(p.Requests/4, 1); n%q == 0 && n/q <= 3 {
				return Action{Kind: Stall, Delay: p.Stall}
			}
			return Action{Kind: Forward}
		}
	}},
	{Name: "truncate", Fault: "forwarded (the write applies), then half the body under the full Content-Length and close, on 5% of KV requests (seeded)", Decide: every(Truncate, 0.05)},
	{Name: "unreachable", Fault: "proxy stops listening and resets every request after half of an unfaulted run's requests", Decide: func(p Plan) Decide {
		return func(n int) Action {
			if n > p.Requests/2 {
				return Action{Kind: Down}
			}
			return Action{Kind: Forward}
		}
	}},
}

// The stores the fault cases run against.
const (
	Vault   = "vault"
	AzureKV = "azurekv"
)

// Options say what to run.
type Options struct {
	// Store is Vault (a vault-testserver, the default) or AzureKV (the Key Vault test server
	// of internal/testenv/akv, over HTTPS, the proxy presenting its certificate).
	Store string
	// Cluster, when set, is where the Secrets are read from: the corpus is created there, the
	// runs migrate it with -A into Vault (reached directly), and the proxy stands in front of
	// the apiserver instead.
	Cluster *Cluster
	// Bin is the secretshift binary under test.
	Bin string
	// Tools is the folder holding vault-testserver.
	Tools string
	// Dir is a scratch folder; each case gets a fresh folder below it.
	Dir string
	// Secrets is the size of the corpus, Seed makes it and the faults.
	Secrets int
	Seed    uint64
	// Stall is how long the stall case holds a request (default 10s).
	Stall time.Duration
	// Args are flags added to both runs of every case (the test lowers --vault-max-retries
	// to keep its time down).
	Args []string
	// Cases to run; nil runs Cases.
	Cases []Case
}

// Result is the outcome of all cases.
type Result struct {
	Store   string `json:"store"`
	Secrets int    `json:"secrets"`
	Seed    uint64 `json:"seed"`
	// Requests and CalibrationSeconds are what an unfaulted run through the proxy made and took.
	Requests           int          `json:"requests"`
	Opening            int          `json:"opening"`
	CalibrationSeconds float64      `json:"calibrationSeconds"`
	StallSeconds       float64      `json:"stallSeconds"`
	BoundSeconds       float64      `json:"boundSeconds"`
	Cases              []CaseResult `json:"cases"`
	Passed             int          `json:"passed"`
	Failed             int          `json:"failed"`
	// Error is why the cases could not run (vault-testserver missing, a calibration run that
	// failed).
	Error string `json:"error,omitempty"`
}

// Pass says whether every case ran and passed.
func (r *Result) Pass() bool { return r.Error == "" && r.Failed == 0 && r.Passed == len(r.Cases) }

// CaseResult is the outcome of one case.
type CaseResult struct {
	Name  string `json:"name"`
	Fault string `json:"fault"`
	// Requests is what the proxy saw in the faulted run, Injected the faults it made.
	Requests int          `json:"requests"`
	Injected map[Kind]int `json:"injected"`
	// Exit is the faulted run's exit status (-1 when killed at the bound), LastErrors its last
	// stderr lines, FirstSeconds its duration.
	Exit         int      `json:"exit"`
	LastErrors   []string `json:"lastErrors"`
	FirstSeconds float64  `json:"firstSeconds"`
	// FirstCounts are the faulted run's report counts.
	FirstCounts map[string]int `json:"firstCounts,omitempty"`
	// RerunExit and RerunCounts are the run with the fault removed.
	RerunExit   int            `json:"rerunExit"`
	RerunCounts map[string]int `json:"rerunCounts,omitempty"`
	// After the re-run: Lost Secrets have no entry, Duplicates a version above 1, Mismatched
	// other values than the source.
	Lost            int `json:"lost"`
	Duplicates      int `json:"duplicates"`
	Mismatched      int `json:"mismatched"`
	AuditVerifyExit int `json:"auditVerifyExit"`
	Leaks           int `json:"leaks"`
	// Problems name what failed (Secret names and counts, never values).
	Problems []string `json:"problems,omitempty"`
	Pass     bool     `json:"pass"`
	Seconds  float64  `json:"seconds"`
}

const token = "fault-proxy-token"

// Run calibrates and runs the cases.
func Run(opts Options) *Result {
	if opts.Stall == 0 {
		opts.Stall = 10 * time.Second
	}
	if opts.Store == "" {
		opts.Store = Vault
	}
	res := &Result{Store: opts.Store, Secrets: opts.Secrets, Seed: opts.Seed, StallSeconds: opts.Stall.Seconds()}
	vbin := filepath.Join(opts.Tools, "vault-testserver")
	if _, err := os.Stat(vbin); err != nil && opts.Store == Vault {
		res.Error = fmt.Sprintf("vault-testserver not found in %s: run `make tools` to build it (or set SECRETSHIFT_TOOLS_BIN)", opts.Tools)
		return res
	}
	cases := opts.Cases
	switch {
	case cases == nil && opts.Cluster != nil:
		cases = ClusterCases
	case cases == nil:
		cases = Cases
	}
	cal, err := newWorkspace(opts, filepath.Join(opts.Dir, "calibration"))
	if err != nil {
		res.Error = "calibration: " + err.Error()
		return res
	}
	if opts.Cluster != nil {
		if err := opts.Cluster.seed(context.Background(), cal.secrets); err != nil {
			cal.close()
			res.Error = "create the corpus in the cluster: " + err.Error()
			return res
		}
	}
	// Calibration: an unfaulted run through the proxy counts the requests a run makes.
	p, err := cal.proxy(nil)
	if err != nil {
		cal.close()
		res.Error = "calibration: " + err.Error()
		return res
	}
	start := time.Now()
	r := cal.run(opts.Bin, 10*time.Minute, p.Addr, cal.migrateArgs()...)
	res.CalibrationSeconds = time.Since(start).Seconds()
	res.Requests, res.Opening = p.Seen(), max(p.FirstKV()-1, 0)
	p.Close()
	cal.close()
	if r.err != nil || r.exit != 0 {
		res.Error = fmt.Sprintf("calibration run exited %d (%v): %s", r.exit, r.err, brief.LastLine(r.stderr))
		return res
	}
	// No run may take longer than this: three unfaulted runs, every stall in a row, a minute,
	// and a second per Secret for the retries' waits when the server is gone (each failing
	// request is retried with waits of 1-1.5s).
	bound := 3*time.Duration(res.CalibrationSeconds*float64(time.Second)) + 3*opts.Stall + 60*time.Second + time.Duration(opts.Secrets)*time.Second
	res.BoundSeconds = bound.Seconds()
	plan := Plan{Seed: opts.Seed, Requests: res.Requests, Opening: res.Opening, Stall: opts.Stall}
	for _, c := range cases {
		cr := runCase(opts, c, plan, bound)
		if cr.Pass {
			res.Passed++
		} else {
			res.Failed++
		}
		res.Cases = append(res.Cases, cr)
	}
	return res
}

// workspace is one case's folder, corpus and store.
type workspace struct {
	dir     string
	secrets []*crash.Secret
	canary  [][]byte
	store   string
	srv     *crash.Server
	vault   *vaultkv.Server
	akv     *crash.AKV
	akvEnv  []string
	args    []string
	// cluster and clusterProxy: the Secrets come from a cluster, through the proxy.
	cluster      *Cluster
	clusterProxy *clusterProxy
}

func newWorkspace(opts Options, dir string) (*workspace, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	w := &workspace{dir: dir, secrets: crash.Generate(opts.Secrets, opts.Seed), args: opts.Args, store: opts.Store, cluster: opts.Cluster}
	if w.cluster != nil {
		cp, err := newClusterProxy()
		if err != nil {
			return nil, err
		}
		w.clusterProxy = cp
	}
	// Every tenth Secret carries a canary value, which no output may show.
	for i, s := range w.secrets {
		if i%10 == 0 {
			v := fmt.Appendf(nil, "CANARY-faults-%d-%05d-do-not-print", opts.Seed%100000, i)
			s.Data["canary"] = v
			w.canary = append(w.canary, v)
		}
	}
	if err := crash.WriteCorpus(filepath.Join(dir, "in"), w.secrets); err != nil {
		return nil, err
	}
	store := crash.Vault
	if w.store == AzureKV {
		store = crash.AzureKV
	}
	srv, err := crash.StartServer(store, opts.Tools, dir, token)
	if err != nil {
		return nil, err
	}
	w.srv, w.vault, w.akv, w.akvEnv = srv, srv.Vault, srv.AKV, srv.AKVEnv
	return w, nil
}

func (w *workspace) close() { w.srv.Close() }

// addr is the faulted party's own address, not the proxy's: the apiserver's when the Secrets
// come from a cluster, else the store's.
func (w *workspace) addr() string {
	if w.cluster != nil {
		return w.cluster.Server
	}
	if w.akv != nil {
		return w.akv.Server.URL()
	}
	return w.vault.Addr
}

// proxy starts a fault proxy in front of the store.
func (w *workspace) proxy(d Decide) (*Proxy, error) {
	if w.cluster != nil {
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(w.cluster.CA)
		return NewKubeProxy(w.addr(), d, w.clusterProxy.cert, roots)
	}
	if w.akv != nil {
		return NewTLSProxy(w.addr(), d, w.akv.Server.TLSCertificate(), w.akv.Server.CertPool())
	}
	return NewProxy(w.addr(), d)
}

const auditLog = "audit/audit.jsonl"

// migrateArgs is the command of the faulted run and the re-run.
func (w *workspace) migrateArgs() []string {
	from := []string{"-f", "in"}
	if w.cluster != nil {
		from = []string{"-A"}
	}
	args := append([]string{"migrate", "--to", w.store}, from...)
	args = append(args, "--audit-log", auditLog, "--journal-dir", "journal", "-o", "json")
	if w.store == AzureKV {
		args = append(args, crash.AzureFlags...)
	}
	return append(args, w.args...)
}

type runResult struct {
	exit           int
	stdout, stderr []byte
	seconds        float64
	hung           bool
	err            error
}

// run runs name with the store's address (VAULT_ADDR, or AZURE_KEYVAULT_URL beside the rest
// of the Key Vault test server's environment) set to addr, killed after bound.
func (w *workspace) run(name string, bound time.Duration, addr string, args ...string) runResult {
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = w.dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + w.dir, "TMPDIR=" + os.TempDir()}
	if w.cluster != nil {
		kc, err := w.kubeconfig(addr)
		if err != nil {
			return runResult{exit: -1, err: err}
		}
		cmd.Env = append(cmd.Env, "KUBECONFIG="+kc, "VAULT_ADDR="+w.vault.Addr, "VAULT_TOKEN="+token)
	} else if w.akv != nil {
		for _, kv := range w.akvEnv {
			if !strings.HasPrefix(kv, "AZURE_KEYVAULT_URL=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "AZURE_KEYVAULT_URL="+addr)
	} else {
		cmd.Env = append(cmd.Env, "VAULT_ADDR="+addr, "VAULT_TOKEN="+token)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := runResult{stdout: stdout.Bytes(), stderr: stderr.Bytes(), seconds: time.Since(start).Seconds()}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.exit, r.hung = -1, true
	case errors.As(err, &exit):
		r.exit = exit.ExitCode()
	case err != nil:
		r.exit, r.err = -1, err
	}
	return r
}

// resumeHint is what the last lines of a stopped run must say: that running again resumes.
var resumeHint = regexp.MustCompile(`(?i)(run (it |the same command )?again|re-?run|resume)`)

func runCase(opts Options, c Case, plan Plan, bound time.Duration) (cr CaseResult) {
	start := time.Now()
	cr = CaseResult{Name: c.Name, Fault: c.Fault}
	problem := func(format string, a ...any) { cr.Problems = append(cr.Problems, fmt.Sprintf(format, a...)) }
	defer func() {
		cr.Pass = len(cr.Problems) == 0
		cr.Seconds = time.Since(start).Seconds()
	}()
	w, err := newWorkspace(opts, filepath.Join(opts.Dir, c.Name))
	if err != nil {
		problem("set up: %v", err)
		return cr
	}
	defer os.RemoveAll(w.dir)
	defer w.close()

	// The faulted run, through the proxy.
	p, err := w.proxy(c.Decide(plan))
	if err != nil {
		problem("start proxy: %v", err)
		return cr
	}
	r := w.run(opts.Bin, bound, p.Addr, w.migrateArgs()...)
	p.Close()
	cr.Requests, cr.Injected = p.Seen(), p.Injected()
	cr.Exit, cr.FirstSeconds = r.exit, r.seconds
	cr.LastErrors = brief.LastLines(r.stderr, 3)
	cr.FirstCounts = reportCounts(r.stdout)
	cr.Leaks += w.leaks(problem, "faulted run's output", r.stdout, r.stderr)
	checkOutput(r, "faulted run", bound, problem)
	switch {
	case r.hung || r.err != nil:
	case r.exit == 0:
		// Finished despite the fault: everything must be there, once, exact.
		lost, dup, diff := w.checkVault(r.stdout, problem)
		if lost+dup+diff > 0 {
			problem("the faulted run exited 0 but left %d lost, %d at a version above 1, %d with other values", lost, dup, diff)
		}
	default:
		tail := strings.Join(cr.LastErrors, "\n")
		if !regexp.MustCompile(`[0-9]`).MatchString(tail) {
			problem("the faulted run exited %d and its last stderr lines give no counts of what was done", r.exit)
		}
		if !resumeHint.MatchString(tail) {
			problem("the faulted run exited %d and its last stderr lines do not say that a re-run resumes", r.exit)
		}
	}
	if sum := injectedTotal(cr.Injected); sum == 0 {
		problem("the proxy injected no fault in %d requests", cr.Requests)
	}

	// The re-run, straight to the store: the fault removed.
	r = w.run(opts.Bin, bound, w.addr(), w.migrateArgs()...)
	cr.RerunExit = r.exit
	cr.RerunCounts = reportCounts(r.stdout)
	cr.Leaks += w.leaks(problem, "re-run's output", r.stdout, r.stderr)
	checkOutput(r, "re-run", bound, problem)
	if r.exit != 0 {
		problem("re-run exited %d: %s", r.exit, brief.LastLine(r.stderr))
	}
	cr.Lost, cr.Duplicates, cr.Mismatched = w.checkVault(r.stdout, problem)

	a := w.run(opts.Bin, time.Minute, w.addr(), "audit", "verify", "--audit-log", auditLog)
	cr.AuditVerifyExit = a.exit
	if a.exit != 0 {
		problem("secretshift audit verify after the re-run exited %d: %s", a.exit, brief.LastLine(a.stderr))
	}
	cr.Leaks += w.leaks(problem, "audit verify output", a.stdout, a.stderr)
	cr.Leaks += w.leakedInFiles(problem)
	return cr
}

// checkOutput flags a run that hung, could not start, or panicked.
func checkOutput(r runResult, what string, bound time.Duration, problem func(string, ...any)) {
	switch {
	case r.hung:
		problem("the %s did not end within %s and was killed", what, bound.Round(time.Second))
	case r.err != nil:
		problem("the %s: %v", what, r.err)
	}
	if bytes.Contains(r.stderr, []byte("panic:")) || bytes.Contains(r.stderr, []byte("goroutine ")) {
		problem("the %s panicked", what)
	}
}

func injectedTotal(m map[Kind]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func reportCounts(stdout []byte) map[string]int {
	var rep migrate.Report
	if len(bytes.TrimSpace(stdout)) == 0 || json.Unmarshal(stdout, &rep) != nil {
		return nil
	}
	out := map[string]int{}
	for k, v := range rep.Counts {
		out[string(k)] = v
	}
	return out
}

// checkVault reads every Secret from the store directly (Vault over its HTTP API, Key Vault
// through the azsecrets SDK), not through the proxy: present, version 1 only, byte-exact.
// The report's target addresses, when it has them, say where each Secret went.
func (w *workspace) checkVault(stdout []byte, problem func(string, ...any)) (lost, dup, diff int) {
	targets := map[string]string{}
	var rep migrate.Report
	if json.Unmarshal(stdout, &rep) == nil {
		for _, it := range rep.Items {
			if it.Target != nil {
				targets[it.Namespace+"/"+it.Name] = it.Target.Address
			}
		}
	}
	if w.akv != nil {
		f := w.akv.Check(w.secrets, targets)
		f.Report(problem)
		return len(f.Lost) + len(f.Unread), len(f.Twice), len(f.Differ)
	}
	want := make([]vaultkv.Want, len(w.secrets))
	for i, s := range w.secrets {
		path := s.Namespace + "/" + s.Name
		if addr, ok := targets[s.Ref()]; ok {
			path = strings.TrimPrefix(addr, "secret/")
		}
		want[i] = vaultkv.Want{Ref: s.Ref(), Path: path, Data: s.Data}
	}
	f := w.vault.Check(want)
	f.Report(problem)
	return len(f.Lost), len(f.Twice), len(f.Differ)
}

// leaks counts the canary values, in clear or base64, in outs.
func (w *workspace) leaks(problem func(string, ...any), what string, outs ...[]byte) int {
	return brief.Leaks(w.canary, problem, what, outs...)
}

// leakedInFiles looks for canary values in every file the runs left (audit log, journal),
// but the corpus.
func (w *workspace) leakedInFiles(problem func(string, ...any)) int {
	return brief.LeaksInFiles(w.canary, problem, w.dir, filepath.Join(w.dir, "in"))
}
