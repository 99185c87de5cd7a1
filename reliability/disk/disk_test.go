package disk

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDiskFaults runs every case on a small corpus. It fails when a faulted run exits 0,
// reports done what is not durable, writes a file without its intent on record, leaks a
// canary value, or cannot be completed by a re-run; and when it cannot run at all (not root,
// no unshare): integration tests never skip.
func TestDiskFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("disk faults build secretshift and mount tmpfs folders; skipped with -short")
	}
	if err := Preflight(); err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "secretshift")
	build := exec.Command("go", "build", "-o", bin, "./cmd/secretshift")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/secretshift: %v\n%s", err, out)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	res := Run(Options{Bin: bin, Dir: filepath.Join(dir, "cases"), Secrets: 120, Seed: seed})
	if res.Error != "" {
		t.Fatal(res.Error)
	}
	t.Logf("calibration wrote %v bytes", res.Written)
	for _, c := range res.Cases {
		t.Logf("%s (%d KiB): exit %d %q; done %d, durable %d, recorded %d; files %d, with intent %d; faulted log: %s; re-run exit %d %v, missing %d, verify %d, audit verify %d (%.1fs)",
			c.Name, c.SizeKiB, c.Exit, c.LastErrors, c.ReportedDone, c.Durable, c.Recorded, c.Files, c.WithIntent, c.FaultedAuditVerify, c.RerunExit, c.RerunCounts, c.Missing, c.VerifyExit, c.AuditVerifyExit, c.Seconds)
		if !c.Pass {
			t.Errorf("%s: %s", c.Name, strings.Join(c.Problems, "; "))
		}
	}
	if len(res.Cases) != len(Cases) {
		t.Errorf("%d cases ran, want %d", len(res.Cases), len(Cases))
	}
}

// TestLeaksSeesCanaries: the canary search finds a value in clear and in base64, so a case
// cannot pass over a leak.
func TestLeaksSeesCanaries(t *testing.T) {
	w := &workspace{canary: [][]byte{[]byte("CANARY-disk-test")}}
	var problems []string
	p := func(string, ...any) { problems = append(problems, "x") }
	if n := w.leaks(p, "test", []byte("error: CANARY-disk-test\n"), []byte("Q0FOQVJZLWRpc2stdGVzdA==")); n != 2 {
		t.Errorf("leaks found %d, want 2", n)
	}
	if n := w.leaks(p, "test", []byte("error: nothing here")); n != 0 {
		t.Errorf("leaks found %d in clean output", n)
	}
}

// TestCheckFaultedSeesViolations: a file without its intent in the log and a Secret reported
// created without a file are both problems, so a case cannot pass over them.
func TestCheckFaultedSeesViolations(t *testing.T) {
	w, err := newWorkspace(Options{Secrets: 3, Seed: 1}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, b := w.secrets[0], w.secrets[1]
	if err := os.MkdirAll(filepath.Join(w.dir, "out", a.Namespace), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.dir, "out", a.Namespace, a.Name+".yaml"), []byte("x: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	report := `{"items":[{"namespace":"` + b.Namespace + `","name":"` + b.Name + `","result":"created"}]}`
	var problems []string
	cr := CaseResult{Case: Case{Output, Full}}
	w.checkFaulted("/bin/false", &cr, []byte(report), func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) })
	all := strings.Join(problems, "\n")
	for _, want := range []string{"reported done have no SOPS file", "no migrate.write attempt record", "no migrate.write success or migrate.verify record"} {
		if !strings.Contains(all, want) {
			t.Errorf("problems lack %q:\n%s", want, all)
		}
	}
	if cr.Files != 1 || cr.WithIntent != 0 || cr.ReportedDone != 1 || cr.Durable != 0 {
		t.Errorf("files %d, with intent %d, done %d, durable %d; want 1, 0, 1, 0", cr.Files, cr.WithIntent, cr.ReportedDone, cr.Durable)
	}
}
