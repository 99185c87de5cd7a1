package sealed

import (
	"bytes"
	"context"
	"crypto/rsa"
	"errors"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	"github.com/bitnami/sealed-secrets/pkg/crypto"
	runtimeserializer "k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/secretshift/secretshift/internal/outdir"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// Every Secret shape comes back byte for byte when unsealed with the controller's key, with
// its type, immutability, labels and annotations in the template, kubectl's last-applied copy
// dropped and the provenance recorded.
func TestSealUnsealRoundTrip(t *testing.T) {
	dir := t.TempDir()
	k := newTestKey(t, dir)
	p := open(t, config(filepath.Join(dir, "out"), k, ScopeStrict, k.keyFile))
	ctx := context.Background()
	for _, s := range sampleSecrets() {
		tg, v := write(t, p, s, "")
		st, err := p.Read(ctx, tg)
		if err != nil {
			t.Fatal(err)
		}
		if st.Problem != "" || st.Version != v || !st.Managed || st.Type != s.EffectiveType() || st.Fingerprint != payload(t, s).Fingerprint {
			t.Errorf("%s: stored %+v", s.Ref(), st)
		}
		if len(st.Data) != len(s.Data) {
			t.Errorf("%s: %d keys, want %d", s.Ref(), len(st.Data), len(s.Data))
		}
		for key, want := range s.Data {
			if !bytes.Equal(st.Data[key], want) {
				t.Errorf("%s: key %q differs", s.Ref(), key)
			}
		}
		ss := readSealed(t, filepath.Join(dir, "out", tg.Address))
		tmpl := ss.Spec.Template
		if _, ok := tmpl.Annotations[providers.LastAppliedAnnotation]; ok {
			t.Errorf("%s: last-applied annotation kept", s.Ref())
		}
		if s.Annotations["team"] != "" && tmpl.Annotations["team"] != "shop" {
			t.Errorf("%s: annotations %v", s.Ref(), tmpl.Annotations)
		}
		if tmpl.Annotations[providers.AnnotationFingerprint] != payload(t, s).Fingerprint {
			t.Errorf("%s: an earlier fingerprint annotation was kept: %v", s.Ref(), tmpl.Annotations)
		}
		if !maps.Equal(tmpl.Labels, s.Labels) || (tmpl.Immutable != nil && *tmpl.Immutable) != s.Immutable {
			t.Errorf("%s: template %+v", s.Ref(), tmpl)
		}
		if ss.Annotations[AnnotationSealedFor] != p.cert.KeyID {
			t.Errorf("%s: sealed-for %q", s.Ref(), ss.Annotations[AnnotationSealedFor])
		}
	}
}

// Each scope is written with the annotations the controller reads, and seals with the label
// that makes it unsealable exactly where the scope allows.
func TestScopes(t *testing.T) {
	dir := t.TempDir()
	k := newTestKey(t, dir)
	s := &kube.Secret{Namespace: "shop", Name: "db", Data: kube.Data{"password": []byte("pw")}}
	for _, tc := range []struct {
		scope                     string
		annotation                string
		otherName, otherNamespace bool // unsealable when moved
	}{
		{ScopeStrict, "", false, false},
		{ScopeNamespaceWide, ssv1alpha1.SealedSecretNamespaceWideAnnotation, true, false},
		{ScopeClusterWide, ssv1alpha1.SealedSecretClusterWideAnnotation, true, true},
	} {
		t.Run(tc.scope, func(t *testing.T) {
			out := filepath.Join(dir, tc.scope)
			p := open(t, config(out, k, tc.scope))
			tg, _ := write(t, p, s, "")
			ss := readSealed(t, filepath.Join(out, tg.Address))
			if tc.annotation != "" && (ss.Annotations[tc.annotation] != "true" || ss.Spec.Template.Annotations[tc.annotation] != "true") {
				t.Errorf("scope annotation missing: %v / %v", ss.Annotations, ss.Spec.Template.Annotations)
			}
			privs := map[string]*rsa.PrivateKey{p.cert.KeyID: k.priv}
			if _, err := ss.UnsealWithoutTemplate(runtimeserializer.CodecFactory{}, privs); err != nil {
				t.Fatalf("unseal in place: %v", err)
			}
			moved := ss.DeepCopy()
			moved.Name = "other"
			if _, err := moved.UnsealWithoutTemplate(runtimeserializer.CodecFactory{}, privs); (err == nil) != tc.otherName {
				t.Errorf("unseal under another name: err = %v", err)
			}
			moved = ss.DeepCopy()
			moved.Namespace = "other"
			if _, err := moved.UnsealWithoutTemplate(runtimeserializer.CodecFactory{}, privs); (err == nil) != tc.otherNamespace {
				t.Errorf("unseal in another namespace: err = %v", err)
			}
		})
	}
	if _, err := func() (*Provider, error) {
		c := NewConfig()
		c.Scope = "everywhere"
		return c.open(context.Background())
	}(); err == nil || !strings.Contains(err.Error(), "--sealed-scope") {
		t.Errorf("bad scope: %v", err)
	}
}

// A re-run with unchanged Secrets rewrites nothing; a changed Secret, a rotated controller key
// or another scope re-seals; a file secretshift did not write, or one that is not a
// SealedSecret, is reported so the engine calls it a conflict.
func TestRerunsAndForeignFiles(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	k := newTestKey(t, dir)
	ctx := context.Background()
	s := &kube.Secret{Namespace: "shop", Name: "db", Data: kube.Data{"password": []byte("pw")}}
	p := open(t, config(out, k, ScopeStrict))
	tg, v1 := write(t, p, s, "")
	path := filepath.Join(out, tg.Address)
	before, _ := os.ReadFile(path)
	if v, err := p.Write(ctx, tg, payload(t, s), v1); err != nil || v != v1 {
		t.Fatalf("unchanged write: %v, %v", v, err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("an unchanged Secret was re-sealed")
	}
	if _, err := p.Write(ctx, tg, payload(t, s), ""); !errors.Is(err, providers.ErrConflict) {
		t.Errorf("create over an existing file: %v", err)
	}
	if _, err := p.Write(ctx, tg, payload(t, s), "0000"); !errors.Is(err, providers.ErrConflict) {
		t.Errorf("stale version: %v", err)
	}
	changed := &kube.Secret{Namespace: "shop", Name: "db", Data: kube.Data{"password": []byte("pw2")}}
	_, v2 := write(t, p, changed, v1)
	if v2 == v1 {
		t.Error("a changed Secret was not re-sealed")
	}
	p.Close()

	// The controller renewed its key: the same Secret is re-sealed for it.
	k2 := newTestKey(t, dir)
	p2 := open(t, config(out, k2, ScopeStrict))
	st, err := p2.Read(ctx, tg)
	if err != nil || !strings.Contains(st.Rewrite, "key") {
		t.Fatalf("after key rotation: %+v, %v", st, err)
	}
	if _, err := p2.Write(ctx, tg, payload(t, changed), st.Version); err != nil {
		t.Fatal(err)
	}
	if ss := readSealed(t, path); ss.Annotations[AnnotationSealedFor] != p2.cert.KeyID {
		t.Error("not re-sealed for the new key")
	}
	p2.Close()
	p3 := open(t, config(out, k2, ScopeClusterWide))
	if st, _ := p3.Read(ctx, tg); !strings.Contains(st.Rewrite, "scope") {
		t.Errorf("another scope: %+v", st)
	}
	p3.Close()

	// Not written by secretshift: a SealedSecret of kubeseal's (no provenance), a ConfigMap,
	// a SealedSecret of another name, garbage.
	p4 := open(t, config(out, k2, ScopeStrict))
	foreign := readSealed(t, path)
	foreign.Spec.Template.Annotations = nil
	b, _ := yaml.Marshal(foreign)
	for _, tc := range []struct {
		name, content string
		managed       bool
		problem       string
	}{
		{"kubeseal's own", string(b), false, ""},
		{"configmap", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: db, namespace: shop}\n", false, "not a bitnami.com/v1alpha1 SealedSecret"},
		{"other name", strings.Replace(string(b), "name: db\n", "name: other\n", 1), false, "holds the SealedSecret shop/other"},
		{"garbage", "{{{", false, "not a SealedSecret manifest"},
	} {
		if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := p4.Read(ctx, tg)
		if err != nil || st.Managed != tc.managed || (tc.problem == "") != (st.Problem == "") || !strings.Contains(st.Problem, tc.problem) {
			t.Errorf("%s: %+v, %v", tc.name, st, err)
		}
		// --overwrite: the engine names the version it read, and the file is replaced.
		if _, err := p4.Write(ctx, tg, payload(t, s), st.Version); err != nil {
			t.Errorf("%s: overwrite: %v", tc.name, err)
		}
	}
}

// The age rotate --due measures is when the values were set, recorded in the SealedSecret: a
// fresh clone (every file's time the clone's) keeps it, and so does a re-seal of the same values
// for a renewed key; new values restart it.
func TestValuesAtIsTheValuesAge(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	k := newTestKey(t, dir)
	ctx := context.Background()
	s := &kube.Secret{Namespace: "shop", Name: "db", Data: kube.Data{"password": []byte("pw")}}
	p := open(t, config(out, k, ScopeStrict))
	tg, _ := write(t, p, s, "")
	path := filepath.Join(out, tg.Address)
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	ss := readSealed(t, path)
	if at, err := time.Parse(time.RFC3339, ss.Annotations[AnnotationValuesAt]); err != nil || time.Since(at) > time.Minute {
		t.Fatalf("%s = %q, %v", AnnotationValuesAt, ss.Annotations[AnnotationValuesAt], err)
	}
	ss.Annotations[AnnotationValuesAt] = old.Format(time.RFC3339)
	b, _ := yaml.Marshal(ss)
	if err := os.WriteFile(path, b, 0o600); err != nil { // a clone: the file is new
		t.Fatal(err)
	}
	p.Close()

	p2 := open(t, config(out, newTestKey(t, dir), ScopeStrict))
	st, err := p2.Read(ctx, tg)
	if err != nil || !st.Updated.Equal(old) || st.Rewrite == "" {
		t.Fatalf("read: updated %v, rewrite %q, %v; want %v", st.Updated, st.Rewrite, err, old)
	}
	v, err := p2.Write(ctx, tg, payload(t, s), st.Version)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := p2.Read(ctx, tg); !st.Updated.Equal(old) {
		t.Errorf("a re-seal of the same values for a new key reset their age: %v", st.Updated)
	}
	s.Data["password"] = []byte("pw2")
	if _, err := p2.Write(ctx, tg, payload(t, s), v); err != nil {
		t.Fatal(err)
	}
	if st, _ := p2.Read(ctx, tg); time.Since(st.Updated) > time.Minute {
		t.Errorf("new values kept the old age: %v", st.Updated)
	}
}

// With the controller's private key, a SealedSecret whose ciphertext was changed, or that was
// moved to another name, is reported as a Problem instead of being trusted by its fingerprint.
func TestVerifyWithPrivateKeyCatchesTampering(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	k := newTestKey(t, dir)
	s := &kube.Secret{Namespace: "shop", Name: "db", Data: kube.Data{"password": []byte("pw"), "user": []byte("u")}}
	p := open(t, config(out, k, ScopeStrict, k.keyFile))
	tg, _ := write(t, p, s, "")
	path := filepath.Join(out, tg.Address)
	ss := readSealed(t, path)
	// Two values' ciphertexts swapped: each still decrypts (the label binds namespace and name,
	// not the key), so the values come back crossed, and the engine's comparison catches it.
	ss.Spec.EncryptedData["password"], ss.Spec.EncryptedData["user"] = ss.Spec.EncryptedData["user"], ss.Spec.EncryptedData["password"]
	b, _ := yaml.Marshal(ss)
	os.WriteFile(path, b, 0o600)
	st, err := p.Read(context.Background(), tg)
	if err != nil || st.Data == nil || bytes.Equal(st.Data["password"], []byte("pw")) {
		t.Fatalf("swapped values: %+v, %v", st, err)
	}
	// A flipped byte fails AES-GCM.
	ss.Spec.EncryptedData["password"] = flip(ss.Spec.EncryptedData["password"])
	b, _ = yaml.Marshal(ss)
	os.WriteFile(path, b, 0o600)
	if st, err := p.Read(context.Background(), tg); err != nil || !strings.Contains(st.Problem, "cannot be unsealed") || st.Data != nil {
		t.Errorf("flipped byte: %+v, %v", st, err)
	}
}

func flip(b64 string) string {
	b := []byte(b64)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// A certificate that cannot seal is refused when the provider opens, and nothing is created.
func TestBadCertificates(t *testing.T) {
	dir := t.TempDir()
	k := newTestKey(t, dir)
	now := time.Now()
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"), 0o600)
	text := filepath.Join(dir, "text.pem")
	os.WriteFile(text, []byte("hello"), 0o600)
	server := httptest.NewServer(http.NotFoundHandler())
	defer server.Close()
	for _, tc := range []struct{ name, cert, want string }{
		{"expired", certWith(t, dir, k.priv, now.Add(-48*time.Hour), now.Add(-time.Hour)), "expired on"},
		{"not yet valid", certWith(t, dir, k.priv, now.Add(time.Hour), now.Add(48*time.Hour)), "not valid before"},
		{"not RSA", ecdsaCert(t, dir), "ECDSA"},
		{"malformed PEM", garbage, "not a valid PEM certificate"},
		{"not PEM", text, "not a PEM certificate"},
		{"missing file", filepath.Join(dir, "none.pem"), "no such file"},
		{"URL answering 404", server.URL + "/v1/cert.pem", "404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, "out-"+strings.ReplaceAll(tc.name, " ", "-"))
			c := NewConfig()
			c.Out, c.Cert = out, tc.cert
			_, err := c.Open(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("output folder created: %v", err)
			}
		})
	}
}

// Without a certificate file the certificate comes from the controller through the cluster;
// an unreachable cluster, or no cluster at all, is a clear error before anything is written.
func TestCertificateFromAnUnreachableController(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvCert, "")
	c := NewConfig()
	c.Out = filepath.Join(dir, "out")
	if _, err := c.Open(context.Background()); err == nil || !strings.Contains(err.Error(), "--sealed-cert") {
		t.Errorf("no cluster: %v", err)
	}
	c.UseCluster(func() (*rest.Config, error) {
		return &rest.Config{Host: "https://127.0.0.1:1", Timeout: 2 * time.Second}, nil
	})
	_, err := c.Open(context.Background())
	if err == nil || !strings.Contains(err.Error(), "service kube-system/sealed-secrets-controller") || !strings.Contains(err.Error(), "--sealed-controller-name") {
		t.Errorf("unreachable: %v", err)
	}
	if _, err := os.Stat(c.Out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("output folder created: %v", err)
	}
}

// $SEALED_SECRETS_CERT and an http URL work as kubeseal's --cert does.
func TestCertificateFromEnvironmentAndURL(t *testing.T) {
	dir := t.TempDir()
	k := newTestKey(t, dir)
	pemBytes, _ := os.ReadFile(k.certFile)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(pemBytes) }))
	defer server.Close()
	for _, where := range []string{k.certFile, server.URL + "/v1/cert.pem", "file://" + k.certFile} {
		t.Setenv(EnvCert, where)
		c := NewConfig()
		c.Out = filepath.Join(dir, "out")
		p := open(t, c)
		if p.cert.Source != where {
			t.Errorf("source %q, want %q", p.cert.Source, where)
		}
	}
}

// Bad input at plan time: names invalid for a file or the scope, bad keys, values too large
// for a Secret, and a Secret too large once sealed.
func TestCheck(t *testing.T) {
	dir := t.TempDir()
	k := newTestKey(t, dir)
	p := open(t, config(filepath.Join(dir, "out"), k, ScopeStrict))
	if _, err := p.Target(providers.Ref{Namespace: "", Name: "db"}); !errors.Is(err, providers.ErrInvalidName) {
		t.Errorf("no namespace: %v", err)
	}
	if _, err := p.Target(providers.Ref{Namespace: "shop", Name: "Db_1"}); !errors.Is(err, providers.ErrInvalidName) {
		t.Errorf("invalid name: %v", err)
	}
	check := func(s *kube.Secret) error {
		tg, err := p.Target(providers.PayloadOf(s).Ref)
		if err != nil {
			t.Fatal(err)
		}
		return p.Check(tg, payload(t, s))
	}
	if err := check(&kube.Secret{Namespace: "shop", Name: "db", Data: kube.Data{"bad key": {}}}); !errors.Is(err, providers.ErrInvalidName) {
		t.Errorf("bad key: %v", err)
	}
	fits := &kube.Secret{Namespace: "shop", Name: "big", Data: kube.Data{"v": bytes.Repeat([]byte{0xa5}, 700<<10)}}
	if err := check(fits); err != nil {
		t.Errorf("700 KiB: %v", err)
	}
	tooBigSealed := &kube.Secret{Namespace: "shop", Name: "big", Data: kube.Data{"v": bytes.Repeat([]byte{0xa5}, 900<<10)}}
	if err := check(tooBigSealed); !errors.Is(err, providers.ErrTooLarge) || !strings.Contains(err.Error(), "sealed") {
		t.Errorf("900 KiB: %v", err)
	}
	tooBig := &kube.Secret{Namespace: "shop", Name: "big", Data: kube.Data{"v": make([]byte, 1<<20+1)}}
	if err := check(tooBig); !errors.Is(err, providers.ErrTooLarge) {
		t.Errorf("over 1 MiB: %v", err)
	}
	// The estimate holds: what fits is written, and stays under the limit.
	tg, _ := write(t, p, fits, "")
	if fi, err := os.Stat(filepath.Join(dir, "out", tg.Address)); err != nil || fi.Size() > maxSealedSize {
		t.Errorf("sealed file: %v, %v", fi, err)
	}
	// A crafted address cannot leave the folder.
	if _, err := p.Read(context.Background(), providers.Target{Provider: Name, Address: "../../etc/passwd.yaml"}); !errors.Is(err, providers.ErrInvalidName) {
		t.Errorf("crafted address: %v", err)
	}
}

// kustomization.yaml lists every SealedSecret of the folder after each run, also after a run
// that wrote nothing; one the user wrote is left alone.
func TestKustomization(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	k := newTestKey(t, dir)
	p := open(t, config(out, k, ScopeStrict))
	for _, s := range sampleSecrets()[:3] {
		write(t, p, s, "")
	}
	if err := p.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(out, kustomizationName)
	var kz struct {
		Kind      string   `json:"kind"`
		Resources []string `json:"resources"`
	}
	b, _ := os.ReadFile(path)
	if err := yaml.Unmarshal(b, &kz); err != nil || kz.Kind != "Kustomization" ||
		strings.Join(kz.Resources, " ") != "payments/signing.yaml shop/admin.basic-auth.yaml shop/db.yaml" {
		t.Fatalf("kustomization %s: %v", b, err)
	}
	p.Close()
	// A run that wrote nothing completes what an interrupted one left out.
	os.Remove(path)
	p2 := open(t, config(out, k, ScopeStrict))
	if err := p2.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b2, _ := os.ReadFile(path); !bytes.Equal(b, b2) {
		t.Errorf("not rewritten: %s", b2)
	}
	p2.Close()
	mine := []byte("resources: [shop/db.yaml]\n")
	os.WriteFile(path, mine, 0o600)
	p3 := open(t, config(out, k, ScopeStrict))
	if err := p3.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b3, _ := os.ReadFile(path); !bytes.Equal(b3, mine) || !strings.Contains(strings.Join(p3.Notes(), "\n"), "not written by secretshift") {
		t.Errorf("the user's kustomization was changed or not mentioned: %s", b3)
	}
}

// With "-" the SealedSecrets are one multi-document stream on the given writer, read back by
// what this run wrote; no folder is created.
func TestStdout(t *testing.T) {
	dir := t.TempDir()
	k := newTestKey(t, dir)
	var buf bytes.Buffer
	c := config(Stdout, k, ScopeStrict)
	c.UseStdout(&buf)
	p := open(t, c)
	if !p.WritesStdout() || p.OutputFolder() != "" {
		t.Fatal("not in stdout mode")
	}
	ctx := context.Background()
	for _, s := range sampleSecrets()[:2] {
		tg, err := p.Target(providers.PayloadOf(s).Ref)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Read(ctx, tg); !errors.Is(err, providers.ErrNotFound) {
			t.Fatalf("read before write: %v", err)
		}
		v, err := p.Write(ctx, tg, payload(t, s), "")
		if err != nil {
			t.Fatal(err)
		}
		if st, err := p.Read(ctx, tg); err != nil || st.Version != v || st.Fingerprint != payload(t, s).Fingerprint {
			t.Errorf("read back: %+v, %v", st, err)
		}
	}
	docs := strings.Split(buf.String(), "---\n")
	if len(docs) != 3 || docs[0] != "" {
		t.Fatalf("%d documents", len(docs)-1)
	}
	for _, d := range docs[1:] {
		var ss ssv1alpha1.SealedSecret
		if err := yaml.UnmarshalStrict([]byte(d), &ss); err != nil || ss.Kind != "SealedSecret" {
			t.Errorf("document: %v", err)
		}
	}
	if err := p.Finish(ctx); err != nil {
		t.Error(err)
	}
}

// A Secret's name may be 253 characters, too long for a file with the extension: a folder
// refuses it, a stream takes it.
func TestLongNamesOnlyInAStream(t *testing.T) {
	dir := t.TempDir()
	k := newTestKey(t, dir)
	s := &kube.Secret{Namespace: "ns", Name: strings.Repeat("a", 120) + "." + strings.Repeat("b", 132), Data: kube.Data{"k": []byte("v")}}
	if len(s.Name) != 253 {
		t.Fatalf("name of %d characters", len(s.Name))
	}
	folder := open(t, config(filepath.Join(dir, "out"), k, ScopeStrict))
	if _, err := folder.Target(providers.PayloadOf(s).Ref); !errors.Is(err, providers.ErrInvalidName) {
		t.Fatalf("a folder store takes a name too long for a file: %v", err)
	}
	var buf bytes.Buffer
	c := config(Stdout, k, ScopeStrict)
	c.UseStdout(&buf)
	stream := open(t, c)
	tg, err := stream.Target(providers.PayloadOf(s).Ref)
	if err != nil {
		t.Fatalf("a stream refuses a 253-character name: %v", err)
	}
	if err := stream.Check(tg, payload(t, s)); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Write(context.Background(), tg, payload(t, s), ""); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), s.Name) {
		t.Error("the SealedSecret is not on the stream")
	}
	bad := *s
	bad.Name = strings.Repeat("a", 254)
	if _, err := stream.Target(providers.PayloadOf(&bad).Ref); !errors.Is(err, providers.ErrInvalidName) {
		t.Errorf("a stream takes a 254-character name: %v", err)
	}
}

// A saved plan pins the controller's key and the scope; applying it with another is refused.
func TestPin(t *testing.T) {
	dir := t.TempDir()
	k, k2 := newTestKey(t, dir), newTestKey(t, dir)
	pin := open(t, config(filepath.Join(dir, "a"), k, ScopeStrict)).Pin()
	if err := open(t, config(filepath.Join(dir, "b"), k, ScopeStrict)).UsePin(pin); err != nil {
		t.Errorf("same key: %v", err)
	}
	if err := open(t, config(filepath.Join(dir, "c"), k2, ScopeStrict)).UsePin(pin); err == nil || !strings.Contains(err.Error(), "plan again") {
		t.Errorf("other key: %v", err)
	}
	if err := open(t, config(filepath.Join(dir, "d"), k, ScopeClusterWide)).UsePin(pin); err == nil || !strings.Contains(err.Error(), "scope") {
		t.Errorf("other scope: %v", err)
	}
}

// Private keys are read as kubeseal reads them: PEM, or the controller's key Secrets as a
// Secret or a List in YAML.
func TestPrivateKeyFiles(t *testing.T) {
	dir := t.TempDir()
	k := newTestKey(t, dir)
	keyPEM, _ := os.ReadFile(k.keyFile)
	secret := map[string]any{"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
		"metadata": map[string]any{"name": "sealed-secrets-key", "namespace": "kube-system"},
		"data":     map[string]any{"tls.key": keyPEM, "tls.crt": []byte("c")}}
	one, _ := yaml.Marshal(secret)
	list, _ := yaml.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": []any{secret}})
	id, _ := crypto.PublicKeyFingerprint(&k.priv.PublicKey)
	for name, content := range map[string][]byte{"pem": keyPEM, "secret": one, "list": list} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, content, 0o600)
		keys, err := readPrivateKeys([]string{path})
		if err != nil || keys[id] == nil {
			t.Errorf("%s: %v (%d keys)", name, err, len(keys))
		}
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("kind: ConfigMap\n"), 0o600)
	if _, err := readPrivateKeys([]string{bad}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad key file: %v", err)
	}
}

// The lock keeps a second run out of the folder while the first writes.
func TestFolderLock(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	k := newTestKey(t, dir)
	p1 := open(t, config(out, k, ScopeStrict))
	p2 := open(t, config(out, k, ScopeStrict))
	s := sampleSecrets()[0]
	write(t, p1, s, "")
	tg, _ := p2.Target(providers.PayloadOf(s).Ref)
	if _, err := p2.Write(context.Background(), tg, payload(t, s), ""); !errors.Is(err, outdir.ErrInUse) {
		t.Errorf("second run: %v", err)
	}
}

func readSealed(t testing.TB, path string) *ssv1alpha1.SealedSecret {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ss ssv1alpha1.SealedSecret
	if err := yaml.UnmarshalStrict(b, &ss); err != nil {
		t.Fatal(err)
	}
	return &ss
}

// Without the matching private key: a key removed by hand shows in Keys, and a private key
// that is not the one the file was sealed for is a Problem, not a pass.
func TestVerifyWithoutTheRightKey(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	k, other := newTestKey(t, dir), newTestKey(t, dir)
	s := &kube.Secret{Namespace: "shop", Name: "db", Data: kube.Data{"password": []byte("pw"), "user": []byte("u")}}
	p := open(t, config(out, k, ScopeStrict))
	tg, _ := write(t, p, s, "")
	st, err := p.Read(context.Background(), tg)
	if err != nil || strings.Join(st.Keys, ",") != "password,user" {
		t.Fatalf("keys %v, %v", st.Keys, err)
	}
	ss := readSealed(t, filepath.Join(out, tg.Address))
	delete(ss.Spec.EncryptedData, "user")
	b, _ := yaml.Marshal(ss)
	os.WriteFile(filepath.Join(out, tg.Address), b, 0o600)
	if st, _ := p.Read(context.Background(), tg); strings.Join(st.Keys, ",") != "password" {
		t.Errorf("a removed key is not seen: %v", st.Keys)
	}
	p.Close()
	wrong := open(t, config(out, k, ScopeStrict, other.keyFile))
	if st, _ := wrong.Read(context.Background(), tg); !strings.Contains(st.Problem, "none of the private keys given") {
		t.Errorf("wrong private key: %+v", st)
	}
}

// A certificate URL whose server accepts and never answers ends with the fetch timeout, or at
// once when the command is interrupted (the context), not never.
func TestCertificateURLThatNeverAnswers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	c := NewConfig()
	c.Out, c.Cert = filepath.Join(t.TempDir(), "out"), "http://"+ln.Addr().String()+"/v1/cert.pem"
	start := time.Now()
	if _, err := c.Open(ctx); err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("err = %v after %s", err, time.Since(start))
	}
}
