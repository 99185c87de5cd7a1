package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/secretshift/secretshift/internal/testenv"
)

// readmes are the documents whose secretshift commands must keep working as written.
var readmes = []string{"README.md", "testdata/demo/README.md", "bench/README.md"}

// readmeCommands returns every "secretshift ..." command shown in a document: in code blocks
// (with line continuations joined, pipes and && split) and in inline code spans.
func readmeCommands(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	add := func(line string) {
		for _, seg := range regexp.MustCompile(`\|\||&&|\||;`).Split(line, -1) {
			seg = strings.TrimSpace(seg)
			// Leading variable assignments (SOPS_AGE_KEY_FILE=... secretshift ...).
			for regexp.MustCompile(`^[A-Z_]+=\S*\s`).MatchString(seg) {
				_, seg, _ = strings.Cut(seg, " ")
				seg = strings.TrimSpace(seg)
			}
			if strings.HasPrefix(seg, "secretshift ") {
				cmds = append(cmds, seg)
			}
		}
	}
	inBlock := false
	pending := ""
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inBlock = !inBlock
			continue
		}
		if inBlock {
			if i := strings.Index(line, " # "); i >= 0 {
				line = line[:i]
			}
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			if strings.HasSuffix(line, "\\") {
				pending += strings.TrimSuffix(line, "\\") + " "
				continue
			}
			add(pending + line)
			pending = ""
			continue
		}
		for _, m := range regexp.MustCompile("`(secretshift [^`]+)`").FindAllStringSubmatch(line, -1) {
			add(m[1])
		}
	}
	return cmds
}

// shellWords splits a command line the way a shell would for these examples: spaces separate
// words, and single or double quotes group them.
func shellWords(s string) []string {
	var out []string
	var cur strings.Builder
	in, quote := false, rune(0)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

// TestReadmeCommandsParse checks that every secretshift command the documents show names a
// real command and only real flags: a renamed flag must not leave a README behind.
func TestReadmeCommandsParse(t *testing.T) {
	root := repoRootDir(t)
	total := 0
	for _, doc := range readmes {
		for _, line := range readmeCommands(t, filepath.Join(root, doc)) {
			args := shellWords(strings.TrimPrefix(line, "secretshift "))
			if len(args) > 0 && strings.Contains(args[0], "<") {
				continue // "secretshift <command> --help" names no command
			}
			// Placeholders in angle brackets stand for a value the reader fills in.
			for i, a := range args {
				if strings.Contains(a, "<") || strings.Contains(a, "…") {
					args[i] = "x"
				}
			}
			c, rest, err := newRootCmd(&factory{Getenv: os.Getenv}).Find(args)
			if err != nil {
				t.Errorf("%s: %q: %v", doc, line, err)
				continue
			}
			if !c.Runnable() {
				t.Errorf("%s: %q names no runnable command", doc, line)
				continue
			}
			if err := c.ParseFlags(rest); err != nil {
				t.Errorf("%s: %q: %v", doc, line, err)
			}
			total++
		}
	}
	if total < 20 {
		t.Errorf("found only %d commands in %v; is the extraction broken?", total, readmes)
	}
}

// TestQuickStartAsWritten runs the README's quick start the way a new user would: the Makefile's
// demo command, then the sops command the README gives to decrypt one file.
func TestQuickStartAsWritten(t *testing.T) {
	root := repoRootDir(t)
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^demo:\n\t\$\(GO\) run \./cmd/secretshift (.+)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("Makefile has no demo target running ./cmd/secretshift")
	}
	sops := filepath.Join(testenv.BinDir(), "sops") // before leaving the repository
	dir := inTempDir(t)
	if err := os.Symlink(filepath.Join(root, "testdata"), filepath.Join(dir, "testdata")); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "", shellWords(string(m[1]))...)
	if r.code != ExitOK {
		t.Fatalf("make demo: exit %d\n%s", r.code, r.stderr)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	dm := regexp.MustCompile(`(?m)^SOPS_AGE_KEY_FILE=(\S+) sops -d (\S+)$`).FindSubmatch(readme)
	if dm == nil {
		t.Fatal("README shows no sops -d command for the demo")
	}
	if !strings.Contains(r.stderr, "SOPS_AGE_KEY_FILE="+string(dm[1])) {
		t.Errorf("the demo's hint names another key file than the README (%s):\n%s", dm[1], r.stderr)
	}
	if _, err := os.Stat(sops); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("sops is not built (%v); make tools builds it", err)
		}
		t.Skipf("sops is not built (%v); run make tools", err)
	}
	cmd := exec.Command(sops, "-d", string(dm[2]))
	cmd.Env = append(os.Environ(), "SOPS_AGE_KEY_FILE="+string(dm[1]))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sops -d as the README says: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "kind: Secret") || !strings.Contains(string(out), "db-credentials") {
		t.Errorf("sops -d did not give back the Secret:\n%s", out)
	}
}

func repoRootDir(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join(demoDir(t), "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}
