package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// documentedCommands are the command paths that get a page: every command help lists, the
// hidden ones and help itself left out.
func documentedCommands(t *testing.T) []string {
	t.Helper()
	var paths []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		paths = append(paths, c.CommandPath())
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() && !sub.IsAdditionalHelpTopicCommand() {
				walk(sub)
			}
		}
	}
	walk(newRootCmd(&factory{Getenv: os.Getenv}))
	if len(paths) < 20 {
		t.Fatalf("only %d commands: %v", len(paths), paths)
	}
	return paths
}

// TestDocsWritesAPagePerCommand generates the man and Markdown pages the release ships and
// checks that every command has exactly one, that the pages carry each command's help, and
// that the hidden docs command documents nothing of itself.
func TestDocsWritesAPagePerCommand(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1767225600") // 2026-01-01
	commands := documentedCommands(t)
	tests := []struct {
		kind, sep, ext, wantInPage string
	}{
		{"man", "-", ".1", `.TH "SECRETSHIFT" "1" "Jan 2026"`},
		{"markdown", "_", ".md", "### Options"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "pages") // not there yet: docs makes it
			r := runCLI(t, "", "docs", tt.kind, dir)
			if r.code != ExitOK || r.stdout != "" {
				t.Fatalf("exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
			}
			var want []string
			for _, p := range commands {
				want = append(want, strings.ReplaceAll(p, " ", tt.sep)+tt.ext)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range entries {
				got = append(got, e.Name())
			}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("pages:\n%v\nwant one per command:\n%v", got, want)
			}
			for _, name := range got {
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				page := string(b)
				if !strings.Contains(page, tt.wantInPage) {
					t.Errorf("%s lacks %q", name, tt.wantInPage)
				}
				if strings.Contains(page, "Auto generated") || strings.Contains(page, "secretshift docs") {
					t.Errorf("%s names the generator or the hidden docs command", name)
				}
			}
			migrate, _ := os.ReadFile(filepath.Join(dir, "secretshift"+tt.sep+"migrate"+tt.ext))
			if !strings.Contains(string(migrate), "Exit status") || !strings.Contains(string(migrate), "concurrency") {
				t.Errorf("the migrate page lacks its help:\n%s", migrate)
			}
		})
	}
	if r := runCLI(t, "", "docs", "man"); r.code != ExitUsage {
		t.Errorf("docs man without a folder: exit %d", r.code)
	}
	if r := runCLI(t, "", "--help"); strings.Contains(r.stdout, "docs") {
		t.Errorf("the docs command shows in help:\n%s", r.stdout)
	}
}

// TestDocsCompletions writes the completion scripts the archives carry: each is what
// secretshift completion <shell> prints. The command runs as its own process: cobra's
// completion commands take their output stream when they are made, before Main sets it.
func TestDocsCompletions(t *testing.T) {
	dir := t.TempDir()
	if r := runCLI(t, "", "docs", "completions", dir); r.code != ExitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	for file, shell := range map[string]string{"secretshift.bash": "bash", "_secretshift": "zsh", "secretshift.fish": "fish", "secretshift.ps1": "powershell"} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		out, err := commandProcess(t, "completion", shell).Output()
		if err != nil || len(b) == 0 || string(out) != string(b) {
			t.Errorf("%s (%d bytes) differs from secretshift completion %s (%d bytes, %v)", file, len(b), shell, len(out), err)
		}
	}
}

// TestVersionPrintsBuildValues checks that the values the release and the image set with
// -ldflags "-X main.version=... -X main.commit=..." are what version prints.
func TestVersionPrintsBuildValues(t *testing.T) {
	savedVersion, savedCommit := version, commit
	t.Cleanup(func() { version, commit = savedVersion, savedCommit })
	version, commit = "v1.4.2", "0123456789abcdef0123456789abcdef01234567"

	r := runCLI(t, "", "version")
	if r.code != ExitOK || !strings.HasPrefix(r.stdout, "secretshift v1.4.2 (commit 0123456789abcdef0123456789abcdef01234567, go1.") {
		t.Errorf("exit %d: %q", r.code, r.stdout)
	}
	r = runCLI(t, "", "version", "-o", "json")
	var v versionInfo
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.Version != "v1.4.2" || v.Commit != commit || v.Platform == "" {
		t.Errorf("-o json: %+v, %v\n%s", v, err, r.stdout)
	}
}
