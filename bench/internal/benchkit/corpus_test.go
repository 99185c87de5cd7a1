package benchkit

import (
	"os"
	"path/filepath"
	"testing"
)

func TestGenerate(t *testing.T) {
	const n = 1000
	ss := Generate(n, Seed)
	st := StatsOf(ss)
	tests := []struct {
		name string
		ok   bool
	}{
		{"every Secret has 2-6 keys", st.MinKeys >= 2 && st.MaxKeys <= 6},
		{"some Secrets hold binary values", st.Binary >= n/20 && st.Binary <= n/5},
		{"a few Secrets hold a value of 10-50 KB", st.Large >= n/200 && st.Large <= n/50},
		{"names are unique", uniqueRefs(ss) == n},
		{"the same seed gives the same corpus", StatsOf(Generate(n, Seed)) == st},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.ok {
				t.Errorf("corpus stats: %+v", st)
			}
		})
	}
}

func uniqueRefs(ss []*Secret) int {
	seen := map[string]bool{}
	for _, s := range ss {
		seen[s.Ref()] = true
	}
	return len(seen)
}

func TestSample(t *testing.T) {
	ss := Generate(5000, Seed)
	got := Sample(ss, 100)
	if len(got) != 100 || got[0] != ss[0] || got[1] != ss[50] || got[99] != ss[4950] {
		t.Errorf("Sample(5000, 100): %d Secrets, not every 50th", len(got))
	}
	if got := Sample(ss[:30], 100); len(got) != 30 {
		t.Errorf("Sample(30, 100) = %d Secrets, want all 30", len(got))
	}
}

func TestWriteCorpus(t *testing.T) {
	dir := t.TempDir()
	ss := Generate(30, Seed)
	if err := WriteCorpus(dir, ss); err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		if _, err := os.Stat(filepath.Join(dir, s.File())); err != nil {
			t.Errorf("%s: %v", s.Ref(), err)
		}
	}
}

func TestCorpusSize(t *testing.T) {
	tests := []struct {
		env     string
		want    int
		wantErr bool
	}{
		{"", DefaultSecrets, false},
		{"300", 300, false},
		{"9", 0, true},
		{"many", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.env, func(t *testing.T) {
			t.Setenv(EnvSecrets, tc.env)
			got, err := CorpusSize()
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("CorpusSize() with %s=%q = %d, %v; want %d, error %t", EnvSecrets, tc.env, got, err, tc.want, tc.wantErr)
			}
		})
	}
}
