package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/secretshift/secretshift/internal/testenv"
	"github.com/secretshift/secretshift/kube"
)

// TestDiscoverClusterCLI runs `secretshift discover` in-process against the test API server,
// through --kubeconfig as a user would.
func TestDiscoverClusterCLI(t *testing.T) {
	k := testenv.RequireKube(t)
	client, err := kubernetes.NewForConfig(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 4)
	rand.Read(id)
	run := hex.EncodeToString(id)
	ns := "cli-discover-" + run
	ctx := context.Background()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := k.CreateNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	labels := map[string]string{"secretshift.io/test-run": run}
	must(client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db", Labels: labels},
		Data: map[string][]byte{"password": []byte(discoverCanary), "user": []byte("app")}}, metav1.CreateOptions{}))
	must(client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cache", Labels: labels},
		Data: map[string][]byte{"url": []byte(discoverCanary)}}, metav1.CreateOptions{}))
	must(client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "helm", Labels: labels},
		Type: kube.TypeHelmRelease, Data: map[string][]byte{"release": []byte(discoverCanary)}}, metav1.CreateOptions{}))
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	must(client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Selector: sel, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: sel.MatchLabels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app", EnvFrom: []corev1.EnvFromSource{
				{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}}},
				{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}}},
			}}}}}}}, metav1.CreateOptions{}))

	t.Run("table for one namespace", func(t *testing.T) {
		code, out, errOut := runMain(t, "", "discover", "--kubeconfig", k.Kubeconfig, "-n", ns)
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		for _, want := range []string{
			ns + "  cache", "<none>", ns + "  db", "Deployment/web", "migrate",
			"skip/helm-release", ns + "/absent  secret-not-found  Deployment/web  env-from (container app)  no",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("table lacks %q:\n%s", want, out)
			}
		}
		if !strings.Contains(errOut, "3 secrets: 2 to migrate, 1 skipped, 0 errors; 2 unused, 1 missing reference") {
			t.Errorf("summary: %s", errOut)
		}
	})

	t.Run("json across namespaces, paged, with fingerprints", func(t *testing.T) {
		code, out, errOut := runMain(t, "", "discover", "--kubeconfig", k.Kubeconfig, "-A", "-l", "secretshift.io/test-run="+run,
			"--page-size", "1", "--qps", "20", "--burst", "40", "-o", "json", "--fingerprint-key", writeTestKey(t))
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var r kube.Discovery
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		if len(r.Items) != 3 || r.Source.Cluster != k.Config.Host || r.Items[0].Origin.Cluster != k.Config.Host {
			t.Errorf("report: %s", out)
		}
		for _, it := range r.Items {
			if !strings.HasPrefix(it.Fingerprint, "hmac-sha256:") {
				t.Errorf("%s: no fingerprint", it.Name)
			}
		}
	})

	t.Run("unknown context", func(t *testing.T) {
		code, _, errOut := runMain(t, "", "discover", "--kubeconfig", k.Kubeconfig, "--context", "no-such-context")
		if code != ExitError || !strings.Contains(errOut, "no-such-context") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
	})
}
