//go:build linux

package vault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/secretshift/secretshift/audit"
)

const (
	// defaultSecrets is the size of the full migration; SECRETSHIFT_BENCH_SECRETS overrides it
	// (a smaller number gives a quick trial run of the whole benchmark).
	defaultSecrets = 5000
	// concurrency is secretshift's --concurrency and the ceiling's number of writers.
	concurrency = 16
	// loopSample is how many Secrets the shell loop migrates; its time is extrapolated.
	loopSample = 100
	// corpusSeed fixes the generated Secrets, so runs compare.
	corpusSeed = 20240611
)

// fixture is what every benchmark of the package shares: the binaries, the corpus and keys.
// It is built once per test binary run and removed by TestMain.
type fixture struct {
	root        string // temporary folder holding everything below
	secretshift string // binary
	testserver  string // vault-testserver binary
	buildTime   time.Duration
	token       string

	secrets  []*benchSecret
	full     string // corpus folder with every Secret
	small    string // corpus folder with the first tenth
	smallN   int
	sample   []*benchSecret // every len/loopSample-th Secret, for the shell loop
	genTime  time.Duration
	keys     audit.KeyFiles
	keysDir  string
	moduleGo string // the module root
}

var (
	fixOnce sync.Once
	fix     *fixture
	fixErr  error
	fixRoot string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fixRoot != "" {
		if os.Getenv("SECRETSHIFT_BENCH_KEEP") != "" {
			fmt.Printf("bench/vault: kept %s (corpus, binaries, audit logs, server request logs)\n", fixRoot)
		} else {
			_ = os.RemoveAll(fixRoot)
		}
	}
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
	n := defaultSecrets
	if v := os.Getenv("SECRETSHIFT_BENCH_SECRETS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 10 {
			return nil, fmt.Errorf("SECRETSHIFT_BENCH_SECRETS=%q: want a number of Secrets, at least 10", v)
		}
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
	if f.moduleGo, err = moduleRoot(); err != nil {
		return nil, err
	}

	// Build both binaries in one go command, so the toolchain compiles them in parallel.
	bin := filepath.Join(root, "bin")
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", bin+string(filepath.Separator), "./cmd/secretshift", "./internal/cmd/vault-testserver")
	cmd.Dir = f.moduleGo
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build secretshift and vault-testserver: %w\n%s", err, out)
	}
	f.buildTime = time.Since(start)
	f.secretshift, f.testserver = filepath.Join(bin, "secretshift"), filepath.Join(bin, "vault-testserver")

	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return nil, err
	}
	f.token = "hvs." + hex.EncodeToString(tok)

	start = time.Now()
	f.secrets = generate(n, corpusSeed)
	f.smallN = n / 10
	f.full, f.small = filepath.Join(root, "corpus-full"), filepath.Join(root, "corpus-small")
	if err := writeCorpus(f.full, f.secrets); err != nil {
		return nil, err
	}
	if err := writeCorpus(f.small, f.secrets[:f.smallN]); err != nil {
		return nil, err
	}
	step := max(1, n/loopSample)
	for i := 0; i < n && len(f.sample) < loopSample; i += step {
		f.sample = append(f.sample, f.secrets[i])
	}
	f.genTime = time.Since(start)

	f.keysDir = filepath.Join(root, "keys")
	if f.keys, _, err = audit.Keygen(f.keysDir); err != nil {
		return nil, fmt.Errorf("create audit keys: %w", err)
	}
	return f, nil
}

// moduleRoot finds the folder of go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// newServer starts a fresh vault-testserver for one phase in its own folder below the fixture.
func (f *fixture) newServer(b *testing.B, name string) *vaultServer {
	b.Helper()
	s, err := startVaultServer(f.testserver, filepath.Join(f.root, "servers", name), f.token)
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

// settle waits for the server's request log to catch up: a request's line is written just
// after its answer is sent.
func settle() { time.Sleep(250 * time.Millisecond) }

// benchContext is the context of a benchmark, bounded so a hung server cannot hang make bench.
func benchContext(b *testing.B) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	b.Cleanup(cancel)
	return ctx
}
