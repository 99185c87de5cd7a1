//go:build linux

package vault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
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

var (
	fixOnce sync.Once
	fix     *fixture
	fixErr  error
	fixRoot string
)

func TestMain(m *testing.M) {
	code := m.Run()
	benchkit.RemoveRoot("bench/vault", fixRoot, "corpus, binaries, audit logs, server request logs")
	os.Exit(code)
}

// setup returns the shared fixture, building it on first use.
func setup(b *testing.B) *fixture {
	b.Helper()
	if testing.Short() {
		b.Skip("the vault migration benchmark takes minutes; not run with -short")
	}
	fixOnce.Do(func() { fix, fixErr = newFixture() })
	if fixErr != nil {
		b.Fatalf("prepare benchmark: %v", fixErr)
	}
	return fix
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
	root, err := os.MkdirTemp("", "secretshift-bench-vault-")
	if err != nil {
		return nil, err
	}
	fixRoot = root
	f := &fixture{root: root}
	module, err := benchkit.ModuleRoot()
	if err != nil {
		return nil, err
	}

	// Both binaries in one go command, so the toolchain compiles them in parallel.
	bin := filepath.Join(root, "bin")
	if f.buildTime, err = benchkit.Build(module, bin, "./cmd/secretshift", "./internal/cmd/vault-testserver"); err != nil {
		return nil, err
	}
	f.secretshift, f.testserver = filepath.Join(bin, "secretshift"), filepath.Join(bin, "vault-testserver")

	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return nil, err
	}
	f.token = "hvs." + hex.EncodeToString(tok)

	start := time.Now()
	f.secrets = benchkit.Generate(n, benchkit.Seed)
	f.smallN = n / 10
	f.full, f.small = filepath.Join(root, "corpus-full"), filepath.Join(root, "corpus-small")
	if err := benchkit.WriteCorpus(f.full, f.secrets); err != nil {
		return nil, err
	}
	if err := benchkit.WriteCorpus(f.small, f.secrets[:f.smallN]); err != nil {
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
