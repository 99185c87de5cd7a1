// Package discover compares `secretshift discover -A -o json` with `kubectl get secrets -A -o
// json` on a seeded kube-apiserver: 10,000 Secrets and 2,000 workloads. It reports the wall-time
// ratio and the peak RSS of both processes, and the ratio to the floor: the raw protobuf LISTs
// of every collection discover reads, fetched at once by curl and discarded. Run it with `make bench`, or:
//
//	go test -run '^$' -bench . -benchtime 1x ./bench/discover
//
// The test kube-apiserver is started by internal/testenv. To measure an existing cluster
// instead, set SECRETSHIFT_BENCH_KUBECONFIG to its kubeconfig (the seed goes into namespaces
// named bench-discover-NN and is reused by later runs).
package discover

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/secretshift/secretshift/internal/testenv"
)

const (
	benchSecrets    = 10000
	benchWorkloads  = 2000
	benchNamespaces = 20
	benchRuns       = 3
	kubectlPath     = "/usr/bin/kubectl"
	// seededMarker is a ConfigMap recording a finished seed, so reruns skip seeding.
	seededMarker = "bench-discover-seeded"
)

func TestMain(m *testing.M) {
	if os.Getenv("SECRETSHIFT_BENCH_KUBECONFIG") != "" {
		os.Exit(m.Run())
	}
	testenv.Main(m, testenv.NeedKube)
}

// BenchmarkDiscoverVsKubectl seeds the cluster once, then runs both commands benchRuns times
// each, alternating, and reports medians of wall time and peak RSS.
func BenchmarkDiscoverVsKubectl(b *testing.B) {
	kubeconfig := os.Getenv("SECRETSHIFT_BENCH_KUBECONFIG")
	if kubeconfig == "" {
		kubeconfig = testenv.RequireKube(b).Kubeconfig
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		b.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 1000, 2000
	cfg.WarningHandler = rest.NoWarnings{} // seeded TLS data is not PEM; the API server says so
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	if err := seed(ctx, client); err != nil {
		b.Fatalf("seed: %v", err)
	}
	b.Logf("seed ready in %s", time.Since(start).Round(time.Millisecond))

	bin := filepath.Join(b.TempDir(), "secretshift")
	build := exec.Command("go", "build", "-o", bin, "github.com/secretshift/secretshift/cmd/secretshift")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build secretshift: %v\n%s", err, out)
	}

	// The comparison means something only if discover really reported every seeded Secret.
	out, err := exec.Command(bin, "--kubeconfig", kubeconfig, "discover", "-A", "-o", "json").Output()
	if err != nil {
		b.Fatalf("secretshift discover: %v", err)
	}
	var report struct {
		Summary struct{ Secrets int } `json:"summary"`
	}
	if err := json.Unmarshal(out, &report); err != nil || report.Summary.Secrets < benchSecrets {
		b.Fatalf("discover reported %d Secrets, want at least %d (%v)", report.Summary.Secrets, benchSecrets, err)
	}

	floorAll, err := curlFloor(cfg, b.TempDir(), listPaths)
	if err != nil {
		b.Fatal(err)
	}
	floorTwo, err := curlFloor(cfg, b.TempDir(), []string{"/api/v1/secrets", "/apis/apps/v1/deployments"})
	if err != nil {
		b.Fatal(err)
	}
	commands := map[string][]string{
		"kubectl":     {kubectlPath, "--kubeconfig", kubeconfig, "get", "secrets", "-A", "-o", "json"},
		"secretshift": {bin, "--kubeconfig", kubeconfig, "discover", "-A", "-o", "json"},
		// The floor's curl asks for no compression; so does this run (kubectl's flag too).
		"secretshift-plain": {bin, "--kubeconfig", kubeconfig, "discover", "-A", "-o", "json", "--disable-compression"},
		"floor":             floorAll,
		"floor-two":         floorTwo,
	}
	order := []string{"kubectl", "secretshift", "secretshift-plain", "floor", "floor-two"}
	results := map[string][]measurement{}
	b.ResetTimer()
	for range b.N {
		for run := 0; run < benchRuns; run++ {
			for _, name := range order {
				m, err := measure(commands[name])
				if err != nil {
					b.Fatalf("%s: %v", name, err)
				}
				results[name] = append(results[name], m)
			}
		}
	}
	b.StopTimer()

	k, s := median(results["kubectl"]), median(results["secretshift"])
	timeRatio := s.wall.Seconds() / k.wall.Seconds()
	rssRatio := float64(s.maxRSSKiB) / float64(k.maxRSSKiB)
	b.ReportMetric(timeRatio, "time-ratio")
	b.ReportMetric(rssRatio, "rss-ratio")
	b.ReportMetric(float64(s.maxRSSKiB)/1024, "secretshift-MiB")
	b.ReportMetric(float64(k.maxRSSKiB)/1024, "kubectl-MiB")
	fmt.Printf("\n%d Secrets, %d workloads; median of %d runs each\n", benchSecrets, benchWorkloads, benchRuns)
	fmt.Printf("%-34s %10s %14s %12s\n", "command", "wall", "peak RSS", "stdout")
	fmt.Printf("%-34s %10s %10.1f MiB %9.1f MiB\n", "kubectl get secrets -A -o json", k.wall.Round(time.Millisecond), float64(k.maxRSSKiB)/1024, float64(k.stdout)/(1<<20))
	fmt.Printf("%-34s %10s %10.1f MiB %9.1f MiB\n", "secretshift discover -A -o json", s.wall.Round(time.Millisecond), float64(s.maxRSSKiB)/1024, float64(s.stdout)/(1<<20))
	fmt.Printf("ratio secretshift/kubectl: time %.2fx, peak RSS %.2fx\n", timeRatio, rssRatio)
	f, f2 := median(results["floor"]), median(results["floor-two"])
	floorRatio := s.wall.Seconds() / f.wall.Seconds()
	b.ReportMetric(floorRatio, "floor-ratio")
	fmt.Printf("%-34s %10s\n", fmt.Sprintf("curl, %d protobuf LISTs at once", len(listPaths)), f.wall.Round(time.Millisecond))
	fmt.Printf("%-34s %10s\n", "curl, Secrets + Deployments LISTs", f2.wall.Round(time.Millisecond))
	fmt.Printf("ratio secretshift/floor (every list discover reads, unpaged, undecoded): %.2fx (target <= 1.5x: %s); against the Secret and Deployment lists alone: %.2fx\n",
		floorRatio, verdict(floorRatio <= 1.5), s.wall.Seconds()/f2.wall.Seconds())
	p := median(results["secretshift-plain"])
	plainRatio := p.wall.Seconds() / f.wall.Seconds()
	b.ReportMetric(plainRatio, "floor-ratio-uncompressed")
	fmt.Printf("%-34s %10s %10.1f MiB\n", "discover --disable-compression", p.wall.Round(time.Millisecond), float64(p.maxRSSKiB)/1024)
	fmt.Printf("ratio to the floor, both uncompressed as the floor's curl asks: %.2fx (target <= 1.5x: %s)\n\n", plainRatio, verdict(plainRatio <= 1.5))
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

type measurement struct {
	wall      time.Duration
	maxRSSKiB int64
	stdout    int64
}

// countWriter counts what a command prints without keeping it.
type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// measure runs argv once; peak RSS comes from the child's rusage (ru_maxrss, KiB on Linux).
func measure(argv []string) (measurement, error) {
	var out countWriter
	var errOut bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return measurement{}, fmt.Errorf("%v: %s", err, errOut.String())
	}
	wall := time.Since(start)
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return measurement{}, fmt.Errorf("no rusage for %s", argv[0])
	}
	return measurement{wall: wall, maxRSSKiB: ru.Maxrss, stdout: out.n}, nil
}

func median(ms []measurement) measurement {
	walls := make([]time.Duration, len(ms))
	rss := make([]int64, len(ms))
	for i, m := range ms {
		walls[i], rss[i] = m.wall, m.maxRSSKiB
	}
	slices.Sort(walls)
	slices.Sort(rss)
	return measurement{wall: walls[len(walls)/2], maxRSSKiB: rss[len(rss)/2], stdout: ms[0].stdout}
}

func benchNamespace(i int) string { return fmt.Sprintf("bench-discover-%02d", i) }

// seed creates the namespaces, Secrets and workloads, unless a previous run finished it.
func seed(ctx context.Context, c kubernetes.Interface) error {
	if _, err := c.CoreV1().ConfigMaps(benchNamespace(0)).Get(ctx, seededMarker, metav1.GetOptions{}); err == nil {
		return nil
	}
	for i := range benchNamespaces {
		_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNamespace(i)}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	var g errgroup.Group
	g.SetLimit(48)
	for i := range benchSecrets {
		g.Go(func() error { return ignoreExists(createSecret(ctx, c, i)) })
	}
	for i := range benchWorkloads {
		g.Go(func() error { return ignoreExists(createWorkload(ctx, c, i)) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	_, err := c.CoreV1().ConfigMaps(benchNamespace(0)).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: seededMarker}}, metav1.CreateOptions{})
	return ignoreExists(err)
}

func ignoreExists(err error) error {
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// filler returns n bytes of deterministic printable test data.
func filler(seed, n int) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"
	b := make([]byte, n)
	x := uint32(seed*2654435761 + 1)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = alphabet[x%uint32(len(alphabet))]
	}
	return b
}

// createSecret makes a mix close to real clusters: mostly small Opaque Secrets, some TLS
// pairs of a few KiB, some registry credentials, with the labels tools usually set.
func createSecret(ctx context.Context, c kubernetes.Interface, i int) error {
	ns := benchNamespace(i % benchNamespaces)
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("secret-%05d", i),
		Labels:      map[string]string{"app.kubernetes.io/name": fmt.Sprintf("app-%03d", i%500), "app.kubernetes.io/part-of": "bench"},
		Annotations: map[string]string{"bench.secretshift.io/owner": "team-" + fmt.Sprint(i%17)}}}
	switch i % 10 {
	case 0:
		s.Type = corev1.SecretTypeTLS
		s.Data = map[string][]byte{"tls.crt": filler(i, 1600), "tls.key": filler(i+1, 1700), "ca.crt": filler(i+2, 1200)}
	case 1:
		s.Type = corev1.SecretTypeDockerConfigJson
		s.Data = map[string][]byte{".dockerconfigjson": []byte(fmt.Sprintf(`{"auths":{"registry.example.com":{"auth":%q}}}`, filler(i, 120)))}
	default:
		s.Type = corev1.SecretTypeOpaque
		s.Data = map[string][]byte{"username": filler(i, 12), "password": filler(i+1, 32), "url": filler(i+2, 90), "api-key": filler(i+3, 48)}
	}
	_, err := c.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{})
	return err
}

// createWorkload makes Deployments, StatefulSets, DaemonSets, CronJobs and Jobs whose pod
// templates reference two or three of the seeded Secrets.
func createWorkload(ctx context.Context, c kubernetes.Interface, i int) error {
	ns := benchNamespace(i % benchNamespaces)
	secret := func(k int) string {
		return fmt.Sprintf("secret-%05d", ((i*5+k)*benchNamespaces+i%benchNamespaces)%benchSecrets)
	}
	name := fmt.Sprintf("workload-%04d", i)
	labels := map[string]string{"app": name}
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "app", Image: "registry.example.com/app:1",
				Env: []corev1.EnvVar{
					{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret(0)}, Key: "password"}}},
					{Name: "LOG_LEVEL", Value: "info"},
				},
				EnvFrom:      []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: secret(1)}}}},
				VolumeMounts: []corev1.VolumeMount{{Name: "certs", MountPath: "/certs"}},
			}},
			Volumes:       []corev1.Volume{{Name: "certs", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret(2)}}}},
			RestartPolicy: corev1.RestartPolicyAlways,
		},
	}
	meta := metav1.ObjectMeta{Name: name, Labels: labels}
	selector := &metav1.LabelSelector{MatchLabels: labels}
	var err error
	switch i % 10 {
	case 0, 1, 2, 3, 4:
		_, err = c.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Selector: selector, Template: tmpl}}, metav1.CreateOptions{})
	case 5, 6:
		_, err = c.AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Selector: selector, Template: tmpl, ServiceName: name}}, metav1.CreateOptions{})
	case 7:
		_, err = c.AppsV1().DaemonSets(ns).Create(ctx, &appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{Selector: selector, Template: tmpl}}, metav1.CreateOptions{})
	case 8:
		tmpl.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		_, err = c.BatchV1().CronJobs(ns).Create(ctx, &batchv1.CronJob{ObjectMeta: meta, Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}}}, metav1.CreateOptions{})
	default:
		tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
		_, err = c.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{ObjectMeta: meta, Spec: batchv1.JobSpec{Template: tmpl}}, metav1.CreateOptions{})
	}
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		return fmt.Errorf("create %s/%s: %w", ns, name, err)
	}
	return nil
}
