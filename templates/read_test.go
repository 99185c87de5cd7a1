package templates

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadManifestsReadsWhatGenerateWrote: every object of a written bundle comes back, typed
// and as written, through the bundle's kustomization.
func TestReadManifestsReadsWhatGenerateWrote(t *testing.T) {
	for _, kind := range []string{KindSecretStore, KindClusterSecretStore} {
		t.Run(kind, func(t *testing.T) {
			b, err := Generate(input(kind, &fakeStore{}))
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := b.Write(dir); err != nil {
				t.Fatal(err)
			}
			m, err := ReadManifests(dir)
			if err != nil {
				t.Fatal(err)
			}
			o, _ := Build(input(kind, &fakeStore{}))
			if len(m.Stores) != len(o.Stores) || len(m.ServiceAccounts) != len(o.ServiceAccounts) || len(m.ExternalSecrets) != len(o.ExternalSecrets) {
				t.Fatalf("read %d stores, %d service accounts, %d ExternalSecrets; built %d, %d, %d",
					len(m.Stores), len(m.ServiceAccounts), len(m.ExternalSecrets), len(o.Stores), len(o.ServiceAccounts), len(o.ExternalSecrets))
			}
			for _, es := range m.ExternalSecrets {
				if es.Typed.Spec.Target.CreationPolicy != "Owner" || es.Object["kind"] != "ExternalSecret" || !strings.HasSuffix(es.Source, ".externalsecret.yaml") {
					t.Errorf("%s: %+v", es.Source, es.Typed)
				}
			}
			if len(m.Ignored) != 0 {
				t.Errorf("ignored %v", m.Ignored)
			}
		})
	}
}

// TestReadManifestsInputs: a file of several documents, a folder without a kustomization, and
// what is refused with the file named.
func TestReadManifestsInputs(t *testing.T) {
	const es = `apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: db, namespace: shop}
spec: {secretStoreRef: {name: s}, target: {name: db}}
`
	const store = `apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: s, namespace: shop}
spec: {provider: {vault: {server: "https://v"}}}
`
	write := func(t *testing.T, files map[string]string) string {
		dir := t.TempDir()
		for name, content := range files {
			p := filepath.Join(dir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	t.Run("one file, several documents", func(t *testing.T) {
		dir := write(t, map[string]string{"all.yaml": "# rendered\n---\n" + store + "---\n" + es + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"})
		m, err := ReadManifests(filepath.Join(dir, "all.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Stores) != 1 || len(m.ExternalSecrets) != 1 || len(m.Ignored) != 1 || !strings.HasSuffix(m.ExternalSecrets[0].Source, "all.yaml#3") {
			t.Fatalf("%d stores, %d ExternalSecrets, ignored %v, source %s", len(m.Stores), len(m.ExternalSecrets), m.Ignored, m.ExternalSecrets[0].Source)
		}
	})
	t.Run("folder without kustomization", func(t *testing.T) {
		m, err := ReadManifests(write(t, map[string]string{"shop/store.yaml": store, "shop/db.yml": es, "README.md": "not yaml"}))
		if err != nil || len(m.ExternalSecrets) != 1 || len(m.Stores) != 1 {
			t.Fatalf("%v %+v", err, m)
		}
	})
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"kustomization that transforms", map[string]string{"kustomization.yaml": "resources: [db.yaml]\nnamespace: other\n", "db.yaml": es}, "sets namespace"},
		{"resource outside", map[string]string{"kustomization.yaml": "resources: [https://example.com/x.yaml]\n"}, "not a file below it"},
		{"missing resource", map[string]string{"kustomization.yaml": "resources: [gone.yaml]\n"}, "gone.yaml"},
		{"duplicate key", map[string]string{"db.yaml": es + "metadata: {name: x}\n"}, "db.yaml"},
		{"not yaml", map[string]string{"db.yaml": "{{ .Values }}: [\n"}, "db.yaml"},
		{"no ExternalSecret", map[string]string{"store.yaml": store}, "holds no ExternalSecret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadManifests(write(t, tc.files))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}
