package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/secretshift/secretshift/internal/testenv/vaultapi"
)

// rotateHook writes an executable hook that appends the JSON it is given to log, then runs
// body.
func rotateHook(t *testing.T, name, log, body string) string {
	t.Helper()
	path, _ := filepath.Abs(name)
	script := "#!/bin/sh\ncat >> '" + log + "'\necho >> '" + log + "'\n" + body + "\n"
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

// migratedToVault is a fresh working folder and Vault, with writeTestSecrets migrated into it.
func migratedToVault(t *testing.T) (string, *vaultFixture) {
	t.Helper()
	dir := inTempDir(t)
	v := startVault(t)
	writeTestSecrets(t, filepath.Join(dir, "in"))
	if r := runCLI(t, "", "migrate", "--to", "vault", "-f", "in", "-q"); r.code != ExitOK {
		t.Fatalf("migrate: exit %d\n%s", r.code, r.stderr)
	}
	return dir, v
}

// Rotation through the command line against Vault's KV engine: migrate, rotate with set and
// test hooks (the new value current, the old one readable as the previous version), a failing
// test (exit 5, the store unchanged), rollback, an intact audit log, and no value in any
// output.
func TestRotateVaultEndToEnd(t *testing.T) {
	dir, v := migratedToVault(t)
	ctx := context.Background()
	kv := v.client.KVv2("secret")
	before, err := kv.Get(ctx, "shop/db")
	if err != nil {
		t.Fatal(err)
	}
	setLog, testLog := filepath.Join(dir, "set.log"), filepath.Join(dir, "test.log")
	set := rotateHook(t, "set", setLog, "exit 0")
	test := rotateHook(t, "test", testLog, "exit 0")
	var outputs []string
	r := runCLI(t, "", "rotate", "--to", "vault", "secret/shop/db", "--key", "password", "--generator", "password:length=40,symbols=0",
		"--set-hook", set, "--test-hook", test, "-o", "json")
	outputs = append(outputs, r.stdout, r.stderr)
	if r.code != ExitOK || !strings.Contains(r.stdout, `"result": "rotated"`) {
		t.Fatalf("rotate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	after, err := kv.Get(ctx, "shop/db")
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := after.Data["password"].(string)
	if len(pw) != 40 || pw == before.Data["password"] || after.Data["user"] != before.Data["user"] || after.Data[".hidden"] != before.Data[".hidden"] {
		t.Errorf("after rotation: password of %d characters, other keys kept: %v", len(pw), after.Data["user"] == before.Data["user"])
	}
	if after.VersionMetadata.Version != before.VersionMetadata.Version+1 {
		t.Errorf("version %d, want %d", after.VersionMetadata.Version, before.VersionMetadata.Version+1)
	}
	if prev, err := kv.GetVersion(ctx, "shop/db", before.VersionMetadata.Version); err != nil || prev.Data["password"] != before.Data["password"] {
		t.Errorf("previous version not readable: %v", err)
	}
	if got, _ := os.ReadFile(setLog); !strings.Contains(string(got), base64.StdEncoding.EncodeToString([]byte(pw))) {
		t.Error("the set hook was not given the new value")
	}
	if after.CustomMetadata["source-name"] != before.CustomMetadata["source-name"] || after.CustomMetadata["source-uid"] != before.CustomMetadata["source-uid"] || after.CustomMetadata["secretshift-job"] != "rotate" {
		t.Errorf("metadata after rotation: %v", after.CustomMetadata)
	}

	// Migrating again from the now stale source is a conflict: it would undo the rotation.
	r = runCLI(t, "", "migrate", "--to", "vault", "-f", "in")
	outputs = append(outputs, r.stdout, r.stderr)
	if r.code != ExitPartial || !strings.Contains(r.stdout, "rotated") {
		t.Errorf("migrate after rotate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if now, _ := kv.Get(ctx, "shop/db"); now.Data["password"] != pw {
		t.Fatal("a migration put the source's old value over the rotated one")
	}

	// A failing test: exit 5, the store unchanged, the set hook run again with the old value.
	failing := rotateHook(t, "failing", filepath.Join(dir, "failing.log"), "echo login refused >&2; exit 1")
	r = runCLI(t, "", "rotate", "--to", "vault", "secret/shop/db", "--key", "password", "--generator", "password", "--set-hook", set, "--test-hook", failing)
	outputs = append(outputs, r.stdout, r.stderr)
	if r.code != ExitVerify || !strings.Contains(r.stdout, "rolled-back") {
		t.Fatalf("failing test: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if now, _ := kv.Get(ctx, "shop/db"); now.VersionMetadata.Version != after.VersionMetadata.Version || now.Data["password"] != pw {
		t.Error("a failed rotation changed the store")
	}
	if got, _ := os.ReadFile(setLog); !strings.Contains(string(got), `"stage":"rollback"`) {
		t.Error("the set hook was not run again with the previous values")
	}

	// Rollback to the migrated value.
	r = runCLI(t, "", "rotate", "rollback", "--to", "vault", "secret/shop/db")
	outputs = append(outputs, r.stdout, r.stderr)
	if r.code != ExitOK {
		t.Fatalf("rollback: exit %d\n%s", r.code, r.stderr)
	}
	if now, _ := kv.Get(ctx, "shop/db"); now.Data["password"] != before.Data["password"] {
		t.Error("rollback did not make the previous value current")
	}
	if r := runCLI(t, "", "audit", "verify"); r.code != ExitOK {
		t.Errorf("audit verify: exit %d\n%s", r.code, r.stdout+r.stderr)
	}
	exp := runCLI(t, "", "audit", "export", "--format", "jsonl")
	for _, action := range []string{"rotate.due", "rotate.pending", "rotate.set", "rotate.test", "rotate.promote", "rotate.rollback"} {
		if !strings.Contains(exp.stdout, `"action":"`+action+`"`) {
			t.Errorf("no %s record in the audit export", action)
		}
	}
	outputs = append(outputs, exp.stdout)
	for _, o := range outputs {
		for _, c := range append([]string{pw, base64.StdEncoding.EncodeToString([]byte(pw))}, canaries...) {
			if strings.Contains(o, c) {
				t.Fatalf("a value appears in an output (%q)", c)
			}
		}
	}

	// A binary key rotated to text, then rolled back: the key stays base64-encoded in the
	// store, so the rolled-back version reads back byte for byte.
	blobBefore, _ := kv.Get(ctx, "shop/blob")
	if r := runCLI(t, "", "rotate", "--to", "vault", "secret/shop/blob", "--key", "keystore.p12", "--generator", "bytes:length=8,encoding=hex"); r.code != ExitOK {
		t.Fatalf("rotate binary key: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, "", "rotate", "rollback", "--to", "vault", "secret/shop/blob"); r.code != ExitOK {
		t.Fatalf("rollback: exit %d\n%s", r.code, r.stderr)
	}
	if blobNow, _ := kv.Get(ctx, "shop/blob"); blobNow.Data["keystore.p12"] != blobBefore.Data["keystore.p12"] {
		t.Error("the rolled-back binary key differs")
	}
	if r := runCLI(t, "", "verify", "--to", "vault", "-f", "in", "-o", "json"); strings.Contains(r.stdout, "different value for key keystore.p12") {
		t.Errorf("after rollback the binary key does not verify:\n%s", r.stdout)
	}

	// The latest version soft-deleted: nothing to keep the other keys from, so refused.
	if err := kv.Delete(ctx, "shop/blob"); err != nil {
		t.Fatal(err)
	}
	deleted, _ := v.client.KVv2("secret").GetVersionsAsList(ctx, "shop/blob")
	if r := runCLI(t, "", "rotate", "--to", "vault", "secret/shop/blob", "--key", "note", "--generator", "uuid"); r.code != ExitError || !strings.Contains(r.stdout, "deleted") {
		t.Errorf("soft-deleted entry: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if now, _ := v.client.KVv2("secret").GetVersionsAsList(ctx, "shop/blob"); len(now) != len(deleted) {
		t.Error("a version was written over a deleted one")
	}

	// Bad input: nothing opened or changed.
	for _, args := range [][]string{
		{"rotate", "--to", "vault", "secret/shop/db", "--key", "password"},
		{"rotate", "--to", "vault", "secret/shop/db", "--key", "password", "--generator", "nosuch"},
		{"rotate", "--to", "vault", "secret/shop/db", "--key", "password", "--generator", "password:length=4,digits=3,symbols=3"},
		{"rotate", "--to", "vault", "--key", "password", "--generator", "password"},
		{"rotate", "--to", "vault", "secret/shop/db", "--key", "password", "--generator", "password", "--due"},
	} {
		if r := runCLI(t, "", args...); r.code != ExitUsage {
			t.Errorf("%v: exit %d, want %d\n%s", args, r.code, ExitUsage, r.stderr)
		}
	}
	if r := runCLI(t, "", "rotate", "--to", "vault", "shop/db", "--key", "password", "--generator", "password"); r.code != ExitError || !strings.Contains(r.stdout, "starts with the mount") {
		t.Errorf("an address without the mount: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, "", "rotate", "--to", "vault", "secret/shop/db", "--key", "password", "--generator", "password", "--set-hook", filepath.Join(dir, "none")); r.code != ExitError {
		t.Errorf("missing hook: exit %d\n%s", r.code, r.stderr)
	}
}

// A run killed at a step (by the generator program, the set hook or the test hook, each of
// which kills it) leaves the store with the previous values; the next run says where the
// earlier one stopped, rotates, and the audit log verifies.
func TestRotateKilledAtEachStepIsFinishedByTheNextRun(t *testing.T) {
	dir, v := migratedToVault(t)
	ctx := context.Background()
	killer := rotateHook(t, "killer", filepath.Join(dir, "killer.log"), "kill -9 $PPID; sleep 5")
	set := rotateHook(t, "set", filepath.Join(dir, "set.log"), "exit 0")
	for _, tc := range []struct {
		step, resumed string
		args          []string
	}{
		{"generate", "", []string{"--generator", "command:command=" + killer}},
		{"set", "pending", []string{"--generator", "password", "--set-hook", killer}},
		{"test", "set", []string{"--generator", "password", "--set-hook", set, "--test-hook", killer}},
	} {
		t.Run(tc.step, func(t *testing.T) {
			before, _ := v.client.KVv2("secret").Get(ctx, "shop/login")
			args := append([]string{"rotate", "--to", "vault", "secret/shop/login", "--key", "password"}, tc.args...)
			cmd := commandProcess(t, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err == nil {
				t.Fatalf("the run was not killed\n%s", stderr.String())
			}
			if now, _ := v.client.KVv2("secret").Get(ctx, "shop/login"); now.VersionMetadata.Version != before.VersionMetadata.Version {
				t.Fatal("the store changed before promotion")
			}
			r := runCLI(t, "", "rotate", "--to", "vault", "secret/shop/login", "--key", "password", "--generator", "password", "--set-hook", set, "-o", "json")
			if r.code != ExitOK || (tc.resumed != "" && !strings.Contains(r.stdout, `"resumed": "`+tc.resumed+`"`)) {
				t.Fatalf("re-run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			if now, _ := v.client.KVv2("secret").Get(ctx, "shop/login"); now.VersionMetadata.Version != before.VersionMetadata.Version+1 {
				t.Errorf("version %d after the re-run, want %d", now.VersionMetadata.Version, before.VersionMetadata.Version+1)
			}
			if r := runCLI(t, "", "audit", "verify"); r.code != ExitOK {
				t.Errorf("audit verify: exit %d\n%s", r.code, r.stdout+r.stderr)
			}
		})
	}
}

// Rotation of a SOPS file: the file is re-encrypted with the new value, read back, and the
// other keys are kept.
func TestRotateSOPS(t *testing.T) {
	inTempDir(t)
	if r := runCLI(t, "", "migrate", "--to", "sops", "-f", demoDir(t), "--sops-out", "out", "-q"); r.code != ExitOK {
		t.Fatalf("migrate: exit %d\n%s", r.code, r.stderr)
	}
	before, _ := os.ReadFile("out/shop/db-credentials.yaml")
	r := runCLI(t, "", "rotate", "--to", "sops", "shop/db-credentials.yaml", "--sops-out", "out", "--key", "password", "--generator", "bytes:length=24,encoding=hex")
	if r.code != ExitOK || !strings.Contains(r.stdout, "rotated") {
		t.Fatalf("rotate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	after, _ := os.ReadFile("out/shop/db-credentials.yaml")
	if bytes.Equal(before, after) {
		t.Error("the file did not change")
	}
	if r := runCLI(t, "", "verify", "--to", "sops", "-f", demoDir(t), "--sops-out", "out"); r.code == ExitOK {
		t.Error("verify against the old source still passes: the value did not change")
	}
	if r := runCLI(t, "", "rotate", "rollback", "--to", "sops", "shop/db-credentials.yaml", "--sops-out", "out"); r.code != ExitError || !strings.Contains(r.stderr, "keeps no earlier versions") {
		t.Errorf("rollback of a file: exit %d\n%s", r.code, r.stderr)
	}
}

// A policy file: globs resolved against the store, namespace and label filters, due-only runs,
// and a policy that cannot run refused as a whole before anything changes.
func TestRotatePolicy(t *testing.T) {
	_, v := migratedToVault(t)
	pol := `apiVersion: secretshift.io/v1alpha1
kind: RotationPolicy
defaults: {maxAge: 30d, restart: none}
rotations:
- name: shop-logins
  store: vault
  match: {paths: ["secret/shop/*"], names: [login]}
  keys:
    password: {generator: password, length: 20}
- name: payments
  store: vault
  match: {paths: ["secret/payments/d*"]}
  keys:
    ssh-privatekey: {generator: ssh}
  maxAge: 1s
`
	os.WriteFile("rotation.yaml", []byte(pol), 0o600)
	ctx := context.Background()
	kv := v.client.KVv2("secret")
	before := map[string]int{}
	for _, p := range []string{"shop/login", "shop/db", "payments/deploy"} {
		s, _ := kv.Get(ctx, p)
		before[p] = s.VersionMetadata.Version
	}
	r := runCLI(t, "", "rotate", "--policy", "rotation.yaml", "--dry-run")
	if r.code != ExitOK || strings.Count(r.stdout, "would-rotate") != 2 || strings.Contains(r.stdout, "shop/db ") {
		t.Fatalf("dry run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "", "rotate", "--policy", "rotation.yaml")
	if r.code != ExitOK || strings.Count(r.stdout, "rotated") != 2 {
		t.Fatalf("rotate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for p, want := range map[string]int{"shop/login": before["shop/login"] + 1, "shop/db": before["shop/db"], "payments/deploy": before["payments/deploy"] + 1} {
		if s, _ := kv.Get(ctx, p); s.VersionMetadata.Version != want {
			t.Errorf("%s: version %d, want %d", p, s.VersionMetadata.Version, want)
		}
	}
	// Due-only: the 30-day rotation is not due; the 1-second one is, a moment later.
	time.Sleep(1100 * time.Millisecond)
	r = runCLI(t, "", "rotate", "--policy", "rotation.yaml", "--due")
	if r.code != ExitOK || !strings.Contains(r.stdout, "not-due") || strings.Count(r.stdout, "rotated") != 1 {
		t.Fatalf("due run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Refused as a whole: the file's problems first, all at once (a bad generator parameter
	// at file:line with the structure), then what the stores say (a glob matching nothing).
	bad := strings.Replace(pol, `secret/payments/d*`, `secret/nowhere/*`, 1)
	os.WriteFile("bad.yaml", []byte(strings.Replace(bad, "length: 20", "length: 2, digits: 3", 1)), 0o600)
	s, _ := kv.Get(ctx, "shop/login")
	r = runCLI(t, "", "rotate", "--policy", "bad.yaml")
	if r.code != ExitError || !strings.Contains(r.stderr, "digits=3") || !strings.Contains(r.stderr, "bad.yaml:9:") {
		t.Errorf("bad generator: exit %d\n%s", r.code, r.stderr)
	}
	os.WriteFile("bad.yaml", []byte(bad), 0o600)
	r = runCLI(t, "", "rotate", "--policy", "bad.yaml")
	if r.code != ExitError || !strings.Contains(r.stderr, "matches no entry") {
		t.Errorf("bad glob: exit %d\n%s", r.code, r.stderr)
	}
	if now, _ := kv.Get(ctx, "shop/login"); now.VersionMetadata.Version != s.VersionMetadata.Version {
		t.Error("a refused policy changed the store")
	}
	// With -o json a refused policy still prints a report, saying why.
	if r := runCLI(t, "", "rotate", "--policy", "bad.yaml", "-o", "json"); r.code != ExitError || !strings.Contains(r.stdout, `"problems"`) || !strings.Contains(r.stdout, "matches no entry") {
		t.Errorf("-o json of a refused policy: exit %d\n%s", r.code, r.stdout)
	}
	os.WriteFile("typo.yaml", []byte(strings.Replace(pol, "maxAge: 1s", "maxage: 1s", 1)), 0o600)
	if r := runCLI(t, "", "rotate", "--policy", "typo.yaml"); r.code != ExitError || !strings.Contains(r.stderr, `did you mean "maxAge"`) {
		t.Errorf("typo: exit %d\n%s", r.code, r.stderr)
	}
}

// Two runs of the same rotation from different machines (separate journals): while the first
// is in its set hook it holds the entry's lease in the store, so the second reports a conflict
// and changes nothing; the first then finishes.
func TestRotateLeaseKeepsTwoRunsApart(t *testing.T) {
	dir, v := migratedToVault(t)
	started := filepath.Join(dir, "started")
	slow := rotateHook(t, "slow", filepath.Join(dir, "slow.log"), "touch '"+started+"'; sleep 3")
	first := commandProcess(t, "rotate", "--to", "vault", "secret/shop/db", "--key", "password", "--generator", "password",
		"--set-hook", slow, "--journal-dir", "journal-a")
	var out bytes.Buffer
	first.Stdout, first.Stderr = &out, &out
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first run's set hook did not start\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	before, _ := v.client.KVv2("secret").Get(context.Background(), "shop/db")
	fast := rotateHook(t, "fast", filepath.Join(dir, "fast.log"), "exit 0")
	r := runCLI(t, "", "rotate", "--to", "vault", "secret/shop/db", "--key", "password", "--generator", "password", "--set-hook", fast, "--journal-dir", "journal-b")
	if r.code != ExitPartial || !strings.Contains(r.stdout+r.stderr, "holds its lease") {
		t.Errorf("second run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("first run: %v\n%s", err, out.String())
	}
	after, _ := v.client.KVv2("secret").Get(context.Background(), "shop/db")
	if after.VersionMetadata.Version != before.VersionMetadata.Version+1 {
		t.Errorf("version %d, want %d: exactly one rotation", after.VersionMetadata.Version, before.VersionMetadata.Version+1)
	}
	if _, held := after.CustomMetadata["secretshift-lease"]; held {
		t.Error("the lease outlived the rotation")
	}
}

// A run killed after its promotion reached the store but before the outcome was on record (it
// is held while reading the entry back): the next run records that promotion, counts the
// rotation as done and does not rotate again; the audit log verifies.
func TestRotateKilledAfterPromotionIsRecordedByTheNextRun(t *testing.T) {
	_, v := migratedToVault(t)
	var promoted atomic.Bool
	held := make(chan struct{}, 1)
	v.srv.SetFaults(func(r *http.Request) *vaultapi.Fault {
		if !strings.HasSuffix(r.URL.Path, "/data/shop/login") {
			return nil
		}
		if r.Method != http.MethodGet {
			promoted.Store(true)
			return nil
		}
		if promoted.Load() {
			select {
			case held <- struct{}{}:
			default:
			}
			return &vaultapi.Fault{Delay: 10 * time.Second}
		}
		return nil
	})
	ctx := context.Background()
	before, _ := v.client.KVv2("secret").Get(ctx, "shop/login")
	cmd := commandProcess(t, "rotate", "--to", "vault", "secret/shop/login", "--key", "password", "--generator", "password")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held:
	case <-time.After(20 * time.Second):
		t.Fatal("the promotion was not reached")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	v.srv.SetFaults(nil)
	after, _ := v.client.KVv2("secret").Get(ctx, "shop/login")
	if after.VersionMetadata.Version != before.VersionMetadata.Version+1 {
		t.Fatalf("version %d after the kill, want %d (promoted)", after.VersionMetadata.Version, before.VersionMetadata.Version+1)
	}
	r := runCLI(t, "", "rotate", "--to", "vault", "secret/shop/login", "--key", "password", "--generator", "password", "-o", "json")
	if r.code != ExitOK || !strings.Contains(r.stdout, `"resumed": "written"`) {
		t.Fatalf("re-run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if now, _ := v.client.KVv2("secret").Get(ctx, "shop/login"); now.VersionMetadata.Version != after.VersionMetadata.Version {
		t.Errorf("the re-run rotated again: version %d, want %d", now.VersionMetadata.Version, after.VersionMetadata.Version)
	}
	exp := runCLI(t, "", "audit", "export", "--format", "jsonl")
	if !strings.Contains(exp.stdout, `"written_by_earlier_run":"true"`) {
		t.Error("the earlier run's promotion is not on record")
	}
	if r := runCLI(t, "", "audit", "verify"); r.code != ExitOK {
		t.Errorf("audit verify: exit %d\n%s", r.code, r.stdout+r.stderr)
	}
}
