// Package testenv starts the real servers integration tests run against — etcd with
// kube-apiserver, and a Vault API server — and stops them again.
//
// A test package opts in through TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m, testenv.NeedKube|testenv.NeedVault) }
//
// and its tests ask for the shared instances with RequireKube and RequireVault. The servers start
// on first use, once per test binary, and stop when the tests are done.
//
// Server binaries are looked up in BinDir (built by `make tools`); etcd may also come from PATH.
// When one is missing, integration tests skip with -short and fail without it: a missing tool
// never passes silently.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Need selects the servers a test binary uses.
type Need uint

const (
	// NeedKube is etcd with kube-apiserver (see StartKube).
	NeedKube Need = 1 << iota
	// NeedVault is an in-process Vault API server (see StartVault).
	NeedVault
)

// Environment variables that move the folders testenv uses, and keep the kube folder.
const (
	EnvToolsBin  = "SECRETSHIFT_TOOLS_BIN"
	EnvShared    = "SECRETSHIFT_SHARED"
	EnvKeepFiles = "SECRETSHIFT_TESTENV_KEEP"
)

// modulePath identifies the repository's go.mod, as opposed to the one of tools/.
const modulePath = "github.com/secretshift/secretshift"

// MissingBinaryError reports a server binary that is not installed.
type MissingBinaryError struct {
	Name string // e.g. "kube-apiserver"
	Dir  string // where it was looked for
	PATH bool   // whether PATH was searched too
}

func (e *MissingBinaryError) Error() string {
	where := e.Dir
	if e.PATH {
		where += " or PATH"
	}
	return fmt.Sprintf("%s not found in %s; build it with `make tools`", e.Name, where)
}

// RepoRoot returns the repository root: the nearest folder at or above the working directory
// whose go.mod declares the secretshift module.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module "+modulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repository root: no go.mod of " + modulePath + " above the working directory")
		}
		dir = parent
	}
}

// BinDir returns the folder of the test server binaries: $SECRETSHIFT_TOOLS_BIN, or
// <repo root>/.tools/bin.
func BinDir() string {
	if d := os.Getenv(EnvToolsBin); d != "" {
		return d
	}
	root, err := RepoRoot()
	if err != nil {
		return filepath.Join(".tools", "bin")
	}
	return filepath.Join(root, ".tools", "bin")
}

// SharedDir returns the folder of shared test data (the corpus): $SECRETSHIFT_SHARED, or
// <repo root>/../shared.
func SharedDir() string {
	if d := os.Getenv(EnvShared); d != "" {
		return d
	}
	root, err := RepoRoot()
	if err != nil {
		return filepath.Join("..", "shared")
	}
	return filepath.Join(filepath.Dir(root), "shared")
}

// findBinary returns the path of name in BinDir, or (with orPATH) on PATH.
func findBinary(name string, orPATH bool) (string, error) {
	dir := BinDir()
	p := filepath.Join(dir, name)
	if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
		return p, nil
	}
	if orPATH {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", &MissingBinaryError{Name: name, Dir: dir, PATH: orPATH}
}

// shared holds the servers of one test binary.
var shared struct {
	need Need

	kubeOnce sync.Once
	kube     *Kube
	kubeErr  error

	vaultMu sync.Mutex
	vault   *Vault
}

// Main runs the tests of a package that uses the servers in need, then stops them and exits
// with the tests' status. Call it from TestMain.
func Main(m *testing.M, need Need) {
	flag.Parse()
	os.Exit(run(m, need))
}

func run(m *testing.M, need Need) int {
	shared.need = need
	if need&NeedKube != 0 && !testing.Short() {
		// Say it once, up front, before a flood of failing tests.
		for _, b := range []struct {
			name   string
			orPATH bool
		}{{"etcd", true}, {"kube-apiserver", false}} {
			if _, err := findBinary(b.name, b.orPATH); err != nil {
				fmt.Fprintf(os.Stderr, "testenv: %v; integration tests will fail (-short skips them)\n", err)
			}
		}
	}

	code := m.Run()

	// Servers that run against the shared ones (the ESO controller) stop first.
	for i := len(stopHooks) - 1; i >= 0; i-- {
		stopHooks[i]()
	}
	if k := shared.kube; k != nil {
		if err := k.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: stop kube: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
		if code != 0 || os.Getenv(EnvKeepFiles) != "" {
			fmt.Fprintf(os.Stderr, "testenv: kube logs kept in %s\n", k.Dir)
		} else {
			_ = os.RemoveAll(k.Dir)
		}
	}
	shared.vaultMu.Lock()
	if v := shared.vault; v != nil {
		if err := v.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: stop vault: %v\n", err)
		}
	}
	shared.vaultMu.Unlock()
	return code
}

// RequireKube returns the test binary's shared Kube, starting it on first use. It needs
// TestMain to call Main with NeedKube. When a binary is missing the test is skipped under
// -short and fails otherwise.
func RequireKube(t testing.TB) *Kube {
	t.Helper()
	if shared.need&NeedKube == 0 {
		t.Fatal("testenv.RequireKube: TestMain must call testenv.Main(m, testenv.NeedKube)")
	}
	shared.kubeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "secretshift-kube-")
		if err != nil {
			shared.kubeErr = fmt.Errorf("create kube dir: %w", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		shared.kube, shared.kubeErr = StartKube(ctx, dir)
		var missing *MissingBinaryError
		switch {
		case errors.As(shared.kubeErr, &missing):
			_ = os.RemoveAll(dir)
			return
		case shared.kubeErr != nil:
			fmt.Fprintf(os.Stderr, "testenv: kube files kept in %s\n", dir)
			return
		}
		if testing.Verbose() {
			fmt.Fprintf(os.Stderr, "testenv: kube-apiserver ready at %s in %s\n", shared.kube.Server, shared.kube.StartupTime.Round(time.Millisecond))
		}
	})
	if err := shared.kubeErr; err != nil {
		var missing *MissingBinaryError
		if errors.As(err, &missing) {
			if testing.Short() {
				t.Skipf("skipping integration test under -short: %v", err)
			}
			t.Fatalf("%v\n(or pass -short to skip integration tests)", err)
		}
		t.Fatalf("start kube: %v", err)
	}
	return shared.kube
}
