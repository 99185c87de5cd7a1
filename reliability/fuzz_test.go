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
