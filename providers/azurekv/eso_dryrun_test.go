package azurekv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/secretshift/secretshift/internal/testenv"
	"github.com/secretshift/secretshift/templates"
)

// The shared kube-apiserver starts only when a test asks for it (testenv.RequireKube).
func TestMain(m *testing.M) { testenv.Main(m, testenv.NeedKube) }

// TestESOManifestsPassServerSideDryRun applies every generated bundle (both layouts, both store
// kinds, the three auth methods) with kubectl's server-side dry run against a real
// kube-apiserver with the External Secrets Operator CRDs installed, so every field and enum of
// the azurekv provider block is checked by ESO's own OpenAPI schema.
func TestESOManifestsPassServerSideDryRun(t *testing.T) {
	k := testenv.RequireKube(t)
	ctx := context.Background()
	if err := testenv.InstallCRDs(ctx, k.Config, filepath.Join(testenv.SharedDir(), "corpus", "eso-crds")); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"shop", "payments", "external-secrets"} {
		if err := k.CreateNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed")
	}
	for _, tc := range []struct{ layout, kind, method string }{
		{LayoutPerKey, templates.KindSecretStore, ESOAuthWorkloadIdentity},
		{LayoutPerKey, templates.KindClusterSecretStore, ESOAuthWorkloadIdentity},
		{LayoutJSON, templates.KindSecretStore, ESOAuthServicePrincipal},
		{LayoutJSON, templates.KindClusterSecretStore, ESOAuthServicePrincipal},
		{LayoutPerKey, templates.KindSecretStore, ESOAuthManagedIdentity},
		{LayoutJSON, templates.KindClusterSecretStore, ESOAuthManagedIdentity},
	} {
		t.Run(tc.layout+"/"+tc.kind+"/"+tc.method, func(t *testing.T) {
			b, err := templates.Generate(sampleInput(t, tc.layout, tc.kind, tc.method))
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := b.Write(dir); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(kubectl, "--kubeconfig", k.Kubeconfig, "apply", "--dry-run=server", "-k", dir).CombinedOutput()
			if err != nil {
				t.Fatalf("kubectl apply --dry-run=server -k: %v\n%s", err, out)
			}
			t.Logf("%s", out)
		})
	}
	// And a broken azurekv block is refused, so the check above means something.
	dir := t.TempDir()
	bad := []byte("apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata: {name: x, namespace: shop}\nspec:\n  provider:\n    azurekv: {vaultUrl: 'https://x.vault.azure.net', authType: Kerberos}\n")
	os.WriteFile(filepath.Join(dir, "bad.yaml"), bad, 0o644)
	if out, err := exec.Command(kubectl, "--kubeconfig", k.Kubeconfig, "apply", "--dry-run=server", "-f", dir).CombinedOutput(); err == nil {
		t.Fatalf("an invalid authType passed the dry run:\n%s", out)
	}
}
