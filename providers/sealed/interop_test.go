package sealed

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/secretshift/secretshift/internal/testenv"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// kubesealBinary is the pinned kubeseal in .tools/bin. With -short a missing binary skips the
// test; otherwise it fails it, so CI cannot pass by accident.
func kubesealBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(testenv.BinDir(), "kubeseal")
	if _, err := os.Stat(bin); err != nil {
		if testing.Short() {
			t.Skipf("kubeseal not found at %s (make tools)", bin)
		}
		t.Fatalf("kubeseal not found at %s (make tools)", bin)
	}
	return bin
}

// The real kubeseal opens what secretshift sealed (--recovery-unseal with the controller's
// key), in every scope, and gets every Secret back byte for byte with its type and metadata.
func TestKubesealUnsealsOurOutput(t *testing.T) {
	bin := kubesealBinary(t)
	dir := t.TempDir()
	k := newTestKey(t, dir)
	for _, scope := range []string{ScopeStrict, ScopeNamespaceWide, ScopeClusterWide} {
		t.Run(scope, func(t *testing.T) {
			out := filepath.Join(dir, scope)
			p := open(t, config(out, k, scope))
			for _, s := range sampleSecrets() {
				tg, _ := write(t, p, s, "")
				sealedFile, err := os.ReadFile(filepath.Join(out, tg.Address))
				if err != nil {
					t.Fatal(err)
				}
				cmd := exec.Command(bin, "--recovery-unseal", "--recovery-private-key", k.keyFile, "-o", "yaml")
				cmd.Stdin = bytes.NewReader(sealedFile)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				got, err := cmd.Output()
				if err != nil {
					t.Fatalf("kubeseal --recovery-unseal %s: %v\n%s", tg.Address, err, stderr.Bytes())
				}
				var secret corev1.Secret
				if err := yaml.Unmarshal(got, &secret); err != nil {
					t.Fatal(err)
				}
				if secret.Name != s.Name || secret.Namespace != s.Namespace || string(secret.Type) != s.EffectiveType() || len(secret.Data) != len(s.Data) {
					t.Errorf("%s: unsealed %s/%s type %s, %d keys", s.Ref(), secret.Namespace, secret.Name, secret.Type, len(secret.Data))
				}
				for key, want := range s.Data {
					if !bytes.Equal(secret.Data[key], want) {
						t.Errorf("%s: key %q differs", s.Ref(), key)
					}
				}
				if secret.Annotations[providers.AnnotationFingerprint] != payload(t, s).Fingerprint {
					t.Errorf("%s: the unsealed Secret does not carry its fingerprint", s.Ref())
				}
			}
		})
	}
}

// Sealing works with kubeseal's own test certificate from the corpus, and gives what kubeseal
// gives for it: one encryptedData entry per key, sealed for the certificate's key.
func TestSealWithKubesealsTestCertificate(t *testing.T) {
	certFile := filepath.Join(testenv.SharedDir(), "corpus", "sealed-secrets", "kubeseal_test-testCert.pem")
	if _, err := os.Stat(certFile); err != nil {
		t.Skipf("corpus not found: %v", err)
	}
	dir := t.TempDir()
	c := NewConfig()
	c.Out, c.Cert = filepath.Join(dir, "out"), certFile
	p, err := c.Open(context.Background())
	if err != nil {
		t.Skipf("kubeseal's test certificate cannot be used now: %v", err)
	}
	defer p.(*Provider).Close()
	s := &kube.Secret{Namespace: "default", Name: "mysecret", Data: kube.Data{"foo": []byte("bar"), "bin": {0, 0xff}}}
	tg, _ := write(t, p.(*Provider), s, "")
	ss := readSealed(t, filepath.Join(dir, "out", tg.Address))
	if len(ss.Spec.EncryptedData) != 2 || ss.Annotations[AnnotationSealedFor] == "" {
		t.Errorf("sealed %+v", ss)
	}
	bin := kubesealBinary(t)
	// kubeseal itself seals with the same certificate; both name the same key.
	cmd := exec.Command(bin, "--cert", certFile, "-o", "yaml")
	cmd.Stdin = bytes.NewReader([]byte("apiVersion: v1\nkind: Secret\nmetadata: {name: mysecret, namespace: default}\ndata: {foo: YmFy}\n"))
	theirs, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubeseal --cert: %v", err)
	}
	var their struct {
		Spec struct {
			EncryptedData map[string]string `json:"encryptedData"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(theirs, &their); err != nil || len(their.Spec.EncryptedData["foo"]) != len(ss.Spec.EncryptedData["foo"]) {
		t.Errorf("kubeseal's ciphertext for the same value has another length: %d vs %d (%v)", len(their.Spec.EncryptedData["foo"]), len(ss.Spec.EncryptedData["foo"]), err)
	}
}
