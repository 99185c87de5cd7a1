package policy

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, and that what it returns is consistent: either
// a complete policy or sorted errors, each naming the file.
func FuzzParse(f *testing.F) {
	seeds, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds in testdata: %v", err)
	}
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(minimal))
	f.Add([]byte("- a\n"))
	f.Add([]byte("a: &x [*x]\nb: &m {<<: *m}\n"))
	f.Add([]byte(minimal + "---\n" + minimal))
	base, err := filepath.Abs("testdata")
	if err != nil {
		f.Fatal(err)
	}
	opts := testOpts
	opts.BaseDir = base
	f.Fuzz(func(t *testing.T, b []byte) {
		pol, err := Parse("f.yaml", b, opts)
		if err != nil {
			if pol != nil {
				t.Fatalf("policy and error: %v", err)
			}
			var errs []error
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			} else {
				errs = []error{err}
			}
			var prev Position
			for i, e := range errs {
				var pe *Error
				if !errors.As(e, &pe) || pe.Pos.File != "f.yaml" || pe.Msg == "" {
					t.Fatalf("error %d is not a positioned *Error: %#v", i, e)
				}
				if i > 0 && pe.Pos.before(prev) {
					t.Fatalf("errors not sorted: %v", err)
				}
				prev = pe.Pos
			}
			if _, err2 := Parse("f.yaml", b, opts); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("not deterministic:\n%v\n---\n%v", err, err2)
			}
			return
		}
		if pol == nil || len(pol.Rotations) == 0 {
			t.Fatalf("no error and no rotations: %+v", pol)
		}
		names := map[string]bool{}
		for _, r := range pol.Rotations {
			if r.Name == "" || names[r.Name] || r.Store == "" || len(r.Keys) == 0 || r.MaxAge <= 0 || r.Hooks.Timeout <= 0 {
				t.Fatalf("incomplete rotation: %+v", r)
			}
			names[r.Name] = true
			if r.Restart != RestartConsumers && r.Restart != RestartNone {
				t.Fatalf("restart %q", r.Restart)
			}
			if len(r.Match.Paths)+len(r.Match.Namespaces)+len(r.Match.Names)+len(r.Match.Labels) == 0 {
				t.Fatalf("empty match: %+v", r)
			}
			for _, g := range r.Match.Paths {
				if checkGlob(g) != nil {
					t.Fatalf("bad glob %q accepted", g)
				}
			}
			if !slices.IsSortedFunc(r.Keys, func(a, b Key) int { return strings.Compare(a.Key, b.Key) }) {
				t.Fatalf("keys not sorted: %+v", r.Keys)
			}
			for _, k := range r.Keys {
				if k.Generator == "" || k.Params == nil || !slices.Contains(opts.Generators, k.Generator) {
					t.Fatalf("bad key: %+v", k)
				}
			}
			for _, argv := range [][]string{r.Hooks.Set, r.Hooks.Test} {
				if len(argv) > 0 && argv[0] == "" {
					t.Fatalf("empty hook program: %+v", r.Hooks)
				}
			}
			_ = r.Match.Matches("a/b", "ns", "n", nil)
		}
	})
}
