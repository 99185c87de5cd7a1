package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/secretshift/secretshift/internal/testenv"
)

// envRunMain makes the test binary act as the secretshift command, so tests can run it as a
// separate process (to kill it mid-run) without building it first.
const envRunMain = "SECRETSHIFT_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) == "1" {
		main() // exits
	}
	// The shared kube-apiserver starts only when a test asks for it (testenv.RequireKube).
	testenv.Main(m, testenv.NeedKube)
}

// runResult is what one in-process run of the command printed.
type runResult struct {
	stdout, stderr string
	code           ExitCode
}

// runCLI runs the command in-process with the test's working directory and environment.
func runCLI(t *testing.T, stdin string, args ...string) runResult {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(args, strings.NewReader(stdin), &out, &errOut)
	return runResult{stdout: out.String(), stderr: errOut.String(), code: code}
}

// commandProcess returns the test binary set up to run the command with args.
func commandProcess(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	return cmd
}
