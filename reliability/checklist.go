package reliability

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// ChecklistRow is one row of the bad-input checklist (../shared/RELIABILITY.md §4, each row
// from a real bug report) and the tests that show secretshift survives it.
type ChecklistRow struct {
	Number int    `json:"number"`
	Fault  string `json:"fault"`
	Tests  []Test `json:"tests"`
	// Gap says what no test covers yet; "" when the tests cover the row.
	Gap string `json:"gap,omitempty"`
}

// Test names one top-level Go test and what it asserts for its row.
type Test struct {
	Package string `json:"package"`
	Name    string `json:"name"`
	Asserts string `json:"asserts"`
}

// TestResult is how a test ended: pass, fail, skip, or "not run" (the package did not build,
// or the test does not exist).
type TestResult struct {
	Test
	Result  string  `json:"result"`
	Seconds float64 `json:"seconds"`
}

// ChecklistSection runs every row's tests (one `go test -run` per package, with -json) in the
// module at dir, and reports each row: passed when every test of it passed and it has no gap.
// A skipped test does not pass.
func ChecklistSection(ctx context.Context, dir string, rows []ChecklistRow) Section {
	start := time.Now()
	s := Section{Name: "checklist", Title: "Bad-input checklist", Pass: true,
		Ran: fmt.Sprintf("The %d rows of the bad-input and fault checklist (RELIABILITY.md §4, each from a real bug report), each shown by the tests named: `go test -count=1 -run` of those tests per package, against the real servers of `make tools`. A row passes when every test of it passed and nothing of it is left uncovered.", len(rows))}
	byPkg := map[string][]string{}
	for _, r := range rows {
		for _, t := range r.Tests {
			byPkg[t.Package] = append(byPkg[t.Package], t.Name)
		}
	}
	results := map[string]TestResult{} // package + "\x00" + name
	pkgs := make([]string, 0, len(byPkg))
	for p := range byPkg {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	var failures strings.Builder
	for _, pkg := range pkgs {
		got, out, err := runTests(ctx, dir, pkg, byPkg[pkg])
		for name, r := range got {
			results[pkg+"\x00"+name] = r
		}
		if err != nil && !anyFailed(got) {
			fmt.Fprintf(&failures, "\n### %s did not run\n\n```\n%s\n```\n", pkg, firstLines(out, 30))
		}
	}
	var md strings.Builder
	md.WriteString("| # | fault or input | tests | result |\n|---:|---|---|---|\n")
	type rowReport struct {
		ChecklistRow
		Results []TestResult `json:"results"`
		Pass    bool         `json:"pass"`
	}
	var details []rowReport
	for _, row := range rows {
		rr := rowReport{ChecklistRow: row, Pass: row.Gap == "" && len(row.Tests) > 0}
		var cells []string
		for _, t := range row.Tests {
			r, ok := results[t.Package+"\x00"+t.Name]
			if !ok {
				r = TestResult{Test: t, Result: "not run"}
			}
			r.Test = t
			rr.Results = append(rr.Results, r)
			rr.Pass = rr.Pass && r.Result == "pass"
			cells = append(cells, fmt.Sprintf("`%s` %s (%s): %s", strings.TrimPrefix(t.Package, "./"), t.Name, r.Result, t.Asserts))
		}
		verdict := "pass"
		switch {
		case rr.Pass:
			s.Passed++
		case row.Gap != "":
			verdict = "**GAP**: " + row.Gap
			s.Failed++
			s.Pass = false
		default:
			verdict = "**FAIL**"
			s.Failed++
			s.Pass = false
		}
		s.Cases++
		fmt.Fprintf(&md, "| %d | %s | %s | %s |\n", row.Number, row.Fault, strings.Join(cells, "<br>"), verdict)
		details = append(details, rr)
	}
	md.WriteString(failures.String())
	s.Markdown = md.String()
	s.Details = details
	s.Seconds = time.Since(start).Seconds()
	return s
}

func anyFailed(got map[string]TestResult) bool {
	for _, r := range got {
		if r.Result == "fail" {
			return true
		}
	}
	return false
}

// runTests runs the named top-level tests of pkg and returns how each ended, from go test's
// JSON events; out is the output of the run.
func runTests(ctx context.Context, dir, pkg string, names []string) (map[string]TestResult, []byte, error) {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = regexp.QuoteMeta(n)
	}
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-timeout", "20m", "-json", "-run", "^("+strings.Join(quoted, "|")+")$", pkg)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	got := map[string]TestResult{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	var text bytes.Buffer
	for sc.Scan() {
		var ev struct {
			Action  string
			Test    string
			Elapsed float64
			Output  string
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			text.Write(sc.Bytes())
			text.WriteByte('\n')
			continue
		}
		text.WriteString(ev.Output)
		if ev.Test == "" || strings.Contains(ev.Test, "/") {
			continue
		}
		switch ev.Action {
		case "pass", "fail", "skip":
			got[ev.Test] = TestResult{Test: Test{Package: pkg, Name: ev.Test}, Result: ev.Action, Seconds: ev.Elapsed}
		}
	}
	return got, text.Bytes(), err
}

// MissingTests returns the tests of rows that no _test.go file of their package (a folder
// below the module at dir) declares, as "package TestName".
func MissingTests(dir string, rows []ChecklistRow) ([]string, error) {
	var missing []string
	seen := map[string]bool{}
	for _, row := range rows {
		for _, t := range row.Tests {
			files, err := filepath.Glob(filepath.Join(dir, t.Package, "*_test.go"))
			if err != nil {
				return nil, err
			}
			decl := []byte("\nfunc " + t.Name + "(t *testing.T)")
			found := false
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					return nil, err
				}
				if bytes.Contains(b, decl) {
					found = true
					break
				}
			}
			if key := t.Package + " " + t.Name; !found && !seen[key] {
				seen[key] = true
				missing = append(missing, key)
			}
		}
	}
	return missing, nil
}
