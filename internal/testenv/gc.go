package testenv

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// GC is kube-controller-manager running only its garbage-collector controller against a test
// Kube: objects whose owners are deleted are deleted too (or orphaned, as the deletion asks),
// as in a real cluster. Built by `make tools` from the same pinned module as kube-apiserver.
//
// The collector learns the resources it watches from discovery when it starts, and again every
// 30 seconds: start it after the CRDs whose objects own others (ESO's) are installed, or allow
// for that delay.
type GC struct {
	// Dir holds its log (kube-controller-manager.log) and serving certificate.
	Dir  string
	proc *process
}

// gcProbeTimeout bounds how long StartGC waits for the collector to delete its probe object.
const gcProbeTimeout = 90 * time.Second

// StartGC starts kube-controller-manager with only the garbage collector, as k's admin, and
// returns once the collector has deleted a probe: a ConfigMap owned by a deleted ConfigMap in
// namespace "default".
func StartGC(ctx context.Context, k *Kube, dir string) (*GC, error) {
	bin, err := findBinary("kube-controller-manager", false)
	if err != nil {
		return nil, err
	}
	certDir := filepath.Join(dir, "kcm-certs")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, fmt.Errorf("create controller manager dir: %w", err)
	}
	var p *process
	var healthz string
	for range startAttempts {
		ports, err := freePorts(1)
		if err != nil {
			return nil, err
		}
		p, err = startProcess("kube-controller-manager", bin, []string{
			"--kubeconfig=" + k.Kubeconfig,
			// Delegated authentication and authorization need the kube-system ConfigMaps a
			// real control plane has; /healthz is allowed without them.
			"--authentication-kubeconfig=" + k.Kubeconfig,
			"--authorization-kubeconfig=" + k.Kubeconfig,
			"--controllers=garbagecollector",
			// One client for every controller: no per-controller ServiceAccounts, whose
			// tokens no tokens controller would create here.
			"--use-service-account-credentials=false",
			"--leader-elect=false",
			"--bind-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(ports[0]),
			"--cert-dir=" + certDir,
			"--concurrent-gc-syncs=10",
			"--profiling=false",
		}, filepath.Join(dir, "kube-controller-manager.log"))
		if err != nil {
			return nil, err
		}
		healthz = "https://127.0.0.1:" + strconv.Itoa(ports[0]) + "/healthz"
		err = waitFor(ctx, p, apiTimeout, func(ctx context.Context) error {
			return checkHTTP(ctx, insecureClient, healthz, "", "ok")
		})
		if err == nil {
			break
		}
		if !p.bindFailed() {
			_ = p.stop(stopGrace)
			return nil, p.failure("start kube-controller-manager", err)
		}
		p = nil
	}
	if p == nil {
		return nil, fmt.Errorf("start kube-controller-manager: ports taken %d times", startAttempts)
	}
	g := &GC{Dir: dir, proc: p}
	if err := g.probe(ctx, k); err != nil {
		_ = p.stop(stopGrace)
		return nil, p.failure("garbage collector", err)
	}
	return g, nil
}

// insecureClient reads the controller manager's /healthz, served under a self-signed
// certificate it made at start; nothing secret crosses it.
var insecureClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
	TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // health check only
}}

// probe creates an owner and a dependent, deletes the owner, and waits for the dependent to go:
// the collector has synced its graph and acts.
func (g *GC) probe(ctx context.Context, k *Kube) error {
	cs, err := k.Clientset()
	if err != nil {
		return err
	}
	const ns = "default"
	name := "secretshift-gc-probe-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	owner, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create probe owner: %w", err)
	}
	dep := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name + "-dependent", OwnerReferences: []metav1.OwnerReference{{
		APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID,
	}}}}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create probe dependent: %w", err)
	}
	if err := cs.CoreV1().ConfigMaps(ns).Delete(ctx, owner.Name, metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("delete probe owner: %w", err)
	}
	return waitFor(ctx, g.proc, gcProbeTimeout, func(ctx context.Context) error {
		_, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, dep.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err == nil {
			return errors.New("probe dependent not collected yet")
		}
		return err
	})
}

// Stop ends the controller manager.
func (g *GC) Stop() error { return g.proc.stop(stopGrace) }

// LogTail returns the last n lines of its log, for failure messages.
func (g *GC) LogTail(n int) string { return g.proc.tail(n) }

var gcShared struct {
	once sync.Once
	gc   *GC
	err  error
}

// RequireGC returns the test binary's garbage collector running against k, starting it on first
// use; it is stopped when the test binary ends. Call RequireESO (or install other CRDs) first
// when their objects own others. A missing binary skips the test under -short and fails it
// otherwise.
func RequireGC(t testing.TB, k *Kube) *GC {
	t.Helper()
	gcShared.once.Do(func() {
		dir := filepath.Join(k.Dir, "gc")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			gcShared.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		gcShared.gc, gcShared.err = StartGC(ctx, k, dir)
		if gcShared.err == nil {
			onStop(func() { _ = gcShared.gc.Stop() })
		}
	})
	if gcShared.err != nil {
		var missing *MissingBinaryError
		if errors.As(gcShared.err, &missing) && testing.Short() {
			t.Skipf("%v (run make tools)", gcShared.err)
		}
		t.Fatalf("kube-controller-manager: %v", gcShared.err)
	}
	return gcShared.gc
}
