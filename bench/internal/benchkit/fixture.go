package benchkit

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Fixture holds what every benchmark of a package shares, a value of type T built once per test
// binary run, and the temporary folder it lives in. A package declares one as a variable, hands
// its TestMain to Main and gets the value from its benchmarks with Get.
type Fixture[T any] struct {
	// Root is the fixture's temporary folder, set by TempDir as soon as it exists, so that Main
	// removes it even when building the fixture fails part way.
	Root string

	once sync.Once
	val  T
	err  error
}

// Get returns the fixture, calling build on first use only; later calls return what the first
// one built. If build failed, every call fails b with "prepare benchmark: <error>".
func (f *Fixture[T]) Get(b testing.TB, build func() (T, error)) T {
	b.Helper()
	f.once.Do(func() { f.val, f.err = build() })
	if f.err != nil {
		b.Fatalf("prepare benchmark: %v", f.err)
	}
	return f.val
}

// TempDir creates the fixture's temporary folder (os.MkdirTemp with pattern) and records it as
// Root.
func (f *Fixture[T]) TempDir(pattern string) (string, error) {
	root, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", err
	}
	f.Root = root
	return root, nil
}

// Main runs the tests and benchmarks of m, removes Root as RemoveRoot does (pkg and contents
// are its words for the kept-folder line), and exits with m's code. Call it from TestMain.
func (f *Fixture[T]) Main(m *testing.M, pkg, contents string) {
	code := m.Run()
	RemoveRoot(pkg, f.Root, contents)
	os.Exit(code)
}

// BuildTools builds the main packages pkgs (module paths such as ./cmd/secretshift) of the
// module above the working directory into root/bin with Build, and returns the path of each
// binary, in the order of pkgs, and how long the build took.
func BuildTools(root string, pkgs ...string) ([]string, time.Duration, error) {
	module, err := ModuleRoot()
	if err != nil {
		return nil, 0, err
	}
	bin := filepath.Join(root, "bin")
	took, err := Build(module, bin, pkgs...)
	if err != nil {
		return nil, 0, err
	}
	paths := make([]string, len(pkgs))
	for i, p := range pkgs {
		paths[i] = filepath.Join(bin, filepath.Base(p))
	}
	return paths, took, nil
}

// RandomToken returns a fresh Vault-style token, "hvs." and 32 random hex digits, for a
// vault-testserver and the commands that talk to it.
func RandomToken() (string, error) {
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return "", err
	}
	return "hvs." + hex.EncodeToString(tok), nil
}
