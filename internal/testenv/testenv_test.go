package testenv

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

func TestMain(m *testing.M) { Main(m, NeedKube|NeedVault) }

func TestKubeSecretRoundTrip(t *testing.T) {
	k := RequireKube(t)
	ctx := context.Background()
	t.Logf("kube-apiserver started in %s", k.StartupTime.Round(time.Millisecond))
	if k.Config.Insecure || k.Config.CAFile == "" {
		t.Fatal("rest config does not verify the apiserver certificate")
	}
	cs, err := k.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	const ns = "smoke-secrets"
	if err := k.CreateNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns, Labels: map[string]string{"app": "smoke"}},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"password": []byte("canary-value")},
	}
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create secret %s/db: %v", ns, err)
	}
	list, err := cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=smoke"})
	if err != nil {
		t.Fatalf("list secrets in %s: %v", ns, err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != "db" || string(list.Items[0].Data["password"]) != "canary-value" {
		t.Fatalf("listed %d secrets, want %s/db with its data", len(list.Items), ns)
	}

	// Pods need the namespace's default ServiceAccount, which CreateNamespace provides.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "consumer", Namespace: ns},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:  "app",
			Image: "registry.example/app:1",
			EnvFrom: []corev1.EnvFromSource{{
				SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}},
			}},
		}}},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s/consumer: %v", ns, err)
	}
	inDefault := pod.DeepCopy()
	inDefault.Namespace = "default"
	if _, err := cs.CoreV1().Pods("default").Create(ctx, inDefault, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod default/consumer: %v", err)
	}

	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Log("kubectl not on PATH; kubeconfig checked with client-go only")
		return
	}
	out, err := exec.CommandContext(ctx, kubectl, "--kubeconfig", k.Kubeconfig, "get", "secrets", "-n", ns, "-o", "name").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "secret/db") {
		t.Fatalf("kubectl with %s: %v\n%s", k.Kubeconfig, err, out)
	}
	out, err = exec.CommandContext(ctx, kubectl, "--kubeconfig", k.Kubeconfig, "config", "current-context").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != KubeContext {
		t.Fatalf("kubectl current-context = %q, %v; want %s", out, err, KubeContext)
	}
}

func TestVaultKV(t *testing.T) {
	v := RequireVault(t)
	ctx := context.Background()
	c, err := v.Client()
	if err != nil {
		t.Fatal(err)
	}
	kv := c.KVv2("secret")

	if _, err := kv.Put(ctx, "smoke/app", map[string]any{"password": "canary-1"}, api.WithCheckAndSet(0)); err != nil {
		t.Fatalf("first cas=0 write: %v", err)
	}
	_, err = kv.Put(ctx, "smoke/app", map[string]any{"password": "canary-2"}, api.WithCheckAndSet(0))
	if err == nil || !strings.Contains(err.Error(), "check-and-set parameter did not match the current version") {
		t.Fatalf("second cas=0 write: err = %v, want Vault's check-and-set mismatch", err)
	}
	if _, err := kv.Put(ctx, "smoke/app", map[string]any{"password": "canary-2"}, api.WithCheckAndSet(1)); err != nil {
		t.Fatalf("cas=1 write: %v", err)
	}
	got, err := kv.Get(ctx, "smoke/app")
	if err != nil || got.VersionMetadata.Version != 2 || got.Data["password"] != "canary-2" {
		t.Fatalf("read: %v", err)
	}

	if err := kv.PutMetadata(ctx, "smoke/app", api.KVMetadataPutInput{
		MaxVersions: 3, CustomMetadata: map[string]any{"source": "default/app"},
	}); err != nil {
		t.Fatalf("put metadata: %v", err)
	}
	if err := kv.PatchMetadata(ctx, "smoke/app", api.KVMetadataPatchInput{
		CustomMetadata: map[string]any{"migrated-by": "secretshift"},
	}); err != nil {
		t.Fatalf("patch metadata: %v", err)
	}
	md, err := kv.GetMetadata(ctx, "smoke/app")
	if err != nil {
		t.Fatalf("get metadata: %v", err)
	}
	if md.MaxVersions != 3 || md.CurrentVersion != 2 || len(md.Versions) != 2 ||
		md.CustomMetadata["source"] != "default/app" || md.CustomMetadata["migrated-by"] != "secretshift" {
		t.Fatalf("metadata: max_versions %d current %d versions %d custom %v", md.MaxVersions, md.CurrentVersion, len(md.Versions), md.CustomMetadata)
	}
	versions, err := kv.GetVersionsAsList(ctx, "smoke/app")
	if err != nil || len(versions) != 2 || versions[0].Version != 1 {
		t.Fatalf("versions: %v (%d)", err, len(versions))
	}

	list, err := c.Logical().ListWithContext(ctx, "secret/metadata/smoke")
	if err != nil || list == nil || len(list.Data["keys"].([]any)) != 1 {
		t.Fatalf("list secret/metadata/smoke: %v", err)
	}

	tests := []struct {
		name, mount, wantVersion string
	}{
		{"kv v2", "secret", "2"},
		{"kv v1", "kv", "1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := c.Logical().ReadWithContext(ctx, "sys/internal/ui/mounts/"+tc.mount+"/smoke/app")
			if err != nil || s == nil {
				t.Fatalf("read sys/internal/ui/mounts/%s: %v", tc.mount, err)
			}
			opts, _ := s.Data["options"].(map[string]any)
			if s.Data["path"] != tc.mount+"/" || s.Data["type"] != "kv" || opts["version"] != tc.wantVersion {
				t.Fatalf("mount %s: path %v type %v options %v, want kv version %s", tc.mount, s.Data["path"], s.Data["type"], opts, tc.wantVersion)
			}
		})
	}
	if err := c.KVv1("kv").Put(ctx, "smoke/app", map[string]any{"password": "canary-v1"}); err != nil {
		t.Fatalf("kv v1 write: %v", err)
	}
	self, err := c.Auth().Token().LookupSelf()
	if err != nil || self.Data["display_name"] != "root" {
		t.Fatalf("lookup-self: %v", err)
	}
}

func TestESOCRDsDryRun(t *testing.T) {
	k := RequireKube(t)
	ctx := context.Background()
	crdDir := filepath.Join(SharedDir(), "corpus", "eso-crds")
	if _, err := os.Stat(crdDir); err != nil {
		t.Fatalf("ESO CRDs: %v (set %s to the shared folder)", err, EnvShared)
	}
	start := time.Now()
	if err := InstallCRDs(ctx, k.Config, crdDir); err != nil {
		t.Fatalf("install ESO CRDs: %v", err)
	}
	t.Logf("ESO CRDs established in %s", time.Since(start).Round(time.Millisecond))
	// A second install updates in place.
	if err := InstallCRDs(ctx, k.Config, crdDir); err != nil {
		t.Fatalf("reinstall ESO CRDs: %v", err)
	}

	const ns = "smoke-eso"
	if err := k.CreateNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Group: "external-secrets.io", Version: "v1", Resource: "externalsecrets"}

	valid := func() map[string]any {
		return map[string]any{
			"apiVersion": "external-secrets.io/v1",
			"kind":       "ExternalSecret",
			"metadata":   map[string]any{"name": "db", "namespace": ns},
			"spec": map[string]any{
				"refreshInterval": "1h",
				"secretStoreRef":  map[string]any{"kind": "ClusterSecretStore", "name": "vault-backend"},
				"target":          map[string]any{"name": "db", "creationPolicy": "Owner"},
				"data": []any{map[string]any{
					"secretKey": "password",
					"remoteRef": map[string]any{"key": "default/db", "property": "password"},
				}},
			},
		}
	}
	tests := []struct {
		name    string
		mutate  func(spec map[string]any)
		wantErr string // empty: accepted
	}{
		{name: "valid", mutate: func(map[string]any) {}},
		{name: "store kind not in enum", mutate: func(s map[string]any) {
			s["secretStoreRef"].(map[string]any)["kind"] = "VaultStore"
		}, wantErr: "spec.secretStoreRef.kind"},
		{name: "creation policy not in enum", mutate: func(s map[string]any) {
			s["target"].(map[string]any)["creationPolicy"] = "Sometimes"
		}, wantErr: "spec.target.creationPolicy"},
		{name: "data entry without remoteRef", mutate: func(s map[string]any) {
			s["data"] = []any{map[string]any{"secretKey": "password"}}
		}, wantErr: "remoteRef"},
		{name: "refresh interval of wrong type", mutate: func(s map[string]any) {
			s["refreshInterval"] = int64(3600)
		}, wantErr: "spec.refreshInterval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obj := &unstructured.Unstructured{Object: valid()}
			tc.mutate(obj.Object["spec"].(map[string]any))
			_, err := dyn.Resource(gvr).Namespace(ns).Create(ctx, obj, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("valid ExternalSecret rejected: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatal("invalid ExternalSecret accepted")
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q does not name %q", err, tc.wantErr)
			}
		})
	}
	// Dry runs store nothing.
	if l, err := dyn.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{}); err != nil || len(l.Items) != 0 {
		t.Fatalf("after dry runs: %v, %d ExternalSecrets stored", err, len(l.Items))
	}
}

func TestPaths(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		got  func() string
		want string
	}{
		{"bin dir default", nil, BinDir, filepath.Join(root, ".tools", "bin")},
		{"bin dir from env", map[string]string{EnvToolsBin: "/opt/tools"}, BinDir, "/opt/tools"},
		{"shared dir default", nil, SharedDir, filepath.Join(filepath.Dir(root), "shared")},
		{"shared dir from env", map[string]string{EnvShared: "/data/shared"}, SharedDir, "/data/shared"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvToolsBin, "")
			t.Setenv(EnvShared, "")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			if got := tc.got(); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestMissingBinary(t *testing.T) {
	t.Setenv(EnvToolsBin, t.TempDir())
	t.Setenv("PATH", t.TempDir())
	_, err := StartKube(context.Background(), t.TempDir())
	var missing *MissingBinaryError
	if !errors.As(err, &missing) || missing.Name != "etcd" || !strings.Contains(err.Error(), "make tools") {
		t.Fatalf("err = %v, want a missing etcd naming `make tools`", err)
	}
}

// TestGarbageCollector shows that the controller manager's garbage collector runs in the test
// environment: a Secret owned by a ConfigMap is deleted after its owner, and one whose owner is
// deleted with orphan propagation stays, its owner reference removed.
func TestGarbageCollector(t *testing.T) {
	k := RequireKube(t)
	RequireGC(t, k)
	ctx := context.Background()
	cs, err := k.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	const ns = "gc-smoke"
	if err := k.CreateNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	for _, orphan := range []bool{false, true} {
		name := "owned"
		if orphan {
			name = "orphaned"
		}
		owner, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name + "-owner"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		yes := true
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID, Controller: &yes,
		}}}, Data: map[string][]byte{"k": []byte("v")}}
		if _, err := cs.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		opts := metav1.DeleteOptions{}
		if orphan {
			p := metav1.DeletePropagationOrphan
			opts.PropagationPolicy = &p
		}
		if err := cs.CoreV1().ConfigMaps(ns).Delete(ctx, owner.Name, opts); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			got, err := cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
			if !orphan && err != nil {
				break // collected
			}
			if orphan && err == nil && len(got.OwnerReferences) == 0 {
				// The collector releases the dependents first, then lets the owner go.
				if _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, owner.Name, metav1.GetOptions{}); err != nil {
					break
				}
			}
			if orphan && err != nil {
				t.Fatalf("orphaned Secret deleted: %v", err)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: garbage collector did not act in 30s (err %v)", name, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
