package reliability

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// FuzzTarget is one `go test -fuzz` target of the suite.
type FuzzTarget struct {
	Package  string `json:"package"`
	Name     string `json:"name"`
	Property string `json:"property"`
}

// FuzzTargets are the fuzz targets `make reliability` runs, in order.
var FuzzTargets = []FuzzTarget{
	{"./kube", "FuzzReadManifests", "manifest streams never fail as a whole, decode deterministically, keep only Secrets the API server accepts, and a decoded Secret re-encoded decodes to the same Secret byte for byte"},
	{"./kube", "FuzzDecodeTreeIsKubectlsJSON", "the tree a manifest is read into is, as JSON, what kubectl's YAML reading makes of the same bytes; a document refused by one is refused by the other (keys JSON cannot tell apart and NaN aside)"},
	{"./kube", "FuzzManifestErrorsHideValues", "a value planted (with a canary) in failing manifests never appears in a problem, an error, a formatted Secret or its JSON"},
	{"./internal/outdir", "FuzzTarget", "SOPS/SealedSecret file names: legal names only, address parses back, file stays below the folder, fits NAME_MAX, deterministic, injective even on case-insensitive filesystems"},
	{"./internal/outdir", "FuzzParseAddress", "an address read from a plan or journal is accepted only in the form Target makes"},
	{"./providers/vault", "FuzzVaultTarget", "vault paths: deterministic, below the mount, never illegal without ErrInvalidName, injective under the default templates"},
	{"./providers/azurekv", "FuzzAzureNames", "Key Vault names: deterministic, legal whenever Check passes, case-insensitive collisions refused by Check, no value in errors"},
	{"./rotate/policy", "FuzzParse", "rotation policy files: a complete policy or sorted positioned errors, deterministic"},
	{"./audit", "FuzzVerifyLine", "the verifier never accepts a line whose documented hash (independent JCS), prev or seq does not match; deterministic; the export reader agrees"},
	{"./audit", "FuzzReaderNext", "the export reader never panics and returns only lines of its input"},
	{"./audit", "FuzzParseStrict", "the strict line parser's fast reading (decode, count keys) accepts, refuses and reads exactly as the token-by-token reading"},
	{"./cmd/secretshift", "FuzzReadPlan", "saved plans: readPlan never panics, names the file, round-trips, and CheckSaved accepts only planned actions"},
}

// FuzzResult is what one target's run found.
type FuzzResult struct {
	FuzzTarget
	FuzzTime string  `json:"fuzzTime"`
	Seconds  float64 `json:"seconds"`
	Execs    int64   `json:"execs"`
	// NewInteresting counts inputs the run added to the cache corpus (coverage found).
	NewInteresting int64 `json:"newInteresting"`
	Pass           bool  `json:"pass"`
	// Failure is the failing input's file (testdata/fuzz/...) and the first lines of the
	// failure, when the run failed.
	FailingInput string `json:"failingInput,omitempty"`
	Failure      string `json:"failure,omitempty"`
	// Note says why a run that go test failed counts as passed (deadlineRace).
	Note string `json:"note,omitempty"`
}

// deadlineRaceNote explains a run deadlineRace lets pass.
const deadlineRaceNote = "go test reported `context deadline exceeded` as -fuzztime ran out while a worker was busy, with no failing input: Go's fuzz coordinator race (golang/go#75804, fixed in Go 1.27), not a finding"

// deadlineRace reports whether a failed `go test -fuzz` run failed only because -fuzztime ran
// out while a worker was mid-input (golang/go#75804): the one failure line is "context
// deadline exceeded", and no failing input was written.
func deadlineRace(out []byte) bool {
	if failingRE.Match(out) {
		return false
	}
	_, after, ok := bytes.Cut(out, []byte("--- FAIL: "))
	if !ok {
		return false
	}
	var reasons []string
	for _, line := range strings.Split(string(after), "\n")[1:] {
		if !strings.HasPrefix(line, "    ") {
			break
		}
		reasons = append(reasons, strings.TrimSpace(line))
	}
	return len(reasons) == 1 && reasons[0] == "context deadline exceeded"
}

var (
	execsRE   = regexp.MustCompile(`execs: (\d+)`)
	newRE     = regexp.MustCompile(`new interesting: (\d+)`)
	failingRE = regexp.MustCompile(`Failing input written to (\S+)`)
)

// RunFuzz runs one target for fuzzTime (a -fuzztime value: "2m", "10000x") in the module at
// dir, with parallel workers. Minimising each new input is capped at 10s (the default, 60s,
// can take most of a short run on the larger seeds).
func RunFuzz(ctx context.Context, dir string, t FuzzTarget, fuzzTime string, parallel int) FuzzResult {
	res := FuzzResult{FuzzTarget: t, FuzzTime: fuzzTime}
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "test", t.Package, "-run", "^$", "-fuzz", "^"+t.Name+"$", "-fuzztime", fuzzTime,
		"-fuzzminimizetime", "10s", "-parallel", fmt.Sprint(parallel))
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	res.Seconds = time.Since(start).Seconds()
	res.Pass = err == nil
	res.Execs = lastInt(execsRE, out)
	res.NewInteresting = lastInt(newRE, out)
	if !res.Pass && ctx.Err() == nil && deadlineRace(out) {
		res.Pass, res.Note = true, deadlineRaceNote
	}
	if !res.Pass {
		if m := failingRE.FindSubmatch(out); m != nil {
			res.FailingInput = strings.TrimPrefix(t.Package, "./") + "/" + string(m[1])
		}
		res.Failure = firstLines(out, 30)
	}
	return res
}

func lastInt(re *regexp.Regexp, out []byte) int64 {
	ms := re.FindAllSubmatch(out, -1)
	if len(ms) == 0 {
		return 0
	}
	var n int64
	fmt.Sscan(string(ms[len(ms)-1][1]), &n)
	return n
}

func firstLines(b []byte, n int) string {
	lines := bytes.SplitN(b, []byte("\n"), n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// FuzzSection runs every target, one after another, and summarises them.
func FuzzSection(ctx context.Context, dir, fuzzTime string, parallel int, targets []FuzzTarget) Section {
	start := time.Now()
	s := Section{Name: "fuzz", Title: "Fuzz targets", Pass: true,
		Ran: fmt.Sprintf("%d targets, each `go test -fuzz` for -fuzztime %s with -parallel %d (FUZZTIME, FUZZPARALLEL); seeds are the f.Add inputs and each package's testdata/fuzz/<target> files.", len(targets), fuzzTime, parallel)}
	var results []FuzzResult
	var md strings.Builder
	md.WriteString("| package | target | property | time | execs | new coverage | result |\n|---|---|---|---:|---:|---:|---|\n")
	for _, t := range targets {
		r := RunFuzz(ctx, dir, t, fuzzTime, parallel)
		results = append(results, r)
		s.Cases++
		verdict := "pass"
		if r.Note != "" {
			verdict = "pass (see note)"
		}
		if r.Pass {
			s.Passed++
		} else {
			s.Failed++
			s.Pass = false
			verdict = "**FAIL**"
			if r.FailingInput != "" {
				verdict += " (" + r.FailingInput + ")"
			}
		}
		fmt.Fprintf(&md, "| %s | %s | %s | %.0fs | %d | %d | %s |\n", t.Package, t.Name, t.Property, r.Seconds, r.Execs, r.NewInteresting, verdict)
	}
	for _, r := range results {
		if !r.Pass {
			fmt.Fprintf(&md, "\n### %s failed\n\n```\n%s\n```\n", r.Name, r.Failure)
		}
		if r.Note != "" {
			fmt.Fprintf(&md, "\nNote on %s: %s.\n", r.Name, r.Note)
		}
	}
	s.Markdown = md.String()
	s.Details = results
	s.Seconds = time.Since(start).Seconds()
	return s
}
