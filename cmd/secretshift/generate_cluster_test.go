package main

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/internal/testenv"
	"github.com/secretshift/secretshift/templates"
)

const inClusterPolicy = `apiVersion: secretshift.io/v1alpha1
kind: RotationPolicy
rotations:
- name: api-token
  store: kubernetes
  match:
    namespaces: [%s]
  keys:
    token: {generator: bytes, length: 32, encoding: hex}
  maxAge: 1s
  restart: none
`

// cronJobPolicy adds a rotation that refreshes and restarts the Secret's consumers, so the
// run needs the RBAC of restart: consumers too.
var cronJobPolicy = `apiVersion: secretshift.io/v1alpha1
kind: RotationPolicy
rotations:
- name: api-token
  store: kubernetes
  match:
    namespaces: [gen-app]
    names: [api]
  keys:
    token: {generator: bytes, length: 32, encoding: hex}
  maxAge: 1s
  restart: none
- name: web-password
  store: kubernetes
  match:
    paths: ["gen-app/web"]
  keys:
    password: {generator: password, length: 24}
  maxAge: 1s
  restart: consumers
`

// TestGeneratedCronJobRunsAsItsServiceAccount applies what generate cronjob writes to the
// test apiserver (a server-side dry run first, then for real), then runs the command its
// container runs as its ServiceAccount, configured the way a Pod is: no kubeconfig, the
// KUBERNETES_SERVICE_* variables, and the token and CA at the paths rest.InClusterConfig
// reads (in a mount namespace of its own, so nothing outside the test changes). The
// rotation of the Secret in the namespace the policy names succeeds; the same command with a
// policy naming another namespace is refused by RBAC.
func TestGeneratedCronJobRunsAsItsServiceAccount(t *testing.T) {
	k := testenv.RequireKube(t)
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed")
	}
	if _, err := exec.LookPath("unshare"); err != nil || os.Geteuid() != 0 {
		t.Skip("the in-cluster run needs unshare and root (a private mount over /run for the service-account files)")
	}
	ctx := context.Background()
	cs, err := k.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"gen-ops", "gen-app", "gen-other"} {
		if err := k.CreateNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { deleteSecrets(t, cs, ns) }) // tests that read every namespace come later
		for _, s := range []*corev1.Secret{
			{ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: ns}, Data: map[string][]byte{"token": []byte("old-value-" + ns)}},
			{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns}, Data: map[string][]byte{"password": []byte("old-password-" + ns)}},
		} {
			if _, err := cs.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	dir := inTempDir(t)
	policyFile := filepath.Join(dir, "rotation.yaml")
	writeFile(t, policyFile, cronJobPolicy)
	out := filepath.Join(dir, "deploy")
	if r := runCLI(t, "", "generate", "cronjob", "--policy", policyFile, "-n", "gen-ops", "-o", out); r.code != 0 {
		t.Fatalf("generate cronjob: exit %d\n%s", r.code, r.stderr)
	}
	kubectlApply(t, kubectl, k.Kubeconfig, out)

	// The keys Secret the CronJob reads its audit keys from.
	files, _, err := audit.Keygen(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	keys := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "secretshift-audit-keys", Namespace: "gen-ops"},
		Data: map[string][]byte{templates.HMACKeyFile: readFile(t, files.HMACKey), templates.SigningKeyFile: readFile(t, files.SigningKey)}}
	if _, err := cs.CoreV1().Secrets("gen-ops").Create(ctx, keys, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// A token of the generated ServiceAccount, and its RBAC in effect.
	sa := "system:serviceaccount:gen-ops:secretshift-rotate"
	for _, verb := range []string{"list", "get", "update"} {
		if err := testenv.WaitAllowed(ctx, cs, sa, "gen-app", verb, "secrets"); err != nil {
			t.Fatal(err)
		}
	}
	runner := newPodRunner(t, k, cs, "gen-ops", "secretshift-rotate")
	pod := generatedPod(t, out)
	time.Sleep(2 * time.Second) // maxAge 1s, against times with whole seconds
	run := func(policyText string) (stdout, stderr string, code int) {
		return runner.run(pod.Containers[0], map[string]string{templates.PolicyDir + "/" + templates.PolicyFile: policyText}, nil)
	}

	stdout, stderr, code := run(cronJobPolicy)
	if code != 0 {
		t.Fatalf("the CronJob's command as its ServiceAccount: exit %d\nstderr:\n%s\nstdout:\n%s", code, stderr, stdout)
	}
	var rep struct {
		Items []struct {
			Target struct{ Address string }
			Result string
		}
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("-o json: %v\n%s", err, stdout)
	}
	results := map[string]string{}
	for _, it := range rep.Items {
		results[it.Target.Address] = it.Result
	}
	// web's consumers were looked for (ExternalSecrets, workloads, ServiceAccounts): none.
	if len(rep.Items) != 2 || results["gen-app/api"] != "rotated" || results["gen-app/web"] != "rotated" {
		t.Fatalf("report: %+v\nstderr:\n%s\nstdout:\n%s", rep.Items, stderr, stdout)
	}
	for _, ns := range []string{"gen-app", "gen-other"} {
		for name, key := range map[string]string{"api": "token", "web": "password"} {
			s, err := cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			changed := !strings.HasPrefix(string(s.Data[key]), "old-")
			if changed != (ns == "gen-app") {
				t.Errorf("%s/%s changed: %v", ns, name, changed)
			}
			if strings.Contains(stdout+stderr, string(s.Data[key])) {
				t.Errorf("the output holds the value of %s/%s", ns, name)
			}
		}
	}

	// Outside its RBAC: the Secrets of a namespace its policy did not name.
	stdout, stderr, code = run(strings.Replace(inClusterPolicy, "%s", "gen-other", 1))
	if code == 0 {
		t.Fatalf("rotating in gen-other succeeded as the ServiceAccount:\n%s", stdout)
	}
	for _, want := range []string{`cannot list resource "secrets"`, `"gen-other"`, sa} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, stderr)
		}
	}
	t.Logf("refused, exit %d:\n%s", code, stderr)
	if s, _ := cs.CoreV1().Secrets("gen-other").Get(ctx, "api", metav1.GetOptions{}); string(s.Data["token"]) != "old-value-gen-other" {
		t.Error("gen-other/api was changed")
	}
}

// deleteSecrets deletes the Secrets of namespace (the test apiserver runs no namespace
// controller, so deleting the namespace would leave them).
func deleteSecrets(t *testing.T, cs kubernetes.Interface, namespace string) {
	if err := cs.CoreV1().Secrets(namespace).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		t.Errorf("delete the Secrets of %s: %v", namespace, err)
	}
}

// generatedPod reads the Pod template of the generated CronJob.
func generatedPod(t *testing.T, dir string) corev1.PodSpec {
	t.Helper()
	var cj batchv1.CronJob
	if err := yaml.UnmarshalStrict(readFile(t, filepath.Join(dir, "cronjob-secretshift-rotate-gen-ops.yaml")), &cj); err != nil {
		t.Fatal(err)
	}
	return cj.Spec.JobTemplate.Spec.Template.Spec
}

func apiHost(t *testing.T, server string) string {
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	return u.Hostname()
}

func apiPort(t *testing.T, server string) string {
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ptrTo[T any](v T) *T { return &v }

// TestGeneratedIndexedJobPassesServerSideDryRun checks the Indexed Job of generate job on the
// test apiserver: each pod's shard comes from the Job controller's index and the Job's
// completions, and writes its own audit log and journal.
func TestGeneratedIndexedJobPassesServerSideDryRun(t *testing.T) {
	k := testenv.RequireKube(t)
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed")
	}
	ctx := context.Background()
	for _, ns := range []string{"genjob-ops", "genjob-app"} {
		if err := k.CreateNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	dir := inTempDir(t)
	policyFile := filepath.Join(dir, "rotation.yaml")
	writeFile(t, policyFile, strings.Replace(inClusterPolicy, "%s", "genjob-app", 1))
	out := filepath.Join(dir, "deploy")
	if r := runCLI(t, "", "generate", "job", "--policy", policyFile, "--shards", "4", "-n", "genjob-ops", "-o", out); r.code != 0 {
		t.Fatalf("generate job: exit %d\n%s", r.code, r.stderr)
	}
	if b, err := exec.Command(kubectl, "--kubeconfig", k.Kubeconfig, "apply", "-k", out, "--dry-run=server").CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply --dry-run=server: %v\n%s", err, b)
	}
	var job batchv1.Job
	if err := yaml.UnmarshalStrict(readFile(t, filepath.Join(out, "job-secretshift-rotate-shards-genjob-ops.yaml")), &job); err != nil {
		t.Fatal(err)
	}
	if job.Spec.CompletionMode == nil || *job.Spec.CompletionMode != batchv1.IndexedCompletion || *job.Spec.Completions != 4 || *job.Spec.Parallelism != 4 {
		t.Errorf("not an Indexed Job of 4: %+v", job.Spec)
	}
	c := job.Spec.Template.Spec.Containers[0]
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if env[templates.ShardCountEnv].Value != "4" || env[templates.ShardIndexEnv].ValueFrom == nil {
		t.Errorf("shard variables: %+v %+v", env[templates.ShardCountEnv], env[templates.ShardIndexEnv])
	}
	args := strings.Join(c.Args, " ")
	for _, want := range []string{"--due", "--audit-log /var/lib/secretshift/audit/audit-$(JOB_COMPLETION_INDEX).jsonl", "--journal-dir /var/lib/secretshift/journal-$(JOB_COMPLETION_INDEX)"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
}
