package generate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The tests of the command generator run shell scripts, and are not parallel: a script written
// while another test forks could fail to run ("text file busy").

// script writes an executable shell script with body into a new folder and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the command tests run shell scripts")
	}
	name := filepath.Join(t.TempDir(), "gen.sh")
	if err := os.WriteFile(name, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return name
}

// commandSpec is the spec of a command generator running program.
func commandSpec(program string, more ...string) Spec {
	p := map[string]string{"command": program}
	for _, kv := range more {
		k, v, _ := strings.Cut(kv, "=")
		p[k] = v
	}
	return Spec{Type: "command", Params: p}
}

func TestCommand(t *testing.T) {
	t.Setenv("SECRETSHIFT_TEST_INHERITED", "leaked")
	prog := script(t, `printf '%s|%s|%s|%s|%s\n' "$1" "$2" "$SECRETSHIFT_KEY" "${SECRETSHIFT_TEST_INHERITED-unset}" "$#"`)
	g := mustNewSpec(t, commandSpec(prog, "args="+JoinList("a;b", "--c=d e")))
	out := generate(t, g, "db-password")
	if got, want := string(out["db-password"]), "a;b|--c=d e|db-password|unset|2"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}

	// trimNewline=false keeps the newline; only one newline is trimmed.
	g = mustNewSpec(t, commandSpec(script(t, `printf 'v\n\n'`), "trimNewline=false"))
	if got := string(generate(t, g, "k")["k"]); got != "v\n\n" {
		t.Errorf("trimNewline=false: output %q, want %q", got, "v\n\n")
	}
	g = mustNewSpec(t, commandSpec(script(t, `printf 'v\r\n\r\n'`)))
	if got := string(generate(t, g, "k")["k"]); got != "v\r\n" {
		t.Errorf("output %q, want %q", got, "v\r\n")
	}
}

func TestCommandOnPath(t *testing.T) {
	prog := script(t, `echo from-path`)
	t.Setenv("PATH", filepath.Dir(prog)+string(os.PathListSeparator)+os.Getenv("PATH"))
	g := mustNewSpec(t, commandSpec("gen.sh"))
	// New resolved the program: a PATH changed afterwards does not matter.
	t.Setenv("PATH", "/nonexistent")
	if got := string(generate(t, g, "k")["k"]); got != "from-path" {
		t.Errorf("output %q, want from-path", got)
	}
	// Relative paths are resolved by New too.
	t.Chdir(filepath.Dir(prog))
	g = mustNewSpec(t, commandSpec("./gen.sh"))
	t.Chdir(t.TempDir())
	if got := string(generate(t, g, "k")["k"]); got != "from-path" {
		t.Errorf("output %q, want from-path", got)
	}
}

func TestCommandRejectedAtNew(t *testing.T) {
	prog := script(t, `echo x`)
	notExec := filepath.Join(filepath.Dir(prog), "plain.sh")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\necho x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", filepath.Dir(prog))
	for _, tc := range []struct {
		spec  Spec
		param string
	}{
		{commandSpec(notExec), "command"},
		{commandSpec(filepath.Dir(prog)), "command"},                    // a folder
		{commandSpec(filepath.Join(t.TempDir(), "missing")), "command"}, // no such file
		{commandSpec("secretshift-no-such-program"), "command"},         // not on PATH
		{commandSpec("plain.sh"), "command"},                            // on PATH, not executable
		{commandSpec(""), "command"},
		{Spec{Type: "command"}, "command"},
		{commandSpec(prog, "timeout=2h"), "timeout"},
		{commandSpec(prog, "trimNewline=yes please"), "trimNewline"},
	} {
		rejected(t, tc.spec, tc.param)
	}
}

// canary is a value a failing program prints; no error may show it.
const canary = "CANARY-7f3a9c1e5b2d4086"

func TestCommandFailures(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		more       []string
		says       []string
	}{
		{"exit 1, stderr shown", `echo ` + canary + `; echo 'vault: permission denied' >&2; exit 1`, nil,
			[]string{"failed (exit status 1)", `"vault: permission denied"`}},
		{"exit 3, no stderr", `echo ` + canary + `; exit 3`, nil,
			[]string{"failed (exit status 3)"}},
		{"stderr repeats stdout", `echo ` + canary + `; echo "error: $(echo ` + canary + `)" >&2; exit 1`, nil,
			[]string{"exit status 1", "is not shown", "repeats part of its standard output"}},
		{"stderr repeats part of stdout", `echo ` + canary + `; echo "bad value 7f3a9c1e" >&2; exit 1`, nil,
			[]string{"is not shown"}},
		{"stderr long", `echo ` + canary + `; i=0; while [ $i -lt 100 ]; do printf 'error-line-%03d ' $i >&2; i=$((i+1)); done; exit 1`, nil,
			[]string{"error-line-000", "…"}},
		{"killed", `echo ` + canary + `; kill -9 $$`, nil,
			[]string{"failed (signal: killed)"}},
		{"no output", `exit 0`, nil,
			[]string{"printed no value"}},
		{"only a newline", `echo`, nil,
			[]string{"printed no value"}},
		{"too much output", `echo ` + canary + `; head -c 1100000 /dev/zero`, nil,
			[]string{"printed more than 1048576 bytes"}},
		{"timeout", `echo ` + canary + `; sleep 30`, []string{"timeout=300ms"},
			[]string{"did not finish within timeout=300ms"}},
		{"exits, leaves a process holding stdout", `echo ` + canary + `; sleep 30 & exit 0`, nil,
			[]string{"kept its output open"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := mustNewSpec(t, commandSpec(script(t, tc.body), tc.more...))
			start := time.Now()
			out, err := g.Generate(context.Background(), "k")
			took := time.Since(start)
			if err == nil {
				t.Fatalf("Generate returned %d keys, want an error", len(out))
			}
			if strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), canary[7:15]) {
				t.Fatalf("the error shows what the program printed: %v", err)
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if took > waitDelay+2*time.Second {
				t.Errorf("Generate took %s", took)
			}
		})
	}
}

// TestCommandTimeoutKillsGroup checks that a timeout ends what the program started too: the
// sleep a script runs would otherwise hold its output open until waitDelay.
func TestCommandTimeoutKillsGroup(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("process groups are a Unix thing")
	}
	g := mustNewSpec(t, commandSpec(script(t, `sleep 30; echo late`), "timeout=200ms"))
	start := time.Now()
	_, err := g.Generate(context.Background(), "k")
	if took := time.Since(start); err == nil || took > waitDelay {
		t.Errorf("Generate = %v after %s, want a timeout after about 200ms", err, took)
	}
}

func TestCommandContext(t *testing.T) {
	g := mustNewSpec(t, commandSpec(script(t, `sleep 30`)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.Generate(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Generate with a cancelled context = %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := g.Generate(ctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Generate past the context's deadline = %v", err)
	}
}

func TestLeaks(t *testing.T) {
	for _, tc := range []struct {
		shown, out string
		want       bool
	}{
		{"permission denied", "", false},
		{"permission denied", "s3cr3t-value-xyz\n", false},
		{"bad: s3cr3t-value-xyz", "s3cr3t-value-xyz\n", true},
		{"bad: 3cr3t-va", "s3cr3t-value-xyz", true},
		{"bad: 3cr3t-v", "s3cr3t-value-xyz", false}, // 7 bytes
		{"short abc here", "abc\n", true},
		{"short ab here", "abc", false},
	} {
		if got := leaks([]byte(tc.shown), []byte(tc.out)); got != tc.want {
			t.Errorf("leaks(%q, %q) = %v, want %v", tc.shown, tc.out, got, tc.want)
		}
	}
}
