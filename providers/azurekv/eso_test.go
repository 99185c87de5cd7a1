package azurekv

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
	"github.com/secretshift/secretshift/templates"
)

var update = flag.Bool("update", false, "rewrite golden files")

// sampleInput is the generator's input for three migrated Secrets, as the commands build it.
func sampleInput(t *testing.T, layout, kind, method string) templates.Input {
	t.Helper()
	p := offline(t, layout, "")
	p.eso.SPSecret = "external-secrets/azure-sp"
	secrets := []*kube.Secret{
		{Namespace: "shop", Name: "db", Type: "Opaque", Labels: map[string]string{"app": "db", "app.kubernetes.io/managed-by": "Helm"},
			Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "payments"},
			Data:        kube.Data{"password": []byte("pw"), "keystore.p12": {0xff, 0x00}}},
		{Namespace: "shop", Name: "tls", Type: "kubernetes.io/tls", Immutable: true, Data: kube.Data{"tls.crt": []byte("c"), "tls.key": []byte("k")}},
		{Namespace: "payments", Name: "pull", Type: "kubernetes.io/dockerconfigjson", Data: kube.Data{".dockerconfigjson": []byte("{}")}},
	}
	in := templates.Input{Reader: p, Provider: Name, StoreKind: kind, Auth: providers.ExternalAuth{Method: method}}
	for _, s := range secrets {
		pl := providers.PayloadOf(s)
		tg, err := p.Target(pl.Ref)
		if err != nil {
			t.Fatal(err)
		}
		in.Items = append(in.Items, templates.Item{Namespace: s.Namespace, Name: s.Name, Type: s.Type, Labels: s.Labels, Annotations: s.Annotations,
			Immutable: s.Immutable, Refs: p.ExternalRefs(tg, pl)})
	}
	return in
}

func TestESOManifestsGolden(t *testing.T) {
	for _, tc := range []struct{ layout, kind, method string }{
		{LayoutPerKey, templates.KindSecretStore, ""},
		{LayoutPerKey, templates.KindClusterSecretStore, ""},
		{LayoutJSON, templates.KindSecretStore, ESOAuthServicePrincipal},
		{LayoutJSON, templates.KindClusterSecretStore, ESOAuthManagedIdentity},
	} {
		name := tc.layout + "-" + strings.ToLower(tc.kind)
		t.Run(name, func(t *testing.T) {
			b, err := templates.Generate(sampleInput(t, tc.layout, tc.kind, tc.method))
			if err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			for _, p := range b.Paths() {
				got.WriteString("### " + p + "\n")
				got.Write(b.Files[p])
			}
			golden := filepath.Join("testdata", "eso-"+name+".golden")
			if *update {
				os.MkdirAll("testdata", 0o755)
				if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if got.String() != string(want) {
				t.Errorf("output differs from %s (run with -update after checking)\n%s", golden, got.String())
			}
		})
	}
}

func TestExternalSecretRecreatesTheSecret(t *testing.T) {
	for _, layout := range []string{LayoutPerKey, LayoutJSON} {
		t.Run(layout, func(t *testing.T) {
			b, err := templates.Generate(sampleInput(t, layout, templates.KindSecretStore, ""))
			if err != nil {
				t.Fatal(err)
			}
			var es templates.ExternalSecret
			if err := yaml.UnmarshalStrict(b.Files["shop/db.externalsecret.yaml"], &es); err != nil {
				t.Fatal(err)
			}
			if es.Spec.Target.Name != "db" || es.Spec.Target.Template.Type != "Opaque" {
				t.Errorf("target %+v", es.Spec.Target)
			}
			md := es.Spec.Target.Template.Metadata
			if md == nil || md.Labels["app"] != "db" || md.Annotations["team"] != "payments" || md.Annotations["kubectl.kubernetes.io/last-applied-configuration"] != "" {
				t.Errorf("labels and annotations: %+v", md)
			}
			refs := map[string]templates.ExternalSecretData{}
			for _, d := range es.Spec.Data {
				refs[d.SecretKey] = d
			}
			pw, ks := refs["password"].RemoteRef, refs["keystore.p12"].RemoteRef
			if layout == LayoutPerKey {
				if pw.Key != "shop--db--password" || pw.Property != "" || ks.Key != "shop--db--keystore-p12" {
					t.Errorf("remote refs %+v %+v", pw, ks)
				}
			} else if pw.Key != "shop--db" || pw.Property != "password" || ks.Property != "keystore.p12" {
				t.Errorf("remote refs %+v %+v", pw, ks)
			}
			if pw.DecodingStrategy != "None" || ks.DecodingStrategy != "Base64" {
				t.Errorf("decoding strategies: password %s, keystore.p12 %s", pw.DecodingStrategy, ks.DecodingStrategy)
			}
			store := string(b.Files["shop/secretstore.yaml"])
			for _, want := range []string{"azurekv:", "authType: WorkloadIdentity", "vaultUrl: https://kv-shop.vault.azure.net", "name: secretshift-eso"} {
				if !strings.Contains(store, want) {
					t.Errorf("store lacks %q:\n%s", want, store)
				}
			}
			sa := string(b.Files["shop/serviceaccount.yaml"])
			if !strings.Contains(sa, AnnotationClientID+": 11111111-2222-3333-4444-555555555555") || !strings.Contains(sa, AnnotationTenantID) {
				t.Errorf("ServiceAccount:\n%s", sa)
			}
		})
	}
}

func TestRoleAssignmentsAreLeastPrivilege(t *testing.T) {
	in := sampleInput(t, LayoutPerKey, templates.KindSecretStore, "")
	b, err := templates.Generate(in)
	if err != nil {
		t.Fatal(err)
	}
	script := string(b.Files["azurekv/role-assignments.sh"])
	for _, want := range []string{
		"VAULT_ID=$(az keyvault show --name kv-shop --query id --output tsv)",
		`az role assignment create --role 'Key Vault Secrets User' --assignee 11111111-2222-3333-4444-555555555555 --scope "$VAULT_ID"`,
		"--subject system:serviceaccount:shop:secretshift-eso --audiences api://AzureADTokenExchange",
		"--subject system:serviceaccount:payments:secretshift-eso",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("role script lacks %q:\n%s", want, script)
		}
	}
	if strings.Contains(script, "Officer") || strings.Contains(script, "Administrator") || strings.Contains(script, "Contributor") {
		t.Errorf("more than read access:\n%s", script)
	}
	// Per-secret scope: exactly the migrated secrets.
	in.Reader.(*Provider).eso.RoleScope = RoleScopeSecret
	b, err = templates.Generate(in)
	if err != nil {
		t.Fatal(err)
	}
	script = string(b.Files["azurekv/role-assignments.sh"])
	if n := strings.Count(script, "az role assignment create"); n != 5 || !strings.Contains(script, `--scope "$VAULT_ID/secrets/shop--tls--tls-key"`) {
		t.Errorf("%d per-secret assignments, want 5:\n%s", n, script)
	}
}

func TestESOSettingsAreCheckedFirst(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*templates.Input, *Provider)
		says   string
	}{
		{"workload identity without client id", func(_ *templates.Input, p *Provider) { p.eso.ClientID = "" }, "--azure-eso-client-id"},
		{"service principal without secret", func(in *templates.Input, p *Provider) { in.Auth.Method, p.eso.SPSecret = ESOAuthServicePrincipal, "" }, "--azure-eso-sp-secret"},
		{"service principal without tenant", func(in *templates.Input, p *Provider) { in.Auth.Method, p.eso.TenantID = "ServicePrincipal", "" }, "--azure-eso-tenant-id"},
		{"cluster store service principal without namespace", func(in *templates.Input, p *Provider) {
			in.StoreKind, in.Auth.Method, p.eso.SPSecret = templates.KindClusterSecretStore, ESOAuthServicePrincipal, "azure-sp"
		}, "namespace"},
		{"unknown method", func(in *templates.Input, _ *Provider) { in.Auth.Method = "kubernetes" }, "unknown ESO auth method"},
		{"unknown role scope", func(_ *templates.Input, p *Provider) { p.eso.RoleScope = "subscription" }, "--azure-eso-role-scope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := sampleInput(t, LayoutPerKey, templates.KindSecretStore, "")
			tc.mutate(&in, in.Reader.(*Provider))
			if _, err := templates.Generate(in); err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("generate: %v, want an error saying %q", err, tc.says)
			}
			if err := templates.Check(in); err == nil {
				t.Fatal("Check must refuse it before anything is written")
			}
		})
	}
}
