package vault

import (
	"errors"
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

// esoProviderForTest is a Vault adapter as Open would make it, without a server: the ESO
// manifests need only its address, mount and ESO settings.
func esoProviderForTest() *Provider {
	return &Provider{addr: "https://vault.example.com:8200", mount: "secret", eso: NewConfig().(*Config).ESO}
}

func sampleInput(kind string) templates.Input {
	ref := func(path, key, decoding string) providers.ExternalRef {
		return providers.ExternalRef{SecretKey: key, Key: path, Property: key, Decoding: decoding, Paths: []string{"secret/data/" + path}}
	}
	return templates.Input{
		Reader: esoProviderForTest(), Provider: Name,
		StoreKind: kind,
		Items: []templates.Item{
			{Namespace: "shop", Name: "db", Type: "Opaque", Labels: map[string]string{"app": "db", "app.kubernetes.io/managed-by": "Helm"},
				Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "payments", "meta.helm.sh/release-name": "shop"},
				Refs:        []providers.ExternalRef{ref("shop/db", "password", ""), ref("shop/db", "keystore.p12", "Base64")}},
			{Namespace: "shop", Name: "tls", Type: "kubernetes.io/tls", Immutable: true,
				Refs: []providers.ExternalRef{ref("shop/tls", "tls.crt", ""), ref("shop/tls", "tls.key", "")}},
			{Namespace: "payments", Name: "pull", Type: "kubernetes.io/dockerconfigjson",
				Refs: []providers.ExternalRef{ref("payments/pull", ".dockerconfigjson", "")}},
		},
	}
}

func TestESOManifestsGolden(t *testing.T) {
	for _, kind := range []string{templates.KindSecretStore, templates.KindClusterSecretStore} {
		t.Run(kind, func(t *testing.T) {
			b, err := templates.Generate(sampleInput(kind))
			if err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			for _, p := range b.Paths() {
				got.WriteString("### " + p + "\n")
				got.Write(b.Files[p])
			}
			golden := filepath.Join("testdata", "eso-"+strings.ToLower(kind)+".golden")
			if *update {
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

func TestESOExternalSecretShape(t *testing.T) {
	b, err := templates.Generate(sampleInput(templates.KindSecretStore))
	if err != nil {
		t.Fatal(err)
	}
	var es templates.ExternalSecret
	if err := yaml.UnmarshalStrict(b.Files["shop/db.externalsecret.yaml"], &es); err != nil {
		t.Fatal(err)
	}
	if es.Spec.Target.Name != "db" || es.Spec.Target.Template.Type != "Opaque" || es.Spec.SecretStoreRef.Kind != templates.KindSecretStore {
		t.Errorf("target %+v store %+v", es.Spec.Target, es.Spec.SecretStoreRef)
	}
	md := es.Spec.Target.Template.Metadata
	if md == nil || md.Labels["app"] != "db" || md.Annotations["team"] != "payments" {
		t.Fatalf("labels and annotations not carried over: %+v", md)
	}
	for _, dropped := range []string{"kubectl.kubernetes.io/last-applied-configuration", "meta.helm.sh/release-name"} {
		if _, ok := md.Annotations[dropped]; ok {
			t.Errorf("annotation %s belongs to another tool and must not be copied", dropped)
		}
	}
	if _, ok := md.Labels["app.kubernetes.io/managed-by"]; ok {
		t.Errorf("managed-by=Helm must not be copied onto ESO's Secret")
	}
	dec := map[string]string{}
	for _, d := range es.Spec.Data {
		dec[d.SecretKey] = d.RemoteRef.DecodingStrategy
		if d.RemoteRef.Key != "shop/db" || d.RemoteRef.Property != d.SecretKey {
			t.Errorf("key %s: remoteRef %+v", d.SecretKey, d.RemoteRef)
		}
	}
	if dec["keystore.p12"] != "Base64" || dec["password"] != "None" {
		t.Errorf("decoding strategies %v", dec)
	}
}

func TestPolicyGrantsExactlyTheMigratedPaths(t *testing.T) {
	b, err := templates.Generate(sampleInput(templates.KindSecretStore))
	if err != nil {
		t.Fatal(err)
	}
	shop := string(b.Files["vault/policy-shop.hcl"])
	for _, want := range []string{`path "secret/data/shop/db"`, `path "secret/data/shop/tls"`} {
		if !strings.Contains(shop, want) {
			t.Errorf("shop policy lacks %s:\n%s", want, shop)
		}
	}
	if strings.Contains(shop, "payments") || strings.Contains(shop, "*") || strings.Count(shop, "path ") != 2 {
		t.Errorf("shop policy grants more than its two paths:\n%s", shop)
	}
	setup := string(b.Files["vault/setup.sh"])
	if !strings.Contains(setup, "bound_service_account_namespaces=shop") || !strings.Contains(setup, "audience=vault") {
		t.Errorf("role commands:\n%s", setup)
	}
}

func TestESOManifestsRejectBadAuth(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*templates.Input, *Provider)
	}{
		{"token auth without secret", func(in *templates.Input, _ *Provider) { in.Auth.Method = ESOAuthToken }},
		{"cluster store token without namespace", func(in *templates.Input, p *Provider) {
			in.StoreKind, in.Auth.Method, p.eso.TokenSecret = templates.KindClusterSecretStore, ESOAuthToken, "t/k"
		}},
		{"unknown auth method", func(in *templates.Input, _ *Provider) { in.Auth.Method = "workload-identity" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := sampleInput(templates.KindSecretStore)
			tc.mutate(&in, in.Reader.(*Provider))
			if _, err := templates.Generate(in); err == nil {
				t.Fatal("want an error")
			}
			if err := templates.Check(in); err == nil {
				t.Fatal("Check must refuse it before anything is written")
			}
		})
	}
}

func TestProvenanceNeverOverwritesOwnMetadata(t *testing.T) {
	p := esoProviderForTest()
	tg := providers.Target{Provider: Name, Address: "secret/shop/db"}
	pl := providers.Payload{Ref: providers.Ref{Namespace: "shop", Name: "db"}, Data: kube.Data{"k": []byte("v")}}
	for _, bad := range []string{"fingerprint", "run", "base64-keys", "Job", "a b"} {
		pl.Provenance = map[string]string{bad: "x"}
		if err := p.Check(tg, pl); !errors.Is(err, providers.ErrInvalidName) {
			t.Errorf("provenance key %q: %v, want ErrInvalidName", bad, err)
		}
	}
	pl.Provenance = map[string]string{"job": "rotate"}
	if err := p.Check(tg, pl); err != nil {
		t.Fatal(err)
	}
	if m := p.metadata(pl, ""); m["secretshift-job"] != "rotate" {
		t.Errorf("metadata %v", m)
	}
}
