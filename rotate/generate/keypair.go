package generate

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/crypto/ssh"
)

// RSA key sizes: at least 2048 bits (NIST SP 800-131A), at most 16384 (OpenSSH's limit, and
// minutes of generation already).
const (
	minRSABits = 2048
	maxRSABits = 16384
)

// curves are the ECDSA curves by parameter value.
var curves = map[string]elliptic.Curve{
	"p256": elliptic.P256(),
	"p384": elliptic.P384(),
	"p521": elliptic.P521(),
}

// keyAlg is an algorithm and size of key to generate.
type keyAlg struct {
	typ   string // rsa, ecdsa or ed25519
	bits  int    // rsa
	curve string // ecdsa
}

// readKeyAlg reads the size parameter of typ: bits for rsa (default defBits), curve for ecdsa.
// Each is rejected for the other types; needs says when it applies.
func readKeyAlg(p *params, typ string, defBits int, needs string) keyAlg {
	a := keyAlg{typ: typ}
	p.onlyWith("bits", typ == "rsa", needs+"rsa")
	p.onlyWith("curve", typ == "ecdsa", needs+"ecdsa")
	switch typ {
	case "rsa":
		a.bits = p.integer("bits", defBits, minRSABits, maxRSABits)
	case "ecdsa":
		a.curve = p.choice("curve", "p256", "p256", "p384", "p521")
	}
	return a
}

// generate makes a new private key.
func (a keyAlg) generate() (crypto.Signer, error) {
	switch a.typ {
	case "rsa":
		return rsa.GenerateKey(rand.Reader, a.bits)
	case "ecdsa":
		return ecdsa.GenerateKey(curves[a.curve], rand.Reader)
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("unknown key type %q", a.typ) // New admits none
}

// keyPair makes a private key and its public key in PKCS #8 / PKIX PEM or OpenSSH form.
type keyPair struct {
	typ     string // the generator type, for errors
	alg     keyAlg
	openssh bool
	comment string
}

// newKeyPairOf returns the constructor of the key pair generator of one algorithm.
func newKeyPairOf(typ string) func(p *params) (Generator, error) {
	return func(p *params) (Generator, error) {
		g := &keyPair{typ: typ, alg: readKeyAlg(p, typ, 4096, "")}
		g.openssh = p.choice("format", "pkcs8", "pkcs8", "openssh") == "openssh"
		p.onlyWith("comment", g.openssh, "format=openssh")
		g.comment = readComment(p)
		return g, nil
	}
}

// newSSH builds the ssh type: an OpenSSH key pair of keyType.
func newSSH(p *params) (Generator, error) {
	typ := p.choice("keyType", "ed25519", "ed25519", "rsa", "ecdsa")
	return &keyPair{typ: "ssh", alg: readKeyAlg(p, typ, 4096, "keyType="), openssh: true, comment: readComment(p)}, nil
}

// readComment reads the comment parameter: one line of printable text.
func readComment(p *params) string {
	c := p.str("comment", "")
	if strings.ContainsFunc(c, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) {
		p.fail("comment", "must be one line of printable text")
	}
	return c
}

func (g *keyPair) Keys(key string) []string { return []string{key, key + ".pub"} }

func (g *keyPair) Generate(ctx context.Context, key string) (map[string][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k, err := g.alg.generate()
	if err != nil {
		return nil, fmt.Errorf("generator %s: generate the key: %w", g.typ, err)
	}
	var priv, pub []byte
	if g.openssh {
		priv, pub, err = encodeOpenSSH(k, g.comment)
	} else {
		priv, pub, err = encodePKCS8(k)
	}
	if err != nil {
		return nil, fmt.Errorf("generator %s: %w", g.typ, err)
	}
	return map[string][]byte{key: priv, key + ".pub": pub}, nil
}

// encodePKCS8 returns k as a PEM "PRIVATE KEY" (PKCS #8) and its public key as a PEM
// "PUBLIC KEY" (PKIX).
func encodePKCS8(k crypto.Signer) (priv, pub []byte, err error) {
	priv, err = pkcs8PEM(k)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		return nil, nil, fmt.Errorf("encode the public key: %w", err)
	}
	return priv, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// pkcs8PEM returns k as a PEM "PRIVATE KEY" (PKCS #8).
func pkcs8PEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encode the private key: %w", err)
	}
	defer clear(der)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// encodeOpenSSH returns k as an OpenSSH private key and its public key as an authorized_keys
// line, both with comment.
func encodeOpenSSH(k crypto.Signer, comment string) (priv, pub []byte, err error) {
	block, err := ssh.MarshalPrivateKey(k, comment)
	if err != nil {
		return nil, nil, fmt.Errorf("encode the private key: %w", err)
	}
	priv = pem.EncodeToMemory(block)
	clear(block.Bytes)
	sp, err := ssh.NewPublicKey(k.Public())
	if err != nil {
		return nil, nil, fmt.Errorf("encode the public key: %w", err)
	}
	pub = ssh.MarshalAuthorizedKey(sp) // "type base64\n"
	if comment != "" {
		pub = append(pub[:len(pub)-1], " "+comment+"\n"...)
	}
	return priv, pub, nil
}
