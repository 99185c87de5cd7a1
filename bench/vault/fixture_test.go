//go:build linux

package vault

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/bench/internal/benchkit"
)

// The corpus is benchkit's: benchkit.DefaultSecrets Secrets (SECRETSHIFT_BENCH_SECRETS
// overrides the number; a smaller one gives a quick trial run of the whole benchmark), generated
// from benchkit.Seed so that runs compare.
const (
	// concurrency is secretshift's --concurrency and the ceiling's number of writers.
	concurrency = 16
	// loopSample is how many Secrets the shell loop migrates; its time is extrapolated.
	loopSample = 100
)

// fixture is what every benchmark of the package shares: the binaries, the corpus and keys.
// It is built once per test binary run and removed by TestMain.
type fixture struct {
	root        string // temporary folder holding everything below
	secretshift string // binary
	testserver  string // vault-testserver binary
	buildTime   time.Duration
	token       string

	secrets []*benchkit.Secret
	full    string // corpus folder with every Secret
	small   string // corpus folder with the first tenth
	smallN  int
	sample  []*benchkit.Secret // every len/loopSample-th Secret, for the shell loop
	genTime time.Duration
	keys    audit.KeyFiles
	keysDir string
}

var fix benchkit.Fixture[*fixture]

func TestMain(m *testing.M) {
	fix.Main(m, "bench/vault", "corpus, binaries, audit logs, server request logs")
}

// setup returns the shared fixture, building it on first use.
func setup(b *testing.B) *fixture {
	b.Helper()
	if testing.Short() {
		b.Skip("the vault migration benchmark takes minutes; not run with -short")
	}
	return fix.Get(b, newFixture)
}

func newFixture() (*fixture, error) {
	n, err := benchkit.CorpusSize()
	if err != nil {
		return nil, err
	}
	for _, tool := range []string{"bash", "kubectl", "jq", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("the shell-loop comparison needs %s on PATH: %w", tool, err)
		}
	}
	root, err := fix.TempDir("secretshift-bench-vault-")
	if err != nil {
		return nil, err
	}
	f := &fixture{root: root}

	// Both binaries in one go command, so the toolchain compiles them in parallel.
	bins, took, err := benchkit.BuildTools(root, "./cmd/secretshift", "./internal/cmd/vault-testserver")
	if err != nil {
		return nil, err
	}
	f.buildTime, f.secretshift, f.testserver = took, bins[0], bins[1]
	if f.token, err = benchkit.RandomToken(); err != nil {
		return nil, err
	}

	start := time.Now()
	f.secrets = benchkit.Generate(n, benchkit.Seed)
	if f.full, f.small, f.smallN, err = benchkit.WriteFullAndSmall(root, f.secrets); err != nil {
		return nil, err
	}
	f.sample = benchkit.Sample(f.secrets, loopSample)
	f.genTime = time.Since(start)

	f.keysDir = filepath.Join(root, "keys")
	if f.keys, _, err = audit.Keygen(f.keysDir); err != nil {
		return nil, fmt.Errorf("create audit keys: %w", err)
	}
	return f, nil
}

// newServer starts a fresh vault-testserver for one phase in its own folder below the fixture.
func (f *fixture) newServer(b *testing.B, name string) *benchkit.VaultServer {
	b.Helper()
	s, err := benchkit.StartVaultServer(f.testserver, filepath.Join(f.root, "servers", name), f.token)
	if err != nil {
		b.Fatalf("start vault-testserver for %s: %v", name, err)
	}
	b.Cleanup(func() { _, _ = s.Stop() })
	return s
}

// workDir makes an empty folder for one run.
func (f *fixture) workDir(b *testing.B, name string) string {
	b.Helper()
	d := filepath.Join(f.root, "runs", name)
	if err := os.MkdirAll(d, 0o700); err != nil {
		b.Fatal(err)
	}
	return d
}

// benchContext is the context of a benchmark, bounded so a hung server cannot hang make bench.
func benchContext(b *testing.B) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	b.Cleanup(cancel)
	return ctx
}
