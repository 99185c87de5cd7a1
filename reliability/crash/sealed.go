package crash

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	sscrypto "github.com/bitnami/sealed-secrets/pkg/crypto"
	"github.com/secretshift/secretshift/reliability/internal/brief"
	runtimeserializer "k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/yaml"
)

// SealedKeyBits is the size of a trial's controller key. The controller makes 4096-bit keys;
// the key size changes only how long sealing and unsealing take, which the calibration run
// measures with the same size, and 2048 bits keeps a 2,000-Secret trial quick.
const SealedKeyBits = 2048

// sealedKey is a trial's controller key pair, as PEM files in the trial's folder (outside the
// output folder, so that they are not taken for stray files).
type sealedKey struct {
	priv     *rsa.PrivateKey
	certFile string
	keyFile  string
}

// newSealedKey makes a key pair and its self-signed certificate with the sealed-secrets
// library, as the controller makes its own, and writes them below dir.
func newSealedKey(dir string) (*sealedKey, error) {
	priv, cert, err := sscrypto.GeneratePrivateKeyAndCert(SealedKeyBits, 24*time.Hour, "sealed-secret")
	if err != nil {
		return nil, fmt.Errorf("generate sealed-secrets key: %w", err)
	}
	// Absolute, since secretshift runs in the trial's folder.
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	k := &sealedKey{priv: priv, certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem")}
	if err := os.WriteFile(k.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(k.keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)}), 0o600); err != nil {
		return nil, err
	}
	return k, nil
}

// keys is the private key by the controller's key id, as SealedSecret.Unseal takes it.
func (k *sealedKey) keys() (map[string]*rsa.PrivateKey, error) {
	id, err := sscrypto.PublicKeyFingerprint(&k.priv.PublicKey)
	if err != nil {
		return nil, err
	}
	return map[string]*rsa.PrivateKey{id: k.priv}, nil
}

// Files the output folder holds besides the SealedSecrets (providers/sealed,
// internal/outdir).
const (
	sealedKustomization = "kustomization.yaml"
	outputLock          = ".secretshift.lock"
)

// checkSealed looks for every Secret's SealedSecret file and opens each with the controller
// library's own Unseal and the trial's private key. A file holds no versions: a second seal
// of a Secret shows only as a second migrate.write success record, so that is what
// Duplicates counts. The folder must hold nothing else than the Secrets' files,
// kustomization.yaml and the lock file (no temporary file a killed write left), and
// kustomization.yaml must list exactly the SealedSecret files present.
func (w *workspace) checkSealed(t *Trial, targets map[string]string, writes map[string]int, problem func(string, ...any)) {
	out := filepath.Join(w.dir, "out")
	keys, err := w.sealed.keys()
	if err != nil {
		problem("sealed-secrets key id: %v", err)
		return
	}
	want := map[string]bool{}
	var lost, twice, diff []string
	for _, s := range w.secrets {
		// A sealed target's address is the file's path below --sealed-out.
		rel := s.Namespace + "/" + s.Name + ".yaml"
		if addr, ok := targets[s.Ref()]; ok {
			rel = addr
		}
		want[rel] = true
		if writes[s.Ref()] > 1 {
			twice = append(twice, s.Ref())
		}
		b, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(rel)))
		if err != nil {
			lost = append(lost, s.Ref())
			continue
		}
		if why := unsealsTo(b, keys, s.Data); why != "" {
			diff = append(diff, s.Ref()+" ("+why+")")
		}
	}
	t.Lost, t.Duplicates, t.Mismatched = len(lost), len(twice), len(diff)
	if len(lost) > 0 {
		problem("%d Secrets lost (no SealedSecret file): %s", len(lost), brief.Names(lost))
	}
	if len(twice) > 0 {
		problem("%d Secrets sealed twice (two migrate.write success records): %s", len(twice), brief.Names(twice))
	}
	if len(diff) > 0 {
		problem("%d SealedSecret files unseal (with the controller library and the trial's private key) to other values than the source: %s", len(diff), brief.Names(diff))
	}

	present, stray, err := sealedFolder(out, want)
	if err != nil {
		problem("list the output folder: %v", err)
		return
	}
	if len(stray) > 0 {
		problem("%d stray files in the output folder: %s", len(stray), brief.Names(stray))
	}
	listed, err := kustomizationResources(filepath.Join(out, sealedKustomization))
	if err != nil {
		problem("%s: %v", sealedKustomization, err)
		return
	}
	var unlisted, extra []string
	for _, p := range present {
		if !slices.Contains(listed, p) {
			unlisted = append(unlisted, p)
		}
	}
	for _, p := range listed {
		if !slices.Contains(present, p) {
			extra = append(extra, p)
		}
	}
	if len(unlisted) > 0 {
		problem("%s does not list %d SealedSecret files present: %s", sealedKustomization, len(unlisted), brief.Names(unlisted))
	}
	if len(extra) > 0 {
		problem("%s lists %d files that are not there: %s", sealedKustomization, len(extra), brief.Names(extra))
	}
}

// unsealsTo decrypts the SealedSecret manifest b and says how its values differ from want, or
// "" when they are exactly want. What it says names keys, never values.
func unsealsTo(b []byte, keys map[string]*rsa.PrivateKey, want map[string][]byte) string {
	var ss ssv1alpha1.SealedSecret
	if err := yaml.Unmarshal(b, &ss); err != nil {
		return "not a SealedSecret manifest"
	}
	secret, err := ss.UnsealWithoutTemplate(runtimeserializer.CodecFactory{}, keys)
	if err != nil {
		// The library's error names keys and the failure, never values.
		return "does not unseal: " + firstLine(err.Error())
	}
	if len(secret.Data) != len(want) {
		return fmt.Sprintf("%d keys, the source has %d", len(secret.Data), len(want))
	}
	for k, v := range want {
		got, ok := secret.Data[k]
		if !ok {
			return fmt.Sprintf("no key %q", k)
		}
		if !bytes.Equal(got, v) {
			return fmt.Sprintf("key %q differs", k)
		}
	}
	return ""
}

// sealedFolder lists the SealedSecret files of out (every <namespace>/<name>.yaml, sorted, as
// kustomization.yaml names them), and as stray every file that is neither one of want,
// kustomization.yaml nor the lock file.
func sealedFolder(out string, want map[string]bool) (present, stray []string, err error) {
	err = filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(out, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == sealedKustomization || rel == outputLock {
			return nil
		}
		ns, file, ok := strings.Cut(rel, "/")
		if ok && ns != "" && !strings.Contains(file, "/") && !strings.HasPrefix(file, ".") && strings.HasSuffix(file, ".yaml") && d.Type().IsRegular() {
			present = append(present, rel)
		}
		if !want[rel] {
			stray = append(stray, rel)
		}
		return nil
	})
	slices.Sort(present)
	return present, stray, err
}

// kustomizationResources reads the resources kustomization.yaml lists.
func kustomizationResources(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var k struct {
		Kind      string   `json:"kind"`
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("not YAML: %w", err)
	}
	if k.Kind != "Kustomization" {
		return nil, fmt.Errorf("kind %q, not Kustomization", k.Kind)
	}
	for i, r := range k.Resources {
		k.Resources[i] = strings.TrimPrefix(r, "./")
	}
	return k.Resources, nil
}
