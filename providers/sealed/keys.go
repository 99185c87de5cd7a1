package sealed

import (
	"bytes"
	"crypto/rsa"
	"fmt"
	"os"

	"github.com/bitnami/sealed-secrets/pkg/crypto"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/keyutil"
	"sigs.k8s.io/yaml"
)

// readPrivateKeys reads the controller's private keys from files, keyed by the controller's
// key id (crypto.PublicKeyFingerprint), as kubeseal --recovery-private-key reads them: a PEM
// private key, or the controller's key Secrets (kubernetes.io/tls, key tls.key) as one
// Secret or a List of them in YAML or JSON. Errors name the file, never its content.
func readPrivateKeys(files []string) (map[string]*rsa.PrivateKey, error) {
	if len(files) == 0 {
		return nil, nil
	}
	keys := map[string]*rsa.PrivateKey{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read private key: %w", err)
		}
		ks, err := parsePrivateKeys(b)
		if err != nil {
			return nil, fmt.Errorf("private key file %s: %w", f, err)
		}
		for _, k := range ks {
			id, err := crypto.PublicKeyFingerprint(&k.PublicKey)
			if err != nil {
				return nil, fmt.Errorf("private key file %s: %w", f, err)
			}
			keys[id] = k
		}
	}
	return keys, nil
}

func parsePrivateKeys(b []byte) ([]*rsa.PrivateKey, error) {
	if bytes.Contains(b, []byte("-----BEGIN")) && !bytes.Contains(b, []byte("kind:")) && !bytes.Contains(b, []byte(`"kind"`)) {
		k, err := parseRSAKey(b)
		if err != nil {
			return nil, err
		}
		return []*rsa.PrivateKey{k}, nil
	}
	var doc struct {
		Kind  string            `json:"kind"`
		Data  map[string][]byte `json:"data"`
		Items []corev1.Secret   `json:"items"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("neither a PEM private key nor the controller's key Secrets in YAML or JSON")
	}
	var secrets []map[string][]byte
	switch doc.Kind {
	case "Secret":
		secrets = append(secrets, doc.Data)
	case "List", "SecretList":
		for _, s := range doc.Items {
			secrets = append(secrets, s.Data)
		}
	default:
		return nil, fmt.Errorf("neither a PEM private key nor the controller's key Secrets (kind %q)", doc.Kind)
	}
	var keys []*rsa.PrivateKey
	for i, data := range secrets {
		pemKey, ok := data[corev1.TLSPrivateKeyKey]
		if !ok {
			return nil, fmt.Errorf("key Secret %d has no %s", i+1, corev1.TLSPrivateKeyKey)
		}
		k, err := parseRSAKey(pemKey)
		if err != nil {
			return nil, fmt.Errorf("key Secret %d: %w", i+1, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no key Secrets in the list")
	}
	return keys, nil
}

func parseRSAKey(b []byte) (*rsa.PrivateKey, error) {
	key, err := keyutil.ParsePrivateKeyPEM(b)
	if err != nil {
		return nil, fmt.Errorf("not a PEM private key")
	}
	k, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an RSA private key", key)
	}
	return k, nil
}
