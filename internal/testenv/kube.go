package testenv

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// KubeContext is the context name in the kubeconfig file StartKube writes.
const KubeContext = "secretshift-test"

const (
	// startAttempts bounds the retries after a port was taken between choosing and binding it.
	startAttempts = 3
	etcdTimeout   = 30 * time.Second
	apiTimeout    = 90 * time.Second
	stopGrace     = 10 * time.Second
)

// Kube is an etcd and a kube-apiserver started for tests. There is no scheduler or kubelet:
// objects are stored and validated, Pods never run. The controller manager runs only for tests
// that ask for its garbage collector (RequireGC).
//
// The ServiceAccount admission plugin stays enabled, as in real clusters, so a Pod needs a
// ServiceAccount in its namespace; no controller creates "default" ones. StartKube creates
// it in the "default" namespace, and CreateNamespace creates it with each namespace.
type Kube struct {
	// Config reaches the apiserver as an admin (group system:masters) and verifies its
	// self-signed certificate against CAFile.
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file for the same user, context KubeContext,
	// usable by kubectl and by the secretshift CLI.
	Kubeconfig string
	// Server is the apiserver URL, e.g. https://127.0.0.1:41234.
	Server string
	// Token is the admin's bearer token.
	Token string
	// CAFile holds the certificate (chain) the apiserver serves.
	CAFile string
	// Dir holds the data, certificates and logs (etcd.log, kube-apiserver.log,
	// egress-proxy.log).
	Dir string
	// StartupTime is how long StartKube took, etcd included.
	StartupTime time.Duration

	etcd      *process
	apiserver *process
	// egress is the proxy the apiserver's "cluster" traffic goes through (see ExposeLocal).
	egress *egressProxy

	exposeMu sync.Mutex
	exposed  map[string]string // "namespace/name" of a Service exposed by ExposeLocal -> its address
}

// StartKube starts etcd and kube-apiserver on free 127.0.0.1 ports, keeping their data,
// certificates and logs in dir, and returns when the apiserver is ready and the default
// namespace exists. etcd is taken from BinDir, else from PATH; kube-apiserver from BinDir.
//
// The apiserver's "cluster" egress goes through a proxy in the test process, which lets
// ExposeLocal put servers running on 127.0.0.1 behind Services.
func StartKube(ctx context.Context, dir string) (*Kube, error) {
	start := time.Now()
	etcdBin, err := findBinary("etcd", true)
	if err != nil {
		return nil, err
	}
	apiBin, err := findBinary("kube-apiserver", false)
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve kube dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create kube dir %s: %w", dir, err)
	}
	k := &Kube{Dir: dir}

	etcdURL, err := k.startEtcd(ctx, etcdBin)
	if err != nil {
		return nil, err
	}
	egressConfig := ""
	if k.egress, egressConfig, err = startEgressProxy(dir); err != nil {
		_ = k.Stop()
		return nil, err
	}
	if err := k.startAPIServer(ctx, apiBin, etcdURL, egressConfig); err != nil {
		_ = k.Stop()
		return nil, err
	}
	if err := k.writeKubeconfig(); err != nil {
		_ = k.Stop()
		return nil, err
	}
	if err := k.waitDefaultNamespace(ctx); err != nil {
		_ = k.Stop()
		return nil, err
	}
	k.StartupTime = time.Since(start)
	return k, nil
}

// Stop ends kube-apiserver, its egress proxy and etcd, and removes etcd's data; the logs stay in
// Dir.
func (k *Kube) Stop() error {
	if k == nil {
		return nil
	}
	err := errors.Join(k.apiserver.stop(stopGrace), k.egress.close(), k.etcd.stop(stopGrace))
	if rmErr := os.RemoveAll(filepath.Join(k.Dir, "etcd-data")); rmErr != nil {
		err = errors.Join(err, fmt.Errorf("remove etcd data: %w", rmErr))
	}
	return err
}

// Clientset returns a typed client for the apiserver.
func (k *Kube) Clientset() (*kubernetes.Clientset, error) {
	cs, err := kubernetes.NewForConfig(k.Config)
	if err != nil {
		return nil, fmt.Errorf("create kubernetes client for %s: %w", k.Server, err)
	}
	return cs, nil
}

// CreateNamespace creates namespace name with its "default" ServiceAccount, which a
// controller manager would otherwise add, so that Pods can be created in it. Either may
// exist already.
func (k *Kube) CreateNamespace(ctx context.Context, name string) error {
	cs, err := k.Clientset()
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return createDefaultServiceAccount(ctx, cs, name)
}

func createDefaultServiceAccount(ctx context.Context, cs kubernetes.Interface, ns string) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create service account %s/default: %w", ns, err)
	}
	return nil
}

// startEtcd starts etcd and waits until it is healthy; it returns the client URL.
func (k *Kube) startEtcd(ctx context.Context, bin string) (string, error) {
	dataDir := filepath.Join(k.Dir, "etcd-data")
	var lastErr error
	for range startAttempts {
		if err := os.RemoveAll(dataDir); err != nil {
			return "", fmt.Errorf("clear etcd data dir: %w", err)
		}
		ports, err := freePorts(2)
		if err != nil {
			return "", err
		}
		clientURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
		peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
		p, err := startProcess("etcd", bin, []string{
			"--name=secretshift-test",
			"--data-dir=" + dataDir,
			"--listen-client-urls=" + clientURL,
			"--advertise-client-urls=" + clientURL,
			"--listen-peer-urls=" + peerURL,
			"--initial-advertise-peer-urls=" + peerURL,
			"--initial-cluster=secretshift-test=" + peerURL,
			"--initial-cluster-state=new",
			// The ESO CRDs are about 700 KB each; leave room above the 1.5 MiB default.
			"--max-request-bytes=8388608",
			"--logger=zap",
			"--log-outputs=stderr",
		}, filepath.Join(k.Dir, "etcd.log"))
		if err != nil {
			return "", err
		}
		k.etcd = p
		err = waitFor(ctx, p, etcdTimeout, func(ctx context.Context) error {
			return checkHTTP(ctx, http.DefaultClient, clientURL+"/health", "", `"health":"true"`)
		})
		if err == nil {
			return clientURL, nil
		}
		if !p.bindFailed() {
			_ = p.stop(stopGrace)
			return "", p.failure("start etcd", err)
		}
		lastErr = p.failure("start etcd", err)
	}
	return "", fmt.Errorf("start etcd: ports taken %d times: %w", startAttempts, lastErr)
}

// startAPIServer starts kube-apiserver with token authentication and RBAC, and with the egress
// selector configuration in the file egressConfig, and waits until it is ready.
func (k *Kube) startAPIServer(ctx context.Context, bin, etcdURL, egressConfig string) error {
	certDir := filepath.Join(k.Dir, "certs")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return fmt.Errorf("create cert dir: %w", err)
	}
	tokenBytes := make([]byte, 24)
	if _, err := rand.Read(tokenBytes); err != nil {
		return fmt.Errorf("generate admin token: %w", err)
	}
	k.Token = hex.EncodeToString(tokenBytes)
	tokenFile := filepath.Join(k.Dir, "tokens.csv")
	line := k.Token + `,secretshift-admin,secretshift-admin-uid,"system:masters"` + "\n"
	if err := os.WriteFile(tokenFile, []byte(line), 0o600); err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	keyFile, pubFile, err := writeServiceAccountKeys(k.Dir)
	if err != nil {
		return err
	}

	var lastErr error
	for range startAttempts {
		ports, err := freePorts(1)
		if err != nil {
			return err
		}
		server := "https://127.0.0.1:" + strconv.Itoa(ports[0])
		p, err := startProcess("kube-apiserver", bin, []string{
			"--etcd-servers=" + etcdURL,
			"--bind-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(ports[0]),
			"--cert-dir=" + certDir,
			"--token-auth-file=" + tokenFile,
			"--authorization-mode=RBAC",
			"--service-account-issuer=https://kubernetes.default.svc",
			"--service-account-key-file=" + pubFile,
			"--service-account-signing-key-file=" + keyFile,
			"--service-cluster-ip-range=10.0.0.0/24",
			"--egress-selector-config-file=" + egressConfig,
			"--profiling=false",
		}, filepath.Join(k.Dir, "kube-apiserver.log"))
		if err != nil {
			return err
		}
		k.apiserver = p
		k.Server = server
		k.CAFile = filepath.Join(certDir, "apiserver.crt")
		err = waitFor(ctx, p, apiTimeout, func(ctx context.Context) error {
			client, err := k.httpClient()
			if err != nil {
				return err
			}
			return checkHTTP(ctx, client, server+"/readyz", k.Token, "ok")
		})
		if err == nil {
			k.Config = &rest.Config{
				Host:            server,
				BearerToken:     k.Token,
				TLSClientConfig: rest.TLSClientConfig{CAFile: k.CAFile},
				// Tests create many objects quickly; client-go's default of 5 QPS would
				// dominate their run time.
				QPS:   200,
				Burst: 400,
			}
			return nil
		}
		if !p.bindFailed() {
			_ = p.stop(stopGrace)
			return p.failure("start kube-apiserver", err)
		}
		lastErr = p.failure("start kube-apiserver", err)
	}
	return fmt.Errorf("start kube-apiserver: ports taken %d times: %w", startAttempts, lastErr)
}

// httpClient trusts only the certificate the apiserver wrote into its cert dir.
func (k *Kube) httpClient() (*http.Client, error) {
	pemBytes, err := os.ReadFile(k.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read apiserver certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("no certificate in %s", k.CAFile)
	}
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}, nil
}

// waitDefaultNamespace waits for the namespace the apiserver creates shortly after it is ready,
// then gives it the ServiceAccount Pods need.
func (k *Kube) waitDefaultNamespace(ctx context.Context) error {
	cs, err := k.Clientset()
	if err != nil {
		return err
	}
	err = waitFor(ctx, k.apiserver, apiTimeout, func(ctx context.Context) error {
		_, err := cs.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
		return err
	})
	if err != nil {
		return k.apiserver.failure("wait for namespace default", err)
	}
	return createDefaultServiceAccount(ctx, cs, "default")
}

// writeKubeconfig writes Kubeconfig with the CA embedded, so the file stays usable on its own.
func (k *Kube) writeKubeconfig() error {
	ca, err := os.ReadFile(k.CAFile)
	if err != nil {
		return fmt.Errorf("read apiserver certificate: %w", err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[KubeContext] = &clientcmdapi.Cluster{Server: k.Server, CertificateAuthorityData: ca}
	cfg.AuthInfos[KubeContext] = &clientcmdapi.AuthInfo{Token: k.Token}
	cfg.Contexts[KubeContext] = &clientcmdapi.Context{Cluster: KubeContext, AuthInfo: KubeContext, Namespace: "default"}
	cfg.CurrentContext = KubeContext
	k.Kubeconfig = filepath.Join(k.Dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, k.Kubeconfig); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}

// writeServiceAccountKeys writes an ECDSA P-256 key pair for signing service account tokens.
func writeServiceAccountKeys(dir string) (keyFile, pubFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generate service account key: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("encode service account key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", "", fmt.Errorf("encode service account public key: %w", err)
	}
	keyFile = filepath.Join(dir, "sa.key")
	pubFile = filepath.Join(dir, "sa.pub")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return "", "", fmt.Errorf("write service account key: %w", err)
	}
	if err := os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600); err != nil {
		return "", "", fmt.Errorf("write service account public key: %w", err)
	}
	return keyFile, pubFile, nil
}

// waitFor polls check until it succeeds, p exits, ctx ends or timeout passes.
func waitFor(ctx context.Context, p *process, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		last = check(cctx)
		ccancel()
		if last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("process exited: %v (last check: %w)", p.err, last)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %w", timeout, last)
		case <-tick.C:
		}
	}
}

// checkHTTP succeeds when url answers 200 with a body containing want.
func checkHTTP(ctx context.Context, client *http.Client, url, token, want string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(want)) {
		return fmt.Errorf("GET %s: %s: %.200s", url, resp.Status, body)
	}
	return nil
}

// WaitAllowed waits until the apiserver's authorizer lets user do verb on resource in
// namespace. RBAC objects take effect when the authorizer's informers see them, a moment after
// they were created, so a test that grants a right and uses it at once must wait for it.
func WaitAllowed(ctx context.Context, cs kubernetes.Interface, user, namespace, verb, resource string) error {
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:               user,
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: namespace, Verb: verb, Resource: resource},
	}}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		got, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err == nil && got.Status.Allowed {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("not allowed: %s", got.Status.Reason)
			}
			return fmt.Errorf("%s may not %s %s in %s yet: %w", user, verb, resource, namespace, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
