package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	fage "filippo.io/age"
)

func writeSecretFile(t *testing.T, path, ns, name string) {
	t.Helper()
	doc := "apiVersion: v1\nkind: Secret\nmetadata: {name: " + name + ", namespace: " + ns + "}\nstringData: {password: not-a-real-one}\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
}

func newRecipient(t *testing.T) string {
	t.Helper()
	id, err := fage.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id.Recipient().String()
}

// TestRerunKeepsTheTeamsRecipients is the re-run that used to hand the folder to a fresh local
// key: the second run, without a recipient flag, must encrypt to the rule's recipients.
func TestRerunKeepsTheTeamsRecipients(t *testing.T) {
	dir := inTempDir(t)
	writeSecretFile(t, filepath.Join(dir, "a.yaml"), "shop", "a")
	writeSecretFile(t, filepath.Join(dir, "b.yaml"), "shop", "b")
	team := newRecipient(t)
	if r := runCLI(t, "", "migrate", "--to", "sops", "-f", "a.yaml", "--sops-out", "out", "--age-recipient", team); r.code != ExitOK {
		t.Fatalf("first run: exit %d\n%s", r.code, r.stderr)
	}
	r := runCLI(t, "", "migrate", "--to", "sops", "-f", "a.yaml", "-f", "b.yaml", "--sops-out", "out")
	if r.code != ExitOK {
		t.Fatalf("second run: exit %d\n%s", r.code, r.stderr)
	}
	b, err := os.ReadFile(filepath.Join("out", "shop", "b.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), team) {
		t.Errorf("the new file is not encrypted to the team's recipient %s:\n%s", team, b)
	}
	cfg, _ := os.ReadFile(filepath.Join("out", ".sops.yaml"))
	if !strings.Contains(string(cfg), team) {
		t.Errorf(".sops.yaml lost the team's recipient:\n%s", cfg)
	}
	if _, err := os.Stat(filepath.Join(".secretshift", "keys", "age.key")); err == nil {
		t.Error("a local age key was generated although .sops.yaml names the recipients")
	}
	// Another recipient on the command line is refused, not silently swapped in.
	other := newRecipient(t)
	r = runCLI(t, "", "migrate", "--to", "sops", "-f", "a.yaml", "--sops-out", "out", "--age-recipient", other)
	if r.code != ExitError || !strings.Contains(r.stderr, "--sops-update-keys") {
		t.Errorf("other recipients: exit %d, want %d naming --sops-update-keys:\n%s", r.code, ExitError, r.stderr)
	}
}

func TestApplyUsesThePlansRecipients(t *testing.T) {
	dir := inTempDir(t)
	writeSecretFile(t, filepath.Join(dir, "a.yaml"), "shop", "a")
	team := newRecipient(t)
	if r := runCLI(t, "", "plan", "--to", "sops", "-f", "a.yaml", "--sops-out", "out", "--age-recipient", team, "--out", "plan.json"); r.code != ExitOK {
		t.Fatalf("plan: exit %d\n%s", r.code, r.stderr)
	}
	plan, _ := os.ReadFile("plan.json")
	if !strings.Contains(string(plan), team) {
		t.Fatalf("the plan does not record its recipients:\n%s", plan)
	}
	// apply without any recipient flag encrypts to the plan's.
	if r := runCLI(t, "", "apply", "plan.json", "--sops-out", "out"); r.code != ExitOK {
		t.Fatalf("apply: exit %d\n%s", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join("out", "shop", "a.yaml")); !strings.Contains(string(b), team) {
		t.Errorf("apply did not encrypt to the plan's recipient:\n%s", b)
	}
	// .sops.yaml changed since to other recipients: the plan no longer fits.
	cfg := "creation_rules:\n  - path_regex: .*\n    age: " + newRecipient(t) + "\n"
	if err := os.WriteFile(filepath.Join("out", ".sops.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "", "apply", "plan.json", "--sops-out", "out")
	if r.code != ExitError || !strings.Contains(r.stderr, "make a new plan") {
		t.Errorf("apply after .sops.yaml changed: exit %d\n%s", r.code, r.stderr)
	}
}
