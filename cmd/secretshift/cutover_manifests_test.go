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
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/secretshift/secretshift/internal/testenv"
)

// TestCutoverFromManifests cuts over from the folder a "migrate --manifests" wrote and the user
// then edited: their own objects are applied as written (a refresh interval and a label of
// theirs survive), an ExternalSecret edited to read another remote value is refused with its
// file named and its Secret left alone, and nothing is absent or changed meanwhile.
func TestCutoverFromManifests(t *testing.T) {
	const ns = "cutover-manifests"
	k, eso, vault, cs, dyn, secrets := cutoverSetup(t, ns)
	ctx := context.Background()
	work := t.TempDir()
	t.Chdir(work)
	t.Setenv("VAULT_TOKEN", vault.Token)
	tok := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "vault-token", Namespace: ns}, StringData: map[string]string{"token": vault.Token}}
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, tok, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	store := []string{"--to", "vault", "--kubeconfig", k.Kubeconfig, "--vault-addr", vault.Addr, "--vault-path", "man/{{.Namespace}}/{{.Name}}"}
	migrate := append([]string{"migrate", "-n", ns, "-l", "tier=e2e", "--manifests", "eso", "--eso-auth", "token", "--vault-eso-token-secret", "vault-token/token"}, store...)
	if r := runCLI(t, "", migrate...); r.code != ExitOK {
		t.Fatalf("migrate: exit %d\n%s", r.code, r.stderr)
	}
	// The user's edits: their refresh interval and label on one ExternalSecret, and another one
	// pointed at a remote value that is not the verified copy.
	edit := func(name string, change func(es map[string]any)) {
		t.Helper()
		path := filepath.Join("eso", ns, name+".externalsecret.yaml")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var es map[string]any
		if err := yaml.Unmarshal(b, &es); err != nil {
			t.Fatal(err)
		}
		change(es)
		if b, err = yaml.Marshal(es); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	edit("tls", func(es map[string]any) {
		es["spec"].(map[string]any)["refreshInterval"] = "7m"
		es["metadata"].(map[string]any)["labels"].(map[string]any)["team"] = "payments"
	})
	edit("binary", func(es map[string]any) {
		data := es["spec"].(map[string]any)["data"].([]any)
		data[0].(map[string]any)["remoteRef"].(map[string]any)["key"] = "man/elsewhere/binary"
	})
	before, _ := cs.CoreV1().Secrets(ns).Get(ctx, "binary", metav1.GetOptions{})

	// The ESO flags belong to the folder now: giving one is a usage error.
	cut := []string{"cutover", "--skip-controller-check", "--manifests", "eso", "-o", "json", "--kubeconfig", k.Kubeconfig, "--vault-addr", vault.Addr, "--vault-path", "man/{{.Namespace}}/{{.Name}}"}
	if r := runCLI(t, "", append(cut, "--refresh-interval", "1h")...); r.code != ExitUsage || !strings.Contains(r.stderr, "applied as written") {
		t.Fatalf("--refresh-interval with --manifests: exit %d\n%s", r.code, r.stderr)
	}

	var live []*corev1.Secret
	for _, s := range secrets {
		got, err := cs.CoreV1().Secrets(ns).Get(ctx, s.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		live = append(live, got)
	}
	poller := testenv.StartSecretPoller(t, k.Config, live)
	r := runCLI(t, "", cut...) // --to comes from the folder's SecretStore
	polls, absent, changed := poller.Finish()
	var rep cutoverJSON
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("exit %d, no JSON: %v\n%s", r.code, err, r.stderr)
	}
	if r.code != ExitPartial || rep.Counts["adopted"] != len(secrets)-1 || rep.Counts["refused"] != 1 {
		t.Fatalf("cutover --manifests: exit %d, counts %v\n%s\n%s", r.code, rep.Counts, r.stderr, eso.LogTail(20))
	}
	if absent != 0 || changed != 0 || polls == 0 {
		t.Errorf("while cutting over: %d polls, %d not-found and %d changed answers", polls, absent, changed)
	}
	for _, it := range rep.Items {
		if it.Name == "binary" && (it.Result != "refused" || !strings.Contains(it.Reason, "binary.externalsecret.yaml") || !strings.Contains(it.Reason, "reads other remote values")) {
			t.Errorf("binary: %s (%s)", it.Result, it.Reason)
		}
	}
	after, _ := cs.CoreV1().Secrets(ns).Get(ctx, "binary", metav1.GetOptions{})
	if after.ResourceVersion != before.ResourceVersion || len(after.OwnerReferences) != 0 {
		t.Errorf("the refused Secret was changed: resourceVersion %s → %s, owners %v", before.ResourceVersion, after.ResourceVersion, after.OwnerReferences)
	}
	es, err := dyn.Resource(externalSecretGVR).Namespace(ns).Get(ctx, "tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ri, _, _ := unstructured.NestedString(es.Object, "spec", "refreshInterval"); ri != "7m" || es.GetLabels()["team"] != "payments" {
		t.Errorf("the user's ExternalSecret was not applied as written: refreshInterval %q, labels %v", ri, es.GetLabels())
	}
	tls, _ := cs.CoreV1().Secrets(ns).Get(ctx, "tls", metav1.GetOptions{})
	if len(tls.OwnerReferences) != 1 || tls.OwnerReferences[0].Kind != "ExternalSecret" {
		t.Errorf("tls owners %v", tls.OwnerReferences)
	}
	for _, c := range canaries {
		if strings.Contains(r.stdout+r.stderr, c) {
			t.Errorf("canary %q leaked", c)
		}
	}
}
