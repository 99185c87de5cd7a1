package sealed

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/secretshift/secretshift/internal/testenv"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.NeedKube) }

var sealedSecretsGVR = schema.GroupVersionResource{Group: "bitnami.com", Version: "v1alpha1", Resource: "sealedsecrets"}

// The real sealed-secrets controller unseals what secretshift sealed: the certificate is
// fetched from the controller through the API server's service proxy, as users' runs fetch it;
// the SealedSecrets of each scope are applied as a user applies them (kubectl apply
// --server-side -k on the folder, or the API when kubectl is missing); every Secret the
// controller makes is compared with its source byte for byte — every Secret type, binary
// values, dotfile keys, the largest value that fits a SealedSecret.
func TestTheControllerUnsealsWhatWasSealed(t *testing.T) {
	k := testenv.RequireKube(t)
	ctrl := testenv.RequireSealedSecrets(t, k, "sealed-keys")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := ctrl.ExposeService(ctx, k, DefaultControllerNamespace, DefaultControllerName); err != nil {
		t.Fatal(err)
	}
	cs, err := k.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	kubectl, _ := exec.LookPath("kubectl")

	dir := t.TempDir()
	t.Run("existing Secrets", func(t *testing.T) { takeOver(ctx, t, k, cs, dyn, ctrl, dir) })
	// A controller name the cluster does not have: a clear error, nothing written.
	wrong := NewConfig()
	wrong.Out, wrong.ControllerName = filepath.Join(dir, "wrong"), "sealed-secrets"
	wrong.UseCluster(func() (*rest.Config, error) { return rest.CopyConfig(k.Config), nil })
	if _, err := wrong.Open(ctx); err == nil || !strings.Contains(err.Error(), "kube-system/sealed-secrets") || !strings.Contains(err.Error(), "--sealed-controller-name") {
		t.Errorf("unknown controller: %v", err)
	}
	if _, err := os.Stat(wrong.Out); err == nil {
		t.Error("output folder created")
	}
	for _, scope := range []string{ScopeStrict, ScopeNamespaceWide, ScopeClusterWide} {
		t.Run(scope, func(t *testing.T) {
			ns := "sealed-" + scope
			if err := k.CreateNamespace(ctx, ns); err != nil {
				t.Fatal(err)
			}
			c := NewConfig()
			c.Out, c.Scope = filepath.Join(dir, scope), scope
			c.UseCluster(func() (*rest.Config, error) { return rest.CopyConfig(k.Config), nil })
			p := open(t, c)
			if p.cert.Source != "service kube-system/sealed-secrets-controller" {
				t.Fatalf("certificate from %s", p.cert.Source)
			}
			var secrets []*kube.Secret
			for _, s := range sampleSecrets() {
				s.Namespace = ns
				secrets = append(secrets, s)
			}
			big := bytes.Repeat([]byte{0x00, 0xff, 0x7f, 0x80}, 190<<8) // 760 KiB, binary
			secrets = append(secrets, &kube.Secret{Namespace: ns, Name: "big", Data: kube.Data{"blob.bin": big}})
			for _, s := range secrets {
				tg, err := p.Target(providers.PayloadOf(s).Ref)
				if err != nil {
					t.Fatal(err)
				}
				if err := p.Check(tg, payload(t, s)); err != nil {
					t.Fatal(err)
				}
				write(t, p, s, "")
			}
			if err := p.Finish(ctx); err != nil {
				t.Fatal(err)
			}
			if kubectl != "" {
				cmd := exec.CommandContext(ctx, kubectl, "--kubeconfig", k.Kubeconfig, "apply", "--server-side", "--field-manager", "secretshift-test", "-k", c.Out)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("kubectl apply -k: %v\n%s", err, out)
				}
			} else {
				applyFolder(ctx, t, dyn, c.Out, secrets)
			}
			for _, s := range secrets {
				got := waitSecret(ctx, t, cs, ns, s.Name, ctrl)
				if string(got.Type) != s.EffectiveType() || len(got.Data) != len(s.Data) {
					t.Errorf("%s: type %s, %d keys; want %s, %d", s.Ref(), got.Type, len(got.Data), s.EffectiveType(), len(s.Data))
				}
				for key, want := range s.Data {
					if !bytes.Equal(got.Data[key], want) {
						t.Errorf("%s: key %q differs (%d bytes, want %d)", s.Ref(), key, len(got.Data[key]), len(want))
					}
				}
				if (got.Immutable != nil && *got.Immutable) != s.Immutable {
					t.Errorf("%s: immutable %v", s.Ref(), got.Immutable)
				}
				if len(got.OwnerReferences) != 1 || got.OwnerReferences[0].Kind != "SealedSecret" {
					t.Errorf("%s: owners %v", s.Ref(), got.OwnerReferences)
				}
				if got.Annotations[providers.AnnotationFingerprint] != payload(t, s).Fingerprint {
					t.Errorf("%s: the Secret does not carry its fingerprint", s.Ref())
				}
			}
		})
	}
}

// takeOver seals two Secrets that already exist in the cluster, one annotated
// sealedsecrets.bitnami.com/managed=true and one not, applies their SealedSecrets and checks
// what the README says: the controller takes over the annotated one in place (same object,
// now owned by its SealedSecret, values from the SealedSecret) and leaves the other alone.
func takeOver(ctx context.Context, t *testing.T, k *testenv.Kube, cs kubernetes.Interface, dyn dynamic.Interface, ctrl *testenv.SealedSecrets, dir string) {
	const ns = "sealed-existing"
	if err := k.CreateNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	c := NewConfig()
	c.Out = filepath.Join(dir, "existing")
	c.UseCluster(func() (*rest.Config, error) { return rest.CopyConfig(k.Config), nil })
	p := open(t, c)
	uids := map[string]string{}
	var secrets []*kube.Secret
	for _, name := range []string{"annotated", "plain"} {
		live := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: map[string][]byte{"password": []byte("old")}}
		if name == "annotated" {
			live.Annotations = map[string]string{"sealedsecrets.bitnami.com/managed": "true"}
		}
		created, err := cs.CoreV1().Secrets(ns).Create(ctx, live, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		uids[name] = string(created.UID)
		s := &kube.Secret{Namespace: ns, Name: name, Data: kube.Data{"password": []byte("new")}}
		write(t, p, s, "")
		secrets = append(secrets, s)
	}
	applyFolder(ctx, t, dyn, c.Out, secrets)
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := cs.CoreV1().Secrets(ns).Get(ctx, "annotated", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Data["password"]) == "new" {
			if string(got.UID) != uids["annotated"] || len(got.OwnerReferences) != 1 {
				t.Errorf("annotated Secret: uid %s (was %s), owners %v", got.UID, uids["annotated"], got.OwnerReferences)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the controller did not take over the annotated Secret\n%s", ctrl.LogTail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Wait until the controller has looked at the other one: it reports it not synced.
	for {
		ss, err := dyn.Resource(sealedSecretsGVR).Namespace(ns).Get(ctx, "plain", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		conds, _, _ := unstructured.NestedSlice(ss.Object, "status", "conditions")
		if len(conds) > 0 {
			if c, _ := conds[0].(map[string]any); c["type"] != "Synced" || c["status"] != "False" {
				t.Errorf("SealedSecret of the unannotated Secret: condition %v", c)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no status on the SealedSecret of the unannotated Secret\n%s", ctrl.LogTail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
	got, err := cs.CoreV1().Secrets(ns).Get(ctx, "plain", metav1.GetOptions{})
	if err != nil || string(got.Data["password"]) != "old" || len(got.OwnerReferences) != 0 || string(got.UID) != uids["plain"] {
		t.Errorf("the controller changed a Secret it does not manage: %v %v", err, got.OwnerReferences)
	}
}

// applyFolder creates the SealedSecrets of the secrets through the API.
func applyFolder(ctx context.Context, t *testing.T, dyn dynamic.Interface, out string, secrets []*kube.Secret) {
	t.Helper()
	for _, s := range secrets {
		b, err := os.ReadFile(filepath.Join(out, s.Namespace, s.Name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var obj unstructured.Unstructured
		if err := yaml.Unmarshal(b, &obj.Object); err != nil {
			t.Fatal(err)
		}
		if _, err := dyn.Resource(sealedSecretsGVR).Namespace(s.Namespace).Create(ctx, &obj, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create SealedSecret %s: %v", s.Ref(), err)
		}
	}
}

// waitSecret waits for the controller to make the Secret ns/name.
func waitSecret(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string, ctrl *testenv.SealedSecrets) *corev1.Secret {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		s, err := cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			return s
		}
		if !apierrors.IsNotFound(err) || time.Now().After(deadline) {
			t.Fatalf("Secret %s/%s: %v\ncontroller log:\n%s", ns, name, err, ctrl.LogTail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
