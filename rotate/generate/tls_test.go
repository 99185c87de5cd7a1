package generate

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// parseCerts returns the certificates of a PEM bundle, in order.
func parseCerts(t *testing.T, b []byte) []*x509.Certificate {
	t.Helper()
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			t.Fatalf("a PEM %s block among certificates", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		t.Fatal("no PEM certificate")
	}
	return certs
}

// checkLeaf checks what every generated certificate must be: tls.crt and tls.key a pair,
// tls.key PKCS #8, valid from (about) now for validity.
func checkLeaf(t *testing.T, out map[string][]byte, validity time.Duration) *x509.Certificate {
	t.Helper()
	if _, err := tls.X509KeyPair(out[KeyTLSCert], out[KeyTLSKey]); err != nil {
		t.Fatalf("tls.crt and tls.key are not a pair: %v", err)
	}
	block, _ := pem.Decode(out[KeyTLSKey])
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatal("tls.key is not a PEM PRIVATE KEY")
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		t.Fatalf("tls.key: %v", err)
	}
	leaf := parseCerts(t, out[KeyTLSCert])[0]
	now := time.Now()
	if leaf.NotBefore.After(now) || leaf.NotBefore.Before(now.Add(-backdate-time.Minute)) {
		t.Errorf("NotBefore is %s, want a little before now (%s)", leaf.NotBefore, now)
	}
	if d := leaf.NotAfter.Sub(now.Add(validity)); d > time.Second || d < -time.Minute {
		t.Errorf("NotAfter is %s, want now+%s (%s)", leaf.NotAfter, validity, now.Add(validity))
	}
	if leaf.IsCA {
		t.Error("the certificate is a CA")
	}
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) || !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		t.Errorf("extended key usage %v, want server and client auth", leaf.ExtKeyUsage)
	}
	return leaf
}

func TestTLSSelfSigned(t *testing.T) {
	for _, tc := range []struct {
		spec     string
		validity time.Duration
		keyAlg   x509.PublicKeyAlgorithm
	}{
		{"tls:commonName=app,dnsNames=app.example.com;*.app.example.com,ipAddresses=10.0.0.1;::1,validity=48h",
			48 * time.Hour, x509.ECDSA},
		{"tls:dnsNames=app.example.com,keyType=ed25519", 8760 * time.Hour, x509.Ed25519},
		{"tls:dnsNames=app.example.com,keyType=rsa,bits=2048,validity=1h", time.Hour, x509.RSA},
		{"tls:dnsNames=app.example.com,keyType=ecdsa,curve=p384", 8760 * time.Hour, x509.ECDSA},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			g := mustNew(t, tc.spec)
			if keys := g.Keys("ignored"); !slices.Equal(keys, []string{KeyTLSCert, KeyTLSKey}) {
				t.Errorf("Keys = %q", keys)
			}
			out := generate(t, g, "ignored")
			leaf := checkLeaf(t, out, tc.validity)
			if leaf.PublicKeyAlgorithm != tc.keyAlg {
				t.Errorf("key algorithm %s, want %s", leaf.PublicKeyAlgorithm, tc.keyAlg)
			}
			if len(parseCerts(t, out[KeyTLSCert])) != 1 {
				t.Error("tls.crt of a self-signed certificate holds more than it")
			}
			roots := x509.NewCertPool()
			roots.AddCert(leaf)
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "app.example.com"}); err != nil {
				t.Errorf("the certificate does not verify against itself: %v", err)
			}
		})
	}
	// The names of the first, in detail.
	out := generate(t, mustNew(t, "tls:commonName=app,dnsNames=app.example.com;*.app.example.com,ipAddresses=10.0.0.1;::1"), "")
	leaf := parseCerts(t, out[KeyTLSCert])[0]
	if leaf.Subject.CommonName != "app" || !slices.Equal(leaf.DNSNames, []string{"app.example.com", "*.app.example.com"}) ||
		len(leaf.IPAddresses) != 2 || !leaf.IPAddresses[0].Equal(net.ParseIP("10.0.0.1")) || !leaf.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("subject %q, DNS names %q, IP addresses %v", leaf.Subject.CommonName, leaf.DNSNames, leaf.IPAddresses)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	for _, name := range []string{"10.0.0.1", "::1", "x.app.example.com"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
			t.Errorf("the certificate does not verify for %s: %v", name, err)
		}
	}
}

// testCA is a CA made for a test, with its files.
type testCA struct {
	cert     *x509.Certificate
	key      crypto.Signer
	certFile string
	keyFile  string
}

// newTestCA makes a CA certificate valid from notBefore to notAfter, signed by parent (nil:
// self-signed), and writes its certificate and key (as keyBlock: "EC PRIVATE KEY" or
// "PRIVATE KEY") to files.
func newTestCA(t *testing.T, name string, parent *testCA, notBefore, notAfter time.Time, isCA bool, keyBlock string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  isCA,
	}
	issuer, signer := tmpl, crypto.Signer(key)
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	var keyDER []byte
	switch keyBlock {
	case "EC PRIVATE KEY":
		keyDER, err = x509.MarshalECPrivateKey(key)
	default:
		keyDER, err = x509.MarshalPKCS8PrivateKey(key)
	}
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ca := &testCA{cert: cert, key: key, certFile: filepath.Join(dir, "ca.crt"), keyFile: filepath.Join(dir, "ca.key")}
	writeFile(t, ca.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	// openssl ecparam -genkey writes the parameters before the key.
	params := "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
	writeFile(t, ca.keyFile, append([]byte(params), pem.EncodeToMemory(&pem.Block{Type: keyBlock, Bytes: keyDER})...))
	return ca
}

func writeFile(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// caSpec is the spec of a certificate for app.example.com signed by ca.
func caSpec(ca *testCA, more string) Spec {
	return withParams(Spec{Type: "tls", Params: map[string]string{
		"dnsNames": "app.example.com", "validity": "720h", "caCert": ca.certFile, "caKey": ca.keyFile,
	}}, more)
}

// withParams returns s with the parameters of a flag-form list added.
func withParams(s Spec, more string) Spec {
	p := map[string]string{}
	for k, v := range s.Params {
		p[k] = v
	}
	if more != "" {
		extra, err := ParseSpec(s.Type + ":" + more)
		if err != nil {
			panic(err)
		}
		for k, v := range extra.Params {
			p[k] = v
		}
	}
	return Spec{Type: s.Type, Params: p}
}

func TestTLSSignedByCA(t *testing.T) {
	now := time.Now()
	for _, keyBlock := range []string{"EC PRIVATE KEY", "PRIVATE KEY"} {
		t.Run(keyBlock, func(t *testing.T) {
			ca := newTestCA(t, "test root", nil, now.Add(-time.Hour), now.Add(10*365*24*time.Hour), true, keyBlock)
			g, err := New(caSpec(ca, "keyType=ed25519"))
			if err != nil {
				t.Fatal(err)
			}
			if keys := g.Keys(""); !slices.Equal(keys, []string{KeyTLSCert, KeyTLSKey, KeyCACert}) {
				t.Errorf("Keys = %q", keys)
			}
			out := generate(t, g, "")
			leaf := checkLeaf(t, out, 720*time.Hour)
			if got := parseCerts(t, out[KeyTLSCert]); len(got) != 1 {
				t.Errorf("tls.crt holds %d certificates; signed by a root it holds the leaf only", len(got))
			}
			caCerts := parseCerts(t, out[KeyCACert])
			if len(caCerts) != 1 || !caCerts[0].Equal(ca.cert) {
				t.Error("ca.crt is not the CA certificate")
			}
			roots := x509.NewCertPool()
			roots.AddCert(caCerts[0])
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "app.example.com"}); err != nil {
				t.Errorf("the certificate does not verify against the CA: %v", err)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: x509.NewCertPool()}); err == nil {
				t.Error("the certificate verifies against no root")
			}
		})
	}
}

func TestTLSSignedByIntermediate(t *testing.T) {
	now := time.Now()
	root := newTestCA(t, "test root", nil, now.Add(-time.Hour), now.Add(10*365*24*time.Hour), true, "PRIVATE KEY")
	inter := newTestCA(t, "test intermediate", root, now.Add(-time.Hour), now.Add(5*365*24*time.Hour), true, "PRIVATE KEY")
	out := generate(t, mustNewSpec(t, caSpec(inter, "")), "")
	leaf := checkLeaf(t, out, 720*time.Hour)
	chain := parseCerts(t, out[KeyTLSCert])
	if len(chain) != 2 || !chain[1].Equal(inter.cert) {
		t.Fatalf("tls.crt holds %d certificates, want the leaf and the intermediate", len(chain))
	}
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root.cert)
	inters.AddCert(chain[1])
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: "app.example.com"}); err != nil {
		t.Errorf("the chain in tls.crt does not verify against the root: %v", err)
	}
	if c := parseCerts(t, out[KeyCACert]); len(c) != 1 || !c[0].Equal(inter.cert) {
		t.Error("ca.crt is not the signing CA's certificate")
	}
}

func mustNewSpec(t *testing.T, s Spec) Generator {
	t.Helper()
	g, err := New(s)
	if err != nil {
		t.Fatalf("New(%s): %v", s, err)
	}
	return g
}

func TestTLSRejects(t *testing.T) {
	for _, tc := range []struct{ spec, param, says string }{
		{"tls", "", "give the certificate a name"},
		{"tls:commonName=" + strings.Repeat("a", 65), "commonName", "64"},
		{"tls:dnsNames=bad name", "dnsNames", `"bad name" has ' '`},
		{"tls:dnsNames=a..b", "dnsNames", "empty label"},
		{"tls:dnsNames=a.*.b", "dnsNames", `'*'`},
		{"tls:ipAddresses=10.0.0.256", "ipAddresses", "not an IP address"},
		{"tls:ipAddresses=fe80::1%eth0", "ipAddresses", "not an IP address"},
		{"tls:commonName=a,validity=30s", "validity", "out of range"},
		{"tls:commonName=a,keyType=dsa", "keyType", "not one of"},
		{"tls:commonName=a,bits=4096", "bits", "keyType=rsa only"},
		{"tls:commonName=a,keyType=rsa,bits=1024", "bits", "out of range"},
		{"tls:commonName=a,caCert=/x", "caKey", "missing"},
		{"tls:commonName=a,caKey=/x", "caCert", "missing"},
		{"tls:commonName=a,caCert=/does/not/exist,caKey=/does/not/exist", "caCert", "no such file"},
	} {
		rejected(t, flag(t, tc.spec), tc.param, tc.says)
	}

	now := time.Now()
	year := 365 * 24 * time.Hour
	ca := newTestCA(t, "root", nil, now.Add(-time.Hour), now.Add(10*year), true, "PRIVATE KEY")
	other := newTestCA(t, "other", nil, now.Add(-time.Hour), now.Add(10*year), true, "PRIVATE KEY")
	notCA := newTestCA(t, "leaf", ca, now.Add(-time.Hour), now.Add(year), false, "PRIVATE KEY")
	expired := newTestCA(t, "old", nil, now.Add(-2*year), now.Add(-time.Hour), true, "PRIVATE KEY")
	future := newTestCA(t, "new", nil, now.Add(time.Hour), now.Add(year), true, "PRIVATE KEY")
	short := newTestCA(t, "short", nil, now.Add(-time.Hour), now.Add(24*time.Hour), true, "PRIVATE KEY")

	mismatched := caSpec(ca, "")
	mismatched.Params["caKey"] = other.keyFile
	rejected(t, mismatched, "caKey", "is not the key of the certificate")
	rejected(t, caSpec(notCA, ""), "caCert", "not a CA certificate")
	rejected(t, caSpec(expired, ""), "caCert", "expired on")
	rejected(t, caSpec(future, ""), "caCert", "not valid before")
	rejected(t, caSpec(short, ""), "validity", "outlasts the CA certificate")
	mustNewSpec(t, caSpec(short, "validity=12h"))

	// Files that hold something else.
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk")
	writeFile(t, junk, []byte("not PEM"))
	two := filepath.Join(dir, "two.crt")
	c1, _ := os.ReadFile(ca.certFile)
	c2, _ := os.ReadFile(other.certFile)
	writeFile(t, two, append(c1, c2...))
	ecKey, err := x509.MarshalECPrivateKey(ca.key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	encrypted := filepath.Join(dir, "enc.key")
	writeFile(t, encrypted, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00"}, Bytes: ecKey}))
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	openssh := filepath.Join(dir, "id")
	block, err := marshalOpenSSH(edKey)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, openssh, block)
	for _, tc := range []struct {
		certFile, keyFile, param, says string
	}{
		{junk, ca.keyFile, "caCert", "holds 0 PEM certificates"},
		{two, ca.keyFile, "caCert", "holds 2 PEM certificates"},
		{ca.certFile, junk, "caKey", "no PEM private key"},
		{ca.certFile, encrypted, "caKey", "encrypted"},
		{ca.certFile, openssh, "caKey", "OPENSSH PRIVATE KEY is not supported"},
	} {
		s := caSpec(ca, "")
		s.Params["caCert"], s.Params["caKey"] = tc.certFile, tc.keyFile
		rejected(t, s, tc.param, tc.says)
	}
}

// marshalOpenSSH returns k as an OpenSSH PEM private key.
func marshalOpenSSH(k crypto.Signer) ([]byte, error) {
	priv, _, err := encodeOpenSSH(k, "")
	return priv, err
}
