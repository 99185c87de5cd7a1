package faults

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/secretshift/secretshift/reliability/crash"
)

// Cluster is a kube-apiserver the Secrets are read from (Options.Cluster): the fault proxy
// then stands between secretshift and the apiserver, and Vault is reached directly.
type Cluster struct {
	// Server is the apiserver's URL, CA its serving certificate (PEM), Token an admin's bearer
	// token (a TLS-terminating proxy passes a bearer token on; a client certificate it cannot).
	Server string
	CA     []byte
	Token  string
}

// clusterProxy is the proxy's TLS side: a self-signed certificate for 127.0.0.1, which the
// case's kubeconfig trusts beside the apiserver's own.
type clusterProxy struct {
	cert tls.Certificate
	pem  []byte
}

func newClusterProxy() (*clusterProxy, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "secretshift fault proxy"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &clusterProxy{cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// seed creates the corpus's namespaces and Secrets in the cluster (the Secrets already there
// are left: the seed makes the same ones).
func (c *Cluster) seed(ctx context.Context, secrets []*crash.Secret) error {
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: c.Server, BearerToken: c.Token, TLSClientConfig: rest.TLSClientConfig{CAData: c.CA}, QPS: 500, Burst: 1000})
	if err != nil {
		return err
	}
	made := map[string]bool{}
	for _, s := range secrets {
		if !made[s.Namespace] {
			made[s.Namespace] = true
			_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.Namespace}}, metav1.CreateOptions{})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("create namespace %s: %w", s.Namespace, err)
			}
		}
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name}, Type: corev1.SecretType(s.Type), Data: s.Data}
		if _, err := cs.CoreV1().Secrets(s.Namespace).Create(ctx, sec, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create Secret %s: %w", s.Ref(), err)
		}
	}
	return nil
}

// kubeconfig writes a kubeconfig for server (the apiserver or the proxy in front of it) into
// the case's folder and returns its path. It trusts both the apiserver's certificate and the
// proxy's.
func (w *workspace) kubeconfig(server string) (string, error) {
	cfg := clientcmdapi.NewConfig()
	ca := append(append([]byte(nil), w.cluster.CA...), w.clusterProxy.pem...)
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos["c"] = &clientcmdapi.AuthInfo{Token: w.cluster.Token}
	cfg.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "c", Namespace: "default"}
	cfg.CurrentContext = "c"
	// KUBECONFIG is a list separated by ':', so the name holds none.
	path := filepath.Join(w.dir, "kubeconfig-"+strings.NewReplacer(":", "-", "/", "-").Replace(strings.TrimPrefix(server, "https://")))
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return "", err
	}
	return path, os.Chmod(path, 0o600)
}

// ClusterCases are the faults in front of a kube-apiserver. A migration reads a cluster in a
// few LIST requests (the Secrets, then each kind of workload), so the faults aim at those
// requests by number rather than at a share of them.
var ClusterCases = []Case{
	{Name: "reset", Fault: "the first 2 LISTs reset (no answer)", Decide: firstData(Reset, 2)},
	{Name: "429-burst", Fault: "429 with Retry-After: 1 on the first 5 LISTs", Decide: firstData(Throttle, 5)},
	{Name: "503", Fault: "503 on the first 2 LISTs", Decide: firstData(Unavailable, 2)},
	{Name: "stall", Fault: "the first LIST held for the stall time, then forwarded", Decide: func(p Plan) Decide {
		return func(n int) Action {
			if n == p.Opening+1 {
				return Action{Kind: Stall, Delay: p.Stall}
			}
			return Action{Kind: Forward}
		}
	}},
	{Name: "truncate", Fault: "the first 2 LISTs forwarded, then cut at half their body", Decide: firstData(Truncate, 2)},
	{Name: "unreachable", Fault: "the apiserver gone after the first LIST", Decide: func(p Plan) Decide {
		return func(n int) Action {
			if n > p.Opening+1 {
				return Action{Kind: Down}
			}
			return Action{Kind: Forward}
		}
	}},
}

// firstData faults the first k requests after the opening ones with kind.
func firstData(kind Kind, k int) func(Plan) Decide {
	return func(p Plan) Decide {
		return func(n int) Action {
			if n > p.Opening && n <= p.Opening+k {
				return Action{Kind: kind}
			}
			return Action{Kind: Forward}
		}
	}
}
