package rotate

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// Hooks are the programs that put new values where they are used (Set) and prove that they
// work (Test). Each is an argv, run without a shell.
//
// A hook reads one JSON object on standard input:
//
//	{"entry": "vault:secret/shop/db", "stage": "set", "values": {"password": "<base64>"}}
//
// stage is "set" or "test" for the new values, and "rollback" when the set hook is run again
// with the previous values after the test failed. Values are base64, so binary values pass
// unchanged. They never travel in arguments or the environment, which other users of the
// machine can read. A hook succeeds by exiting 0; what it prints is never shown (only how much),
// since it may hold a value in some encoding.
type Hooks struct {
	Set, Test []string
	// Timeout bounds each run (default 60s).
	Timeout time.Duration
}

// DefaultHookTimeout bounds a hook run when Hooks.Timeout is 0.
const DefaultHookTimeout = 60 * time.Second

type hookKind int

const (
	hookSet hookKind = iota
	hookTest
)

func (h Hooks) argv(kind hookKind) []string {
	if kind == hookTest {
		return h.Test
	}
	return h.Set
}

func (h Hooks) has(kind hookKind) bool { return len(h.argv(kind)) > 0 }

// timeout is how long one hook run may take.
func (h Hooks) timeout() time.Duration {
	if h.Timeout <= 0 {
		return DefaultHookTimeout
	}
	return h.Timeout
}

// Check makes sure every hook names a program that exists and can be run, before anything
// changes.
func (h Hooks) Check() error {
	var errs []error
	for _, argv := range [][]string{h.Set, h.Test} {
		if len(argv) == 0 {
			continue
		}
		if _, err := lookHook(argv[0]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func lookHook(name string) (string, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("hook %s: %w", name, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("hook %s: %w", name, err)
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("hook %s is not an executable file", name)
	}
	return filepath.Abs(path)
}

// run runs the hook of kind for stage with values; no hook is success.
func (h Hooks) run(ctx context.Context, kind hookKind, stage string, t providers.Target, values kube.Data) error {
	argv := h.argv(kind)
	if len(argv) == 0 {
		return nil
	}
	path, err := lookHook(argv[0])
	if err != nil {
		return err
	}
	enc := make(map[string]string, len(values))
	for k, v := range values {
		enc[k] = base64.StdEncoding.EncodeToString(v)
	}
	in, err := json.Marshal(map[string]any{"entry": t.String(), "stage": stage, "values": enc})
	if err != nil {
		return err
	}
	timeout := h.timeout()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, argv[1:]...)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "SECRETSHIFT_ENTRY=" + t.String(), "SECRETSHIFT_STAGE=" + stage}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("timed out after %s", timeout)
	}
	// What a hook prints is never shown: it may hold a value in any encoding (a connection
	// string with the password URL-encoded, a hex dump), which no filter can rule out. Its
	// size is, so that a user knows there is something to look at by running it by hand.
	if n := len(bytes.TrimSpace(out.Bytes())); n > 0 {
		return fmt.Errorf("%s hook %s (%s): %w (it printed %d bytes, not shown: hook output may hold values; run the hook by hand to see it)", stageName(kind), argv[0], stage, err, n)
	}
	return fmt.Errorf("%s hook %s (%s): %w", stageName(kind), argv[0], stage, err)
}

func stageName(kind hookKind) string {
	if kind == hookTest {
		return "test"
	}
	return "set"
}
