package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/secretshift/secretshift/internal/testenv"
	"github.com/secretshift/secretshift/internal/testenv/vaultapi"
)

// cutover --plan takes the store and the Secrets from a saved plan: the Secrets it moved are
// handed over, a Secret created after it is left alone, and a plan for another store or with
// its own selection flags is refused before anything changes.
func TestCutoverFromASavedPlan(t *testing.T) {
	k := testenv.RequireKube(t)
	testenv.RequireESO(t, k)
	vault := testenv.NewVault(t, vaultapi.Options{})
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	const ns = "cutover-plan"
	if err := k.CreateNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	mk := func(name string) {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, StringData: map[string]string{"password": "pw-" + name}}
		if _, err := cs.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mk("db")
	mk("api")
	t.Chdir(t.TempDir())
	t.Setenv("VAULT_TOKEN", vault.Token)
	store := []string{"--vault-addr", vault.Addr, "--vault-path", "plan/{{.Namespace}}/{{.Name}}"}
	if r := runCLI(t, "", append([]string{"plan", "--to", "vault", "--kubeconfig", k.Kubeconfig, "-n", ns, "--out", "plan.json"}, store...)...); r.code != ExitOK && r.code != ExitChanges {
		t.Fatalf("plan: exit %d\n%s", r.code, r.stderr)
	}
	if r := runCLI(t, "", append([]string{"apply", "plan.json", "--kubeconfig", k.Kubeconfig}, store...)...); r.code != ExitOK {
		t.Fatalf("apply: exit %d\n%s", r.code, r.stderr)
	}
	mk("later") // not in the plan
	tok := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "vault-token", Namespace: ns}, StringData: map[string]string{"token": vault.Token}}
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, tok, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eso := []string{"--skip-controller-check", "--eso-auth", "token", "--vault-eso-token-secret", "vault-token/token", "--kubeconfig", k.Kubeconfig}

	// Refused before anything changes: another store, selection flags beside the plan.
	if r := runCLI(t, "", append(append([]string{"cutover", "--plan", "plan.json", "--vault-mount", "other"}, eso...), store...)...); r.code == ExitOK {
		t.Errorf("a plan for another store was cut over: exit %d\n%s", r.code, r.stdout)
	}
	if r := runCLI(t, "", append(append([]string{"cutover", "--plan", "plan.json", "-n", ns}, eso...), store...)...); r.code != ExitUsage || !strings.Contains(r.stderr, "--plan selects the Secrets itself") {
		t.Errorf("-n with --plan: exit %d\n%s", r.code, r.stderr)
	}

	r := runCLI(t, "", append(append([]string{"cutover", "--plan", "plan.json", "-o", "json"}, eso...), store...)...)
	var rep cutoverJSON
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != ExitOK {
		t.Fatalf("cutover --plan: exit %d (%v)\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	got := map[string]string{}
	for _, it := range rep.Items {
		got[it.Name] = it.Result
	}
	if len(got) != 2 || got["db"] != "adopted" || got["api"] != "adopted" {
		t.Errorf("results %v, want db and api adopted and nothing else", got)
	}
	later, err := cs.CoreV1().Secrets(ns).Get(ctx, "later", metav1.GetOptions{})
	if err != nil || len(later.OwnerReferences) != 0 {
		t.Errorf("the Secret created after the plan was handed over: %v %v", later.OwnerReferences, err)
	}
}
