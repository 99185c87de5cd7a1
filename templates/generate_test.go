package templates

import (
	"errors"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/secretshift/secretshift/providers"
)

// fakeStore is a store adapter of the generator's tests: it shows that everything particular
// to a store comes through providers.ExternalReader. The real adapters test their own blocks
// (providers/vault: golden manifests and a server-side dry run against ESO's CRDs).
type fakeStore struct {
	req providers.StoreRequest
	err error
}

func (f *fakeStore) ExternalRefs(providers.Target, providers.Payload) []providers.ExternalRef {
	return nil
}

func (f *fakeStore) ExternalStores(req providers.StoreRequest) (*providers.StoreSet, error) {
	f.req = req
	if f.err != nil {
		return nil, f.err
	}
	set := &providers.StoreSet{Providers: map[string]map[string]any{}, Files: map[string][]byte{"fake/grants.txt": []byte("read\n")}}
	for ns := range req.Refs {
		if req.Cluster {
			ns = ""
		}
		set.Providers[ns] = map[string]any{"fake": map[string]string{"url": "https://store.example"}}
		set.ServiceAccounts = append(set.ServiceAccounts, providers.ServiceAccount{Namespace: ns, Name: req.Auth.ServiceAccount, Annotations: map[string]string{"fake.example/client-id": "abc"}})
	}
	return set, nil
}

func input(kind string, store *fakeStore) Input {
	ref := func(ns, name, key string) providers.ExternalRef {
		return providers.ExternalRef{SecretKey: key, Key: ns + "-" + name, Property: key}
	}
	return Input{
		Reader: store, Provider: "fake", StoreKind: kind,
		Items: []Item{
			{Namespace: "shop", Name: "db", Type: "Opaque", Refs: []providers.ExternalRef{ref("shop", "db", "password")}},
			{Namespace: "payments", Name: "pull", Type: "kubernetes.io/dockerconfigjson", Refs: []providers.ExternalRef{ref("payments", "pull", ".dockerconfigjson")}},
		},
	}
}

func TestGenerateAssemblesWhatTheStoreGives(t *testing.T) {
	store := &fakeStore{}
	b, err := Generate(input(KindSecretStore, store))
	if err != nil {
		t.Fatal(err)
	}
	if store.req.Name != "secretshift-fake" || store.req.Cluster || len(store.req.Refs["shop"]) != 1 || store.req.Auth.ServiceAccount != DefaultServiceAccount {
		t.Errorf("request %+v", store.req)
	}
	var ss SecretStore
	if err := yaml.UnmarshalStrict(b.Files["shop/secretstore.yaml"], &ss); err != nil {
		t.Fatal(err)
	}
	if ss.Metadata.Name != "secretshift-fake" || ss.Spec.Provider["fake"] == nil {
		t.Errorf("store %+v", ss)
	}
	if !strings.Contains(string(b.Files["payments/serviceaccount.yaml"]), "fake.example/client-id: abc") {
		t.Errorf("the ServiceAccount lost the store's annotations:\n%s", b.Files["payments/serviceaccount.yaml"])
	}
	if string(b.Files["fake/grants.txt"]) != "read\n" {
		t.Error("the store's access material is missing")
	}
	kust := string(b.Files["kustomization.yaml"])
	for _, want := range []string{"shop/secretstore.yaml", "shop/db.externalsecret.yaml", "payments/serviceaccount.yaml"} {
		if !strings.Contains(kust, want) {
			t.Errorf("kustomization lacks %s:\n%s", want, kust)
		}
	}
	if strings.Contains(kust, "grants.txt") {
		t.Error("access material is not a Kubernetes resource")
	}
}

func TestGenerateClusterStore(t *testing.T) {
	b, err := Generate(input(KindClusterSecretStore, &fakeStore{}))
	if err != nil {
		t.Fatal(err)
	}
	var ss SecretStore
	if err := yaml.UnmarshalStrict(b.Files["clustersecretstore.yaml"], &ss); err != nil {
		t.Fatal(err)
	}
	if ss.Kind != KindClusterSecretStore || len(ss.Spec.Conditions) != 1 || strings.Join(ss.Spec.Conditions[0].Namespaces, ",") != "payments,shop" {
		t.Errorf("cluster store %+v", ss)
	}
	var es ExternalSecret
	if err := yaml.UnmarshalStrict(b.Files["shop/db.externalsecret.yaml"], &es); err != nil {
		t.Fatal(err)
	}
	if es.Spec.SecretStoreRef.Kind != KindClusterSecretStore || es.Spec.Target.CreationPolicy != "Owner" {
		t.Errorf("external secret %+v", es.Spec)
	}
}

func TestGenerateRejectsBadInput(t *testing.T) {
	bad := input(KindSecretStore, &fakeStore{})
	bad.StoreKind = "Vault"
	if _, err := Generate(bad); err == nil {
		t.Error("an unknown store kind was accepted")
	}
	refusing := input(KindSecretStore, &fakeStore{err: errors.New("unknown auth method")})
	if _, err := Generate(refusing); err == nil {
		t.Error("the store's refusal was not passed on")
	}
	if err := Check(refusing); err == nil {
		t.Error("Check did not ask the store")
	}
}
