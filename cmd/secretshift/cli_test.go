package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// demoDir is the quick start's example Secrets.
func demoDir(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "demo")
}

// inTempDir runs the test in a fresh working folder, so keys, journals and logs land there.
func inTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	return dir
}

func TestUsageErrorsCreateNothingAndPointToHelp(t *testing.T) {
	tests := []struct {
		name, help string
		args       []string
	}{
		{"unknown provider", "secretshift plan", []string{"plan", "--to", "nosuch", "-f", "x.yaml"}},
		{"no provider", "secretshift migrate", []string{"migrate", "-f", "x.yaml"}},
		{"zero concurrency", "secretshift migrate", []string{"migrate", "--to", "sops", "-f", "x.yaml", "--concurrency", "0"}},
		{"bad include", "secretshift migrate", []string{"migrate", "--to", "sops", "-f", "x.yaml", "--include", "bogus"}},
		{"bad store kind", "secretshift migrate", []string{"migrate", "--to", "vault", "-f", "x.yaml", "--manifests", "eso", "--store-kind", "Nope"}},
		{"unknown flag", "secretshift migrate", []string{"migrate", "--to", "sops", "--bogus"}},
		{"-n with -A", "secretshift discover", []string{"discover", "-f", "x.yaml", "-n", "a", "-A"}},
		{"cluster flag on audit", "secretshift audit verify", []string{"audit", "verify", "-n", "shop"}},
		{"cluster flag on version", "secretshift version", []string{"version", "--context", "x"}},
		{"unknown command", "secretshift", []string{"bogus"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := inTempDir(t)
			r := runCLI(t, "", tt.args...)
			if r.code != ExitUsage {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, ExitUsage, r.stderr)
			}
			if want := "See '" + tt.help + " --help'."; !strings.HasSuffix(strings.TrimSpace(r.stderr), want) {
				t.Errorf("stderr does not end with %q:\n%s", want, r.stderr)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Errorf("a usage error created %v", entries)
			}
		})
	}
}

func TestInputErrorsExitOneAndReportOnStdout(t *testing.T) {
	dir := inTempDir(t)
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: v1\nkind: Secret\nmetadata: {name: x, namespace: a}\ndata: {k: '!!notbase64'}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ cmd, kind string }{{"migrate", "Report"}, {"plan", "Plan"}} {
		t.Run(tc.cmd, func(t *testing.T) {
			r := runCLI(t, "", tc.cmd, "--to", "sops", "-f", bad, "--sops-out", filepath.Join(dir, "out"), "-o", "json")
			if r.code != ExitError {
				t.Fatalf("exit %d, want %d (nothing was done); stderr:\n%s", r.code, ExitError, r.stderr)
			}
			var doc struct {
				Kind     string `json:"kind"`
				Problems []struct {
					Ref, Error string
				} `json:"problems"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
				t.Fatalf("stdout is not one JSON document: %v\n%s", err, r.stdout)
			}
			if doc.Kind != tc.kind || len(doc.Problems) != 1 || doc.Problems[0].Ref != "a/x" {
				t.Errorf("report %+v, want kind %s with the one problem of a/x", doc, tc.kind)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
		t.Error("the output folder was created although nothing was planned")
	}
}

func TestEmptyInputSaysSo(t *testing.T) {
	dir := inTempDir(t)
	empty := filepath.Join(dir, "cm.yaml")
	if err := os.WriteFile(empty, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"discover", "-f", empty},
		{"migrate", "--to", "sops", "-f", empty, "--sops-out", filepath.Join(dir, "out")},
	} {
		r := runCLI(t, "", args...)
		if r.code != ExitOK || !strings.Contains(r.stderr, "No Secrets found in "+empty) {
			t.Errorf("%v: exit %d, stderr:\n%s", args, r.code, r.stderr)
		}
	}
}

func TestBadSelectorIsAnErrorBeforeAnything(t *testing.T) {
	dir := inTempDir(t)
	r := runCLI(t, "", "migrate", "--to", "sops", "-f", demoDir(t), "-l", "app in (", "--sops-out", "out")
	if r.code != ExitError || !strings.Contains(r.stderr, "--selector") {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("a bad selector created %v", entries)
	}
}

func TestQuietAndHintOnlyAfterAWrite(t *testing.T) {
	inTempDir(t)
	args := []string{"migrate", "--to", "sops", "-f", demoDir(t), "--sops-out", "out"}
	first := runCLI(t, "", args...)
	if first.code != ExitOK || !strings.Contains(first.stderr, "Decrypt one:") {
		t.Fatalf("first run: exit %d, stderr:\n%s", first.code, first.stderr)
	}
	again := runCLI(t, "", args...)
	if again.code != ExitOK || strings.Contains(again.stderr, "Decrypt one:") {
		t.Errorf("a run that wrote nothing printed the how-to hint (exit %d):\n%s", again.code, again.stderr)
	}
	quiet := runCLI(t, "", append(args, "-q")...)
	if quiet.code != ExitOK || quiet.stderr != "" || !strings.Contains(quiet.stdout, "db-credentials") {
		t.Errorf("--quiet: exit %d, stderr %q, stdout:\n%s", quiet.code, quiet.stderr, quiet.stdout)
	}
}

func TestVerifiedColumnSaysHowItWasChecked(t *testing.T) {
	inTempDir(t)
	r := runCLI(t, "", "migrate", "--to", "sops", "-f", demoDir(t), "--sops-out", "out", "-o", "json")
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var rep struct {
		Items []struct {
			Result, Check string
			Verified      bool
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	for _, it := range rep.Items {
		if it.Verified && it.Check != "content" {
			t.Errorf("%+v: the age key is at hand, so the check must be content", it)
		}
	}
	table := runCLI(t, "", "verify", "--to", "sops", "-f", demoDir(t), "--sops-out", "out")
	if table.code != ExitOK || !strings.Contains(table.stdout, "content") || strings.Contains(table.stdout, "true") {
		t.Errorf("verify table (exit %d) must say content, not true:\n%s", table.code, table.stdout)
	}
}

func TestFlagAliasesAreHiddenAndWork(t *testing.T) {
	inTempDir(t)
	if r := runCLI(t, "", "audit", "keygen", "--dir", "keys", "--log", "a.jsonl"); r.code != ExitOK {
		t.Fatalf("--log alias: exit %d: %s", r.code, r.stderr)
	}
	if _, err := os.Stat("a.jsonl"); err != nil {
		t.Errorf("--log did not name the audit log: %v", err)
	}
	help := runCLI(t, "", "audit", "verify", "--help")
	if !strings.Contains(help.stdout, "--audit-log") || strings.Contains(help.stdout, "--log ") || strings.Contains(help.stdout, "--signing-key") {
		t.Errorf("audit verify help shows the old names:\n%s", help.stdout)
	}
	fp := runCLI(t, "", "audit", "fingerprint", "--hmac-key", "keys/hmac.key")
	if fp.code != ExitOK || !strings.HasPrefix(fp.stdout, "hmac-sha256:") {
		t.Errorf("--hmac-key alias: exit %d, stdout %q, stderr %q", fp.code, fp.stdout, fp.stderr)
	}
}

func TestEveryCommandHelpHasExamplesAndExitStatus(t *testing.T) {
	root := newRootCmd(&factory{Getenv: os.Getenv})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" || strings.HasPrefix(c.Name(), "__") {
			return
		}
		if c.Runnable() || c.HasSubCommands() {
			if c.Example == "" {
				t.Errorf("%s --help has no examples", c.CommandPath())
			}
			if !strings.Contains(c.Long, "Exit status") {
				t.Errorf("%s --help does not state its exit status", c.CommandPath())
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func TestFlagValuesComplete(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "migrate", "--to", ""}, "sops"},
		{[]string{"__complete", "plan", "-o", ""}, "json"},
		{[]string{"__complete", "discover", "--include", ""}, "service-account-token"},
		{[]string{"__complete", "audit", "export", "--format", ""}, "ocsf"},
	}
	for _, tt := range tests {
		r := runCLI(t, "", tt.args...)
		if !strings.Contains(r.stdout, tt.want) {
			t.Errorf("%v: completions %q lack %q", tt.args, r.stdout, tt.want)
		}
	}
}

func TestInterruptReportsWhatWasDone(t *testing.T) {
	dir := inTempDir(t)
	var docs []string
	for i := range 60 {
		docs = append(docs, "apiVersion: v1\nkind: Secret\nmetadata: {name: s"+strconv.Itoa(i)+", namespace: shop}\nstringData: {k: v}\n")
	}
	in := filepath.Join(dir, "in.yaml")
	if err := os.WriteFile(in, []byte(strings.Join(docs, "---\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := commandProcess(t, "migrate", "--to", "sops", "-f", in, "--sops-out", "out", "--rate", "15")
	cmd.Dir = dir
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once the first files are written.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if files, _ := filepath.Glob(filepath.Join(dir, "out", "shop", "*.yaml")); len(files) >= 3 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != int(ExitCancelled) {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, ExitCancelled, errOut.String())
	}
	if !strings.Contains(errOut.String(), "interrupted:") || !strings.Contains(errOut.String(), "run the same command again") {
		t.Errorf("stderr does not say what was done and how to resume:\n%s", errOut.String())
	}
	if !strings.Contains(out.String(), "created") {
		t.Errorf("no report of the Secrets done before the interrupt:\n%s", out.String())
	}
	// The same command finishes the job.
	r := runCLI(t, "", "migrate", "--to", "sops", "-f", in, "--sops-out", "out")
	if r.code != ExitOK {
		t.Errorf("re-run: exit %d: %s", r.code, r.stderr)
	}
}

func TestRunOnATamperedAuditLogWarnsAndAppends(t *testing.T) {
	inTempDir(t)
	args := []string{"migrate", "--to", "sops", "-f", demoDir(t), "--sops-out", "out"}
	if r := runCLI(t, "", args...); r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	log := filepath.Join(".secretshift", "audit", "audit.jsonl")
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(b), `"migrate.skip"`, `"migrate.skiP"`, 1)
	if edited == string(b) {
		t.Fatal("no record to edit")
	}
	if err := os.WriteFile(log, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "", append(args, "-q")...)
	if r.code != ExitOK || !strings.Contains(r.stderr, "secretshift: warning:") {
		t.Errorf("a run on an altered log must warn and go on (exit %d):\n%s", r.code, r.stderr)
	}
	after, _ := os.ReadFile(log)
	if len(after) <= len(edited) || !strings.HasPrefix(string(after), edited) {
		t.Error("the run did not append after the altered records, or changed them")
	}
	if v := runCLI(t, "", "audit", "verify"); v.code != ExitVerify {
		t.Errorf("audit verify after the run: exit %d, want %d", v.code, ExitVerify)
	}
}

func TestOutputFolderInsideTheInputIsNotRead(t *testing.T) {
	dir := inTempDir(t)
	for _, f := range []string{"shop-secrets.yaml", "payments-secrets.yaml"} {
		b, err := os.ReadFile(filepath.Join(demoDir(t), f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The default output folder lands inside the input folder ".".
	for i := range 2 {
		r := runCLI(t, "", "migrate", "--to", "sops", "-f", ".")
		if r.code != ExitOK {
			t.Fatalf("run %d: exit %d\n%s", i+1, r.code, r.stderr)
		}
	}
	d := runCLI(t, "", "discover", "-f", "secretshift-sops")
	if d.code != ExitOK || !strings.Contains(d.stdout, "sops-encrypted") {
		t.Errorf("discover of SOPS output must skip it as sops-encrypted (exit %d):\n%s\n%s", d.code, d.stdout, d.stderr)
	}
}

func TestArgumentCountAndCompletionAreUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"apply"}, {"apply", "a.json", "b.json"}, {"completion", "nosh"}, {"migrate", "--to", "sops", "-f", "x", "--rate", "-1"}} {
		r := runCLI(t, "", args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, "--help'.") {
			t.Errorf("%v: exit %d, want %d with the help hint:\n%s", args, r.code, ExitUsage, r.stderr)
		}
	}
}
