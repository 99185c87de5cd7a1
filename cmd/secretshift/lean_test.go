package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hashicorp/vault/api"

	"github.com/secretshift/secretshift/internal/testenv"
)

// vaultBytes is what Vault holds for one key, decoded as secretshift stored it.
func vaultBytes(s *api.KVSecret, key string) []byte {
	str, _ := s.Data[key].(string)
	if m, _ := s.CustomMetadata["secretshift-base64-keys"].(string); m != "" {
		for _, k := range strings.Split(m, ",") {
			if k == key {
				b, _ := base64.StdEncoding.DecodeString(str)
				return b
			}
		}
	}
	return []byte(str)
}

// TestValuesPastTheBudgetAreReadAgain: with no values kept in memory, every Secret is planned
// from its measured fingerprints and its values are read again from its file for the write —
// a multi-document file and one file per Secret — byte-exact, with the same ESO manifests as a
// run that keeps every value, and a file edited between plan and apply is still refused.
func TestValuesPastTheBudgetAreReadAgain(t *testing.T) {
	v := startVault(t)
	t.Chdir(t.TempDir())
	want := writeTestSecrets(t, "in")
	// One file per Secret too, in folders, with binary values and odd key names.
	odd := map[string]map[string][]byte{}
	for i := range 40 {
		ns, name := fmt.Sprintf("team-%d", i%3), fmt.Sprintf("app-%02d", i)
		data := map[string][]byte{"password": []byte(canaries[i%3] + fmt.Sprint(i)), ".env": {0, 1, 2, byte(i), 0xff}, "ca_bundle-2.pem": []byte("ü\n")}
		enc := map[string]string{}
		for k, val := range data {
			enc[k] = base64.StdEncoding.EncodeToString(val)
		}
		doc := fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: %s}\ndata:\n", name, ns)
		for k, val := range enc {
			doc += fmt.Sprintf("  %q: %s\n", k, val)
		}
		p := filepath.Join("in", ns, name+".yaml")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		odd[ns+"/"+name] = data
	}
	t.Setenv(valuesBudgetEnv, "0")
	r := runCLI(t, "", "migrate", "--to", "vault", "-f", "in", "--manifests", "eso-lean", "-v")
	if r.code != ExitOK {
		t.Fatalf("migrate with no values kept: exit %d\n%s", r.code, r.stderr)
	}
	assertNoCanary(t, r.stdout+r.stderr, ".")
	// Every Secret read (the skipped service-account token too) had its values let go.
	if n := len(want) + len(odd) + 1; !strings.Contains(r.stderr, fmt.Sprintf("read_again_when_written=%d", n)) {
		t.Errorf("the values of all %d Secrets should have been let go after reading:\n%s", n, r.stderr)
	}
	for ref, data := range mergeMaps(want, odd) {
		s := readKV(t, v.client, ref)
		for k, val := range data {
			if got := vaultBytes(s, k); string(got) != string(val) {
				t.Errorf("%s key %q: Vault holds other bytes than the manifest", ref, k)
			}
		}
		if len(s.Data) != len(data) {
			t.Errorf("%s: %d keys in Vault, want %d", ref, len(s.Data), len(data))
		}
	}

	// Every value kept: the same manifests (the references were taken while values were read).
	t.Setenv(valuesBudgetEnv, "")
	if r = runCLI(t, "", "migrate", "--to", "vault", "-f", "in", "--manifests", "eso-kept"); r.code != ExitOK {
		t.Fatalf("migrate keeping values: exit %d\n%s", r.code, r.stderr)
	}
	if w := v.srv.Stats().Writes; w == 0 {
		t.Fatal("no writes recorded")
	}
	compareTrees(t, "eso-lean", "eso-kept")

	// A saved plan, then the source edited: the edited Secret is refused, from its measured
	// fingerprint, before its values are read again.
	t.Setenv(valuesBudgetEnv, "0")
	if r = runCLI(t, "", "plan", "--to", "vault", "-f", "in", "--out", "plan.json"); r.code != ExitOK {
		t.Fatalf("plan: exit %d\n%s", r.code, r.stderr)
	}
	edited := filepath.Join("in", "team-1", "app-01.yaml")
	if err := os.WriteFile(edited, []byte("apiVersion: v1\nkind: Secret\nmetadata: {name: app-01, namespace: team-1}\nstringData: {password: edited}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, "", "apply", "plan.json")
	if r.code != ExitPartial || !strings.Contains(r.stdout, "source changed") {
		t.Fatalf("apply after an edit: exit %d, want %d naming the changed source\n%s\n%s", r.code, ExitPartial, r.stdout, r.stderr)
	}
}

// TestValuesPastTheBudgetFromTheCluster: read from a cluster with no values kept, each
// namespace's Secrets are listed again for their writes, byte-exact.
func TestValuesPastTheBudgetFromTheCluster(t *testing.T) {
	k, v, cs := clusterAndVault(t)
	ctx := context.Background()
	want := map[string][]byte{}
	for _, ns := range []string{"lean-a", "lean-b"} {
		if err := k.CreateNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { deleteSecrets(t, cs, ns) })
		for i := range 30 {
			val := []byte{byte(i), 0xfe, 0x00, 'x'}
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s%02d", i), Namespace: ns, Labels: map[string]string{"lean-test": "yes"}},
				Data: map[string][]byte{"blob": val}}
			if _, err := cs.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			want[ns+"/"+s.Name] = val
		}
	}
	inTempDir(t)
	t.Setenv(valuesBudgetEnv, "0")
	r := runCLI(t, "", "migrate", "--to", "vault", "--kubeconfig", k.Kubeconfig, "-A", "-l", "lean-test=yes", "--page-size", "7")
	if r.code != ExitOK {
		t.Fatalf("migrate from the cluster with no values kept: exit %d\n%s", r.code, r.stderr)
	}
	for ref, val := range want {
		if got := vaultBytes(readKV(t, v.client, ref), "blob"); string(got) != string(val) {
			t.Errorf("%s: Vault holds other bytes than the cluster", ref)
		}
	}
}

// clusterAndVault starts (or joins) the test apiserver and a Vault test server, and returns
// a clientset for seeding.
func clusterAndVault(t *testing.T) (*testenv.Kube, *vaultFixture, *kubernetes.Clientset) {
	t.Helper()
	k := testenv.RequireKube(t)
	v := startVault(t)
	cs, err := k.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	return k, v, cs
}

func mergeMaps(a, b map[string]map[string][]byte) map[string]map[string][]byte {
	out := map[string]map[string][]byte{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// compareTrees fails unless folders a and b hold the same files with the same bytes.
func compareTrees(t *testing.T, a, b string) {
	t.Helper()
	files := func(root string) map[string]string {
		out := map[string]string{}
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			bs, err := os.ReadFile(p)
			out[rel] = string(bs)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	fa, fb := files(a), files(b)
	if len(fa) == 0 || len(fa) != len(fb) {
		t.Fatalf("%s has %d files, %s %d", a, len(fa), b, len(fb))
	}
	for name, content := range fa {
		if fb[name] != content {
			t.Errorf("%s differs between %s and %s", name, a, b)
		}
	}
}
