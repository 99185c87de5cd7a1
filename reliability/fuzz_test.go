package reliability

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFuzzTargetsExist checks that every listed target is a fuzz test of its package, so the
// suite cannot silently run nothing.
func TestFuzzTargetsExist(t *testing.T) {
	for _, ft := range FuzzTargets {
		files, err := filepath.Glob(filepath.Join("..", ft.Package, "*_test.go"))
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			found = found || strings.Contains(string(b), "func "+ft.Name+"(f *testing.F)")
		}
		if !found {
			t.Errorf("%s has no fuzz target %s", ft.Package, ft.Name)
		}
	}
}

func TestDeadlineRaceIsNotAFinding(t *testing.T) {
	race := "fuzz: elapsed: 30s, execs: 3283 (0/sec), new interesting: 5 (total: 20)\n--- FAIL: FuzzReadPlan (30.26s)\n    context deadline exceeded\nFAIL\nexit status 1\nFAIL\tgithub.com/x/y\t30.357s\n"
	if !deadlineRace([]byte(race)) {
		t.Error("a bare deadline at the end of -fuzztime must count as the coordinator race")
	}
	found := "--- FAIL: FuzzReadPlan (1.20s)\n    --- FAIL: FuzzReadPlan (0.00s)\n        plan_test.go:12: round trip differs\n\n    Failing input written to testdata/fuzz/FuzzReadPlan/abc\nFAIL\n"
	if deadlineRace([]byte(found)) {
		t.Error("a written failing input is a finding")
	}
	both := "--- FAIL: FuzzReadPlan (30.00s)\n    context deadline exceeded\n    panic: boom\nFAIL\n"
	if deadlineRace([]byte(both)) {
		t.Error("a deadline with another failure line is a finding")
	}
}
