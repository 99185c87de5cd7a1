package testenv

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

// TestSealedSecretsController starts the real controller out of cluster, checks its key and
// certificate, fetches that certificate through the apiserver's service proxy as client-go and
// the real kubeseal do, and lets the controller unseal what kubeseal sealed with it.
func TestSealedSecretsController(t *testing.T) {
	k := RequireKube(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, ns := range []string{"sealed-system", "sealed-app"} {
		if err := k.CreateNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("the controller runs in a mount namespace of its own, which needs root")
	}
	s, err := StartSealedSecrets(ctx, k, "sealed-system", t.TempDir())
	if err != nil {
		if _, missing := err.(*MissingBinaryError); missing && testing.Short() {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	defer s.Stop()
	pemBytes, err := s.Certificate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
		t.Fatalf("certificate key is %T, not RSA", cert.PublicKey)
	}
	cs, err := k.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := cs.CoreV1().Secrets("sealed-system").List(ctx, metav1.ListOptions{LabelSelector: "sealedsecrets.bitnami.com/sealed-secrets-key"})
	if err != nil || len(keys.Items) != 1 {
		t.Fatalf("key Secrets: %v, %d", err, len(keys.Items))
	}

	// Through the apiserver, as users reach the controller: the Service kubeseal looks for by
	// default, in kube-system.
	if err := s.ExposeService(ctx, k, SealedSecretsServiceNamespace, SealedSecretsServiceName); err != nil {
		t.Fatal(err)
	}
	viaProxy, err := cs.CoreV1().Services(SealedSecretsServiceNamespace).
		ProxyGet("http", SealedSecretsServiceName, SealedSecretsPortName, "/v1/cert.pem", nil).DoRaw(ctx)
	if err != nil {
		t.Fatalf("service proxy: %v", err)
	}
	if !bytes.Equal(viaProxy, pemBytes) {
		t.Fatalf("the service proxy returned another certificate:\n%s", viaProxy)
	}
	kubeseal, err := findBinary("kubeseal", false)
	if err != nil {
		t.Fatal(err)
	}
	fetch := exec.CommandContext(ctx, kubeseal, "--kubeconfig", k.Kubeconfig, "--fetch-cert",
		"--controller-namespace", SealedSecretsServiceNamespace, "--controller-name", SealedSecretsServiceName)
	var stderr bytes.Buffer
	fetch.Stderr = &stderr
	fetched, err := fetch.Output()
	if err != nil {
		t.Fatalf("kubeseal --fetch-cert: %v\n%s", err, stderr.Bytes())
	}
	if !bytes.Equal(fetched, pemBytes) {
		t.Fatalf("kubeseal --fetch-cert printed another certificate:\n%s", fetched)
	}
	certFile := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(certFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	secret := "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: sealed-app}\ntype: Opaque\nstringData: {password: not-a-real-one}\n"
	cmd := exec.Command(kubeseal, "--cert", certFile, "--format", "yaml")
	cmd.Stdin = bytes.NewReader([]byte(secret))
	sealed, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubeseal: %v", err)
	}
	var obj map[string]any
	if err := yaml.Unmarshal(sealed, &obj); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Group: "bitnami.com", Version: "v1alpha1", Resource: "sealedsecrets"}
	if _, err := dyn.Resource(gvr).Namespace("sealed-app").Create(ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		sec, err := cs.CoreV1().Secrets("sealed-app").Get(ctx, "db", metav1.GetOptions{})
		if err == nil {
			if string(sec.Data["password"]) != "not-a-real-one" {
				t.Fatal("the controller unsealed other bytes")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the controller did not unseal the SealedSecret: %v\n%s", err, s.LogTail(30))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
