package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestValuesBudgetFor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct{ limit, want int64 }{
		{0, defaultValuesBudget * mib},       // no limit
		{8 << 30, defaultValuesBudget * mib}, // a large one
		{230 * mib, 57*mib + mib/2},          // 90 % of a 256Mi pod: a quarter
		{2 * mib, mib},                       // never below 1 MiB
		{defaultValuesBudget * 4 * mib, defaultValuesBudget * mib},
	} {
		if got := valuesBudgetFor(c.limit); got != c.want {
			t.Errorf("valuesBudgetFor(%d) = %d, want %d", c.limit, got, c.want)
		}
	}
}

// memoryCgroup is a cgroup v1 memory controller folder of this machine, with a hard limit
// (memory and swap): what a container runtime sets for a pod's limits.memory.
type memoryCgroup string

// newMemoryCgroup makes a memory cgroup limited to limit bytes, or skips the test where the
// machine gives none to make (not root, no writable cgroup v1 memory controller).
func newMemoryCgroup(t *testing.T, limit int64) memoryCgroup {
	t.Helper()
	root := "/sys/fs/cgroup/memory"
	if _, err := os.Stat(filepath.Join(root, "memory.memsw.limit_in_bytes")); err != nil {
		t.Skipf("needs a cgroup v1 memory controller with swap accounting at %s (a container's memory limit): %v", root, err)
	}
	dir := filepath.Join(root, fmt.Sprintf("secretshift-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot make a memory cgroup (needs root): %v", err)
	}
	t.Cleanup(func() { _ = os.Remove(dir) })
	for _, f := range []string{"memory.limit_in_bytes", "memory.memsw.limit_in_bytes"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(fmt.Sprint(limit)), 0o644); err != nil {
			t.Skipf("cannot limit the memory cgroup: %v", err)
		}
	}
	return memoryCgroup(dir)
}

// maxUsage is the most memory the cgroup's processes used since the last call, which resets it.
func (cg memoryCgroup) maxUsage(t *testing.T) int64 {
	t.Helper()
	path := filepath.Join(string(cg), "memory.max_usage_in_bytes")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	return n
}

// command returns the command run with args inside the cgroup, as a container's process.
func (cg memoryCgroup) command(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sh := `echo $$ > "$0" && exec "$@"`
	cmd := exec.Command("sh", append([]string{"-c", sh, filepath.Join(string(cg), "cgroup.procs"), exe}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOMEMLIMIT=") && !strings.HasPrefix(kv, "AUTOMEMLIMIT=") && !strings.HasPrefix(kv, valuesBudgetEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, envRunMain+"=1")
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// writeLargeSecrets writes n manifests of 3 random 12,000-byte values each: 1,500 of them are
// 54 MB of values, 71 MB of YAML.
func writeLargeSecrets(t *testing.T, dir string, n int) {
	t.Helper()
	rng := rand.NewChaCha8([32]byte{7})
	value := make([]byte, 12000)
	for i := range n {
		ns := fmt.Sprintf("team-%d", i%10)
		var b strings.Builder
		fmt.Fprintf(&b, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: big-%d\n  namespace: %s\ntype: Opaque\ndata:\n", i, ns)
		for k := range 3 {
			_, _ = rng.Read(value)
			fmt.Fprintf(&b, "  key-%d: %s\n", k, base64.StdEncoding.EncodeToString(value))
		}
		if err := os.MkdirAll(filepath.Join(dir, ns), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ns, fmt.Sprintf("big-%d.yaml", i)), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// A run inside a container's memory limit keeps under it: the command takes 90 % of the limit
// as its Go memory limit and a quarter of that as its budget of values kept in memory. The same
// run with that turned off (AUTOMEMLIMIT=off, the Go default) needs more than the limit: it is
// killed, as a pod is OOM-killed, or (where this machine's cgroup does not kill it in time) it
// fills the cgroup to its limit.
func TestRunKeepsUnderTheContainerMemoryLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 71 MB of manifests and runs the command twice")
	}
	const limit = 120 << 20
	cg := newMemoryCgroup(t, limit)
	dir := t.TempDir()
	writeLargeSecrets(t, filepath.Join(dir, "in"), 1500)
	args := []string{"plan", "--to", "sops", "-f", filepath.Join(dir, "in"), "--sops-out", filepath.Join(dir, "out"), "-v"}

	cg.maxUsage(t)
	off := cg.command(t, []string{"AUTOMEMLIMIT=off"}, args...)
	off.Dir = dir
	out, err := off.CombinedOutput()
	offUsage := cg.maxUsage(t)
	var ee *exec.ExitError
	killed := errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
	if !killed && offUsage < limit*97/100 {
		t.Skipf("the run without a Go memory limit neither was killed in a %d MiB cgroup nor filled it (err %v, at most %d MiB used), so this machine does not show what the limit prevents:\n%s",
			limit>>20, err, offUsage>>20, lastLines(string(out), 5))
	}

	on := cg.command(t, nil, args...)
	on.Dir = dir
	out, err = on.CombinedOutput()
	if err != nil {
		t.Fatalf("the run in a %d MiB cgroup failed: %v\n%s", limit>>20, err, lastLines(string(out), 10))
	}
	used := cg.maxUsage(t)
	if used > limit*9/10 {
		t.Errorf("the run used up to %d MiB of its %d MiB cgroup; want it under its Go memory limit (90 %%)", used>>20, limit>>20)
	}
	t.Logf("without a Go memory limit: killed %v, up to %d MiB used; with it: completed, up to %d MiB used", killed, offUsage>>20, used>>20)
	if want := `msg="memory limit" gomemlimit_mib=108 values_in_memory_mib=27`; !strings.Contains(string(out), want) {
		t.Errorf("-v log does not say %s:\n%s", want, lastLines(string(out), 10))
	}
	if !strings.Contains(string(out), "1500 to create") {
		t.Errorf("the plan does not create the 1,500 Secrets:\n%s", lastLines(string(out), 5))
	}
}
