package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/internal/testenv"
	"github.com/secretshift/secretshift/templates"
)

// TestGeneratedMigrateJobRunsAsItsServiceAccount applies what generate job --migrate-to vault
// writes to the test apiserver (a server-side dry run, then for real), then runs the command of
// each of its 2 pods as the Job's ServiceAccount, configured as its Pod is (in-cluster
// configuration, the index the Job controller gives, Vault's token from the credentials
// Secret, one claim for both): the two shards migrate every Secret of the source namespace
// into the Vault test server exactly once, nothing of another namespace, and their audit logs
// verify as one sharded run. Pointed at another namespace, the same command is refused by
// RBAC.
func TestGeneratedMigrateJobRunsAsItsServiceAccount(t *testing.T) {
	k := testenv.RequireKube(t)
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed")
	}
	ctx := context.Background()
	cs, err := k.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	v := testenv.RequireVault(t)
	canary := map[string]string{}
	for _, ns := range []string{"migjob-ops", "migjob-app", "migjob-other"} {
		if err := k.CreateNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { deleteSecrets(t, cs, ns) })
		if ns == "migjob-ops" {
			continue
		}
		for i := range 6 {
			name := fmt.Sprintf("db-%d", i)
			value := fmt.Sprintf("canary-%s-%d-b7c1e0", ns, i)
			canary[ns+"/"+name] = value
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: map[string][]byte{"password": []byte(value)}}
			if _, err := cs.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	dir := inTempDir(t)
	out := filepath.Join(dir, "deploy")
	mount := "secret"
	r := runCLI(t, "", "generate", "job", "--migrate-to", "vault", "--shards", "2", "-n", "migjob-ops", "--source-namespace", "migjob-app",
		"--vault-addr", v.Addr, "--vault-mount", mount, "--vault-path", "migjob/{{.Namespace}}/{{.Name}}", "--credentials-secret", "vault-token", "-o", out)
	if r.code != 0 {
		t.Fatalf("generate job: exit %d\n%s", r.code, r.stderr)
	}
	kubectlApply(t, kubectl, k.Kubeconfig, out)
	var job batchv1.Job
	if err := yaml.UnmarshalStrict(readFile(t, filepath.Join(out, "job-secretshift-migrate-migjob-ops.yaml")), &job); err != nil {
		t.Fatal(err)
	}
	c := job.Spec.Template.Spec.Containers[0]
	if got := strings.Join(c.Args[:5], " "); got != "migrate --to vault -n migjob-app" {
		t.Errorf("the pods run %q, want migrate --to vault -n migjob-app", got)
	}

	// The keys and the Vault token the pods read, as the operator creates them.
	files, _, err := audit.Keygen(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "secretshift-audit-keys", Namespace: "migjob-ops"},
			Data: map[string][]byte{templates.HMACKeyFile: readFile(t, files.HMACKey), templates.SigningKeyFile: readFile(t, files.SigningKey)}},
		{ObjectMeta: metav1.ObjectMeta{Name: "vault-token", Namespace: "migjob-ops"}, Data: map[string][]byte{"VAULT_TOKEN": []byte(v.Token)}},
	} {
		if _, err := cs.CoreV1().Secrets("migjob-ops").Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	sa := "system:serviceaccount:migjob-ops:secretshift-migrate"
	if err := testenv.WaitAllowed(ctx, cs, sa, "migjob-app", "list", "secrets"); err != nil {
		t.Fatal(err)
	}
	runner := newPodRunner(t, k, cs, "migjob-ops", "secretshift-migrate")
	runner.claim = filepath.Join(dir, "claim")

	type report struct {
		Items []struct {
			Namespace, Name, Result string
		}
	}
	migrated := map[string]int{}
	for i := range 2 {
		stdout, stderr, code := runner.run(c, nil, map[string]string{templates.ShardIndexEnv: fmt.Sprint(i)})
		if code != 0 {
			t.Fatalf("pod %d: exit %d\nstderr:\n%s\nstdout:\n%s", i, code, stderr, stdout)
		}
		for ref, value := range canary {
			if strings.Contains(stdout+stderr, value) {
				t.Errorf("pod %d printed the value of %s", i, ref)
			}
		}
		var rep report
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("pod %d: -o json: %v\n%s", i, err, stdout)
		}
		for _, it := range rep.Items {
			if it.Result == "created" {
				migrated[it.Namespace+"/"+it.Name]++
			}
		}
	}
	vc, err := v.Client()
	if err != nil {
		t.Fatal(err)
	}
	for ref, value := range canary {
		want := 0
		if strings.HasPrefix(ref, "migjob-app/") {
			want = 1
		}
		if migrated[ref] != want {
			t.Errorf("%s migrated %d times, want %d", ref, migrated[ref], want)
		}
		sec, err := vc.KVv2(mount).Get(ctx, "migjob/"+ref)
		switch {
		case want == 1 && (err != nil || sec.Data["password"] != value):
			t.Errorf("vault %s/migjob/%s: %v", mount, ref, err)
		case want == 0 && err == nil:
			t.Errorf("vault holds %s, of a namespace the Job does not migrate", ref)
		}
	}
	if r := runCLI(t, "", "audit", "verify", "--public-key", files.PublicKey, filepath.Join(runner.claim, "audit")); r.code != ExitOK {
		t.Errorf("audit verify of the two pods' logs: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Outside its RBAC: the Secrets of another namespace.
	other := c.DeepCopy()
	other.Args[4] = "migjob-other"
	runner.claim = filepath.Join(dir, "claim-other")
	_, stderr, code := runner.run(*other, nil, map[string]string{templates.ShardIndexEnv: "0"})
	if code == 0 {
		t.Fatal("migrating migjob-other succeeded as the ServiceAccount")
	}
	for _, want := range []string{`cannot list resource "secrets"`, `"migjob-other"`, sa} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, stderr)
		}
	}
}
