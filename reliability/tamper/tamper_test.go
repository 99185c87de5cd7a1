package tamper

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// TestReducedMatrix runs the reduced tamper matrix over a log written through the audit
// package: every kind of tampering, on a sample of records. `make reliability` runs the full
// matrix, on the log of a real migration too.
func TestReducedMatrix(t *testing.T) {
	f, err := APILog(t.TempDir(), 2, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	cases, err := Cases(f, false)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(f, cases, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", res.Markdown())
	for _, row := range res.Rows {
		if row.InModel && row.Detected != row.Cases {
			t.Errorf("%s: %d of %d cases detected; undetected: %v", row.Kind, row.Detected, row.Cases, row.Missed)
		}
	}
	if !res.Pass {
		t.Error("the matrix does not pass")
	}
	for _, k := range Kinds {
		found := false
		for _, row := range res.Rows {
			found = found || row.Kind == k
		}
		if !found {
			t.Errorf("no case of kind %q", k)
		}
	}
}

// TestDocumentedHash checks this package's independent JCS against the audit package's own
// records: every line of a fresh log hashes to the hash it carries.
func TestDocumentedHash(t *testing.T) {
	f, err := APILog(t.TempDir(), 1, 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reencode(f); err != nil {
		t.Fatal(err)
	}
}

// TestMigrationLogMatrix runs the reduced matrix over the log of real migrations (the
// secretshift binary migrating the quick-start demo to SOPS files three times), each case also
// checked with `secretshift audit verify`.
func TestMigrationLogMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("builds secretshift; not run with -short")
	}
	bin := filepath.Join(t.TempDir(), "secretshift")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/secretshift")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	f, err := MigrationLog(bin, "../../testdata/demo", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cases, err := Cases(f, false)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(f, cases, Options{Dir: t.TempDir(), Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d records, %d cases\n%s", res.Records, res.Cases, res.Markdown())
	if !res.Pass {
		t.Error("the matrix does not pass over a real migration's log")
	}
}

func TestSampledSpreadsExactlyK(t *testing.T) {
	for _, c := range []struct{ n, k int }{{100, 30}, {31, 30}, {7, 30}, {1000, 1}, {5, 0}, {64, 64}} {
		var got []int
		for i := range c.n {
			if sampled(i, c.n, c.k) {
				got = append(got, i)
			}
		}
		want := min(c.n, c.k)
		if c.k == 0 {
			want = c.n
		}
		if len(got) != want {
			t.Errorf("n=%d k=%d: %d sampled, want %d", c.n, c.k, len(got), want)
		}
		if c.k > 0 && c.k < c.n && got[len(got)-1] != c.n-1 {
			t.Errorf("n=%d k=%d: the last case is not sampled (%v): the spread must reach the end", c.n, c.k, got)
		}
	}
}
