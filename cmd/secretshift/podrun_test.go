package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/secretshift/secretshift/internal/testenv"
	"github.com/secretshift/secretshift/templates"
)

// podRunner runs a generated container's command the way its Pod runs it, as its
// ServiceAccount: no kubeconfig, the KUBERNETES_SERVICE_* variables, and a TokenRequest token
// and the CA at the paths rest.InClusterConfig reads (in a mount namespace of its own, so
// nothing outside the test changes).
type podRunner struct {
	t       *testing.T
	k       *testenv.Kube
	cs      kubernetes.Interface
	unshare string
	// ns is the Pod's namespace: where its env and envFrom Secrets are.
	ns    string
	saDir string
	// claim, when set, is the folder the Pod's claim is in every run, as the pods of one Job
	// share theirs; otherwise each run gets an empty one.
	claim string
}

// newPodRunner makes a token of the ServiceAccount sa of namespace ns; it skips the test
// where the machine cannot give the run a private mount (root and unshare).
func newPodRunner(t *testing.T, k *testenv.Kube, cs kubernetes.Interface, ns, sa string) *podRunner {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("the in-cluster run needs unshare and root (a private mount over /run for the service-account files)")
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), sa,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptrTo(int64(600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest: %v", err)
	}
	saDir := filepath.Join(t.TempDir(), "serviceaccount")
	writeFile(t, filepath.Join(saDir, "token"), tr.Status.Token)
	writeFile(t, filepath.Join(saDir, "ca.crt"), string(readFile(t, k.CAFile)))
	writeFile(t, filepath.Join(saDir, "namespace"), ns)
	return &podRunner{t: t, k: k, cs: cs, unshare: unshare, ns: ns, saDir: saDir}
}

// varRef is a $(NAME) reference in a container's args, which the kubelet expands.
var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// run runs c's command with files (path in the Pod → content) in its volumes, which are
// folders here (the policy ConfigMap's, the claim, /tmp); fieldRefs gives the values of the
// variables the Pod takes from its own fields (an Indexed Job's completion index).
func (p *podRunner) run(c corev1.Container, files, fieldRefs map[string]string) (stdout, stderr string, code int) {
	t := p.t
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	mounts := map[string]string{templates.PolicyDir: filepath.Join(root, "policy"), templates.StateDir: filepath.Join(root, "state"), "/tmp": filepath.Join(root, "tmp")}
	if p.claim != "" {
		mounts[templates.StateDir] = p.claim
	}
	for _, m := range mounts {
		if err := os.MkdirAll(m, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	inPod := func(path string) string {
		for from, to := range mounts {
			if path == from || strings.HasPrefix(path, from+"/") {
				return to + strings.TrimPrefix(path, from)
			}
		}
		return path
	}
	for path, text := range files {
		writeFile(t, inPod(path), text)
	}
	secret := func(name string) *corev1.Secret {
		s, err := p.cs.CoreV1().Secrets(p.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	vars := map[string]string{}
	for _, from := range c.EnvFrom {
		if from.SecretRef != nil {
			for k, v := range secret(from.SecretRef.Name).Data {
				vars[from.Prefix+k] = string(v)
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			vars[e.Name] = string(secret(e.ValueFrom.SecretKeyRef.Name).Data[e.ValueFrom.SecretKeyRef.Key])
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			v, ok := fieldRefs[e.Name]
			if !ok {
				t.Fatalf("no value for %s (from %s)", e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
			vars[e.Name] = v
		default:
			vars[e.Name] = inPod(e.Value)
		}
	}
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		a = varRef.ReplaceAllStringFunc(a, func(ref string) string {
			if v, ok := vars[ref[2:len(ref)-1]]; ok {
				return v
			}
			return ref
		})
		args[i] = inPod(a)
	}
	env := []string{envRunMain + "=1", "PATH=" + os.Getenv("PATH"), "SA=" + p.saDir, "WORKDIR=" + inPod(c.WorkingDir),
		"KUBERNETES_SERVICE_HOST=" + apiHost(t, p.k.Server), "KUBERNETES_SERVICE_PORT=" + apiPort(t, p.k.Server)}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	script := `set -e
mount -t tmpfs -o mode=0755 secretshift-test /run
mkdir -p /run/secrets/kubernetes.io/serviceaccount
cp "$SA"/token "$SA"/ca.crt "$SA"/namespace /run/secrets/kubernetes.io/serviceaccount/
cd "$WORKDIR"
exec "$@"`
	cmd := exec.Command(p.unshare, append([]string{"--mount", "--propagation", "private", "sh", "-c", script, "secretshift", exe}, args...)...)
	cmd.Env = env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// kubectlApply applies the kustomization in dir with kubectl, a server-side dry run first.
func kubectlApply(t *testing.T, kubectl, kubeconfig, dir string) {
	t.Helper()
	for _, dry := range []string{"--dry-run=server", ""} {
		args := []string{"--kubeconfig", kubeconfig, "apply", "-k", dir}
		if dry != "" {
			args = append(args, dry)
		}
		if b, err := exec.Command(kubectl, args...).CombinedOutput(); err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args[2:], " "), err, b)
		}
	}
}
