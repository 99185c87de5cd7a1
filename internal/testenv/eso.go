package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/secretshift/secretshift/internal/testenv/akv"
)

// ESO is the External Secrets Operator controller, built by `make tools` from its pinned module,
// running against a test Kube. Only the controller runs: no webhook, no cert controller, so
// objects are validated by the CRDs' schemas alone.
type ESO struct {
	// Dir holds the controller's log (external-secrets.log).
	Dir string
	// AKV is the Key Vault test server the controller reaches as Azure, through AzureProxy
	// (see startESOAzure); both are nil for a controller StartESO started without them.
	AKV        *AKV
	AzureProxy *akv.Proxy
	proc       *process
}

// ESOCRDDir is where `make tools` puts the CRD bundle of the pinned ESO version (generators
// included: without GeneratorState the controller fails every sync).
func ESOCRDDir() string { return filepath.Join(filepath.Dir(BinDir()), "eso-crds") }

// StartESO installs ESO's CRDs into k and starts the controller with k's kubeconfig and env
// ("KEY=value") added to the test's environment. It returns once the controller's metrics
// endpoint answers, which it serves after its caches started.
func StartESO(ctx context.Context, k *Kube, dir string, env ...string) (*ESO, error) {
	bin, err := findBinary("external-secrets", false)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(ESOCRDDir(), "bundle.yaml")); err != nil {
		return nil, fmt.Errorf("ESO CRD bundle missing (run make tools): %w", err)
	}
	if err := InstallCRDs(ctx, k.Config, ESOCRDDir()); err != nil {
		return nil, fmt.Errorf("install ESO CRDs: %w", err)
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	metrics := fmt.Sprintf("127.0.0.1:%d", ports[0])
	p, err := startProcess("external-secrets", bin, []string{
		"--metrics-addr=" + metrics, "--concurrent=4", "--loglevel=info",
		"--enable-cluster-external-secret-reconciler=false", "--enable-push-secret-reconciler=false",
		"--enable-cluster-push-secret-reconciler=false",
	}, filepath.Join(dir, "external-secrets.log"), append([]string{"KUBECONFIG=" + k.Kubeconfig}, env...)...)
	if err != nil {
		return nil, err
	}
	e := &ESO{Dir: dir, proc: p}
	err = waitFor(ctx, p, 2*time.Minute, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+metrics+"/metrics", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("metrics: %s", resp.Status)
		}
		return nil
	})
	if err != nil {
		_ = p.stop(5 * time.Second)
		return nil, p.failure("start external-secrets controller", err)
	}
	return e, nil
}

// Stop ends the controller.
func (e *ESO) Stop() error { return e.proc.stop(10 * time.Second) }

// LogTail returns the last n lines of the controller's log, for failure messages.
func (e *ESO) LogTail(n int) string { return e.proc.tail(n) }

var esoShared struct {
	once sync.Once
	eso  *ESO
	err  error
}

// RequireESO returns the test binary's ESO controller running against k, starting it on first
// use; it is stopped when the test binary ends. It reaches the shared Key Vault test server
// (RequireAKV) as Azure: see ESO.AKV. A missing binary skips the test under -short and fails it
// otherwise.
func RequireESO(t testing.TB, k *Kube) *ESO {
	t.Helper()
	esoShared.once.Do(func() {
		dir := filepath.Join(k.Dir, "eso")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			esoShared.err = err
			return
		}
		a, proxy, env, err := startESOAzure(dir)
		if err != nil {
			esoShared.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		esoShared.eso, esoShared.err = StartESO(ctx, k, dir, env...)
		if esoShared.err != nil {
			_ = proxy.Close()
			return
		}
		esoShared.eso.AKV, esoShared.eso.AzureProxy = a, proxy
		onStop(func() { _ = proxy.Close() }) // after the controller: hooks run last first
		onStop(func() { _ = esoShared.eso.Stop() })
	})
	if esoShared.err != nil {
		if _, missing := esoShared.err.(*MissingBinaryError); missing && testing.Short() {
			t.Skipf("%v (run make tools)", esoShared.err)
		}
		t.Fatalf("external-secrets controller: %v", esoShared.err)
	}
	return esoShared.eso
}

// stopHooks run, last first, after the tests and before the shared servers stop.
var stopHooks []func()

func onStop(f func()) { stopHooks = append(stopHooks, f) }
