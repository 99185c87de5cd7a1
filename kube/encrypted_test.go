package kube

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sopsFixture is a Secret manifest written by secretshift's own SOPS target (testdata/sops).
const sopsFixture = "testdata/sops/shop/db-credentials.yaml"

// sopsMeta is the sops mapping of an encrypted document (test values, not a real key).
const sopsMeta = "sops:\n  lastmodified: \"2025-01-02T03:04:05Z\"\n  mac: ENC[AES256_GCM,data:bWFj,iv:aXY=,tag:dGFn,type:str]\n  version: 3.13.2\n"

func TestReadManifestsEncrypted(t *testing.T) {
	fixture, err := os.ReadFile(sopsFixture)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		ref, by, typ string
		keys         []string
	}
	tests := []struct {
		name string
		text string
		want []want
	}{
		{"SOPS output of secretshift", string(fixture),
			[]want{{"shop/db-credentials", EncryptedBySOPS, "Opaque", []string{"password", "username"}}}},
		{"SOPS with data and stringData", "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  a: ENC[AES256_GCM,data:eA==,iv:aXY=,tag:dGFn,type:str]\nstringData:\n  b: ENC[AES256_GCM,data:eQ==,iv:aXY=,tag:dGFn,type:str]\n  a: ENC[AES256_GCM,data:eg==,iv:aXY=,tag:dGFn,type:str]\n" + sopsMeta,
			[]want{{"default/s", EncryptedBySOPS, "", []string{"a", "b"}}}},
		{"SOPS-encrypted List", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: l1, namespace: team}\n  data: {k: 'ENC[AES256_GCM,data:eA==,iv:aXY=,tag:dGFn,type:str]'}\n" + sopsMeta,
			[]want{{"team/l1", EncryptedBySOPS, "", []string{"k"}}}},
		{"SealedSecret", "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: sealed, namespace: shop}\nspec:\n  encryptedData: {token: AgBy3i4OJSWK+PiTySYZZA==, user: AgAx}\n  template:\n    type: kubernetes.io/basic-auth\n    data: {note: plain, user: x}\n",
			[]want{{"shop/sealed", EncryptedBySealedSecrets, "kubernetes.io/basic-auth", []string{"note", "token", "user"}}}},
		{"SealedSecret without keys", "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: bare}\n",
			[]want{{"default/bare", EncryptedBySealedSecrets, "", []string{}}}},
		{"a sops field that is not sops metadata leaves a plain Secret", "apiVersion: v1\nkind: Secret\nmetadata: {name: p}\nstringData: {a: b}\nsops: {note: x}\n",
			[]want{{"default/p", "", "", []string{"a"}}}},
		{"SOPS files that are not Kubernetes objects are ignored", "db:\n  password: ENC[AES256_GCM,data:eA==,iv:aXY=,tag:dGFn,type:str]\n" + sopsMeta, nil},
		{"SealedSecret of another group is ignored", "apiVersion: example.com/v1\nkind: SealedSecret\nmetadata: {name: other}\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := readText(t, tt.text)
			if len(inv.Problems) > 0 {
				t.Fatalf("problems: %v", inv.Problems)
			}
			if len(inv.Secrets) != len(tt.want) {
				t.Fatalf("secrets = %v, want %d", secretsByRef(inv), len(tt.want))
			}
			for i, w := range tt.want {
				s := inv.Secrets[i]
				by := ""
				if s.Encrypted != nil {
					by = s.Encrypted.By
					if s.Data != nil {
						t.Errorf("%s: encrypted Secret has Data", s.Ref())
					}
				}
				if s.Ref() != w.ref || by != w.by || s.Type != w.typ || !slices.Equal(s.KeyNames(), w.keys) || s.KeyNames() == nil {
					t.Errorf("got %s by %q type %q keys %v, want %s by %q type %q keys %v", s.Ref(), by, s.Type, s.KeyNames(), w.ref, w.by, w.typ, w.keys)
				}
			}
		})
	}
}

func TestReadManifestsEncryptedProblems(t *testing.T) {
	good := "---\napiVersion: v1\nkind: Secret\nmetadata: {name: good}\nstringData: {a: b}\n"
	tests := []struct {
		name, text, kind, objName, message string
	}{
		{"SOPS name encrypted too", "apiVersion: v1\nkind: Secret\nmetadata: {name: 'ENC[AES256_GCM,data:" + canary + ",iv:aXY=,tag:dGFn,type:str]'}\ndata: {k: x}\n" + sopsMeta,
			"Secret", "", "metadata.name: encrypted by SOPS"},
		{"SOPS data not a map", "apiVersion: v1\nkind: Secret\nmetadata: {name: l}\ndata: [" + canary + "]\n" + sopsMeta, "Secret", "l", "data: must be a map"},
		{"SealedSecret without a name", "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {generateName: x-}\nspec: {encryptedData: {k: " + canary + "}}\n",
			"SealedSecret", "", "metadata.name: required"},
		{"SealedSecret encryptedData a list", "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: sl}\nspec: {encryptedData: [" + canary + "]}\n",
			"SealedSecret", "sl", "spec.encryptedData: must be a map"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := readText(t, tt.text+good)
			if len(inv.Problems) != 1 {
				t.Fatalf("problems = %v, want one", inv.Problems)
			}
			p := inv.Problems[0]
			if p.Kind != tt.kind || p.Name != tt.objName || !strings.Contains(p.Message, tt.message) {
				t.Errorf("problem = %+v, want kind %s name %q message with %q", p, tt.kind, tt.objName, tt.message)
			}
			if strings.Contains(p.Error(), canary) || strings.Contains(p.Error(), "ENC[") {
				t.Errorf("problem repeats a value or ciphertext: %s", p.Error())
			}
			if !slices.Contains(secretNames(inv), "good") {
				t.Errorf("the good Secret after the bad object: got %v", secretsByRef(inv))
			}
		})
	}
}

// Encrypted manifests are reported as skipped, for reasons of their own that no Include lifts,
// with key names only; references to their keys are not missing.
func TestDiscoverEncrypted(t *testing.T) {
	deployment := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        env:\n        - name: PW\n          valueFrom: {secretKeyRef: {name: db-credentials, key: password}}\n        - name: MISSING\n          valueFrom: {secretKeyRef: {name: db-credentials, key: nokey}}\n"
	sealed := "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: api, namespace: shop}\nspec: {encryptedData: {token: AgBy3i4OJSWK+PiTySYZZA==}}\n"
	report, err := Discover(context.Background(), Options{
		Files: []string{"testdata/sops", StdinPath}, Stdin: strings.NewReader(deployment + "---\n" + sealed),
		Classify: ClassifyOptions{Include: Reasons()}, Fingerprinter: testFingerprinter(t), KeepValues: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Reason{"shop/api": ReasonSealedManifest, "shop/db-credentials": ReasonSOPSEncrypted}
	if len(report.Items) != len(want) {
		t.Fatalf("items = %d, want %d: %+v", len(report.Items), len(want), report.Items)
	}
	for _, it := range report.Items {
		if it.Action != ActionSkip || it.Reason != want[it.Ref()] || it.Message == "" {
			t.Errorf("%s: %s/%s (%s), want skip/%s", it.Ref(), it.Action, it.Reason, it.Message, want[it.Ref()])
		}
		if it.Fingerprint != "" || it.Size != 0 || len(it.Keys) == 0 || it.Secret == nil || it.Secret.Encrypted == nil {
			t.Errorf("%s: fingerprint %q size %d keys %v secret %v", it.Ref(), it.Fingerprint, it.Size, it.Keys, it.Secret)
		}
		for _, k := range it.Keys {
			if k.Fingerprint != "" || k.Size != 0 {
				t.Errorf("%s key %s: size %d fingerprint %q, want neither", it.Ref(), k.Name, k.Size, k.Fingerprint)
			}
		}
	}
	if got := report.ToMigrate(); len(got) != 0 {
		t.Errorf("ToMigrate = %v, want none", got)
	}
	if len(report.Errors) > 0 {
		t.Errorf("errors: %v", report.Errors)
	}
	if s := report.Summary; s.Skip != 2 || s.Skipped[ReasonSOPSEncrypted] != 1 || s.Skipped[ReasonSealedManifest] != 1 || s.Errors != 0 {
		t.Errorf("summary = %+v", s)
	}
	db := findItem(t, report, "shop/db-credentials")
	if len(db.Consumers) != 1 || db.Consumers[0].Name != "web" {
		t.Errorf("consumers = %+v, want Deployment web", db.Consumers)
	}
	if m := report.MissingReferences; len(m) != 1 || m[0].Problem != MissingKey || m[0].Key != "nokey" {
		t.Errorf("missing references = %+v, want only key nokey", m)
	}
	out, err := json.Marshal(report)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"ENC[", "AgBy3i4O", "age1yt3"} {
		if strings.Contains(string(out), c) {
			t.Errorf("report repeats ciphertext or key material %q", c)
		}
	}
}

func TestFullyEncryptedSOPSDocumentIsReported(t *testing.T) {
	doc := `{"apiVersion":"ENC[AES256_GCM,data:djE=,iv:x,tag:y,type:str]","kind":"ENC[AES256_GCM,data:U2VjcmV0,iv:x,tag:y,type:str]",` +
		`"metadata":{"name":"ENC[AES256_GCM,data:ZGI=,iv:x,tag:y,type:str]"},"data":{"k":"ENC[AES256_GCM,data:dg==,iv:x,tag:y,type:str]"},` +
		`"sops":{"mac":"ENC[AES256_GCM,data:bWFj,iv:x,tag:y,type:str]","lastmodified":"2026-01-01T00:00:00Z"}}`
	inv, err := ReadManifests([]string{"-"}, ReadOptions{Stdin: strings.NewReader(doc)})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Secrets) != 0 || len(inv.Problems) != 1 || !strings.Contains(inv.Problems[0].Message, "kind is encrypted too") {
		t.Errorf("secrets %d, problems %+v", len(inv.Secrets), inv.Problems)
	}
	if strings.Contains(inv.Problems[0].Error(), "ENC[") {
		t.Error("the problem repeats ciphertext")
	}
}

// A Secret and its SealedSecret (or SOPS-encrypted copy) in one input are both read: the plain
// one to migrate, the encrypted one skipped with its reason; neither is a duplicate.
func TestPlainAndEncryptedSideBySideAreNotDuplicates(t *testing.T) {
	plain := "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: shop}\nstringData: {password: x}\n"
	sealed := "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: db, namespace: shop}\nspec:\n  encryptedData: {password: AgBy}\n  template: {metadata: {name: db, namespace: shop}}\n"
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(plain), 0o600)
	os.WriteFile(filepath.Join(dir, "b.yaml"), []byte(sealed), 0o600)
	inv, err := ReadManifests([]string{dir}, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Problems) != 0 || len(inv.Secrets) != 2 {
		t.Errorf("problems %v, %d Secrets", inv.Problems, len(inv.Secrets))
	}
}
