package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/internal/testenv"
	"github.com/secretshift/secretshift/internal/testenv/akv"
)

// TestCutoverToAzureKVThroughTheCLI hands Secrets migrated into Key Vault to the real ESO
// controller in place. secretshift reaches the local Key Vault server at its 127.0.0.1 URL;
// ESO, unmodified, signs in at https://login.microsoftonline.com and reads
// https://secretshift-e2e.vault.azure.net, both of which its HTTPS proxy (see
// testenv.RequireESO) serves from that same server. While the cut-over runs, a poller GETs every
// Secret in a tight loop: none may ever be absent or hold other bytes. Afterwards each Secret
// has its UID and bytes and is owned by its ExternalSecret, and no value is in the output or
// the audit log.
func TestCutoverToAzureKVThroughTheCLI(t *testing.T) {
	k := testenv.RequireKube(t)
	eso := testenv.RequireESO(t, k)
	testenv.RequireGC(t, k)
	if eso.AKV == nil {
		t.Fatal("the shared ESO controller has no Key Vault test server")
	}
	srv := eso.AKV.Server
	for _, tc := range []struct {
		name string
		// flags are cutover's ESO flags; secret is a Secret the store reads credentials from.
		flags  []string
		secret map[string]string
		// tokenPath is where ESO asks for its token: ADAL's v1 endpoint for a client secret,
		// MSAL's v2 endpoint for a federated (ServiceAccount) token.
		tokenPath string
	}{
		{
			name: "service principal",
			flags: []string{"--eso-auth", "service-principal", "--azure-eso-sp-secret", "azure-sp",
				"--azure-eso-tenant-id", srv.Tenant()},
			secret:    map[string]string{"ClientID": srv.ClientID(), "ClientSecret": srv.ClientSecret()},
			tokenPath: "/" + srv.Tenant() + "/oauth2/token",
		},
		{
			// ESO signs in with a token of the ServiceAccount the cut-over creates, for the
			// tenant of its azure.workload.identity/tenant-id annotation. The store must not name
			// the tenant too: ESO v0.16.2 refuses that ("multiple tenantID found",
			// pkg/provider/azure/keyvault/keyvault.go:971).
			name:      "workload identity",
			flags:     []string{"--eso-auth", "workload-identity", "--azure-eso-client-id", srv.ClientID(), "--azure-eso-tenant-id", srv.Tenant()},
			tokenPath: "/" + srv.Tenant() + "/oauth2/v2.0/token",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cutoverToAzureKV(t, k, eso, tc.flags, tc.secret, tc.tokenPath)
		})
	}
}

func cutoverToAzureKV(t *testing.T, k *testenv.Kube, eso *testenv.ESO, flags []string, credentials map[string]string, tokenPath string) {
	const esoVault = "https://secretshift-e2e." + akv.VaultDomain
	// A namespace of each run's own (the apiserver and the vault outlive a run under -count),
	// and so Key Vault names of its own.
	ns := fmt.Sprintf("cutover-azurekv-%d", azureCutoverRuns.Add(1))
	srv := eso.AKV.Server
	env, err := srv.Env(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &akvCLI{srv: srv, env: env}
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.CreateNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	// Every type, binary values and dotted key names; not "large" (over Key Vault's 25 KB) nor
	// "empty-values".
	var secrets []*corev1.Secret
	for _, s := range esoSecrets(ns) {
		if s.Name == "large" || s.Name == "empty-values" {
			continue
		}
		created, err := cs.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, created)
	}
	work := t.TempDir()
	t.Chdir(work)

	var outputs strings.Builder
	run := func(args ...string) runResult {
		t.Helper()
		r := f.run(t, args...)
		outputs.WriteString(r.stdout + r.stderr)
		return r
	}
	store := []string{"--to", "azurekv", "--kubeconfig", k.Kubeconfig, "-n", ns, "-l", "tier=e2e"}
	if r := run(append([]string{"migrate"}, store...)...); r.code != ExitOK {
		t.Fatalf("migrate: exit %d\n%s", r.code, r.stderr)
	}
	if credentials != nil {
		// The service principal's credentials, as ESO's azurekv provider reads them.
		sp := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "azure-sp", Namespace: ns}, StringData: credentials}
		if _, err := cs.CoreV1().Secrets(ns).Create(ctx, sp, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	cut := append(append([]string{"cutover", "--skip-controller-check", "--azure-eso-vault-url", esoVault, "-o", "json"}, flags...), store...)
	served := eso.AzureProxy.Served()
	poll := testenv.StartSecretPoller(t, k.Config, secrets)
	start := time.Now()
	r := run(cut...)
	elapsed := time.Since(start)
	polls, notFound, changed := poll.Finish()
	var rep cutoverJSON
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("cutover: exit %d, no JSON report: %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	if r.code != ExitOK || rep.Counts["adopted"] != len(secrets) {
		t.Fatalf("cutover: exit %d, counts %v, problems %v\n%s\ncontroller log tail:\n%s", r.code, rep.Counts, rep.Problems, r.stderr, eso.LogTail(30))
	}
	t.Logf("cut-over of %d Secrets in %s; poller: %d GETs, %d not found, %d with other bytes", len(secrets), elapsed.Round(time.Millisecond), polls, notFound, changed)
	if notFound != 0 || changed != 0 || polls < int64(len(secrets)) {
		t.Errorf("poller saw %d not-found and %d changed answers in %d GETs; want 0 and 0", notFound, changed, polls)
	}

	for _, want := range secrets {
		got, err := cs.CoreV1().Secrets(ns).Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("%s: %v", want.Name, err)
			continue
		}
		if got.UID != want.UID {
			t.Errorf("%s: UID %s, was %s: the Secret was recreated", want.Name, got.UID, want.UID)
		}
		if got.Type != want.Type || !maps.EqualFunc(got.Data, want.Data, bytes.Equal) {
			t.Errorf("%s: type or bytes differ after the cut-over (keys %v, were %v)", want.Name, slices.Sorted(maps.Keys(got.Data)), slices.Sorted(maps.Keys(want.Data)))
		}
		owner := metav1.GetControllerOf(got)
		if owner == nil || owner.Kind != "ExternalSecret" || owner.Name != want.Name {
			t.Errorf("%s: controller %v, want its ExternalSecret", want.Name, owner)
		}
	}

	// ESO signed in and read the vault through the proxy during the cut-over, and asked for
	// nothing else.
	after := eso.AzureProxy.Served()
	for _, host := range []string{akv.LoginHost, strings.TrimPrefix(esoVault, "https://")} {
		if after[host] <= served[host] {
			t.Errorf("ESO sent no request to %s during the cut-over (requests by host: %v)", host, after)
		}
	}
	if refused := eso.AzureProxy.Refused(); len(refused) > 0 {
		t.Errorf("the proxy refused %v", refused)
	}
	signedIn := false
	for _, req := range srv.Requests() {
		signedIn = signedIn || req.Time.After(start) && req.Method == "POST" && req.Path == tokenPath && req.Status == 200
	}
	if !signedIn {
		t.Errorf("no token request of ESO's (POST %s) was answered 200 during the cut-over", tokenPath)
	}

	// Again: every Secret is already managed, nothing changes.
	r = run(cut...)
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != ExitOK || rep.Counts["already-managed"] != len(secrets) {
		t.Errorf("second cutover: exit %d (%v), counts %v\n%s", r.code, err, rep.Counts, r.stderr)
	}

	audited, err := os.ReadFile(filepath.Join(work, filepath.FromSlash(audit.DefaultLogPath)))
	if err != nil {
		t.Fatalf("audit log: %v", err)
	}
	for _, c := range append(slices.Clone(canaries), srv.ClientSecret()) {
		if strings.Contains(outputs.String(), c) || strings.Contains(string(audited), c) {
			t.Errorf("canary %q leaked into the output or the audit log", c)
		}
	}
	if !strings.Contains(string(audited), `"action":"cutover.adopt"`) {
		t.Error("the audit log has no cutover.adopt record")
	}
}

var azureCutoverRuns atomic.Int32
