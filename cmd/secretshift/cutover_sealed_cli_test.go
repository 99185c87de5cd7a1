package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/secretshift/secretshift/internal/testenv"
)

// The sealed path through the command line: migrate --to sealed writes the SealedSecrets,
// cutover --to sealed hands the live Secrets to the real sealed-secrets controller in place
// (same UID, owned by their SealedSecret), and cutover rollback makes them plain again.
func TestCutoverToSealedThroughTheCLI(t *testing.T) {
	k := testenv.RequireKube(t)
	ctrl := testenv.RequireSealedSecrets(t, k, "cut-sealed-cli-controller")
	testenv.RequireGC(t, k)
	ctx := context.Background()
	const ns = "cut-sealed-cli"
	if err := k.CreateNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	cert, err := ctrl.Certificate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	uids := map[string]string{}
	for name, data := range map[string]map[string][]byte{"db": {"password": []byte("CANARY-cut-sealed-1")}, "bin": {"k": {0xff, 0x00, 0xfe}}} {
		s, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: data}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		uids[name] = string(s.UID)
	}
	t.Chdir(t.TempDir())
	if err := os.WriteFile("cert.pem", cert, 0o600); err != nil {
		t.Fatal(err)
	}
	store := []string{"--to", "sealed", "--kubeconfig", k.Kubeconfig, "-n", ns, "--sealed-cert", "cert.pem", "--sealed-out", "sealed"}
	if r := runCLI(t, "", append([]string{"migrate"}, store...)...); r.code != ExitOK {
		t.Fatalf("migrate: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join("sealed", ns, "db.yaml")); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "", append([]string{"cutover", "--skip-controller-check", "-o", "json"}, store...)...)
	var rep cutoverJSON
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != ExitOK || rep.Counts["adopted"] != 2 {
		t.Fatalf("cutover --to sealed: exit %d, counts %v (%v)\n%s\n%s", r.code, rep.Counts, err, r.stderr, ctrl.LogTail(20))
	}
	for name, uid := range uids {
		s, err := cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil || string(s.UID) != uid || len(s.OwnerReferences) != 1 || s.OwnerReferences[0].Kind != "SealedSecret" {
			t.Errorf("%s after cutover: %v, uid %s (was %s), owners %v", name, err, s.UID, uid, s.OwnerReferences)
		}
	}
	rb := runCLI(t, "", "cutover", "rollback", "--kubeconfig", k.Kubeconfig, "-n", ns)
	if rb.code != ExitOK {
		t.Fatalf("rollback: exit %d\n%s%s", rb.code, rb.stdout, rb.stderr)
	}
	for name, uid := range uids {
		s, err := cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil || string(s.UID) != uid || len(s.OwnerReferences) != 0 {
			t.Errorf("%s after rollback: %v, uid %s (was %s), owners %v", name, err, s.UID, uid, s.OwnerReferences)
		}
	}
	if all := r.stdout + r.stderr + rb.stdout + rb.stderr; strings.Contains(all, "CANARY-cut-sealed-1") {
		t.Error("a value appears in the output")
	}
}
