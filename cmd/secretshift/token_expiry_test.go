package main

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

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
