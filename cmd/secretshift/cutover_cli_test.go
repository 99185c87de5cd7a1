package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/internal/testenv"
	"github.com/secretshift/secretshift/internal/testenv/vaultapi"
)

type cutoverJSON struct {
	Kind     string
	DryRun   bool
	Items    []struct{ Namespace, Name, Result, Reason, Owner string }
	Counts   map[string]int
	Problems []string
	Applied  []map[string]any
}

// cutoverSetup starts what a cut-over test needs (the apiserver, the real ESO controller, the
// garbage collector, a Vault test server) and creates ns with a Secret of every type.
func cutoverSetup(t *testing.T, ns string) (*testenv.Kube, *testenv.ESO, *testenv.Vault, kubernetes.Interface, dynamic.Interface, []*corev1.Secret) {
	t.Helper()
	k := testenv.RequireKube(t)
	eso := testenv.RequireESO(t, k)
	testenv.RequireGC(t, k)
	vault := testenv.NewVault(t, vaultapi.Options{})
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.CreateNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	secrets := esoSecrets(ns)
	for _, s := range secrets {
		if _, err := cs.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return k, eso, vault, cs, dyn, secrets
}

// TestCutoverCommand runs migrate, then cutover (a dry run first, then for real) and cutover
// rollback through the CLI against the real ESO controller and the garbage collector: results
// per Secret in -o json, exit codes, and no value in stdout, stderr or the audit log.
func TestCutoverCommand(t *testing.T) {
	const ns = "cutover-cli"
	k, eso, vault, cs, dyn, secrets := cutoverSetup(t, ns)
	ctx := context.Background()
	work := t.TempDir()
	t.Chdir(work)
	t.Setenv("VAULT_TOKEN", vault.Token)
	store := []string{"--to", "vault", "--kubeconfig", k.Kubeconfig, "-n", ns, "--vault-addr", vault.Addr, "--vault-path", "cli/{{.Namespace}}/{{.Name}}"}
	if r := runCLI(t, "", append([]string{"migrate", "-l", "tier=e2e"}, store...)...); r.code != ExitOK {
		t.Fatalf("migrate: exit %d\n%s", r.code, r.stderr)
	}
	tok := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "vault-token", Namespace: ns}, StringData: map[string]string{"token": vault.Token}}
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, tok, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cut := append([]string{"cutover", "--skip-controller-check", "--eso-auth", "token", "--vault-eso-token-secret", "vault-token/token", "-o", "json"}, store...)
	var outputs strings.Builder
	run := func(args ...string) (runResult, cutoverJSON) {
		t.Helper()
		r := runCLI(t, "", args...)
		outputs.WriteString(r.stdout + r.stderr)
		var rep cutoverJSON
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("%s: exit %d, no JSON report: %v\n%s\n%s", args[0], r.code, err, r.stdout, r.stderr)
		}
		return r, rep
	}

	// Dry run: every apply and patch validated by the server, nothing stored.
	r, rep := run(append(cut, "--dry-run")...)
	if r.code != ExitOK || !rep.DryRun || rep.Counts["would-adopt"] != len(secrets) || rep.Counts["skipped"] != 1 || len(rep.Applied) != len(secrets)+1 {
		t.Fatalf("dry run: exit %d, counts %v, %d objects\n%s", r.code, rep.Counts, len(rep.Applied), r.stderr)
	}
	if _, err := dyn.Resource(externalSecretGVR).Namespace(ns).Get(ctx, "tls", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("dry run stored an ExternalSecret (%v)", err)
	}

	// One Secret edited after the migration: refused, the others adopted, exit 4.
	edited, _ := cs.CoreV1().Secrets(ns).Get(ctx, "binary", metav1.GetOptions{})
	edited.Data["text"] = []byte("edited")
	if _, err := cs.CoreV1().Secrets(ns).Update(ctx, edited, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	r, rep = run(cut...)
	if r.code != ExitPartial || rep.Counts["adopted"] != len(secrets)-1 || rep.Counts["refused"] != 1 {
		t.Fatalf("cutover: exit %d, counts %v\n%s\n%s", r.code, rep.Counts, r.stderr, eso.LogTail(20))
	}
	for _, it := range rep.Items {
		if it.Name == "binary" && (it.Result != "refused" || !strings.Contains(it.Reason, "differs from the live Secret")) {
			t.Errorf("binary: %s (%s)", it.Result, it.Reason)
		}
		if it.Result == "adopted" && it.Owner != "ExternalSecret/"+it.Name {
			t.Errorf("%s: owner %q", it.Name, it.Owner)
		}
	}
	// Again, after the edit was migrated too: the rest is already managed, exit 0.
	if r := runCLI(t, "", append([]string{"migrate", "-l", "app=binary"}, store...)...); r.code != ExitOK {
		t.Fatalf("migrate again: exit %d\n%s", r.code, r.stderr)
	}
	r, rep = run(cut...)
	if r.code != ExitOK || rep.Counts["already-managed"] != len(secrets)-1 || rep.Counts["adopted"] != 1 {
		t.Fatalf("second cutover: exit %d, counts %v\n%s", r.code, rep.Counts, r.stderr)
	}

	// verify -A after the cut-over: the ESO-owned Secrets it handed over are compared, the
	// Secrets never migrated (the ESO token, other tests' namespaces) are skipped with a reason.
	vr := runCLI(t, "", "verify", "--to", "vault", "--kubeconfig", k.Kubeconfig, "-A", "--vault-addr", vault.Addr, "--vault-path", "cli/{{.Namespace}}/{{.Name}}", "-o", "json")
	var ver struct {
		Items []struct {
			Namespace, Name, Result, Reason string
			Verified                        bool
		}
	}
	if err := json.Unmarshal([]byte(vr.stdout), &ver); err != nil || vr.code != ExitOK {
		t.Fatalf("verify -A after cutover: exit %d (%v)\n%s", vr.code, err, vr.stderr)
	}
	verified := 0
	for _, it := range ver.Items {
		switch {
		case it.Namespace == ns && it.Verified:
			verified++
		case it.Namespace == ns && it.Name == "vault-token" && !strings.Contains(it.Reason, "not part of the migration"):
			t.Errorf("vault-token: %s (%s)", it.Result, it.Reason)
		}
	}
	if verified != len(secrets) {
		t.Errorf("verify compared %d of the %d Secrets handed to ESO", verified, len(secrets))
	}

	// Rollback of two by name, then of the rest of the namespace.
	r, rep = run("cutover", "rollback", "--kubeconfig", k.Kubeconfig, "-n", ns, "tls", "binary", "-o", "json")
	if r.code != ExitOK || rep.Counts["released"] != 2 {
		t.Fatalf("rollback by name: exit %d, counts %v\n%s", r.code, rep.Counts, r.stderr)
	}
	r, rep = run("cutover", "rollback", "--kubeconfig", k.Kubeconfig, "-n", ns, "-o", "json")
	if r.code != ExitOK || rep.Counts["released"] != len(secrets)-2 {
		t.Fatalf("rollback: exit %d, counts %v\n%s", r.code, rep.Counts, r.stderr)
	}
	for _, s := range secrets {
		got, err := cs.CoreV1().Secrets(ns).Get(ctx, s.Name, metav1.GetOptions{})
		if err != nil || len(got.OwnerReferences) != 0 {
			t.Errorf("%s after rollback: %v, owners %v", s.Name, err, got.OwnerReferences)
		}
	}

	audited, err := os.ReadFile(filepath.Join(work, filepath.FromSlash(audit.DefaultLogPath)))
	if err != nil {
		t.Fatalf("audit log: %v", err)
	}
	for _, c := range canaries {
		if strings.Contains(outputs.String(), c) || strings.Contains(string(audited), c) {
			t.Errorf("canary %q leaked into the output or the audit log", c)
		}
	}
	if !strings.Contains(string(audited), `"action":"cutover.adopt"`) || !strings.Contains(string(audited), `"action":"cutover.rollback"`) {
		t.Error("the audit log has no cutover records")
	}
}

// TestCutoverKilled kills the command (SIGKILL) at several points of a cut-over and runs it
// again each time: the last run finishes every Secret, none ever absent or changed.
func TestCutoverKilled(t *testing.T) {
	const ns = "cutover-killed"
	k, _, vault, cs, dyn, secrets := cutoverSetup(t, ns)
	ctx := context.Background()
	tok := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "vault-token", Namespace: ns}, StringData: map[string]string{"token": vault.Token}}
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, tok, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	t.Setenv("VAULT_TOKEN", vault.Token)
	store := []string{"--to", "vault", "--kubeconfig", k.Kubeconfig, "-n", ns, "--vault-addr", vault.Addr, "--vault-path", "killed/{{.Namespace}}/{{.Name}}"}
	if r := runCLI(t, "", append([]string{"migrate", "-l", "tier=e2e"}, store...)...); r.code != ExitOK {
		t.Fatalf("migrate: exit %d\n%s", r.code, r.stderr)
	}
	args := append([]string{"cutover", "--skip-controller-check", "--eso-auth", "token", "--vault-eso-token-secret", "vault-token/token",
		"--concurrency", "2", "-o", "json"}, store...)
	// Kill once the store is applied, then once a few ExternalSecrets exist, then once some
	// Secrets are annotated.
	for i, killWhen := range []func() bool{
		func() bool {
			_, err := dyn.Resource(secretStoreGVR).Namespace(ns).Get(ctx, "secretshift-vault", metav1.GetOptions{})
			return err == nil
		},
		func() bool {
			l, err := dyn.Resource(externalSecretGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
			return err == nil && len(l.Items) >= 3
		},
		func() bool {
			l, err := cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
			n := 0
			for _, s := range l.Items {
				if s.Annotations["secretshift.io/cutover"] != "" {
					n++
				}
			}
			return err == nil && n >= 5
		},
	} {
		cmd := commandProcess(t, args...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Minute)
		reached := false
		for !reached && time.Now().Before(deadline) {
			reached = killWhen()
			time.Sleep(5 * time.Millisecond)
		}
		_ = cmd.Process.Kill()
		err := cmd.Wait()
		if !reached {
			t.Fatalf("run %d never reached its kill point", i+1)
		}
		t.Logf("run %d killed at its point: %v", i+1, err)
	}
	r := runCLI(t, "", args...)
	var rep cutoverJSON
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != ExitOK {
		t.Fatalf("run after the kills: exit %d (%v)\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	if rep.Counts["adopted"]+rep.Counts["already-managed"] != len(secrets) {
		t.Fatalf("after the kills: %v", rep.Counts)
	}
	t.Logf("after three kills: %v", rep.Counts)
	for _, s := range secrets {
		got, err := cs.CoreV1().Secrets(ns).Get(ctx, s.Name, metav1.GetOptions{})
		if err != nil || got.Annotations["secretshift.io/cutover"] == "" || len(got.OwnerReferences) != 1 {
			t.Errorf("%s: %v, owners %v", s.Name, err, got.OwnerReferences)
		}
	}
}

var secretStoreGVR = schema.GroupVersionResource{Group: "external-secrets.io", Version: "v1", Resource: "secretstores"}

func TestCutoverFlags(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no store":            {[]string{"cutover", "-n", "shop"}, "--to is required"},
		"files":               {[]string{"cutover", "--to", "vault", "-f", "x.yaml"}, "-f is not supported"},
		"no timeout":          {[]string{"cutover", "--to", "vault", "-n", "shop", "--timeout", "0"}, "--timeout must be positive"},
		"rollback everywhere": {[]string{"cutover", "rollback", "-A"}, "one namespace at a time"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			r := runCLI(t, "", tc.args...)
			if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, ExitUsage, tc.want)
			}
			if _, err := os.Stat(".secretshift"); err == nil {
				t.Error("a usage error created .secretshift")
			}
		})
	}
}
