package main

import (
	"bytes"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretshift/secretshift/internal/testenv/akv"
	"github.com/secretshift/secretshift/internal/testenv/vaultapi"
)

// TestVaultTokenExpiresMidRun: the Vault token stops working halfway through a migration
// (Vault answers 403 "permission denied", as for an expired or revoked token). The run stops
// with a clear error that names the cause and what was done, exits non-zero, and the same
// command with a working token completes the job: every Secret written once, at version 1,
// and the audit log verifies.
func TestVaultTokenExpiresMidRun(t *testing.T) {
	v := startVault(t)
	inTempDir(t)
	const n = 60
	refs := writeBulkSecrets(t, "in", n)
	var writes atomic.Int32
	v.srv.SetFaults(func(r *http.Request) *vaultapi.Fault {
		if strings.Contains(r.URL.Path, "/data/") && r.Method != http.MethodGet && writes.Add(1) <= n/2 {
			return nil
		}
		if writes.Load() > n/2 {
			return &vaultapi.Fault{Status: http.StatusForbidden, Body: `{"errors":["permission denied"]}`}
		}
		return nil
	})
	r := runCLI(t, "", "migrate", "--to", "vault", "-f", "in", "--concurrency", "4")
	if r.code == ExitOK {
		t.Fatalf("a run whose token stopped working exited 0\n%s%s", r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr+r.stdout, "permission denied") {
		t.Errorf("the run does not say the store refused the token:\n%s%s", r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "created") {
		t.Errorf("the run does not say what was done before it stopped:\n%s", r.stderr)
	}
	t.Logf("exit %d; stderr:\n%s", r.code, lastLines(r.stderr, 6))

	v.srv.SetFaults(nil) // a new token
	r = runCLI(t, "", "migrate", "--to", "vault", "-f", "in")
	if r.code != ExitOK {
		t.Fatalf("the re-run with a working token: exit %d\n%s", r.code, r.stderr)
	}
	checkVersionOne(t, v.client, refs, bulkPassword)
	if r := runCLI(t, "", "audit", "verify"); r.code != ExitOK {
		t.Errorf("audit verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestAzureFederatedTokenExpiresMidRun: signed in with workload identity, the run's access
// token expires half-way and its federated token can no longer be exchanged (the projected
// token was not refreshed): the run ends with exit 4, each Secret not written saying the token
// expired, what was done counted; with a fresh federated token the same command completes it,
// one version per secret.
func TestAzureFederatedTokenExpiresMidRun(t *testing.T) {
	f := startAKVCLI(t, akv.Options{})
	dir := inTempDir(t)
	const n = 60
	refs := writeBulkSecrets(t, "in", n)
	tokenFile := filepath.Join(dir, "federated-token")
	writeFile(t, tokenFile, f.srv.FederatedToken())
	env := []string{"AZURE_FEDERATED_TOKEN_FILE=" + tokenFile, "AZURE_TOKEN_CREDENTIALS=WorkloadIdentityCredential"}
	for _, e := range f.env {
		if !strings.HasPrefix(e, "AZURE_CLIENT_SECRET=") {
			env = append(env, e)
		}
	}
	run := func(args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
		cmd := commandProcess(t, args...)
		cmd.Env = append(cmd.Env, env...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		return cmd, &out, &errOut
	}
	cmd, stdout, stderr := run("migrate", "--to", "azurekv", "-f", "in", "--concurrency", "2", "--azure-write-rate", "60/1s")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for f.srv.Counts().AppliedWrites < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	writeFile(t, tokenFile, f.srv.FederatedTokenUntil(time.Now().Add(-time.Minute)))
	f.srv.ExpireTokens()
	err := cmd.Wait()
	written := f.srv.Counts().AppliedWrites
	if err == nil || written >= 2*n {
		t.Fatalf("the token should expire mid-run: exit %v, %d of %d writes applied\n%s", err, written, 2*n, stderr)
	}
	// The vault refuses the access token as expired; a client that asks for a new one has its
	// federated token refused (AADSTS700024). Either way the report says so, per Secret.
	if out := stdout.String() + stderr.String(); !strings.Contains(out, "token has expired") && !strings.Contains(out, "AADSTS700024") {
		t.Errorf("the run does not say the token expired:\n%s%s", stdout, lastLines(stderr.String(), 8))
	}
	if !strings.Contains(stderr.String(), "run the same command again") {
		t.Errorf("the run does not say that running again finishes it:\n%s", lastLines(stderr.String(), 8))
	}
	t.Logf("%d of %d writes applied; stderr ends:\n%s", written, 2*n, lastLines(stderr.String(), 6))

	writeFile(t, tokenFile, f.srv.FederatedToken()) // the kubelet refreshed it
	cmd, _, stderr = run("migrate", "--to", "azurekv", "-f", "in")
	if err := cmd.Run(); err != nil {
		t.Fatalf("the re-run with a fresh federated token: %v\n%s", err, stderr)
	}
	for _, ref := range refs {
		ns, name, _ := strings.Cut(ref, "/")
		for k, want := range map[string]string{"password": bulkPassword(ref), "user": "u" + strings.TrimLeft(strings.TrimPrefix(name, "s"), "0")} {
			if want == "u" {
				want = "u0"
			}
			secret := ns + "--" + name + "--" + k
			if got := string(f.value(t, secret)); got != want || f.versions(t, secret) != 1 {
				t.Errorf("%s: %d versions, value right %v; want exactly one version of the source's value", secret, f.versions(t, secret), got == want)
			}
		}
	}
	if r := f.run(t, "audit", "verify"); r.code != ExitOK {
		t.Errorf("audit verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
