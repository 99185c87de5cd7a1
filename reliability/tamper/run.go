package tamper

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/secretshift/secretshift/audit"
)

// Options say how cases are checked.
type Options struct {
	// Dir is a scratch folder the cases are written into, one after another.
	Dir string
	// Binary, when set, is a secretshift binary: cases are also checked with `secretshift
	// audit verify`, which must exit non-zero exactly when the library reports the case.
	Binary string
	// CLIPerKind, when positive, runs the binary on that many cases of each kind, spread
	// evenly over the kind's cases, instead of on every case: one process per case costs
	// ~0.1 s, and the full matrix has thousands. The library checks every case either way.
	CLIPerKind int
}

// Row is one line of the matrix: a kind of tampering, how many cases were tried and how many
// verification detected.
type Row struct {
	Kind     string `json:"kind"`
	Cases    int    `json:"cases"`
	Detected int    `json:"detected"`
	// InModel is false for the kinds audit/doc.go documents as undetectable; they are shown,
	// never counted as passing.
	InModel bool `json:"inModel"`
	// Findings counts the first problem verification named, by kind.
	Findings map[string]int `json:"findings"`
	// Missed names the undetected cases (at most 20).
	Missed []string `json:"missed,omitempty"`
	// CLIChecked counts cases also run through `secretshift audit verify`; CLIDisagree those
	// where its exit status disagreed with the library.
	CLIChecked  int      `json:"cliChecked,omitempty"`
	CLIDisagree []string `json:"cliDisagree,omitempty"`
}

// Result is the matrix over one fixture.
type Result struct {
	Fixture  string        `json:"fixture"`
	Records  int           `json:"records"`
	Rows     []Row         `json:"rows"`
	Cases    int           `json:"cases"`
	Detected int           `json:"detected"`
	Duration time.Duration `json:"durationNs"`
	// Pass: the untouched log (as written, and re-encoded) verifies, and every in-model case
	// was detected (by the CLI too, when it was run).
	Pass bool `json:"pass"`
}

// Run checks every case with audit.VerifySet — what `secretshift audit verify` runs: the log,
// its head file at <log>.head (required), the public key — and counts detections per kind.
// It first checks two controls, the untouched log and the log re-encoded by this package, which
// must both verify, or the matrix would measure the forgery tooling instead of the verifier.
func Run(f *Fixture, cases []Case, opts Options) (*Result, error) {
	start := time.Now()
	pubFile := filepath.Join(opts.Dir, "audit-signing.pub")
	pem, err := audit.EncodePublicKey(f.Pub)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(pubFile, pem, 0o600); err != nil {
		return nil, err
	}
	c := checker{dir: opts.Dir, pub: f.Pub, pubFile: pubFile, bin: opts.Binary}
	reencoded, err := reencode(f)
	if err != nil {
		return nil, err
	}
	for _, ctl := range []Case{{Name: "untouched log", Log: f.Log, Head: f.Head}, {Name: "log re-encoded by the forger's encoder", Log: reencoded, Head: f.Head}} {
		detected, finding, err := c.verify(ctl)
		if err != nil {
			return nil, err
		}
		if detected {
			return nil, fmt.Errorf("control %q does not verify (%s): the matrix would be meaningless", ctl.Name, finding)
		}
		if c.bin != "" {
			if cli, err := c.cli(); err != nil || cli {
				return nil, fmt.Errorf("control %q: secretshift audit verify fails (%v)", ctl.Name, err)
			}
		}
	}
	res := &Result{Fixture: f.Name, Records: len(f.Lines()), Pass: true}
	rows := map[string]*Row{}
	for _, k := range Kinds {
		rows[k] = &Row{Kind: k, InModel: !outOfModel[k], Findings: map[string]int{}}
	}
	ofKind := map[string]int{}
	for _, cs := range cases {
		ofKind[cs.Kind]++
	}
	for _, cs := range cases {
		row := rows[cs.Kind]
		nth := row.Cases // this case's index among its kind
		detected, finding, err := c.verify(cs)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", cs.Kind, cs.Name, err)
		}
		row.Cases++
		res.Cases++
		if detected {
			row.Detected++
			res.Detected++
			row.Findings[finding]++
		} else if len(row.Missed) < 20 {
			row.Missed = append(row.Missed, cs.Name)
		}
		if c.bin != "" && sampled(nth, ofKind[cs.Kind], opts.CLIPerKind) {
			cli, err := c.cli()
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", cs.Kind, cs.Name, err)
			}
			row.CLIChecked++
			if cli != detected && len(row.CLIDisagree) < 20 {
				row.CLIDisagree = append(row.CLIDisagree, cs.Name)
			}
		}
	}
	for _, k := range Kinds {
		r := rows[k]
		if r.Cases == 0 {
			continue
		}
		if r.InModel && (r.Detected != r.Cases || len(r.CLIDisagree) > 0) {
			res.Pass = false
		}
		res.Rows = append(res.Rows, *r)
	}
	res.Duration = time.Since(start)
	return res, nil
}

// sampled says whether case i of n of one kind is among the k spread evenly over them (every
// case when k is 0 or at least n).
func sampled(i, n, k int) bool {
	if k <= 0 || k >= n {
		return true
	}
	return i*k/n != (i+1)*k/n
}

// reencode returns the log with every line re-encoded by this package's JCS encoder.
func reencode(f *Fixture) ([]byte, error) {
	var out []byte
	for i, l := range f.Lines() {
		m, err := ParseLine(l)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		h, err := Hash(m)
		if err != nil {
			return nil, err
		}
		if h != m["hash"] {
			return nil, fmt.Errorf("line %d: the documented hash is %s, the record says %s", i+1, h, m["hash"])
		}
		b, err := Line(m)
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	return out, nil
}

type checker struct {
	dir, pubFile, bin string
	pub               ed25519.PublicKey
}

func (c *checker) logPath() string { return filepath.Join(c.dir, "audit.jsonl") }

// verify writes the case and verifies it; it returns whether verification failed and how.
func (c *checker) verify(cs Case) (bool, string, error) {
	log := c.logPath()
	if err := os.WriteFile(log, cs.Log, 0o600); err != nil {
		return false, "", err
	}
	head := audit.HeadPath(log)
	if err := os.Remove(head); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, "", err
	}
	if cs.Head != nil {
		if err := os.WriteFile(head, cs.Head, 0o600); err != nil {
			return false, "", err
		}
	}
	set, err := audit.VerifySet([]string{log}, audit.VerifySetOptions{Keys: []ed25519.PublicKey{c.pub}})
	if err != nil {
		return false, "", err
	}
	if set.OK {
		return false, "", nil
	}
	fr := set.Logs[0]
	switch {
	case fr.Report != nil && fr.Report.Problem != nil:
		return true, string(fr.Report.Problem.Kind), nil
	case cs.Head == nil:
		return true, "head-missing", nil
	default:
		return true, "head-unreadable", nil
	}
}

// cli runs `secretshift audit verify` on the case last written; true when it reports a
// failed verification (exit status 5). Any other failure is an error.
func (c *checker) cli() (bool, error) {
	cmd := exec.Command(c.bin, "audit", "verify", "--audit-log", c.logPath(), "--public-key", c.pubFile, "-q")
	cmd.Dir = c.dir
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return false, nil
	case errors.As(err, &ee) && ee.ExitCode() == 5:
		return true, nil
	default:
		return false, fmt.Errorf("secretshift audit verify: %w\n%s", err, out)
	}
}
