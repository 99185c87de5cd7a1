package sops

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"filippo.io/age"
	"github.com/spf13/pflag"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// repoRoot is the folder holding the module's go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			bytes.Contains(b, []byte("module github.com/secretshift/secretshift\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod of github.com/secretshift/secretshift not found")
		}
		dir = parent
	}
}

// sopsBinary locates the pinned sops binary: $SECRETSHIFT_TOOLS_BIN or <repo>/.tools/bin. With
// -short a missing binary skips the test; otherwise it fails it, so CI cannot pass by accident.
func sopsBinary(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SECRETSHIFT_TOOLS_BIN")
	if dir == "" {
		dir = filepath.Join(repoRoot(t), ".tools", "bin")
	}
	bin := filepath.Join(dir, "sops")
	if _, err := os.Stat(bin); err != nil {
		if testing.Short() {
			t.Skipf("sops binary not found at %s (build it: see tools/sops)", bin)
		}
		t.Fatalf("sops binary not found at %s (build it: cd tools/sops && go build -o ../../.tools/bin/sops github.com/getsops/sops/v3/cmd/sops)", bin)
	}
	return bin
}

// corpusDir is the shared test corpus: $SECRETSHIFT_SHARED or <repo>/../shared.
func corpusDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SECRETSHIFT_SHARED")
	if dir == "" {
		dir = filepath.Join(repoRoot(t), "..", "shared")
	}
	dir = filepath.Join(dir, "corpus", "sops")
	if _, err := os.Stat(dir); err != nil {
		if testing.Short() {
			t.Skipf("test corpus not found at %s", dir)
		}
		t.Fatalf("test corpus not found at %s (set SECRETSHIFT_SHARED)", dir)
	}
	return dir
}

// isolateIdentities hides any age identity of the machine running the tests, so that "cannot
// decrypt" cases are real and nothing reads the developer's keys.
func isolateIdentities(t *testing.T) {
	t.Helper()
	for _, k := range []string{"SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD",
		"SOPS_AGE_SSH_PRIVATE_KEY_FILE", "SOPS_AGE_SSH_PRIVATE_KEY_CMD", EnvAgeRecipients} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("GNUPGHOME", filepath.Join(home, ".gnupg"))
}

// newKey writes a fresh age identity file and returns its path and public key.
func newKey(t *testing.T, dir string) (path, recipient string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "age-"+id.Recipient().String()[4:12]+".key")
	if err := os.WriteFile(path, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, id.Recipient().String()
}

func open(t *testing.T, c *Config) *Provider {
	t.Helper()
	p, err := c.open(context.Background())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

var fpKey = bytes.Repeat([]byte("k"), audit.MinKeyLen)

func fingerprint(t testing.TB, s *kube.Secret) string {
	t.Helper()
	f, err := audit.NewFingerprinter(fpKey)
	if err != nil {
		t.Fatal(err)
	}
	return f.Set(s.EffectiveType(), s.Data)
}

func payload(t testing.TB, s *kube.Secret) providers.Payload {
	return withFingerprint(providers.PayloadOf(s), fingerprint(t, s), "hmac-sha256:0123456789abcdef", "run-1")
}

// write stores s as a new file and returns its target and version.
func write(t *testing.T, p *Provider, s *kube.Secret) (providers.Target, string) {
	t.Helper()
	tg, err := p.Target(refOf(s))
	if err != nil {
		t.Fatalf("target %s: %v", s.Ref(), err)
	}
	if err := p.Check(tg, providers.PayloadOf(s)); err != nil {
		t.Fatalf("check %s: %v", s.Ref(), err)
	}
	v, err := p.Write(context.Background(), tg, payload(t, s), "")
	if err != nil {
		t.Fatalf("write %s: %v", s.Ref(), err)
	}
	return tg, v
}

// sampleSecrets covers the shapes a migration meets: several keys, a trailing newline, binary
// bytes, an empty value, labels and annotations (one to drop), immutable, a non-Opaque type.
func sampleSecrets() []*kube.Secret {
	return []*kube.Secret{
		{
			Namespace: "shop", Name: "db-credentials", UID: "0b8e6c1e-1111-4c33-9d7a-5a1f00000001", Type: "Opaque",
			Labels: map[string]string{"app": "storefront", "tier": "db"},
			Annotations: map[string]string{
				"team":                          "shop",
				providers.LastAppliedAnnotation: `{"apiVersion":"v1","data":{"password":"c2VjcmV0"}}`,
				"numberlike":                    "42",
			},
			Data: kube.Data{
				"username": []byte("shop"),
				"password": []byte("demo-password-not-secret"),
				"dsn":      []byte("postgres://shop@db:5432/shop\n"),
				"empty":    {},
			},
		},
		{
			Namespace: "payments", Name: "webhook-signing", Type: "",
			Immutable: true,
			Data: kube.Data{
				"hmac.key":  {0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28, 0x0a, 0x0d, 0xa0, 0xa1, 0xed, 0xa0, 0x80},
				"algorithm": []byte("HS256"),
			},
		},
		{
			Namespace: "shop", Name: "admin.basic-auth", Type: "kubernetes.io/basic-auth",
			Data: kube.Data{"username": []byte("admin"), "password": []byte("t0p: {yaml} 'quoted' \"x\" # not a comment")},
		},
	}
}

func newFlagSet() *pflag.FlagSet { return pflag.NewFlagSet("test", pflag.ContinueOnError) }

func refOf(s *kube.Secret) providers.Ref { return providers.PayloadOf(s).Ref }

func withFingerprint(p providers.Payload, fingerprint, keyID, run string) providers.Payload {
	p.Fingerprint, p.FingerprintKeyID, p.RunID = fingerprint, keyID, run
	return p
}
