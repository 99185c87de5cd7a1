package cutover_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/internal/testenv"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
	vaultprovider "github.com/secretshift/secretshift/providers/vault"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.NeedKube|testenv.NeedVault) }

// canaries are values that must never appear in any output, log or audit record.
var canaries = []string{"CANARY-cutover-4f1d9a-password", "CANARY-cutover-77e0b2-basic", "CANARY-cutover-c3a8e5-tlskey"}

// everyType is one Secret of each type and the edge cases that break naive hand-overs.
func everyType(ns string) []*corev1.Secret {
	large := bytes.Repeat([]byte("0123456789abcdef"), 62_000) // 992,000 bytes
	mk := func(name string, typ corev1.SecretType, data map[string][]byte) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name, "tier": "cutover"},
			Annotations: map[string]string{"team": "platform"}}, Type: typ, Data: data}
	}
	immutable := mk("immutable", corev1.SecretTypeOpaque, map[string][]byte{"token": []byte("fixed-token")})
	yes := true
	immutable.Immutable = &yes
	return []*corev1.Secret{
		mk("opaque-multi", corev1.SecretTypeOpaque, map[string][]byte{"user": []byte("admin"), "password": []byte(canaries[0] + "\n"), "url": []byte("postgres://db:5432/app")}),
		mk("binary", corev1.SecretTypeOpaque, map[string][]byte{"keystore.jks": {0xfe, 0xed, 0xfe, 0xed, 0x00, 0x00, 0x00, 0x02, 0xff, 0x80}, "text": []byte("plain")}),
		mk("dotted-keys", corev1.SecretTypeOpaque, map[string][]byte{"app.config.yaml": []byte("a: 1\n"), ".env": []byte("X=1\n"), "a.b.c": []byte("nested")}),
		mk("tls", corev1.SecretTypeTLS, map[string][]byte{"tls.crt": []byte("-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"), "tls.key": []byte(canaries[2])}),
		mk("dockerconfig", corev1.SecretTypeDockerConfigJson, map[string][]byte{".dockerconfigjson": []byte(`{"auths":{"registry.example":{"auth":"dTpw"}}}`)}),
		mk("basic-auth", corev1.SecretTypeBasicAuth, map[string][]byte{"username": []byte("svc"), "password": []byte(canaries[1])}),
		mk("ssh-auth", corev1.SecretTypeSSHAuth, map[string][]byte{"ssh-privatekey": []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----\n")}),
		mk("large", corev1.SecretTypeOpaque, map[string][]byte{"blob.txt": large}),
		immutable,
	}
}

// consumer is a Deployment that reads Secret name through env and a volume.
func consumer(ns, name string) *appsv1.Deployment {
	labels := map[string]string{"app": "reads-" + name}
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "reads-" + name, Namespace: ns}, Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "example.invalid/app",
				EnvFrom:      []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}}},
				VolumeMounts: []corev1.VolumeMount{{Name: "s", MountPath: "/s"}}}},
			Volumes: []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: name}}}},
		}},
	}}
}

// openVault opens the Vault adapter against v, ESO reading it with token auth from the Secret
// vault-token/token of each namespace.
func openVault(t *testing.T, v *testenv.Vault, pathTemplate string) providers.Provider {
	t.Helper()
	cfg := vaultprovider.NewConfig().(*vaultprovider.Config)
	cfg.Address, cfg.PathTemplate = v.Addr, pathTemplate
	cfg.Getenv = func(k string) string {
		if k == "BAO_TOKEN" || k == "VAULT_TOKEN" {
			return v.Token
		}
		return ""
	}
	cfg.ESO.TokenSecret = "vault-token/token"
	p, err := cfg.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// migrateTo writes s into p as a migration would.
func migrateTo(t *testing.T, p providers.Provider, fp *audit.Fingerprinter, s *corev1.Secret) {
	t.Helper()
	ks := &kube.Secret{Namespace: s.Namespace, Name: s.Name, UID: string(s.UID), Type: string(s.Type), Data: kube.Data(s.Data)}
	pl := providers.PayloadOf(ks)
	pl.Fingerprint, pl.FingerprintKeyID = fp.Set(ks.EffectiveType(), ks.Data), fp.KeyID()
	tg, err := p.Target(pl.Ref)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write(context.Background(), tg, pl, ""); err != nil {
		t.Fatalf("write %s/%s to the store: %v", s.Namespace, s.Name, err)
	}
}

func newFingerprinter(t *testing.T) *audit.Fingerprinter {
	t.Helper()
	fp, err := audit.NewFingerprinter(bytes.Repeat([]byte("k"), 32))
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

func openAudit(t *testing.T, fp *audit.Fingerprinter, runID string) (*audit.Log, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	log, err := audit.Open(path, audit.Options{Fingerprinter: fp, Signer: priv, RunID: runID})
	if err != nil {
		t.Fatal(err)
	}
	return log, path
}
