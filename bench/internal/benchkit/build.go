package benchkit

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// EnvKeep names the variable that, set to anything, keeps a benchmark's temporary folder
// (corpus, binaries, logs) instead of removing it at the end.
const EnvKeep = "SECRETSHIFT_BENCH_KEEP"

// ModuleRoot finds the folder of go.mod above the working directory.
func ModuleRoot() (string, error) {
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

// Build compiles the main packages pkgs (module paths such as ./cmd/secretshift, relative to
// moduleRoot) into the folder binDir with one go command, so that the toolchain compiles them in
// parallel; each binary is named after the last element of its package path. It returns how
// long the build took.
func Build(moduleRoot, binDir string, pkgs ...string) (time.Duration, error) {
	start := time.Now()
	args := append([]string{"build", "-o", binDir + string(filepath.Separator)}, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = moduleRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		names := make([]string, len(pkgs))
		for i, p := range pkgs {
			names[i] = filepath.Base(p)
		}
		return 0, fmt.Errorf("go build %s: %w\n%s", strings.Join(names, " and "), err, out)
	}
	return time.Since(start), nil
}

// RemoveRoot removes a benchmark's temporary folder root, or, with EnvKeep set, keeps it and
// says so on stdout: "<pkg>: kept <root> (<contents>)". An empty root is left alone.
func RemoveRoot(pkg, root, contents string) {
	if root == "" {
		return
	}
	if os.Getenv(EnvKeep) != "" {
		fmt.Printf("%s: kept %s (%s)\n", pkg, root, contents)
		return
	}
	_ = os.RemoveAll(root)
}
