// Package crash runs crash trials: a real migration (the secretshift binary) into a fresh
// store is killed with SIGKILL at a random moment, the same command is run again to
// completion, and the outcome is checked against the source: no Secret lost, none written
// twice (Vault and Key Vault: version 1 only), every value byte-exact (`secretshift verify`,
// and for Vault and Key Vault a direct read of every entry, for Sealed Secrets an unseal of
// every file with the trial's controller key), the audit log verifies, and it names every
// write exactly once.
//
// The kill moment is drawn from a seed, uniformly between 5% and 95% of the duration of an
// uncrashed calibration run of the same size, so a failing trial can be repeated. Results
// hold counts and Secret names, never values.
package crash

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/migrate"
	"github.com/secretshift/secretshift/reliability/internal/brief"
	"github.com/secretshift/secretshift/reliability/internal/vaultkv"
	"sigs.k8s.io/yaml"
)

// Store is a target the trials migrate into.
type Store string

// The stores crash trials run against.
const (
	Vault   Store = "vault"
	SOPS    Store = "sops"
	Sealed  Store = "sealed"
	AzureKV Store = "azurekv"
	// Rotate is not a store but a rotation into Vault: the corpus is migrated into Vault
	// uncrashed, then `secretshift rotate --policy` is the command killed and run again.
	Rotate Store = "rotate"
)

// Stores lists them in report order.
var Stores = []Store{Vault, SOPS, Sealed, AzureKV, Rotate}

// Options say what to run.
type Options struct {
	// Bin is the secretshift binary under test.
	Bin string
	// Tools is the folder holding vault-testserver and sops (`make tools` builds them).
	Tools string
	// Dir is a scratch folder; each trial gets a fresh folder below it.
	Dir string
	// Secrets is the size of each trial's corpus, Trials the number of trials per store.
	Secrets int
	Trials  int
	// Seed fixes the corpora and the kill moments.
	Seed uint64
}

// Result is the outcome of the trials of one store.
type Result struct {
	Store   Store  `json:"store"`
	Secrets int    `json:"secrets"`
	Seed    uint64 `json:"seed"`
	// CalibrationSeconds is the duration of the uncrashed run the kill moments are drawn from.
	CalibrationSeconds float64 `json:"calibrationSeconds"`
	Trials             []Trial `json:"trials"`
	Passed             int     `json:"passed"`
	Failed             int     `json:"failed"`
	// Error is why the trials could not run (a missing tool, a calibration run that failed).
	Error string `json:"error,omitempty"`
}

// Pass says whether every trial ran and passed.
func (r *Result) Pass() bool { return r.Error == "" && r.Failed == 0 && r.Passed == len(r.Trials) }

// Trial is one kill and re-run.
type Trial struct {
	N int `json:"n"`
	// CorpusSeed made the trial's Secrets.
	CorpusSeed uint64 `json:"corpusSeed"`
	// KillAfter is when SIGKILL was sent, from the start of the process, and KillFraction
	// that moment as a fraction of the calibration run.
	KillAfterMS  int64   `json:"killAfterMs"`
	KillFraction float64 `json:"killFraction"`
	// Killed is false when the run had finished before the kill.
	Killed bool `json:"killed"`
	// JournalLines and WritesRecorded are what the killed run left: lines in its journal,
	// migrate.write success records in its audit log.
	JournalLines   int `json:"journalLines"`
	WritesRecorded int `json:"writesRecorded"`
	// RerunExit and RerunCounts are the exit status and the report counts of the re-run.
	RerunExit   int            `json:"rerunExit"`
	RerunCounts map[string]int `json:"rerunCounts"`
	// Lost Secrets have no entry in the store; Duplicates have more than one version (Vault;
	// Key Vault: the secret of any of their keys) or, in a file store (SOPS, Sealed Secrets),
	// more than one migrate.write success record; Mismatched differ from the source.
	Lost       int `json:"lost"`
	Duplicates int `json:"duplicates"`
	Mismatched int `json:"mismatched"`
	// VerifyExit is the exit status of `secretshift verify`, AuditVerifyExit of `secretshift
	// audit verify`.
	VerifyExit      int `json:"verifyExit"`
	AuditVerifyExit int `json:"auditVerifyExit"`
	// AuditOnce counts Secrets whose write the audit trail names exactly once as done
	// (migrate.write success, or migrate.verify written_by_earlier_run); AuditMissing none,
	// AuditTwice more than once.
	AuditOnce    int `json:"auditOnce"`
	AuditMissing int `json:"auditMissing"`
	AuditTwice   int `json:"auditTwice"`
	// Problems name what failed (Secret names and counts, never values).
	Problems []string `json:"problems,omitempty"`
	Pass     bool     `json:"pass"`
	Seconds  float64  `json:"seconds"`
}

// Run calibrates and runs opts.Trials trials against store.
func Run(opts Options, store Store) *Result {
	res := &Result{Store: store, Secrets: opts.Secrets, Seed: opts.Seed}
	if err := checkTools(opts.Tools, store); err != nil {
		res.Error = err.Error()
		return res
	}
	cal, err := runOnce(opts, store, filepath.Join(opts.Dir, string(store)+"-calibration"), opts.Seed)
	if err != nil {
		res.Error = "calibration run: " + err.Error()
		return res
	}
	res.CalibrationSeconds = cal.Seconds()
	r := rand.New(rand.NewPCG(opts.Seed, uint64(len(store))))
	for i := range opts.Trials {
		frac := 0.05 + 0.9*r.Float64()
		t := trial(opts, store, i+1, opts.Seed+uint64(i)+1, frac, time.Duration(frac*float64(cal)))
		if t.Pass {
			res.Passed++
		} else {
			res.Failed++
		}
		res.Trials = append(res.Trials, t)
	}
	return res
}

// checkTools fails with the hint the project gives for missing test tools. Sealed Secrets
// needs none: the trials seal with a certificate they make.
func checkTools(tools string, store Store) error {
	var need string
	switch store {
	case Vault, Rotate:
		need = "vault-testserver"
	case SOPS:
		need = "sops"
	default:
		return nil
	}
	if _, err := os.Stat(filepath.Join(tools, need)); err != nil {
		return fmt.Errorf("%s not found in %s: run `make tools` to build it (or set SECRETSHIFT_TOOLS_BIN)", need, tools)
	}
	return nil
}

// workspace is one trial's folder, corpus and store.
type workspace struct {
	dir     string
	secrets []*Secret
	store   Store
	srv     *Server
	vault   *vaultkv.Server
	akv     *AKV
	sealed  *sealedKey
	env     []string
	tools   string
}

func newWorkspace(opts Options, store Store, dir string, seed uint64) (*workspace, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	w := &workspace{dir: dir, store: store, secrets: Generate(opts.Secrets, seed), tools: opts.Tools}
	if err := WriteCorpus(filepath.Join(dir, "in"), w.secrets); err != nil {
		return nil, err
	}
	w.env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + os.TempDir()}
	if server := map[Store]Store{Vault: Vault, Rotate: Vault, AzureKV: AzureKV}[store]; server != "" {
		srv, err := StartServer(server, opts.Tools, dir, "crash-trial-token")
		if err != nil {
			return nil, err
		}
		w.srv, w.vault, w.akv = srv, srv.Vault, srv.AKV
		if srv.Vault != nil {
			w.env = append(w.env, "VAULT_ADDR="+srv.Vault.Addr, "VAULT_TOKEN="+srv.Vault.Token)
		}
		w.env = append(w.env, srv.AKVEnv...)
	}
	if store == Sealed {
		k, err := newSealedKey(filepath.Join(dir, "sealed-key"))
		if err != nil {
			return nil, err
		}
		w.sealed = k
	}
	return w, nil
}

func (w *workspace) close() { w.srv.Close() }

const auditLog = "audit/audit.jsonl"

// migrateArgs is the command every run of a trial repeats.
func (w *workspace) migrateArgs() []string {
	args := []string{"migrate", "--to", string(w.store), "-f", "in", "--audit-log", auditLog, "--journal-dir", "journal", "-q", "-o", "json"}
	return append(args, w.storeFlags()...)
}

// verifyArgs is the `secretshift verify` of a trial's store; for Sealed Secrets with the
// private key, so that every value is decrypted and compared.
func (w *workspace) verifyArgs() []string {
	args := []string{"verify", "--to", string(w.store), "-f", "in", "--audit-log", auditLog, "-q"}
	args = append(args, w.storeFlags()...)
	if w.store == Sealed {
		args = append(args, "--sealed-private-key", w.sealed.keyFile)
	}
	return args
}

// storeFlags are the flags that say where a file store's output goes.
func (w *workspace) storeFlags() []string {
	switch w.store {
	case SOPS:
		return []string{"--sops-out", "out"}
	case Sealed:
		return []string{"--sealed-out", "out", "--sealed-cert", w.sealed.certFile}
	case AzureKV:
		return AzureFlags
	}
	return nil
}

func (w *workspace) command(bin string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Env = w.dir, w.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return cmd, &stdout, &stderr
}

// run runs the secretshift binary to its end and returns its exit status.
func (w *workspace) run(bin string, args ...string) (int, []byte, string, error) {
	cmd, stdout, stderr := w.command(bin, args...)
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.Bytes(), stderr.String(), nil
	case err != nil:
		return -1, nil, "", err
	}
	return 0, stdout.Bytes(), stderr.String(), nil
}

// runOnce is the calibration: an uncrashed migration of a corpus of the trial size, timed
// from the start of the process to its exit.
func runOnce(opts Options, store Store, dir string, seed uint64) (time.Duration, error) {
	w, err := newWorkspace(opts, store, dir, seed)
	if err != nil {
		return 0, err
	}
	defer w.close()
	if err := w.prepare(opts.Bin); err != nil {
		return 0, err
	}
	start := time.Now()
	code, _, stderr, err := w.run(opts.Bin, w.args()...)
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	if code != 0 {
		return 0, fmt.Errorf("secretshift %s exited %d: %s", w.args()[0], code, firstLine(stderr))
	}
	return d, nil
}

func trial(opts Options, store Store, n int, seed uint64, frac float64, after time.Duration) (t Trial) {
	start := time.Now()
	t = Trial{N: n, CorpusSeed: seed, KillAfterMS: after.Milliseconds(), KillFraction: frac}
	problem := func(format string, a ...any) { t.Problems = append(t.Problems, fmt.Sprintf(format, a...)) }
	defer func() {
		t.Pass = len(t.Problems) == 0
		t.Seconds = time.Since(start).Seconds()
	}()
	w, err := newWorkspace(opts, store, filepath.Join(opts.Dir, fmt.Sprintf("%s-trial-%02d", store, n)), seed)
	if err != nil {
		problem("set up: %v", err)
		return t
	}
	defer w.close()
	if err := w.prepare(opts.Bin); err != nil {
		problem("set up: %v", err)
		return t
	}

	// The killed run.
	cmd, _, _ := w.command(opts.Bin, w.args()...)
	if err := cmd.Start(); err != nil {
		problem("start secretshift %s: %v", w.args()[0], err)
		return t
	}
	timer := time.AfterFunc(after, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
	err = cmd.Wait()
	timer.Stop()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		t.Killed = true
	} else if err != nil {
		problem("the run to be killed failed on its own: %v", err)
	}
	t.JournalLines = countJournalLines(filepath.Join(w.dir, "journal"))
	if b, err := os.ReadFile(filepath.Join(w.dir, auditLog)); err == nil {
		t.WritesRecorded = bytes.Count(b, w.doneRecord())
	}
	if store == Rotate {
		w.rerunRotation(opts.Bin, &t, problem)
		return t
	}

	// The re-run, to completion.
	code, out, stderr, err := w.run(opts.Bin, w.args()...)
	t.RerunExit = code
	if err != nil {
		problem("re-run: %v", err)
		return t
	}
	if code != 0 {
		problem("re-run exited %d: %s", code, firstLine(stderr))
	}
	var rep migrate.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		problem("re-run report (-o json): %v", err)
	}
	t.RerunCounts = map[string]int{}
	for k, v := range rep.Counts {
		t.RerunCounts[string(k)] = v
	}
	targets := map[string]string{}
	for _, it := range rep.Items {
		if it.Target != nil {
			targets[it.Namespace+"/"+it.Name] = it.Target.Address
		}
	}

	// The audit trail, as the two runs left it.
	done, writes, err := doneWrites(filepath.Join(w.dir, auditLog))
	if err != nil {
		problem("read audit log: %v", err)
	}
	var missing, twice []string
	for _, s := range w.secrets {
		switch done[s.Ref()] {
		case 0:
			missing = append(missing, s.Ref())
		case 1:
			t.AuditOnce++
		default:
			twice = append(twice, s.Ref())
		}
	}
	t.AuditMissing, t.AuditTwice = len(missing), len(twice)
	if len(missing) > 0 {
		problem("the audit trail names no done write of %d Secrets: %s", len(missing), brief.Names(missing))
	}
	if len(twice) > 0 {
		problem("the audit trail names %d Secrets as written more than once: %s", len(twice), brief.Names(twice))
	}

	// The store.
	switch store {
	case Vault:
		w.checkVault(&t, targets, problem)
	case SOPS:
		w.checkSOPS(&t, targets, writes, problem)
	case Sealed:
		w.checkSealed(&t, targets, writes, problem)
	case AzureKV:
		w.checkAzureKV(&t, targets, problem)
	}

	if t.VerifyExit, _, stderr, err = w.run(opts.Bin, w.verifyArgs()...); err != nil || t.VerifyExit != 0 {
		problem("secretshift verify exited %d (%v): %s", t.VerifyExit, err, firstLine(stderr))
	}
	if t.AuditVerifyExit, _, stderr, err = w.run(opts.Bin, "audit", "verify", "--audit-log", auditLog); err != nil || t.AuditVerifyExit != 0 {
		problem("secretshift audit verify exited %d (%v): %s", t.AuditVerifyExit, err, firstLine(stderr))
	}
	return t
}

// checkVault reads every Secret's entry through Vault's HTTP API: it must exist, hold version
// 1 only, and hold the source's values byte for byte.
func (w *workspace) checkVault(t *Trial, targets map[string]string, problem func(string, ...any)) {
	want := make([]vaultkv.Want, len(w.secrets))
	for i, s := range w.secrets {
		path := s.Namespace + "/" + s.Name
		if addr, ok := targets[s.Ref()]; ok {
			path = strings.TrimPrefix(addr, "secret/")
		}
		want[i] = vaultkv.Want{Ref: s.Ref(), Path: path, Data: s.Data}
	}
	f := w.vault.Check(want)
	t.Lost, t.Duplicates, t.Mismatched = len(f.Lost), len(f.Twice), len(f.Differ)
	f.Report(problem)
}

// checkSOPS looks for every Secret's file. A file holds no versions: a second write shows only
// as a second migrate.write success record, so that is what Duplicates counts. Values are
// compared by `secretshift verify`, which decrypts every file, and for a sample of sopsSample
// files by the real sops binary.
func (w *workspace) checkSOPS(t *Trial, targets map[string]string, writes map[string]int, problem func(string, ...any)) {
	var lost, twice []string
	for _, s := range w.secrets {
		// A SOPS target's address is the file's path below --sops-out.
		p := filepath.Join(s.Namespace, s.Name+".yaml")
		if addr, ok := targets[s.Ref()]; ok {
			p = addr
		}
		p = filepath.Join(w.dir, "out", p)
		if _, err := os.Stat(p); err != nil {
			lost = append(lost, s.Ref())
		}
		if writes[s.Ref()] > 1 {
			twice = append(twice, s.Ref())
		}
	}
	t.Lost, t.Duplicates = len(lost), len(twice)
	if len(lost) > 0 {
		problem("%d Secrets lost (no SOPS file): %s", len(lost), brief.Names(lost))
	}
	if len(twice) > 0 {
		problem("%d Secrets written twice (two migrate.write success records): %s", len(twice), brief.Names(twice))
	}
	var diff []string
	step := max(1, len(w.secrets)/sopsSample)
	for i := 0; i < len(w.secrets); i += step {
		s := w.secrets[i]
		if slices.Contains(lost, s.Ref()) {
			continue
		}
		p := filepath.Join(s.Namespace, s.Name+".yaml")
		if addr, ok := targets[s.Ref()]; ok {
			p = addr
		}
		same, err := w.sopsDecrypts(filepath.Join(w.dir, "out", p), s.Data)
		if err != nil {
			problem("sops -d %s: %v", p, err)
			continue
		}
		if !same {
			diff = append(diff, s.Ref())
		}
	}
	t.Mismatched = len(diff)
	if len(diff) > 0 {
		problem("%d SOPS files decrypt (sops -d) to other values than the source: %s", len(diff), brief.Names(diff))
	}
}

// sopsSample is how many files of a trial the real sops binary decrypts.
const sopsSample = 10

// sopsDecrypts decrypts path with the sops binary and the age key the first run generated, and
// says whether its data are exactly want. The decrypted manifest stays in memory.
func (w *workspace) sopsDecrypts(path string, want map[string][]byte) (bool, error) {
	cmd := exec.Command(filepath.Join(w.tools, "sops"), "-d", path)
	cmd.Dir = w.dir
	cmd.Env = append(slices.Clone(w.env), "SOPS_AGE_KEY_FILE="+filepath.Join(w.dir, ".secretshift", "keys", "age.key"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		// sops' message names the file and the failure; it holds no values.
		return false, fmt.Errorf("%w: %s", err, firstLine(stderr.String()))
	}
	var m struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(out, &m); err != nil {
		return false, fmt.Errorf("decrypted file is not a manifest: %w", err)
	}
	if len(m.Data) != len(want) {
		return false, nil
	}
	for k, v := range want {
		got, err := base64.StdEncoding.DecodeString(m.Data[k])
		if err != nil || !bytes.Equal(got, v) {
			return false, nil
		}
	}
	return true, nil
}

// doneWrites counts, per Secret, the records that say its write was done: migrate.write
// success, or migrate.verify success with written_by_earlier_run (a write whose success record
// the kill cut off), as audit's own shard check reads them; and apart from those, the
// migrate.write success records alone.
func doneWrites(path string) (done, writes map[string]int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	done, writes = map[string]int{}, map[string]int{}
	rd := audit.NewReader(f)
	for {
		rec, _, err := rd.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return done, writes, nil
			}
			return done, writes, err
		}
		wrote := rec.Action == audit.ActionMigrateWrite || (rec.Action == audit.ActionMigrateVerify && rec.Details["written_by_earlier_run"] == "true")
		if wrote && rec.Outcome == audit.OutcomeSuccess && rec.Source != nil {
			done[rec.Source.Ref()]++
			if rec.Action == audit.ActionMigrateWrite {
				writes[rec.Source.Ref()]++
			}
		}
	}
}

func countJournalLines(dir string) int {
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil {
			n += bytes.Count(b, []byte("\n"))
		}
	}
	return n
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
