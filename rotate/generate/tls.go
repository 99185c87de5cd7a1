package generate

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"
)

// The Secret keys of a kubernetes.io/tls Secret (and the CA certificate cert-manager adds).
const (
	KeyTLSCert = "tls.crt"
	KeyTLSKey  = "tls.key"
	KeyCACert  = "ca.crt"
)

const (
	// maxValidity bounds validity; beyond a century the dates stop meaning anything.
	maxValidity = 100 * 365 * 24 * time.Hour
	// backdate is how far before now a certificate's validity starts, so that a peer whose
	// clock is a little behind accepts it at once.
	backdate = 5 * time.Minute
	// maxPEMFile bounds the CA files read.
	maxPEMFile = 1 << 20
)

// certificate makes a key and a certificate for it, self-signed or signed by a CA.
type certificate struct {
	commonName string
	dnsNames   []string
	ips        []net.IP
	validity   time.Duration
	alg        keyAlg
	// With a CA:
	ca      *x509.Certificate
	caKey   crypto.Signer
	caPEM   []byte // ca.crt
	caChain bool   // the CA is not self-signed, so tls.crt carries it after the leaf
}

func newTLS(p *params) (Generator, error) {
	g := &certificate{
		commonName: p.str("commonName", ""),
		dnsNames:   p.list("dnsNames"),
		validity:   p.duration("validity", 365*24*time.Hour, time.Minute, maxValidity),
	}
	g.alg = readKeyAlg(p, p.choice("keyType", "ecdsa", "ecdsa", "rsa", "ed25519"), 2048, "keyType=")
	if len(g.commonName) > 64 {
		p.fail("commonName", "is %d bytes long; X.509 allows 64 (put long names in dnsNames)", len(g.commonName))
	}
	for _, n := range g.dnsNames {
		if err := checkDNSName(n); err != nil {
			p.fail("dnsNames", "%q %s", n, err)
		}
	}
	for _, s := range p.list("ipAddresses") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			p.fail("ipAddresses", "%q is not an IP address", s)
			continue
		}
		g.ips = append(g.ips, net.IP(a.AsSlice()))
	}
	if p.err == nil && g.commonName == "" && len(g.dnsNames) == 0 && len(g.ips) == 0 {
		p.fail("", "give the certificate a name: commonName, dnsNames or ipAddresses")
	}
	caCert, caKey := p.str("caCert", ""), p.str("caKey", "")
	switch {
	case p.err != nil:
	case p.has("caCert") != p.has("caKey"):
		missing := "caKey"
		if !p.has("caCert") {
			missing = "caCert"
		}
		p.fail(missing, "missing: caCert and caKey go together")
	case p.has("caCert"):
		if err := g.loadCA(p, caCert, caKey); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// checkDNSName checks a DNS name for a certificate: letters, digits, "-" and "_" in labels of
// at most 63 characters, at most 253 in all, and "*" only as the whole first label.
func checkDNSName(n string) error {
	if len(n) > 253 {
		return errors.New("is longer than 253 characters")
	}
	for i, label := range strings.Split(n, ".") {
		if label == "*" && i == 0 && strings.Contains(n, ".") {
			continue
		}
		if label == "" || len(label) > 63 {
			return errors.New("has an empty label or one longer than 63 characters")
		}
		for _, c := range label {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("has %q, which a DNS name cannot hold", c)
			}
		}
	}
	return nil
}

// loadCA reads, checks and keeps the CA certificate and key. Its faults are parameter faults;
// an error it returns is a *SpecError too.
func (g *certificate) loadCA(p *params, certFile, keyFile string) error {
	certPEM, err := readPEMFile(certFile)
	if err != nil {
		return &SpecError{Type: p.typ, Param: "caCert", Err: err}
	}
	var certs []*x509.Certificate
	for rest := certPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return &SpecError{Type: p.typ, Param: "caCert", Reason: certFile, Err: err}
		}
		certs = append(certs, c)
	}
	if len(certs) != 1 {
		p.fail("caCert", "%s holds %d PEM certificates; it must hold the signing CA's certificate alone", certFile, len(certs))
		return nil
	}
	ca := certs[0]
	keyPEM, err := readPEMFile(keyFile)
	if err != nil {
		return &SpecError{Type: p.typ, Param: "caKey", Err: err}
	}
	defer clear(keyPEM)
	key, err := parsePrivateKeyPEM(keyPEM)
	if err != nil {
		return &SpecError{Type: p.typ, Param: "caKey", Reason: keyFile, Err: err}
	}
	now := time.Now()
	type equaler interface{ Equal(crypto.PublicKey) bool }
	switch pub, ok := key.Public().(equaler); {
	case !ok || !pub.Equal(ca.PublicKey):
		p.fail("caKey", "%s is not the key of the certificate in %s", keyFile, certFile)
	case !ca.BasicConstraintsValid || !ca.IsCA:
		p.fail("caCert", "%s is not a CA certificate (basic constraints do not say CA)", certFile)
	case ca.KeyUsage != 0 && ca.KeyUsage&x509.KeyUsageCertSign == 0:
		p.fail("caCert", "%s may not sign certificates (its key usage lacks certificate signing)", certFile)
	case now.Before(ca.NotBefore):
		p.fail("caCert", "%s is not valid before %s", certFile, ca.NotBefore.UTC().Format(time.RFC3339))
	case now.After(ca.NotAfter):
		p.fail("caCert", "%s expired on %s", certFile, ca.NotAfter.UTC().Format(time.RFC3339))
	case now.Add(g.validity).After(ca.NotAfter):
		p.fail("validity", "%s outlasts the CA certificate, which expires on %s: use a shorter validity or a newer CA",
			g.validity, ca.NotAfter.UTC().Format(time.RFC3339))
	}
	g.ca, g.caKey = ca, key
	g.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	g.caChain = !bytes.Equal(ca.RawSubject, ca.RawIssuer) || ca.CheckSignatureFrom(ca) != nil
	return nil
}

// readPEMFile reads a file of at most maxPEMFile bytes.
func readPEMFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPEMFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxPEMFile {
		clear(b)
		return nil, fmt.Errorf("%s: more than %d bytes, not a PEM file", name, maxPEMFile)
	}
	return b, nil
}

// parsePrivateKeyPEM returns the first private key in b: PKCS #8, PKCS #1 (RSA) or SEC 1 (EC),
// unencrypted. Other blocks (such as EC PARAMETERS) are skipped. Its errors never hold key
// material.
func parsePrivateKeyPEM(b []byte) (crypto.Signer, error) {
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)")
		}
		if _, encrypted := block.Headers["DEK-Info"]; encrypted {
			return nil, errors.New("the key is encrypted: give it unencrypted")
		}
		var k any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY", "OPENSSH PRIVATE KEY":
			return nil, fmt.Errorf("a PEM %s is not supported: give an unencrypted PKCS #8, PKCS #1 or SEC 1 key", block.Type)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("PEM %s: %w", block.Type, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("a %T cannot sign", k)
		}
		return s, nil
	}
}

func (g *certificate) Keys(string) []string {
	if g.ca != nil {
		return []string{KeyTLSCert, KeyTLSKey, KeyCACert}
	}
	return []string{KeyTLSCert, KeyTLSKey}
}

// Generate makes a new key and certificate. key is ignored: the keys are those of a
// kubernetes.io/tls Secret.
func (g *certificate) Generate(ctx context.Context, _ string) (map[string][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: g.commonName},
		DNSNames:              g.dnsNames,
		IPAddresses:           g.ips,
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(g.validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	if g.alg.typ == "rsa" {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment // RSA key exchange (TLS 1.2)
	}
	parent := tmpl
	if g.ca != nil {
		if tmpl.NotAfter.After(g.ca.NotAfter) {
			return nil, fmt.Errorf("generator tls: validity=%s now outlasts the CA certificate, which expires on %s",
				g.validity, g.ca.NotAfter.UTC().Format(time.RFC3339))
		}
		if tmpl.NotBefore.Before(g.ca.NotBefore) {
			tmpl.NotBefore = g.ca.NotBefore
		}
		parent = g.ca
	}
	k, err := g.alg.generate()
	if err != nil {
		return nil, fmt.Errorf("generator tls: generate the key: %w", err)
	}
	signer := k
	if g.ca != nil {
		signer = g.caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, k.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("generator tls: sign the certificate: %w", err)
	}
	keyPEM, err := pkcs8PEM(k)
	if err != nil {
		return nil, fmt.Errorf("generator tls: %w", err)
	}
	out := map[string][]byte{
		KeyTLSCert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyTLSKey:  keyPEM,
	}
	if g.ca != nil {
		if g.caChain {
			out[KeyTLSCert] = append(out[KeyTLSCert], g.caPEM...)
		}
		out[KeyCACert] = bytes.Clone(g.caPEM)
	}
	return out, nil
}
