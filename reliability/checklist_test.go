package reliability

import (
	"strings"
	"testing"
)

// TestChecklistNamesExist: every test the checklist names is declared in its package, and the
// rows are the 16 of RELIABILITY.md §4 in order, each covered by tests or saying what is not.
func TestChecklistNamesExist(t *testing.T) {
	missing, err := MissingTests("..", Checklist)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		t.Errorf("the checklist names tests that do not exist:\n%s", strings.Join(missing, "\n"))
	}
	for i, row := range Checklist {
		if row.Number != i+1 || row.Fault == "" {
			t.Errorf("row %d: number %d, fault %q", i+1, row.Number, row.Fault)
		}
		if len(row.Tests) == 0 && row.Gap == "" {
			t.Errorf("row %d (%s) names no test and no gap", row.Number, row.Fault)
		}
		for _, tt := range row.Tests {
			if !strings.HasPrefix(tt.Package, "./") || tt.Asserts == "" {
				t.Errorf("row %d: test %s %s: package must be ./path, and say what it asserts", row.Number, tt.Package, tt.Name)
			}
		}
	}
	if len(Checklist) != 16 {
		t.Errorf("%d rows, want the 16 of the checklist", len(Checklist))
	}
}
