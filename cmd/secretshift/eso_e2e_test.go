package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/secretshift/secretshift/internal/testenv"
	"github.com/secretshift/secretshift/internal/testenv/vaultapi"
)

// esoSecrets are the Secrets the end-to-end test migrates: every supported type and the edge
// cases that break naive migrations.
func esoSecrets(ns string) []*corev1.Secret {
	large := bytes.Repeat([]byte("0123456789abcdef"), 62_000) // 992,000 bytes of text, near the 1 MiB limit
	mk := func(name string, typ corev1.SecretType, data map[string][]byte) *corev1.Secret {
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name, "tier": "e2e"}, Annotations: map[string]string{"team": "platform"}},
			Type:       typ, Data: data,
		}
	}
	return []*corev1.Secret{
		mk("opaque-multi", corev1.SecretTypeOpaque, map[string][]byte{"user": []byte("admin"), "password": []byte(canaries[0] + "\n"), "url": []byte("postgres://db:5432/app?sslmode=require")}),
		mk("binary", corev1.SecretTypeOpaque, map[string][]byte{"keystore.jks": {0xfe, 0xed, 0xfe, 0xed, 0x00, 0x00, 0x00, 0x02, 0xff, 0x80}, "text": []byte("plain")}),
		mk("dotted-keys", corev1.SecretTypeOpaque, map[string][]byte{"app.config.yaml": []byte("a: 1\n"), ".env": []byte("X=1\n"), "a.b.c": []byte("nested-looking")}),
		mk("tls", corev1.SecretTypeTLS, map[string][]byte{"tls.crt": []byte("-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"), "tls.key": []byte(canaries[2])}),
		mk("dockerconfig", corev1.SecretTypeDockerConfigJson, map[string][]byte{".dockerconfigjson": []byte(`{"auths":{"registry.example":{"auth":"dTpw"}}}`)}),
		mk("basic-auth", corev1.SecretTypeBasicAuth, map[string][]byte{"username": []byte("svc"), "password": []byte(canaries[1])}),
		mk("ssh-auth", corev1.SecretTypeSSHAuth, map[string][]byte{"ssh-privatekey": []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----\n")}),
		mk("empty-values", corev1.SecretTypeOpaque, map[string][]byte{"empty": {}, "also-empty": {}, "set": []byte("x")}),
		mk("large", corev1.SecretTypeOpaque, map[string][]byte{"blob.txt": large}),
	}
}

var externalSecretGVR = schema.GroupVersionResource{Group: "external-secrets.io", Version: "v1", Resource: "externalsecrets"}

// TestExternalSecretsOperatorRecreatesSecrets is the cut-over, end to end, with the real ESO
// controller: migrate to Vault with manifests, delete the originals, apply the manifests, wait
// for every ExternalSecret to be Ready, and compare each recreated Secret with its original.
func TestExternalSecretsOperatorRecreatesSecrets(t *testing.T) {
	k := testenv.RequireKube(t)
	ctx := context.Background()
	eso := testenv.RequireESO(t, k)
	_ = eso
	vault := testenv.NewVault(t, vaultapi.Options{})
	cs, err := kubernetes.NewForConfig(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(k.Config)
	if err != nil {
		t.Fatal(err)
	}

	for _, kind := range []string{"SecretStore", "ClusterSecretStore"} {
		t.Run(kind, func(t *testing.T) {
			prefix := "e2e-" + strings.ToLower(kind)
			namespaces := []string{prefix + "-a", prefix + "-b"}
			originals := map[string]*corev1.Secret{}
			for _, ns := range namespaces {
				if err := k.CreateNamespace(ctx, ns); err != nil {
					t.Fatal(err)
				}
				for _, s := range esoSecrets(ns) {
					created, err := cs.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{})
					if err != nil {
						t.Fatalf("seed %s/%s: %v", ns, s.Name, err)
					}
					originals[ns+"/"+s.Name] = created
				}
			}

			work := t.TempDir()
			t.Chdir(work)
			t.Setenv("VAULT_TOKEN", vault.Token)
			args := []string{"migrate", "--to", "vault", "--kubeconfig", k.Kubeconfig, "-A", "-l", "tier=e2e",
				"--vault-addr", vault.Addr, "--vault-path", prefix + "/{{.Namespace}}/{{.Name}}",
				"--manifests", "eso", "--store-kind", kind, "--eso-auth", "token"}
			tokenNS := namespaces
			if kind == "ClusterSecretStore" {
				args = append(args, "--eso-token-secret", "external-secrets/vault-token/token")
				tokenNS = []string{"external-secrets"}
				k.CreateNamespace(ctx, "external-secrets")
			} else {
				args = append(args, "--eso-token-secret", "vault-token/token")
			}
			start := time.Now()
			r := runCLI(t, "", args...)
			if r.code != ExitOK {
				t.Fatalf("migrate: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			t.Logf("migrate of %d Secrets took %s", len(originals), time.Since(start).Round(time.Millisecond))

			// The cut-over, as the README describes it: token for ESO, originals deleted,
			// manifests applied, wait for Ready.
			for _, ns := range tokenNS {
				tok := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "vault-token", Namespace: ns}, StringData: map[string]string{"token": vault.Token}}
				if _, err := cs.CoreV1().Secrets(ns).Create(ctx, tok, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
					t.Fatal(err)
				}
			}
			for ref := range originals {
				ns, name, _ := strings.Cut(ref, "/")
				if err := cs.CoreV1().Secrets(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			if out, err := exec.Command("kubectl", "--kubeconfig", k.Kubeconfig, "apply", "-k", filepath.Join(work, "eso")).CombinedOutput(); err != nil {
				t.Fatalf("kubectl apply -k: %v\n%s", err, out)
			}
			waitReady(t, dyn, originals, 3*time.Minute, eso)

			for ref, want := range originals {
				ns, name, _ := strings.Cut(ref, "/")
				got, err := cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					t.Errorf("%s: not recreated: %v", ref, err)
					continue
				}
				if got.Type != want.Type {
					t.Errorf("%s: type %s, want %s", ref, got.Type, want.Type)
				}
				if len(got.Data) != len(want.Data) {
					t.Errorf("%s: %d keys, want %d", ref, len(got.Data), len(want.Data))
				}
				for key, wv := range want.Data {
					gv, ok := got.Data[key]
					switch {
					case !ok:
						t.Errorf("%s: key %s missing", ref, key)
					case !bytes.Equal(gv, wv):
						t.Errorf("%s: key %s differs (%d bytes, want %d)", ref, key, len(gv), len(wv))
					}
				}
				if got.Labels["app"] != want.Labels["app"] || got.Annotations["team"] != "platform" {
					t.Errorf("%s: labels or annotations not carried over", ref)
				}
			}
			if kind == "SecretStore" {
				rotateThroughESO(t, cs, k, vault.Addr, namespaces[0], prefix)
			}
		})
	}
}

// rotateThroughESO rotates one migrated entry with --restart, as a schedule would after the
// cut-over: the real ESO controller, force-synced, writes the new value into the Secret, and
// the Deployment that reads it (and only it) is restarted.
func rotateThroughESO(t *testing.T, cs kubernetes.Interface, k *testenv.Kube, vaultAddr, ns, prefix string) {
	ctx := context.Background()
	mkDeploy := func(name, secret string) {
		labels := map[string]string{"app": name}
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "app", Image: "example.invalid/app",
				Env: []corev1.EnvVar{{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: "password"}}}},
			}}}},
		}}
		if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mkDeploy("reads-basic-auth", "basic-auth")
	mkDeploy("reads-other", "opaque-multi")
	before, _ := cs.CoreV1().Secrets(ns).Get(ctx, "basic-auth", metav1.GetOptions{})
	entry := prefix + "/" + ns + "/basic-auth"
	r := runCLI(t, "", "rotate", "--to", "vault", "secret/"+entry, "--kubeconfig", k.Kubeconfig, "--vault-addr", vaultAddr,
		"--key", "password", "--generator", "password:length=28", "--restart", "--rollout-timeout", "0", "-o", "json")
	if r.code != ExitOK {
		t.Fatalf("rotate: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	after, err := cs.CoreV1().Secrets(ns).Get(ctx, "basic-auth", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(after.Data["password"], before.Data["password"]) || len(after.Data["password"]) != 28 || !bytes.Equal(after.Data["username"], before.Data["username"]) {
		t.Errorf("ESO did not write the new value (password of %d bytes)\n%s", len(after.Data["password"]), r.stdout)
	}
	for name, restarted := range map[string]bool{"reads-basic-auth": true, "reads-other": false} {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"]; ok != restarted {
			t.Errorf("Deployment %s restarted: %v, want %v", name, ok, restarted)
		}
	}

	// An ExternalSecret that ESO would not refresh (refreshPolicy CreatedOnce, after it
	// synced): the rotation is refused before the store changes, in a dry run too.
	dyn, err := dynamic.NewForConfig(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	patch := []byte(`{"spec":{"refreshPolicy":"CreatedOnce"}}`)
	if _, err := dyn.Resource(externalSecretGVR).Namespace(ns).Patch(ctx, "basic-auth", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, dry := range []string{"--dry-run", "--restart"} {
		r := runCLI(t, "", "rotate", "--to", "vault", "secret/"+entry, "--kubeconfig", k.Kubeconfig, "--vault-addr", vaultAddr,
			"--key", "password", "--generator", "password:length=28", "--restart", dry, "-o", "json")
		var rep struct {
			Items []struct{ Result, Error, Previous, Version string }
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || len(rep.Items) != 1 {
			t.Fatalf("%s: exit %d, report %v\n%s\n%s", dry, r.code, err, r.stdout, r.stderr)
		}
		if it := rep.Items[0]; r.code == ExitOK || it.Result != "failed" || !strings.Contains(it.Error, "CreatedOnce") || it.Version != "" {
			t.Errorf("%s with CreatedOnce: exit %d, %+v", dry, r.code, it)
		}
	}
	if again, _ := cs.CoreV1().Secrets(ns).Get(ctx, "basic-auth", metav1.GetOptions{}); !bytes.Equal(again.Data["password"], after.Data["password"]) {
		t.Error("the Secret changed though the rotation was refused")
	}
}

// waitReady polls until every ExternalSecret for refs reports Ready=True.
func waitReady(t *testing.T, dyn dynamic.Interface, refs map[string]*corev1.Secret, timeout time.Duration, eso *testenv.ESO) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pending := map[string]string{}
	for ref := range refs {
		pending[ref] = "not seen"
	}
	for len(pending) > 0 && time.Now().Before(deadline) {
		for ref := range pending {
			ns, name, _ := strings.Cut(ref, "/")
			es, err := dyn.Resource(externalSecretGVR).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
			if err != nil {
				pending[ref] = err.Error()
				continue
			}
			ready, msg := condition(es, "Ready")
			if ready {
				delete(pending, ref)
			} else {
				pending[ref] = msg
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(pending) > 0 {
		var b strings.Builder
		for ref, msg := range pending {
			fmt.Fprintf(&b, "\n  %s: %s", ref, msg)
		}
		t.Fatalf("ExternalSecrets not Ready after %s:%s\ncontroller log tail:\n%s", timeout, b.String(), eso.LogTail(40))
	}
}

func condition(obj *unstructured.Unstructured, typ string) (bool, string) {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			return m["status"] == "True", fmt.Sprintf("%v: %v", m["reason"], m["message"])
		}
	}
	return false, "no " + typ + " condition yet"
}

var _ = os.Getenv
