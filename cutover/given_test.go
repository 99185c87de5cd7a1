package cutover

import (
	"encoding/json"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/secretshift/secretshift/templates"
)

// TestReadsTheCopy: a user's ExternalSecret is accepted only when ESO would make the Secret
// from exactly the verified copy; each way of reading something else is named.
func TestReadsTheCopy(t *testing.T) {
	want := templates.ExternalSecret{Spec: templates.ExternalSecretSpec{
		Target: templates.ExternalSecretTarget{Name: "db", CreationPolicy: "Owner", Template: &templates.Template{Type: "kubernetes.io/tls"}},
		Data: []templates.ExternalSecretData{
			{SecretKey: "tls.crt", RemoteRef: templates.RemoteRef{Key: "shop/db", Property: "tls.crt", DecodingStrategy: "None"}},
			{SecretKey: "tls.key", RemoteRef: templates.RemoteRef{Key: "shop/db", Property: "tls.key", DecodingStrategy: "Base64"}},
		},
	}}
	const base = `apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: db, namespace: shop, labels: {team: mine}}
spec:
  refreshInterval: 7m
  secretStoreRef: {name: their-store}
  target: {name: db, deletionPolicy: Retain, template: {type: kubernetes.io/tls}}
  data:
  - {secretKey: tls.key, remoteRef: {key: shop/db, property: tls.key, decodingStrategy: Base64}}
  - {secretKey: tls.crt, remoteRef: {key: shop/db, property: tls.crt, conversionStrategy: Default}}
`
	read := func(t *testing.T, doc string) templates.Read[templates.ExternalSecret] {
		t.Helper()
		j, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		r := templates.Read[templates.ExternalSecret]{Source: "shop/db.externalsecret.yaml"}
		if err := json.Unmarshal(j, &r.Object); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(j, &r.Typed); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if err := readsTheCopy(read(t, base), want); err != nil {
		t.Fatalf("the user's own settings (order, defaults spelled out, refresh, store, labels) refused: %v", err)
	}
	for _, tc := range []struct{ name, from, to, want string }{
		{"creation policy", "deletionPolicy: Retain", "creationPolicy: Merge", "creationPolicy Merge"},
		{"dataFrom", "  data:\n", "  dataFrom: [{extract: {key: shop/db}}]\n  data:\n", "dataFrom"},
		{"template data", "template: {type: kubernetes.io/tls}", "template: {type: kubernetes.io/tls, data: {x: '{{ .y }}'}}", "template.data"},
		{"type", "template: {type: kubernetes.io/tls}", "template: {type: Opaque}", "type Opaque"},
		{"other key", "key: shop/db, property: tls.crt", "key: shop/other, property: tls.crt", "other remote values than the verified copy for tls.crt"},
		{"decoding", "decodingStrategy: Base64", "decodingStrategy: None", "for tls.key"},
		{"version", "property: tls.crt,", "property: tls.crt, version: '3',", "for tls.crt"},
		{"missing key", "  - {secretKey: tls.key, remoteRef: {key: shop/db, property: tls.key, decodingStrategy: Base64}}\n", "", "does not make the keys tls.key"},
		{"extra key", "  data:\n", "  data:\n  - {secretKey: extra, remoteRef: {key: shop/db, property: extra}}\n", "does not have extra"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := strings.Replace(base, tc.from, tc.to, 1)
			if doc == base {
				t.Fatalf("%q not in the base document", tc.from)
			}
			err := readsTheCopy(read(t, doc), want)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := versioned(esoHandler.resource, "external-secrets.io/v1beta1"); err != nil {
		t.Errorf("v1beta1: %v", err)
	}
	if _, err := versioned(esoHandler.resource, "external-secrets.io/v2"); err == nil {
		t.Error("v2 accepted")
	}
}
