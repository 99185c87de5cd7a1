package generate

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"testing"

	"golang.org/x/crypto/ssh"
)

// publicKey returns the public key of a parsed private key.
func publicKey(t *testing.T, k any) crypto.PublicKey {
	t.Helper()
	s, ok := k.(crypto.Signer)
	if !ok {
		t.Fatalf("a %T is not a crypto.Signer", k)
	}
	return s.Public()
}

// checkAlg checks that k is a private key of the algorithm and size wanted.
func checkAlg(t *testing.T, k any, alg string, size int) {
	t.Helper()
	switch k := k.(type) {
	case *rsa.PrivateKey:
		if alg != "rsa" || k.N.BitLen() != size {
			t.Errorf("got an RSA key of %d bits, want %s %d", k.N.BitLen(), alg, size)
		}
	case *ecdsa.PrivateKey:
		if alg != "ecdsa" || k.Curve.Params().BitSize != size {
			t.Errorf("got an ECDSA key on a %d-bit curve, want %s %d", k.Curve.Params().BitSize, alg, size)
		}
	case ed25519.PrivateKey, *ed25519.PrivateKey:
		if alg != "ed25519" {
			t.Errorf("got an Ed25519 key, want %s", alg)
		}
	default:
		t.Errorf("got a %T, want %s", k, alg)
	}
}

func TestKeyPairPKCS8(t *testing.T) {
	for _, tc := range []struct {
		spec string
		alg  string
		size int
	}{
		{"rsa:bits=2048", "rsa", 2048},
		{"ed25519", "ed25519", 0},
		{"ed25519:format=pkcs8", "ed25519", 0},
		{"ecdsa", "ecdsa", 256},
		{"ecdsa:curve=p384", "ecdsa", 384},
		{"ecdsa:curve=p521", "ecdsa", 521},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			g := mustNew(t, tc.spec)
			out := generate(t, g, "signing")
			block, rest := pem.Decode(out["signing"])
			if block == nil || block.Type != "PRIVATE KEY" || len(bytes.TrimSpace(rest)) != 0 {
				t.Fatal("signing is not one PEM PRIVATE KEY block")
			}
			priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				t.Fatalf("ParsePKCS8PrivateKey: %v", err)
			}
			checkAlg(t, priv, tc.alg, tc.size)
			block, rest = pem.Decode(out["signing.pub"])
			if block == nil || block.Type != "PUBLIC KEY" || len(bytes.TrimSpace(rest)) != 0 {
				t.Fatal("signing.pub is not one PEM PUBLIC KEY block")
			}
			pub, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				t.Fatalf("ParsePKIXPublicKey: %v", err)
			}
			if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(publicKey(t, priv)) {
				t.Error("signing.pub is not the public key of signing")
			}
			if tc.alg != "rsa" { // a second RSA key would only cost time
				if again := generate(t, g, "signing"); bytes.Equal(again["signing"], out["signing"]) {
					t.Error("two draws made the same key")
				}
			}
		})
	}
}

func TestKeyPairOpenSSH(t *testing.T) {
	for _, tc := range []struct {
		spec, comment string
		alg           string
		size          int
		sshType       string
	}{
		{"ssh", "", "ed25519", 0, ssh.KeyAlgoED25519},
		{"ssh:comment=deploy@ci", "deploy@ci", "ed25519", 0, ssh.KeyAlgoED25519},
		{"ssh:keyType=ecdsa,curve=p384", "", "ecdsa", 384, ssh.KeyAlgoECDSA384},
		{"ssh:keyType=rsa,bits=2048,comment=backup key", "backup key", "rsa", 2048, ssh.KeyAlgoRSA},
		{"ed25519:format=openssh,comment=x", "x", "ed25519", 0, ssh.KeyAlgoED25519},
		{"ecdsa:format=openssh", "", "ecdsa", 256, ssh.KeyAlgoECDSA256},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			g := mustNew(t, tc.spec)
			out := generate(t, g, "id")
			if block, _ := pem.Decode(out["id"]); block == nil || block.Type != "OPENSSH PRIVATE KEY" {
				t.Fatal("id is not a PEM OPENSSH PRIVATE KEY")
			}
			priv, err := ssh.ParseRawPrivateKey(out["id"])
			if err != nil {
				t.Fatalf("ParseRawPrivateKey: %v", err)
			}
			checkAlg(t, priv, tc.alg, tc.size)
			pub, comment, _, rest, err := ssh.ParseAuthorizedKey(out["id.pub"])
			if err != nil {
				t.Fatalf("ParseAuthorizedKey: %v", err)
			}
			if len(rest) != 0 || !bytes.HasSuffix(out["id.pub"], []byte("\n")) || bytes.Count(out["id.pub"], []byte("\n")) != 1 {
				t.Errorf("id.pub is not one authorized_keys line: %q", out["id.pub"])
			}
			if pub.Type() != tc.sshType || comment != tc.comment {
				t.Errorf("id.pub is a %s key with comment %q, want %s and %q", pub.Type(), comment, tc.sshType, tc.comment)
			}
			want, err := ssh.NewPublicKey(publicKey(t, priv))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pub.Marshal(), want.Marshal()) {
				t.Error("id.pub is not the public key of id")
			}
		})
	}
}

func TestKeyPairRejects(t *testing.T) {
	for _, tc := range []struct{ spec, param, says string }{
		{"rsa:bits=1024", "bits", "out of range: use 2048 to 16384"},
		{"rsa:format=der", "format", `"der" is not one of pkcs8, openssh`},
		{"ed25519:comment=x", "comment", "applies to format=openssh only"},
		{"ecdsa:curve=p224", "curve", "not one of p256, p384, p521"},
		{"ssh:keyType=dsa", "keyType", "not one of ed25519, rsa, ecdsa"},
		{"ssh:bits=4096", "bits", "applies to keyType=rsa only"},
		{"ssh:keyType=rsa,curve=p256", "curve", "applies to keyType=ecdsa only"},
	} {
		rejected(t, flag(t, tc.spec), tc.param, tc.says)
	}
	rejected(t, Spec{Type: "ssh", Params: map[string]string{"comment": "a\nb"}}, "comment", "one line")
}
