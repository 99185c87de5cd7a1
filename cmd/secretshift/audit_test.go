package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secretshift/secretshift/audit"
)

// auditCanary stands in for a secret value; no output or file may ever contain it.
const auditCanary = "CANARY-cli-s3cr3t-5d1e0a"

type auditCLIResult struct {
	code           ExitCode
	stdout, stderr string
}

// runAuditCLI runs the secretshift root command (with the audit command attached) in memory.
func runAuditCLI(t *testing.T, env map[string]string, stdin string, args ...string) auditCLIResult {
	t.Helper()
	var out, errOut bytes.Buffer
	f := &factory{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut, Getenv: func(k string) string { return env[k] }}
	root := newRootCmd(f)
	if c, _, err := root.Find([]string{"audit"}); err != nil || c == root {
		root.AddCommand(newAuditCmd(f))
	}
	root.SetArgs(args)
	root.SetIn(f.In)
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.ExecuteContext(context.Background())
	code := exitCodeFor(err)
	if err != nil && err.Error() != "" {
		printError(&errOut, err)
	}
	res := auditCLIResult{code, out.String(), errOut.String()}
	if strings.Contains(res.stdout+res.stderr, auditCanary) {
		t.Errorf("secretshift %s printed a secret value", strings.Join(args, " "))
	}
	return res
}

// auditSetup creates keys and a log with two runs written through the library, as the
// migration engine would. It returns the key files and the log path.
func auditSetup(t *testing.T) (audit.KeyFiles, string) {
	t.Helper()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "audit", "audit.jsonl")
	r := runAuditCLI(t, nil, "", "audit", "keygen", "--dir", filepath.Join(dir, "keys"), "--log", logPath)
	if r.code != ExitOK {
		t.Fatalf("keygen: %d %s", r.code, r.stderr)
	}
	files := audit.DefaultKeyFiles(filepath.Join(dir, "keys"))
	noEnv := func(string) string { return "" }
	signer, err := audit.LoadSigner(files.SigningKey, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	fp, err := audit.LoadFingerprinter(files.HMACKey, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	for run := 0; run < 2; run++ {
		l, err := audit.Open(logPath, audit.Options{Signer: signer, Fingerprinter: fp, CheckpointEvery: 3})
		if err != nil {
			t.Fatal(err)
		}
		for i, outcome := range []audit.Outcome{audit.OutcomeSuccess, audit.OutcomeFailure, audit.OutcomeSuccess, audit.OutcomeSkipped} {
			e := audit.Event{
				Action:       []string{audit.ActionMigrateWrite, audit.ActionMigrateWrite, audit.ActionMigrateVerify, audit.ActionMigrateSkip}[i],
				Outcome:      outcome,
				Source:       &audit.Source{Namespace: "shop", Name: "=cmd|' /C calc'!A0"},
				Target:       &audit.StoreTarget{Provider: "vault", Address: "secret/data/shop/db"},
				Keys:         []string{"password"},
				Fingerprints: map[string]string{"password": fp.Value([]byte(auditCanary))},
			}
			if outcome == audit.OutcomeFailure {
				e.ErrorClass, e.Error = "permission", "write shop/db: permission denied"
			}
			if err := l.Record(context.Background(), e); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return files, logPath
}

func TestAuditKeygen(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	logPath := filepath.Join(dir, "audit.jsonl")
	r := runAuditCLI(t, nil, "", "audit", "keygen", "--dir", keys, "--log", logPath, "-o", "json")
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var res keygenResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("keygen -o json: %v\n%s", err, r.stdout)
	}
	if len(res.Created) != 3 || res.RecordedIn != logPath || !strings.HasPrefix(res.PublicKeyID, "ed25519:") {
		t.Errorf("keygen result = %+v", res)
	}
	// The key material itself is never printed.
	for _, p := range []string{res.Files.HMACKey, res.Files.SigningKey} {
		b, _ := os.ReadFile(p)
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if len(line) > 20 && !strings.HasPrefix(line, "-----") && strings.Contains(r.stdout+r.stderr, line) {
				t.Errorf("keygen printed key material from %s", p)
			}
		}
	}
	// The log it started verifies.
	if r := runAuditCLI(t, nil, "", "audit", "verify", "--log", logPath, "--public-key", res.Files.PublicKey); r.code != ExitOK {
		t.Errorf("verify after keygen: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Running it again keeps the keys and fails.
	if r := runAuditCLI(t, nil, "", "audit", "keygen", "--dir", keys, "--log", logPath); r.code != ExitError {
		t.Errorf("second keygen: exit %d, want %d", r.code, ExitError)
	}
}

func TestAuditVerify(t *testing.T) {
	files, logPath := auditSetup(t)
	env := map[string]string{audit.EnvPublicKey: auditReadFile(t, files.PublicKey)}
	b, _ := os.ReadFile(logPath)
	lines := strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")

	tamper := func(t *testing.T, content string) string {
		p := filepath.Join(t.TempDir(), "audit.jsonl")
		os.WriteFile(p, []byte(content), 0o600)
		head, _ := os.ReadFile(audit.HeadPath(logPath))
		os.WriteFile(audit.HeadPath(p), head, 0o600)
		return p
	}
	tests := []struct {
		name     string
		log      func(t *testing.T) string
		args     []string
		env      map[string]string
		code     ExitCode
		stdout   string
		warnings string
	}{
		{"intact log", func(*testing.T) string { return logPath }, nil, env, ExitOK, ": OK: ", ""},
		{"public key by flag", func(*testing.T) string { return logPath }, []string{"--public-key", files.PublicKey}, nil, ExitOK, ": OK: ", ""},
		{"public key derived from the signing key", func(*testing.T) string { return logPath }, nil,
			map[string]string{audit.EnvSigningKey: auditReadFile(t, files.SigningKey)}, ExitOK, ": OK: ", ""},
		{"edited record", func(t *testing.T) string {
			return tamper(t, strings.Replace(string(b), `"outcome":"failure"`, `"outcome":"success"`, 1))
		}, nil, env, ExitVerify, "FAILED: line", ""},
		{"deleted record", func(t *testing.T) string {
			return tamper(t, strings.Join(append(append([]string{}, lines[:3]...), lines[4:]...), ""))
		}, nil, env, ExitVerify, "deleted", ""},
		{"last run removed", func(t *testing.T) string {
			return tamper(t, strings.Join(lines[:len(lines)-6], ""))
		}, nil, env, ExitVerify, "truncated", ""},
		{"missing head file", func(t *testing.T) string {
			p := tamper(t, string(b))
			os.Remove(audit.HeadPath(p))
			return p
		}, nil, env, ExitVerify, "head file", ""},
		{"missing head file allowed", func(t *testing.T) string {
			p := tamper(t, string(b))
			os.Remove(audit.HeadPath(p))
			return p
		}, []string{"--no-head"}, env, ExitOK, ": OK: ", "not compared with a head file"},
		{"unsigned tail", func(t *testing.T) string {
			p := tamper(t, strings.Join(lines[:len(lines)-1], ""))
			os.Remove(audit.HeadPath(p))
			return p
		}, []string{"--no-head"}, env, ExitVerify, "unsigned-tail", ""},
		{"unsigned tail allowed", func(t *testing.T) string {
			p := tamper(t, strings.Join(lines[:len(lines)-1], ""))
			os.Remove(audit.HeadPath(p))
			return p
		}, []string{"--no-head", "--allow-unsigned-tail"}, env, ExitOK, ": OK: ", "not covered by a checkpoint"},
		{"wrong public key", func(*testing.T) string { return logPath }, nil,
			map[string]string{audit.EnvPublicKey: strings.Repeat("11", 32)}, ExitVerify, "unknown-key", ""},
		{"no key at all", func(*testing.T) string { return logPath }, nil, nil, ExitError, "", ""},
		{"missing log", func(t *testing.T) string { return filepath.Join(t.TempDir(), "none.jsonl") }, nil, env, ExitError, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir()) // no default key files
			args := append([]string{"audit", "verify", "--log", tt.log(t)}, tt.args...)
			r := runAuditCLI(t, tt.env, "", args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, tt.stdout) {
				t.Errorf("stdout %q does not contain %q", r.stdout, tt.stdout)
			}
			if tt.warnings != "" && !strings.Contains(r.stderr, tt.warnings) {
				t.Errorf("stderr %q does not contain %q", r.stderr, tt.warnings)
			}
		})
	}
}

func TestAuditVerifyJSON(t *testing.T) {
	files, logPath := auditSetup(t)
	r := runAuditCLI(t, nil, "", "audit", "verify", "--log", logPath, "--public-key", files.PublicKey, "-o", "json")
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var out audit.SetReport
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	if !out.OK || len(out.Logs) != 1 || out.Logs[0].Report.Runs != 3 || !out.Logs[0].Report.HeadChecked {
		t.Errorf("verify -o json = %s", r.stdout)
	}
}

func TestAuditRotateAndVerifyChain(t *testing.T) {
	files, logPath := auditSetup(t)
	archive := filepath.Join(filepath.Dir(logPath), "audit-old.jsonl")
	r := runAuditCLI(t, nil, "", "audit", "rotate", "--log", logPath, "--to", archive, "--signing-key", files.SigningKey, "--hmac-key", files.HMACKey)
	if r.code != ExitOK {
		t.Fatalf("rotate: exit %d: %s", r.code, r.stderr)
	}
	ok := runAuditCLI(t, nil, "", "audit", "verify", "--public-key", files.PublicKey, "--log", archive, "--log", logPath)
	if ok.code != ExitOK || strings.Count(ok.stdout, ": OK: ") != 2 {
		t.Errorf("verify rotated pair: exit %d\n%s%s", ok.code, ok.stdout, ok.stderr)
	}
	// Given in the wrong order, the link does not hold.
	bad := runAuditCLI(t, nil, "", "audit", "verify", "--public-key", files.PublicKey, "--log", logPath, "--log", archive)
	if bad.code != ExitVerify || !strings.Contains(bad.stdout, "does not continue") {
		t.Errorf("verify swapped pair: exit %d\n%s", bad.code, bad.stdout)
	}
}

// TestAuditRotateToNewKeys: after rotating under new keys, each file verifies with its own
// public key, the pair verifies with both keys given, and the link holds.
func TestAuditRotateToNewKeys(t *testing.T) {
	files, logPath := auditSetup(t)
	dir := filepath.Dir(logPath)
	newDir := filepath.Join(dir, "new-keys")
	if r := runAuditCLI(t, nil, "", "audit", "keygen", "--dir", newDir, "--no-record"); r.code != ExitOK {
		t.Fatalf("keygen: exit %d: %s", r.code, r.stderr)
	}
	newFiles := audit.DefaultKeyFiles(newDir)
	archive := filepath.Join(dir, "audit-old.jsonl")
	r := runAuditCLI(t, nil, "", "audit", "rotate", "--log", logPath, "--to", archive, "--signing-key", newFiles.SigningKey, "--hmac-key", newFiles.HMACKey)
	if r.code != ExitOK || !strings.Contains(r.stderr, "use the new keys for every later run") {
		t.Fatalf("rotate under new keys: exit %d, want 0 and what to do next\n%s", r.code, r.stderr)
	}
	both := runAuditCLI(t, nil, "", "audit", "verify", "--public-key", files.PublicKey, "--public-key", newFiles.PublicKey, "--log", archive, "--log", logPath)
	if both.code != ExitOK || strings.Count(both.stdout, ": OK: ") != 2 {
		t.Errorf("verify with both keys: exit %d\n%s%s", both.code, both.stdout, both.stderr)
	}
	// With the old key alone the new file fails on its key, and no false link error follows.
	old := runAuditCLI(t, nil, "", "audit", "verify", "--public-key", files.PublicKey, "--log", archive, "--log", logPath)
	if old.code != ExitVerify || !strings.Contains(old.stdout, "unknown-key") || strings.Contains(old.stdout, "does not continue") {
		t.Errorf("verify with the old key only: exit %d\n%s", old.code, old.stdout)
	}
	newOnly := runAuditCLI(t, nil, "", "audit", "verify", "--public-key", newFiles.PublicKey, "--log", archive, "--log", logPath)
	if newOnly.code != ExitVerify || strings.Contains(newOnly.stdout, "does not continue") {
		t.Errorf("verify with the new key only: exit %d\n%s", newOnly.code, newOnly.stdout)
	}
}

func TestAuditExport(t *testing.T) {
	_, logPath := auditSetup(t)
	logBytes, _ := os.ReadFile(logPath)
	tests := []struct {
		name  string
		args  []string
		code  ExitCode
		check func(t *testing.T, stdout string)
	}{
		{"jsonl is the log itself", []string{"--format", "jsonl"}, ExitOK, func(t *testing.T, s string) {
			if s != string(logBytes) {
				t.Error("unfiltered jsonl export differs from the log")
			}
		}},
		{"csv with formula-safe cells", []string{"--format", "csv", "--action", "migrate.*"}, ExitOK, func(t *testing.T, s string) {
			rows, err := csv.NewReader(strings.NewReader(s)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 1+8 {
				t.Errorf("%d rows, want header + 8", len(rows))
			}
			for _, row := range rows[1:] {
				for _, cell := range row {
					if strings.HasPrefix(cell, "=") {
						t.Errorf("cell %q starts with =", cell)
					}
				}
			}
		}},
		{"ocsf failures", []string{"--format", "ocsf", "--outcome", "failure"}, ExitOK, func(t *testing.T, s string) {
			lines := strings.Split(strings.TrimSpace(s), "\n")
			if len(lines) != 2 {
				t.Fatalf("%d events, want 2", len(lines))
			}
			for _, l := range lines {
				var ev map[string]any
				if err := json.Unmarshal([]byte(l), &ev); err != nil {
					t.Fatal(err)
				}
				if ev["class_uid"] != float64(6003) || ev["status_id"] != float64(2) {
					t.Errorf("event %s", l)
				}
			}
		}},
		{"cef", []string{"--format", "cef", "--action", "migrate.write"}, ExitOK, func(t *testing.T, s string) {
			lines := strings.Split(strings.TrimSpace(s), "\n")
			if len(lines) != 4 || !strings.HasPrefix(lines[0], "CEF:0|secretshift|secretshift|") {
				t.Errorf("cef output:\n%s", s)
			}
		}},
		{"since in the future", []string{"--since", "2999-01-01"}, ExitOK, func(t *testing.T, s string) {
			if s != "" {
				t.Errorf("got output %q", s)
			}
		}},
		{"since a duration", []string{"--since", "1h"}, ExitOK, func(t *testing.T, s string) {
			if s != string(logBytes) {
				t.Error("records of the last hour are missing")
			}
		}},
		{"since days and weeks", []string{"--since", "1d", "--until", "0w"}, ExitOK, func(t *testing.T, s string) {
			if s != string(logBytes) {
				t.Error("records of the last day are missing")
			}
		}},
		{"since in days, none that old", []string{"--until", "2d"}, ExitOK, func(t *testing.T, s string) {
			if s != "" {
				t.Errorf("got output %q", s)
			}
		}},
		{"since after until", []string{"--since", "1h", "--until", "2h"}, ExitUsage, nil},
		{"unknown format", []string{"--format", "xml"}, ExitUsage, nil},
		{"bad outcome", []string{"--outcome", "maybe"}, ExitUsage, nil},
		{"bad time", []string{"--until", "yesterday"}, ExitUsage, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runAuditCLI(t, nil, "", append([]string{"audit", "export", "--log", logPath}, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d: %s", r.code, tt.code, r.stderr)
			}
			if tt.check != nil {
				tt.check(t, r.stdout)
			}
		})
	}
}

func TestAuditFingerprint(t *testing.T) {
	files, _ := auditSetup(t)
	hmacText := auditReadFile(t, files.HMACKey)
	fp, err := audit.LoadFingerprinter(files.HMACKey, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		stdin string
		want  string
		code  ExitCode
	}{
		{"key by flag", nil, []string{"--hmac-key", files.HMACKey}, auditCanary, fp.Value([]byte(auditCanary)), ExitOK},
		{"key from env", map[string]string{audit.EnvHMACKey: hmacText}, nil, auditCanary, fp.Value([]byte(auditCanary)), ExitOK},
		{"newline kept by default", map[string]string{audit.EnvHMACKey: hmacText}, nil, auditCanary + "\n", fp.Value([]byte(auditCanary + "\n")), ExitOK},
		{"one newline trimmed", map[string]string{audit.EnvHMACKey: hmacText}, []string{"--trim-newline"}, auditCanary + "\n\n", fp.Value([]byte(auditCanary + "\n")), ExitOK},
		{"CRLF trimmed", map[string]string{audit.EnvHMACKey: hmacText}, []string{"--trim-newline"}, auditCanary + "\r\n", fp.Value([]byte(auditCanary)), ExitOK},
		{"empty value", map[string]string{audit.EnvHMACKey: hmacText}, nil, "", fp.Value(nil), ExitOK},
		{"no key", nil, nil, auditCanary, "", ExitError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			r := runAuditCLI(t, tt.env, tt.stdin, append([]string{"audit", "fingerprint"}, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d: %s", r.code, tt.code, r.stderr)
			}
			if tt.code == ExitOK && r.stdout != tt.want+"\n" {
				t.Errorf("stdout = %q, want only the fingerprint %q", r.stdout, tt.want)
			}
		})
	}
}

func TestAuditFilesCarryNoValues(t *testing.T) {
	_, logPath := auditSetup(t)
	dir := filepath.Dir(logPath)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if bytes.Contains(b, []byte(auditCanary)) {
			t.Errorf("%s contains a secret value", e.Name())
		}
	}
	for _, format := range audit.Formats {
		runAuditCLI(t, nil, "", "audit", "export", "--log", logPath, "--format", string(format))
	}
}

func auditReadFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMigrateKeepsTheLogsKeys: a log is signed by one key and holds fingerprints under one key,
// so a run with other keys — or with none, which would create new ones — is refused before
// anything is written, and the log still verifies whole.
func TestMigrateKeepsTheLogsKeys(t *testing.T) {
	t.Chdir(t.TempDir())
	writeTestSecrets(t, "in")
	migrate := []string{"migrate", "--to", "sops", "-f", "in", "--sops-out", "out"}
	if r := runCLI(t, "", migrate...); r.code != ExitOK {
		t.Fatalf("first run: exit %d\n%s", r.code, r.stderr)
	}
	logPath := audit.DefaultLogPath
	before, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	unchanged := func(step string) {
		t.Helper()
		if after, _ := os.ReadFile(logPath); !bytes.Equal(after, before) {
			t.Errorf("%s: the refused run changed the audit log", step)
		}
	}

	// refused runs args (migrate when none) with env set to the key in file, and wants exit 6
	// with an explanation holding want, and the log as it was.
	refused := func(step, env, file, want string, args ...string) {
		t.Helper()
		if len(args) == 0 {
			args = migrate
		}
		key, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv(env, string(key))
		defer os.Unsetenv(env)
		if r := runCLI(t, "", args...); r.code != ExitAudit || !strings.Contains(r.stderr, want) {
			t.Errorf("%s: exit %d, want %d and %q\n%s", step, r.code, ExitAudit, want, r.stderr)
		}
		unchanged(step)
	}
	noneMade := func(file string) {
		t.Helper()
		if _, err := os.Stat(file); err == nil {
			t.Errorf("%s was created for an existing log", file)
		}
	}
	keys := audit.DefaultKeyFiles("")

	// The keys are gone (a new checkout, a CI job without its secrets): none are made up.
	if err := os.Rename(audit.DefaultKeyDir, "saved-keys"); err != nil {
		t.Fatal(err)
	}
	saved := audit.DefaultKeyFiles("saved-keys")
	r := runCLI(t, "", migrate...)
	if r.code != ExitAudit || !strings.Contains(r.stderr, "not made") {
		t.Errorf("run without keys: exit %d, want %d and an explanation\n%s", r.code, ExitAudit, r.stderr)
	}
	noneMade(keys.SigningKey)
	// The right signing key but no HMAC key: no new one is made either, and discover and plan
	// say why instead of fingerprinting under a key the log would refuse.
	for _, args := range [][]string{migrate, {"plan", "--to", "sops", "-f", "in", "--sops-out", "out"}, {"discover", "-f", "in", "--fingerprints"}} {
		refused(args[0]+" without the HMAC key", audit.EnvSigningKey, saved.SigningKey, "no fingerprint key was given, and the audit log", args...)
	}
	noneMade(keys.HMACKey)
	// The right HMAC key but no signing key: no new signing key is made.
	refused("run without the signing key", audit.EnvHMACKey, saved.HMACKey, "no signing key was given, and the audit log")
	noneMade(keys.SigningKey)
	os.RemoveAll(audit.DefaultKeyDir)
	if err := os.Rename("saved-keys", audit.DefaultKeyDir); err != nil {
		t.Fatal(err)
	}

	// Other keys: signatures by two keys, or fingerprints of one value that differ, in one log.
	if r := runCLI(t, "", "audit", "keygen", "--dir", "other", "--no-record"); r.code != ExitOK {
		t.Fatalf("keygen: exit %d\n%s", r.code, r.stderr)
	}
	other := audit.DefaultKeyFiles("other")
	refused("run with another signing key", audit.EnvSigningKey, other.SigningKey, "is signed with key ed25519:")
	refused("run with another HMAC key", audit.EnvHMACKey, other.HMACKey, "holds fingerprints under HMAC key")

	if r := runCLI(t, "", migrate...); r.code != ExitOK {
		t.Fatalf("run with the log's keys: exit %d\n%s", r.code, r.stderr)
	}
	if r := runCLI(t, "", "audit", "verify"); r.code != ExitOK {
		t.Errorf("audit verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestApplyRefusesAnotherStore: a saved plan is applied to the store it was made for, not to
// wherever the current flags point (for SOPS, the output folder).
func TestApplyRefusesAnotherStore(t *testing.T) {
	t.Chdir(t.TempDir())
	writeTestSecrets(t, "in")
	if r := runCLI(t, "", "plan", "--to", "sops", "-f", "in", "--sops-out", "out", "--out", "plan.json"); r.code != ExitOK {
		t.Fatalf("plan: exit %d\n%s", r.code, r.stderr)
	}
	r := runCLI(t, "", "apply", "plan.json")
	if r.code == ExitOK || !strings.Contains(r.stderr, "the plan was made for sops files in") {
		t.Fatalf("apply to the default folder: exit %d, want a refusal naming the plan's folder\n%s", r.code, r.stderr)
	}
	if entries, _ := os.ReadDir("secretshift-sops"); len(entries) > 0 {
		t.Error("the refused apply wrote files")
	}
	if r := runCLI(t, "", "apply", "plan.json", "--sops-out", "out"); r.code != ExitOK {
		t.Fatalf("apply with the plan's folder: exit %d\n%s", r.code, r.stderr)
	}
}
