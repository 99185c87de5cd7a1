package sops

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// demoSecrets reads the Secrets of testdata/demo, with stringData merged over data as the API
// server does.
func demoSecrets(t *testing.T) []*kube.Secret {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "testdata", "demo", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no demo manifests (%v)", err)
	}
	var out []*kube.Secret
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var doc manifest
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if doc.Kind != "Secret" {
				continue
			}
			s := &kube.Secret{Namespace: doc.Metadata.Namespace, Name: doc.Metadata.Name, Type: doc.Type,
				Labels: doc.Metadata.Labels, Annotations: doc.Metadata.Annotations, Data: kube.Data{}}
			for k, v := range doc.Data {
				raw, err := base64.StdEncoding.DecodeString(v)
				if err != nil {
					t.Fatalf("%s: %s key %s is not base64", f, s.Ref(), k)
				}
				s.Data[k] = raw
			}
			for k, v := range doc.StringData {
				s.Data[k] = []byte(v)
			}
			out = append(out, s)
		}
	}
	return out
}

func TestDemoSecrets(t *testing.T) {
	bin := sopsBinary(t)
	isolateIdentities(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	keyFile := filepath.Join(dir, "age.key")
	p := open(t, &Config{Out: out, AgeKeyFile: keyFile})

	var sawBinary, sawNewline, sawStringData, sawToken bool
	for _, s := range demoSecrets(t) {
		if s.Type == "kubernetes.io/service-account-token" {
			sawToken = true // skipped by discovery, never handed to a provider
			continue
		}
		for _, v := range s.Data {
			sawBinary = sawBinary || !utf8.Valid(v)
			sawNewline = sawNewline || bytes.HasSuffix(v, []byte("\n"))
		}
		sawStringData = sawStringData || s.Type == "kubernetes.io/basic-auth"
		tg, _ := write(t, p, s)
		st, err := p.Read(context.Background(), tg)
		if err != nil || !sameData(st.Data, s.Data) || st.Type != s.EffectiveType() {
			t.Fatalf("%s: read back differs (%v)", s.Ref(), err)
		}
		plain, err := runSops(t, bin, out, []string{"SOPS_AGE_KEY_FILE=" + keyFile}, "-d", filepath.FromSlash(tg.Address))
		if err != nil {
			t.Fatalf("sops -d %s: %v", tg.Address, err)
		}
		var m manifest
		if err := yaml.Unmarshal(plain, &m); err != nil {
			t.Fatal(err)
		}
		for k, v := range s.Data {
			if m.Data[k] != base64.StdEncoding.EncodeToString(v) {
				t.Errorf("%s: sops -d differs on key %s", s.Ref(), k)
			}
		}
		if _, ok := m.Metadata.Annotations[providers.LastAppliedAnnotation]; ok {
			t.Errorf("%s: last-applied-configuration copied", s.Ref())
		}
	}
	if !sawBinary || !sawNewline || !sawStringData || !sawToken {
		t.Errorf("demo lacks a case: binary %v, trailing newline %v, stringData %v, service-account token %v",
			sawBinary, sawNewline, sawStringData, sawToken)
	}
}
