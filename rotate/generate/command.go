package generate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

const (
	// maxCommandOutput bounds what a command may print: a Secret holds at most 1 MiB.
	maxCommandOutput = 1 << 20
	// stderrCapture is how much of a command's standard error is kept, and stderrShown how
	// much of it a failure's error shows.
	stderrCapture = 4 << 10
	stderrShown   = 200
	// waitDelay is how long Generate waits, once the program ended or was killed, for
	// processes it started to let go of its output.
	waitDelay = 2 * time.Second
)

// command makes values by running a program and reading its standard output.
type command struct {
	name    string // as given, for errors
	path    string // absolute, found by New
	args    []string
	timeout time.Duration
	trim    bool
}

func newCommand(p *params) (Generator, error) {
	g := &command{
		name:    p.str("command", ""),
		args:    p.list("args"),
		timeout: p.duration("timeout", 30*time.Second, time.Millisecond, time.Hour),
		trim:    p.boolean("trimNewline", true),
	}
	if p.err != nil {
		return nil, nil
	}
	if g.name == "" {
		p.fail("command", "missing: name the program that prints the value")
		return nil, nil
	}
	path, err := exec.LookPath(g.name)
	if err != nil {
		return nil, &SpecError{Type: p.typ, Param: "command", Err: err}
	}
	if g.path, err = filepath.Abs(path); err != nil {
		return nil, &SpecError{Type: p.typ, Param: "command", Err: err}
	}
	return g, nil
}

func (g *command) Keys(key string) []string { return single(key) }

// Generate runs the program with a minimal environment (PATH and HOME as this process has
// them, and SECRETSHIFT_KEY=key) and returns its standard output.
func (g *command) Generate(ctx context.Context, key string) (map[string][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	cmd := exec.CommandContext(runCtx, g.path, g.args...)
	cmd.Env = []string{"SECRETSHIFT_KEY=" + key}
	for _, v := range []string{"PATH", "HOME"} {
		if s, ok := os.LookupEnv(v); ok {
			cmd.Env = append(cmd.Env, v+"="+s)
		}
	}
	stdout := &capture{max: maxCommandOutput, overflow: cancel}
	stderr := &capture{max: stderrCapture}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = waitDelay
	killGroup(cmd)

	err := cmd.Run()
	out := stdout.bytes()
	if err == nil && stdout.overflowed() {
		err = errors.New("overflow") // cancelled only by the overflow, after the exit
	}
	if err != nil {
		if errors.Is(err, exec.ErrWaitDelay) {
			_ = stopGroup(cmd) // what still holds the output open
		}
		return nil, g.failure(ctx, runCtx, err, stdout, stderr)
	}
	if g.trim {
		if t, ok := bytes.CutSuffix(out, []byte("\n")); ok {
			out = bytes.TrimSuffix(t, []byte("\r"))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("generator command: %s printed no value", g.name)
	}
	return map[string][]byte{key: out}, nil
}

// failure describes why a run failed. It never shows standard output, and shows the start of
// standard error only when it repeats nothing of standard output (see leaks).
func (g *command) failure(ctx, runCtx context.Context, err error, stdout, stderr *capture) error {
	defer stdout.wipe()
	switch {
	case stdout.overflowed():
		return fmt.Errorf("generator command: %s printed more than %d bytes", g.name, maxCommandOutput)
	case ctx.Err() != nil:
		return fmt.Errorf("generator command: %s: %w", g.name, ctx.Err())
	case errors.Is(runCtx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("generator command: %s did not finish within timeout=%s", g.name, g.timeout)
	case errors.Is(err, exec.ErrWaitDelay):
		return fmt.Errorf("generator command: %s exited, but a process it started kept its output open", g.name)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return fmt.Errorf("generator command: run %s: %w", g.name, err) // it did not start
	}
	msg := fmt.Sprintf("generator command: %s failed (%s)", g.name, exit.ProcessState)
	errText := stderr.bytes()
	switch {
	case len(errText) == 0:
		return errors.New(msg)
	case leaks(errText[:min(len(errText), stderrShown)], stdout.bytes()):
		return fmt.Errorf("%s; its standard error (%d bytes) is not shown, as it repeats part of its standard output", msg, stderr.total)
	}
	shown := strings.ToValidUTF8(string(errText[:min(len(errText), stderrShown)]), "\uFFFD")
	shown = strings.TrimSpace(shown)
	if stderr.total > stderrShown {
		shown += "…"
	}
	return fmt.Errorf("%s: %q", msg, shown)
}

// leakRun is the length of the runs of standard output that standard error may not repeat.
const leakRun = 8

// leaks reports whether shown (the part of standard error an error would show) repeats part
// of out (standard output): all of out when it is shorter than leakRun bytes (trailing
// whitespace aside), else any leakRun-byte run of it.
func leaks(shown, out []byte) bool {
	out = bytes.TrimRight(out, " \t\r\n")
	if len(out) == 0 {
		return false
	}
	if len(out) < leakRun {
		return bytes.Contains(shown, out)
	}
	runs := make(map[string]bool, len(shown))
	for i := 0; i+leakRun <= len(shown); i++ {
		runs[string(shown[i:i+leakRun])] = true
	}
	for i := 0; i+leakRun <= len(out); i++ {
		if runs[string(out[i:i+leakRun])] {
			return true
		}
	}
	return false
}

// capture keeps the first max bytes written to it. What comes after is counted and dropped,
// and overflow, if set, is called once.
type capture struct {
	mu       sync.Mutex
	buf      []byte
	max      int
	total    int
	overflow func()
}

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(len(p), room)]...)
	}
	before := c.total
	c.total += len(p)
	if c.total > c.max && before <= c.max && c.overflow != nil {
		c.overflow()
	}
	return len(p), nil
}

func (c *capture) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf
}

func (c *capture) overflowed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total > c.max
}

func (c *capture) wipe() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.buf)
}
