// Package disk runs disk-fault cases against a real migration to SOPS files: the secretshift
// binary migrates a corpus with its audit log, its journal or its output folder on a tmpfs
// too small to hold what the run writes there (a full disk), or on a read-only tmpfs. The
// mounts live in a private mount namespace (unshare(1)), so nothing leaks to the host; what
// the tmpfs held is copied out before the namespace ends.
//
// A case passes when the faulted run exits non-zero with an error, reports nothing done that
// is not durable (every created or unchanged Secret is a complete file `secretshift verify`
// accepts, with its write or verify on record when the log was writable), wrote no file
// without its migrate.write intent in the log, leaked no value (canary values planted in the
// corpus are looked for, in clear and base64, in every output), and the same command, run
// again with the fault removed, completes: every Secret present, `secretshift verify` and
// `secretshift audit verify` exit 0. Results hold counts, Secret names and error lines,
// never values.
package disk

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/secretshift/secretshift/reliability/crash"
	"github.com/secretshift/secretshift/reliability/internal/brief"
)

// Folder is one of the folders a migration writes to.
type Folder string

// The folders a case can fault, named as the run's flags name them.
const (
	AuditLog Folder = "audit"
	Journal  Folder = "journal"
	Output   Folder = "out"
)

// Fault is what is wrong with the folder.
type Fault string

// The faults.
const (
	// Full is a tmpfs sized to hold about half of what an unfaulted run writes there.
	Full Fault = "full"
	// ReadOnly is an empty tmpfs mounted read-only (a mode does not stop root).
	ReadOnly Fault = "read-only"
)

// Case is one fault in one folder.
type Case struct {
	Folder Folder `json:"folder"`
	Fault  Fault  `json:"fault"`
}

// Name is "full-audit", "read-only-out" and so on.
func (c Case) Name() string { return string(c.Fault) + "-" + string(c.Folder) }

// Cases lists every case, in report order.
var Cases = []Case{
	{AuditLog, Full}, {Journal, Full}, {Output, Full},
	{AuditLog, ReadOnly}, {Journal, ReadOnly}, {Output, ReadOnly},
}

// Options say what to run.
type Options struct {
	// Bin is the secretshift binary under test.
	Bin string
	// Dir is a scratch folder; each case gets a fresh folder below it.
	Dir string
	// Secrets is the size of the corpus, Seed makes it.
	Secrets int
	Seed    uint64
	// Cases to run; nil runs Cases.
	Cases []Case
}

// Result is the outcome of all cases.
type Result struct {
	Secrets int    `json:"secrets"`
	Seed    uint64 `json:"seed"`
	// Written is, per folder, the bytes (in whole 4 KiB pages, as tmpfs counts them) an
	// unfaulted calibration run left there; a full folder holds half of it.
	Written map[Folder]int64 `json:"written"`
	Cases   []CaseResult     `json:"cases"`
	Passed  int              `json:"passed"`
	Failed  int              `json:"failed"`
	// Error is why the cases could not run (not root, no unshare, a calibration run that
	// failed).
	Error string `json:"error,omitempty"`
}

// Pass says whether every case ran and passed.
func (r *Result) Pass() bool { return r.Error == "" && r.Failed == 0 && r.Passed == len(r.Cases) }

// CaseResult is the outcome of one case.
type CaseResult struct {
	Case
	Name string `json:"name"`
	// SizeKiB is the tmpfs size of a full folder.
	SizeKiB int64 `json:"sizeKiB,omitempty"`
	// Exit is the faulted run's exit status; LastErrors its last stderr lines.
	Exit       int      `json:"exit"`
	LastErrors []string `json:"lastErrors"`
	// ReportedDone counts the Secrets the faulted run's report calls created, updated,
	// unchanged or done earlier; Durable those of them found as a file that `secretshift
	// verify` accepts; Recorded those with a migrate.write success or migrate.verify record.
	// Every one must be recorded, also when the log is the faulted folder: secretshift reports
	// an item done only once its outcome is durable in the log.
	ReportedDone int `json:"reportedDone"`
	// ItemError is the error of the first failed item in the report.
	ItemError string `json:"itemError,omitempty"`
	// OutcomesOnRecord counts the Secrets whose write or verify success the log holds.
	OutcomesOnRecord int `json:"outcomesOnRecord"`
	// Report says whether the faulted run printed its report at all.
	Report   bool `json:"report"`
	Durable  int  `json:"durable"`
	Recorded int  `json:"recorded"`
	// LogWritable is false when the audit log was the faulted folder.
	LogWritable bool `json:"logWritable"`
	// Files counts the SOPS files the faulted run left, WithIntent those with a migrate.write
	// attempt record in the log.
	Files      int `json:"files"`
	WithIntent int `json:"withIntent"`
	// FaultedAuditVerify is what `secretshift audit verify` says about the log the faulted run
	// left, when the log was the faulted folder, and FaultedAuditVerifyTail what it says with
	// --no-head --allow-unsigned-tail (the log alone, a run that did not finish).
	FaultedAuditVerify     string `json:"faultedAuditVerify,omitempty"`
	FaultedAuditVerifyTail string `json:"faultedAuditVerifyTail,omitempty"`
	// RerunExit, RerunCounts, VerifyExit and AuditVerifyExit are the run with the fault
	// removed and its checks; Missing counts Secrets without a file after it.
	RerunExit       int            `json:"rerunExit"`
	RerunCounts     map[string]int `json:"rerunCounts,omitempty"`
	Missing         int            `json:"missing"`
	VerifyExit      int            `json:"verifyExit"`
	AuditVerifyExit int            `json:"auditVerifyExit"`
	// Leaks counts canary values found in any output.
	Leaks    int      `json:"leaks"`
	Problems []string `json:"problems,omitempty"`
	Pass     bool     `json:"pass"`
	Seconds  float64  `json:"seconds"`
}

// Preflight says why disk cases cannot run here: they mount, so they need root and unshare(1).
func Preflight() error {
	if os.Geteuid() != 0 {
		name := "this user"
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
		return fmt.Errorf("disk faults mount tmpfs folders in a private mount namespace and need root; running as %s (uid %d)", name, os.Geteuid())
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		return fmt.Errorf("unshare(1) not found (util-linux): disk faults mount in a private mount namespace with it")
	}
	return nil
}

// Run calibrates and runs the cases.
func Run(opts Options) *Result {
	res := &Result{Secrets: opts.Secrets, Seed: opts.Seed, Written: map[Folder]int64{}}
	if err := Preflight(); err != nil {
		res.Error = err.Error()
		return res
	}
	cases := opts.Cases
	if cases == nil {
		cases = Cases
	}
	cal, err := newWorkspace(opts, filepath.Join(opts.Dir, "calibration"))
	if err != nil {
		res.Error = "calibration: " + err.Error()
		return res
	}
	r := cal.run(opts.Bin, cal.migrateArgs()...)
	if r.err != nil || r.exit != 0 {
		res.Error = fmt.Sprintf("calibration run exited %d (%v): %s", r.exit, r.err, brief.LastLine(r.stderr))
		return res
	}
	for _, f := range []Folder{AuditLog, Journal, Output} {
		res.Written[f] = pages(filepath.Join(cal.dir, string(f)))
	}
	_ = os.RemoveAll(cal.dir)
	for _, c := range cases {
		cr := runCase(opts, c, res.Written[c.Folder])
		if cr.Pass {
			res.Passed++
		} else {
			res.Failed++
		}
		res.Cases = append(res.Cases, cr)
	}
	return res
}

// workspace is one case's folder and corpus.
type workspace struct {
	dir     string
	secrets []*crash.Secret
	canary  [][]byte
	env     []string
}

func newWorkspace(opts Options, dir string) (*workspace, error) {
	w := &workspace{dir: dir, secrets: crash.Generate(opts.Secrets, opts.Seed)}
	// Every tenth Secret carries a canary value, which no output may show.
	for i, s := range w.secrets {
		if i%10 == 0 {
			v := fmt.Appendf(nil, "CANARY-disk-%d-%05d-do-not-print", opts.Seed%100000, i)
			s.Data["canary"] = v
			w.canary = append(w.canary, v)
		}
	}
	if err := crash.WriteCorpus(filepath.Join(dir, "in"), w.secrets); err != nil {
		return nil, err
	}
	for _, f := range []Folder{AuditLog, Journal, Output} {
		if err := os.MkdirAll(filepath.Join(dir, string(f)), 0o700); err != nil {
			return nil, err
		}
	}
	w.env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + os.TempDir()}
	return w, nil
}

const auditLog = "audit/audit.jsonl"

// migrateArgs is the command of the faulted run and the re-run, with the folders of Folder.
func (w *workspace) migrateArgs() []string {
	return []string{"migrate", "--to", "sops", "-f", "in", "--sops-out", string(Output), "--audit-log", auditLog, "--journal-dir", string(Journal), "-q", "-o", "json"}
}

type runResult struct {
	exit           int
	stdout, stderr []byte
	err            error
}

func (w *workspace) run(name string, args ...string) runResult {
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = w.dir, w.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := runResult{stdout: stdout.Bytes(), stderr: stderr.Bytes()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.exit = exit.ExitCode()
	case err != nil:
		r.exit, r.err = -1, err
	}
	return r
}

// faultText is what the system's error says of each fault.
var faultText = map[Fault]string{Full: "no space left on device", ReadOnly: "read-only"}

// Exit statuses of the namespace wrapper itself, apart from secretshift's own.
const (
	exitMount = 125
	exitCopy  = 126
)

// faultScript mounts the tmpfs on $1 (options $2, read-only when $3 is "ro"), runs the rest
// of its arguments, and copies what the tmpfs held to $4 before the namespace ends.
const faultScript = `dir=$1 opts=$2 ro=$3 save=$4; shift 4
mount -t tmpfs -o "$opts" disk-fault "$dir" || { echo "disk: mount tmpfs on $dir failed" >&2; exit 125; }
if [ "$ro" = ro ]; then mount -o remount,ro "$dir" || { echo "disk: remount $dir read-only failed" >&2; exit 125; }; fi
"$@"
rc=$?
mkdir -p "$save" && cp -a "$dir"/. "$save"/ || { echo "disk: copy out of $dir failed" >&2; exit 126; }
exit $rc`

// faulted runs the migration with c's fault in place, then puts what the faulted folder held
// where the folder is, so the checks and the re-run see it on an ordinary disk.
func (w *workspace) faulted(bin string, c Case, sizeKiB int64) runResult {
	dir := filepath.Join(w.dir, string(c.Folder))
	save := filepath.Join(w.dir, ".saved-"+string(c.Folder))
	opts, ro := fmt.Sprintf("size=%dk,mode=0700", sizeKiB), "rw"
	if c.Fault == ReadOnly {
		opts, ro = "size=1m,mode=0700", "ro"
	}
	args := append([]string{"--mount", "--propagation", "private", "sh", "-c", faultScript, "sh", dir, opts, ro, save, bin}, w.migrateArgs()...)
	r := w.run("unshare", args...)
	if r.err == nil && (r.exit == exitMount || r.exit == exitCopy) {
		r.err = fmt.Errorf("fault set-up: %s", brief.LastLine(r.stderr))
	}
	if r.err != nil {
		return r
	}
	if err := os.RemoveAll(dir); err != nil {
		r.err = err
	} else if err := os.Rename(save, dir); err != nil {
		r.err = err
	}
	return r
}

func runCase(opts Options, c Case, written int64) (cr CaseResult) {
	start := time.Now()
	cr = CaseResult{Case: c, Name: c.Name(), LogWritable: c.Folder != AuditLog}
	problem := func(format string, a ...any) { cr.Problems = append(cr.Problems, fmt.Sprintf(format, a...)) }
	defer func() {
		cr.Pass = len(cr.Problems) == 0
		cr.Seconds = time.Since(start).Seconds()
	}()
	w, err := newWorkspace(opts, filepath.Join(opts.Dir, c.Name()))
	if err != nil {
		problem("set up: %v", err)
		return cr
	}
	// The case's folder holds a decryptable store and its key: nothing of it is kept.
	defer os.RemoveAll(w.dir)
	if c.Fault == Full {
		// Half of what the run writes there, in whole pages, at least two pages.
		cr.SizeKiB = max(8, written/2/4096*4)
	}

	// The faulted run.
	r := w.faulted(opts.Bin, c, cr.SizeKiB)
	cr.Exit = r.exit
	cr.LastErrors = brief.LastLines(r.stderr, 3)
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil && bytes.Contains(mi, []byte(" disk-fault ")) {
		problem("a disk-fault tmpfs is mounted outside the private mount namespace")
	}
	if r.err != nil {
		problem("faulted run: %v", r.err)
		return cr
	}
	if r.exit == 0 {
		problem("the run exited 0 with its %s folder %s", c.Folder, c.Fault)
	}
	if len(cr.LastErrors) == 0 {
		problem("the run printed no error")
	}
	// The fault must be what stopped the run, and the error must say so.
	if want := faultText[c.Fault]; !bytes.Contains(r.stderr, []byte(want)) && !bytes.Contains(r.stdout, []byte(want)) {
		problem("neither the run's errors nor its report say %q", want)
	}
	if bytes.Contains(r.stderr, []byte("panic:")) || bytes.Contains(r.stderr, []byte("goroutine ")) {
		problem("the run panicked")
	}
	cr.Leaks += w.leaks(problem, "faulted run's output", r.stdout, r.stderr)
	w.checkFaulted(opts.Bin, &cr, r.stdout, problem)

	// The re-run, with the fault removed.
	r = w.run(opts.Bin, w.migrateArgs()...)
	cr.RerunExit = r.exit
	cr.Leaks += w.leaks(problem, "re-run's output", r.stdout, r.stderr)
	if r.err != nil || r.exit != 0 {
		problem("re-run exited %d (%v): %s", r.exit, r.err, brief.LastLine(r.stderr))
	}
	rep, err := parseReport(r.stdout)
	if err != nil {
		problem("re-run report (-o json): %v", err)
	}
	if rep != nil {
		cr.RerunCounts = map[string]int{}
		for k, v := range rep.Counts {
			cr.RerunCounts[string(k)] = v
		}
	}
	var missing []string
	for _, s := range w.secrets {
		if _, err := os.Stat(filepath.Join(w.dir, string(Output), s.Namespace, s.Name+".yaml")); err != nil {
			missing = append(missing, s.Ref())
		}
	}
	cr.Missing = len(missing)
	if len(missing) > 0 {
		problem("after the re-run %d Secrets have no SOPS file: %s", len(missing), brief.Names(missing))
	}
	v := w.run(opts.Bin, "verify", "--to", "sops", "-f", "in", "--sops-out", string(Output), "--audit-log", auditLog, "-q")
	cr.VerifyExit = v.exit
	if v.err != nil || v.exit != 0 {
		problem("secretshift verify after the re-run exited %d (%v): %s", v.exit, v.err, brief.LastLine(v.stderr))
	}
	a := w.run(opts.Bin, "audit", "verify", "--audit-log", auditLog)
	cr.AuditVerifyExit = a.exit
	if a.err != nil || a.exit != 0 {
		problem("secretshift audit verify after the re-run exited %d (%v): %s", a.exit, a.err, brief.LastLine(a.stderr))
	}
	cr.Leaks += w.leaks(problem, "verify output", v.stdout, v.stderr, a.stdout, a.stderr)
	cr.Leaks += w.leakedInFiles(problem)
	return cr
}

// leaks counts the canary values, in clear or base64, in outs.
func (w *workspace) leaks(problem func(string, ...any), what string, outs ...[]byte) int {
	return brief.Leaks(w.canary, problem, what, outs...)
}

// leakedInFiles looks for canary values in every file of the workspace but the corpus.
func (w *workspace) leakedInFiles(problem func(string, ...any)) int {
	return brief.LeaksInFiles(w.canary, problem, w.dir, filepath.Join(w.dir, "in"), filepath.Join(w.dir, "check-in"))
}

// sopsFiles lists the Secret files below the output folder, as addresses ("ns/name.yaml"),
// and apart from them any other file but .sops.yaml and the run's lock (a temporary file left
// behind).
func (w *workspace) sopsFiles() (files, other []string) {
	root := filepath.Join(w.dir, string(Output))
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		switch {
		case rel == ".sops.yaml" || rel == ".secretshift.lock":
		case strings.Count(rel, "/") == 1 && strings.HasSuffix(rel, ".yaml") && !strings.HasPrefix(filepath.Base(rel), "."):
			files = append(files, rel)
		default:
			other = append(other, rel)
		}
		return nil
	})
	return files, other
}

// pages is the space the files below dir take on a tmpfs: each file in whole 4 KiB pages.
func pages(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			n += (fi.Size() + 4095) / 4096 * 4096
		}
		return nil
	})
	return n
}
