package sealed

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bitnami/sealed-secrets/pkg/crypto"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// testKey is a controller key pair, made by the sealed-secrets library as the controller makes
// its own (2048 bits to keep tests quick; the controller's default is 4096).
type testKey struct {
	priv     *rsa.PrivateKey
	certFile string // PEM certificate
	keyFile  string // PEM private key
}

func newTestKey(t testing.TB, dir string) testKey {
	t.Helper()
	priv, cert, err := crypto.GeneratePrivateKeyAndCert(2048, 24*time.Hour, "sealed-secret")
	if err != nil {
		t.Fatal(err)
	}
	return saveKey(t, dir, priv, cert.Raw)
}

func saveKey(t testing.TB, dir string, priv *rsa.PrivateKey, der []byte) testKey {
	t.Helper()
	f, err := os.CreateTemp(dir, "key-*")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	k := testKey{priv: priv, certFile: f.Name() + ".crt", keyFile: f.Name() + ".key"}
	writePEM(t, k.certFile, "CERTIFICATE", der)
	writePEM(t, k.keyFile, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(priv))
	return k
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// certWith writes a certificate for priv valid from notBefore to notAfter.
func certWith(t testing.TB, dir string, priv *rsa.PrivateKey, notBefore, notAfter time.Time) string {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "sealed-secret"}, NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "cert-"+notBefore.Format("20060102")+"-"+notAfter.Format("20060102")+".pem")
	writePEM(t, path, "CERTIFICATE", der)
	return path
}

// ecdsaCert writes a valid certificate whose key is not RSA.
func ecdsaCert(t testing.TB, dir string) string {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(8), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ecdsa.pem")
	writePEM(t, path, "CERTIFICATE", der)
	return path
}

func open(t testing.TB, c *Config) *Provider {
	t.Helper()
	p, err := c.open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func config(out string, k testKey, scope string, keys ...string) *Config {
	c := NewConfig()
	c.Out, c.Cert, c.Scope, c.PrivateKeys = out, k.certFile, scope, keys
	return c
}

var fpKey = bytes.Repeat([]byte("k"), audit.MinKeyLen)

func payload(t testing.TB, s *kube.Secret) providers.Payload {
	t.Helper()
	f, err := audit.NewFingerprinter(fpKey)
	if err != nil {
		t.Fatal(err)
	}
	p := providers.PayloadOf(s)
	p.Fingerprint, p.FingerprintKeyID, p.RunID = f.Set(s.EffectiveType(), s.Data), f.KeyID(), "run-1"
	return p
}

// write seals s as a new file and returns its target and version.
func write(t testing.TB, p *Provider, s *kube.Secret, expect string) (providers.Target, string) {
	t.Helper()
	tg, err := p.Target(providers.PayloadOf(s).Ref)
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Write(context.Background(), tg, payload(t, s), expect)
	if err != nil {
		t.Fatalf("write %s: %v", s.Ref(), err)
	}
	return tg, v
}

// sampleSecrets covers every Secret type, binary bytes, dotfile and odd keys, an empty value,
// labels and annotations (one to drop), immutable.
func sampleSecrets() []*kube.Secret {
	return []*kube.Secret{
		{Namespace: "shop", Name: "db", UID: "0b8e6c1e-1111-4c33-9d7a-5a1f00000001", Type: "Opaque",
			Labels: map[string]string{"app": "storefront"},
			Annotations: map[string]string{"team": "shop", providers.LastAppliedAnnotation: `{"data":{"password":"c2VjcmV0"}}`,
				"secretshift.io/fingerprint": "stale"},
			Data: kube.Data{"username": []byte("shop"), "password": []byte("pw\n"), "empty": {}, ".dotfile": []byte("x"), "a_b-c.d": []byte("y")}},
		{Namespace: "payments", Name: "signing", Immutable: true,
			Data: kube.Data{"hmac.key": {0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28, 0x0a, 0x0d, 0xa0, 0xa1, 0xed, 0xa0, 0x80}}},
		{Namespace: "shop", Name: "admin.basic-auth", Type: "kubernetes.io/basic-auth",
			Data: kube.Data{"username": []byte("admin"), "password": []byte("t0p: {yaml} 'q' \"x\" # no")}},
		{Namespace: "shop", Name: "tls", Type: "kubernetes.io/tls", Data: kube.Data{"tls.crt": []byte("-----BEGIN CERTIFICATE-----\n"), "tls.key": []byte("k")}},
		{Namespace: "shop", Name: "ssh", Type: "kubernetes.io/ssh-auth", Data: kube.Data{"ssh-privatekey": []byte("k")}},
		{Namespace: "shop", Name: "pull", Type: "kubernetes.io/dockerconfigjson", Data: kube.Data{".dockerconfigjson": []byte(`{"auths":{}}`)}},
		{Namespace: "shop", Name: "legacy-pull", Type: "kubernetes.io/dockercfg", Data: kube.Data{".dockercfg": []byte(`{}`)}},
		{Namespace: "shop", Name: "token", Type: "bootstrap.kubernetes.io/token", Data: kube.Data{"token-id": []byte("abcdef")}},
		{Namespace: "shop", Name: "custom", Type: "example.com/custom", Data: kube.Data{"k": []byte("v")}},
	}
}
