package sealed

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/bitnami/sealed-secrets/pkg/crypto"
	"github.com/bitnami/sealed-secrets/pkg/kubeseal"
	"k8s.io/client-go/rest"
	certutil "k8s.io/client-go/util/cert"
)

// maxCertSize bounds what is read as a certificate: the controller's is about 2 KB.
const maxCertSize = 1 << 20

// fetchTimeout bounds fetching the certificate, from a URL or through the cluster.
const fetchTimeout = 30 * time.Second

// certificate is the controller's certificate the provider seals for.
type certificate struct {
	pub *rsa.PublicKey
	// KeyID is the controller's name for the key: crypto.PublicKeyFingerprint, the hex
	// SHA-256 of the public key. SealedSecrets record it (AnnotationSealedFor): a new
	// certificate for the same key seals the same way.
	KeyID string
	// SHA256 is the fingerprint of the certificate itself (DER), as openssl x509 -fingerprint
	// -sha256 shows it without colons.
	SHA256 string
	// NotAfter is when it expires.
	NotAfter time.Time
	// Source says where it came from: a file, a URL, or the controller's Service.
	Source string
}

// certificate loads the certificate in kubeseal's order: --sealed-cert, $SEALED_SECRETS_CERT,
// then the controller through the cluster's API server; and checks it at now.
func (c *Config) certificate(ctx context.Context, now time.Time) (*certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	where := c.Cert
	if where == "" {
		where = os.Getenv(EnvCert)
	}
	var (
		r      io.ReadCloser
		err    error
		source = where
	)
	switch {
	case strings.HasPrefix(where, "http://") || strings.HasPrefix(where, "https://"):
		// kubeseal's opener would wait for a silent server forever; this request ends with
		// the timeout, or when the command is interrupted.
		r, err = fetchURL(ctx, where)
		if err != nil {
			return nil, fmt.Errorf("read certificate %s: %w", where, err)
		}
	case where != "":
		// kubeseal's own opener: a file, or a file:// URL.
		r, err = kubeseal.OpenCert(ctx, nil, "", "", where)
		if err != nil {
			return nil, fmt.Errorf("read certificate %s: %w", where, err)
		}
	default:
		source = fmt.Sprintf("service %s/%s", c.ControllerNamespace, c.ControllerName)
		if c.cluster == nil {
			return nil, errors.New("no certificate: pass --sealed-cert FILE|URL (kubeseal --fetch-cert saves one), or point the command at the cluster")
		}
		r, err = kubeseal.OpenCert(ctx, clusterConfig{c.cluster}, c.ControllerNamespace, c.ControllerName, "")
		if err != nil {
			return nil, fmt.Errorf("fetch the certificate from the sealed-secrets controller (%s): %w\n"+
				"check --sealed-controller-name and --sealed-controller-namespace, or pass --sealed-cert FILE|URL (kubeseal --fetch-cert saves one)", source, err)
		}
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxCertSize+1))
	if err != nil {
		return nil, fmt.Errorf("read certificate from %s: %w", source, err)
	}
	if len(b) > maxCertSize {
		return nil, fmt.Errorf("certificate from %s: more than %d bytes, not a certificate", source, maxCertSize)
	}
	cert, err := parseCertificate(b, now)
	if err != nil {
		return nil, fmt.Errorf("certificate from %s: %w", source, err)
	}
	cert.Source = source
	return cert, nil
}

// parseCertificate checks that b is a PEM certificate with an RSA key, valid at now. The
// first certificate of the PEM is the one used, as kubeseal does.
func parseCertificate(b []byte, now time.Time) (*certificate, error) {
	if !bytes.Contains(b, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, errors.New("not a PEM certificate (no BEGIN CERTIFICATE block)")
	}
	certs, err := certutil.ParseCertsPEM(b)
	if err != nil {
		return nil, fmt.Errorf("not a valid PEM certificate: %w", err)
	}
	x := certs[0]
	pub, ok := x.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("its key is %s, and sealed secrets seals with RSA keys only", keyKind(x))
	}
	switch {
	case now.Before(x.NotBefore):
		return nil, fmt.Errorf("not valid before %s (now %s): check the clock, or fetch the controller's current certificate",
			x.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case now.After(x.NotAfter):
		return nil, fmt.Errorf("expired on %s: fetch the controller's current certificate (kubeseal --fetch-cert)", x.NotAfter.UTC().Format(time.RFC3339))
	}
	id, err := crypto.PublicKeyFingerprint(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(x.Raw)
	return &certificate{pub: pub, KeyID: id, SHA256: hex.EncodeToString(sum[:]), NotAfter: x.NotAfter}, nil
}

func keyKind(x *x509.Certificate) string {
	if x.PublicKeyAlgorithm == x509.UnknownPublicKeyAlgorithm {
		return "of an unknown kind"
	}
	return x.PublicKeyAlgorithm.String()
}

// clusterConfig gives kubeseal.OpenCert the command's cluster.
type clusterConfig struct{ load func() (*rest.Config, error) }

func (c clusterConfig) ClientConfig() (*rest.Config, error) {
	cfg, err := c.load()
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.Timeout == 0 {
		cfg.Timeout = fetchTimeout
	}
	return cfg, nil
}

func (clusterConfig) Namespace() (string, bool, error) { return "", false, nil }

// fetchURL GETs url within ctx (and the proxy settings of the environment, as kubeseal).
func fetchURL(ctx context.Context, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment}}).Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("cannot fetch %q: %s", url, resp.Status)
	}
	return resp.Body, nil
}
