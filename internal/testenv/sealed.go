package testenv

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Where kubeseal looks for the controller's Service unless told otherwise (its
// --controller-namespace and --controller-name defaults, where the release's controller.yaml
// installs it), and the name of the Service's port: kubeseal proxies to the Service's first
// port by name, "http" in controller.yaml and in the Helm chart.
const (
	SealedSecretsServiceNamespace = "kube-system"
	SealedSecretsServiceName      = "sealed-secrets-controller"
	SealedSecretsPortName         = "http"
	sealedSecretsServicePort      = 8080
)

// SealedSecrets is the Bitnami sealed-secrets controller, built by `make tools` from the module
// kubeseal is pinned in, running out of cluster against a test Kube.
//
// The controller only knows in-cluster configuration (rest.InClusterConfig: the
// KUBERNETES_SERVICE_* variables and the service-account files under
// /var/run/secrets/kubernetes.io/serviceaccount). It therefore runs in a mount namespace of its
// own (unshare, as root) where a private tmpfs over /run holds those files: the apiserver's CA,
// the admin token and the namespace. Nothing on the machine outside that namespace changes.
// It serves its HTTP API (the certificate at /v1/cert.pem) and its metrics on 127.0.0.1 only;
// ExposeService puts the API behind a Service, where kubeseal --fetch-cert finds it.
type SealedSecrets struct {
	// Namespace is where the controller keeps its key Secret.
	Namespace string
	// URL is the controller's HTTP API, e.g. http://127.0.0.1:41234.
	URL string
	// Dir holds the controller's log (sealed-secrets-controller.log).
	Dir  string
	proc *process
	// addr is the host:port of URL; unexpose holds what ExposeService undoes at Stop.
	addr     string
	unexpose []func()
}

// SealedSecretsCRDDir is where `make tools` puts the SealedSecret CRD of the pinned version.
func SealedSecretsCRDDir() string {
	return filepath.Join(filepath.Dir(BinDir()), "sealed-secrets-crds")
}

// RequireSealedSecrets starts the controller for one test, keeping its key in namespace (created
// here), and stops it when the test ends. The controller runs in a mount namespace of its own,
// so the test is skipped unless it runs as root, and under -short when the binary is missing.
func RequireSealedSecrets(t testing.TB, k *Kube, namespace string) *SealedSecrets {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the sealed-secrets controller runs in a mount namespace of its own, which needs root")
	}
	ctx := context.Background()
	if err := k.CreateNamespace(ctx, namespace); err != nil {
		t.Fatal(err)
	}
	s, err := StartSealedSecrets(ctx, k, namespace, t.TempDir())
	if err != nil {
		if _, missing := err.(*MissingBinaryError); missing && testing.Short() {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

// StartSealedSecrets installs the SealedSecret CRD into k and starts the controller, keeping
// its key in namespace (which must exist). It returns once the controller serves its
// certificate, which it does after it has made or loaded its key.
func StartSealedSecrets(ctx context.Context, k *Kube, namespace, dir string) (*SealedSecrets, error) {
	bin, err := findBinary("sealed-secrets-controller", false)
	if err != nil {
		return nil, err
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return nil, fmt.Errorf("the sealed-secrets controller needs unshare (util-linux) to run out of cluster: %w", err)
	}
	if err := InstallCRDs(ctx, k.Config, SealedSecretsCRDDir()); err != nil {
		return nil, fmt.Errorf("install the SealedSecret CRD (run make tools): %w", err)
	}
	sa := filepath.Join(dir, "serviceaccount")
	if err := os.MkdirAll(sa, 0o700); err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(k.CAFile)
	if err != nil {
		return nil, err
	}
	for name, content := range map[string]string{"token": k.Token, "ca.crt": string(ca), "namespace": namespace} {
		if err := os.WriteFile(filepath.Join(sa, name), []byte(content), 0o600); err != nil {
			return nil, err
		}
	}
	host, port, err := hostPort(k.Server)
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	api := fmt.Sprintf("127.0.0.1:%d", ports[0])
	// Inside a private mount namespace: a tmpfs over /run (where /var/run points) holding the
	// service-account files, then the controller.
	script := `set -e
mount -t tmpfs -o mode=0755 secretshift-test /run
mkdir -p /run/secrets/kubernetes.io/serviceaccount
cp "$SA"/token "$SA"/ca.crt "$SA"/namespace /run/secrets/kubernetes.io/serviceaccount/
[ -e /var/run/secrets/kubernetes.io/serviceaccount/token ] || { echo "/var/run does not lead to /run here" >&2; exit 1; }
exec "$BIN" "$@"`
	args := []string{"--mount", "--propagation", "private", "sh", "-c", script, "sealed-secrets-controller",
		"--listen-addr=" + api, "--listen-metrics-addr=" + fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"--key-renew-period=0", "--update-status=true", "--log-info-stdout=true"}
	p, err := startProcess("sealed-secrets-controller", unshare, args, filepath.Join(dir, "sealed-secrets-controller.log"),
		"SA="+sa, "BIN="+bin, "KUBERNETES_SERVICE_HOST="+host, "KUBERNETES_SERVICE_PORT="+port, "POD_NAMESPACE="+namespace)
	if err != nil {
		return nil, err
	}
	s := &SealedSecrets{Namespace: namespace, URL: "http://" + api, Dir: dir, proc: p, addr: api}
	err = waitFor(ctx, p, 2*time.Minute, func(ctx context.Context) error {
		_, err := s.Certificate(ctx)
		return err
	})
	if err != nil {
		_ = p.stop(5 * time.Second)
		return nil, p.failure("start the sealed-secrets controller", err)
	}
	return s, nil
}

// Certificate fetches the controller's public certificate (PEM) from its own HTTP API.
func (s *SealedSecrets) Certificate(ctx context.Context) ([]byte, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/v1/cert.pem", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "BEGIN CERTIFICATE") {
		return nil, fmt.Errorf("certificate: %s", resp.Status)
	}
	return b, nil
}

// ExposeService makes the controller's HTTP API reachable through k's apiserver as port
// SealedSecretsPortName of Service namespace/name, as controller.yaml does in a cluster: the
// service proxy then answers
//
//	GET /api/v1/namespaces/<namespace>/services/http:<name>:http/proxy/v1/cert.pem
//
// which is what `kubeseal --fetch-cert` (and every kubeseal call without --cert) asks; with
// SealedSecretsServiceNamespace and SealedSecretsServiceName kubeseal needs no flags to find
// it. The namespace is created if need be. ExposeService returns once that request returns the
// certificate, so that callers need not wait for the apiserver's informers. See
// Kube.ExposeLocal for how the apiserver reaches a controller that runs out of cluster.
func (s *SealedSecrets) ExposeService(ctx context.Context, k *Kube, namespace, name string) error {
	unexpose, err := k.ExposeLocal(ctx, namespace, name, SealedSecretsPortName, sealedSecretsServicePort, s.addr)
	if err != nil {
		return fmt.Errorf("expose the sealed-secrets controller as %s/%s: %w", namespace, name, err)
	}
	s.unexpose = append(s.unexpose, unexpose)
	want, err := s.Certificate(ctx)
	if err != nil {
		return err
	}
	cs, err := k.Clientset()
	if err != nil {
		return err
	}
	err = waitFor(ctx, s.proc, 30*time.Second, func(ctx context.Context) error {
		got, err := cs.CoreV1().Services(namespace).ProxyGet("http", name, SealedSecretsPortName, "/v1/cert.pem", nil).DoRaw(ctx)
		if err != nil {
			return err
		}
		if string(got) != string(want) {
			return fmt.Errorf("the service proxy returned another certificate: %.200s", got)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("the sealed-secrets controller is not reachable through service %s/%s (see %s): %w",
			namespace, name, filepath.Join(k.Dir, egressLogName), err)
	}
	return nil
}

// Stop ends the controller and removes the routes ExposeService made to it.
func (s *SealedSecrets) Stop() error {
	for _, f := range s.unexpose {
		f()
	}
	s.unexpose = nil
	return s.proc.stop(10 * time.Second)
}

// LogTail returns the last n lines of the controller's log, for failure messages.
func (s *SealedSecrets) LogTail(n int) string { return s.proc.tail(n) }

// hostPort splits an https://host:port URL.
func hostPort(server string) (string, string, error) {
	rest := strings.TrimPrefix(server, "https://")
	i := strings.LastIndex(rest, ":")
	if i < 0 {
		return "", "", fmt.Errorf("server %q has no port", server)
	}
	if _, err := strconv.Atoi(rest[i+1:]); err != nil {
		return "", "", fmt.Errorf("server %q: bad port", server)
	}
	return rest[:i], rest[i+1:], nil
}
