package cutover_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/cutover"
	"github.com/secretshift/secretshift/internal/testenv"
	"github.com/secretshift/secretshift/internal/testenv/vaultapi"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
	"github.com/secretshift/secretshift/templates"
)

// setup is a namespace with Secrets of every type, each read by a Deployment and migrated into
// a fresh Vault, with the real ESO controller and the garbage collector running.
type setup struct {
	k       *testenv.Kube
	eso     *testenv.ESO
	cs      kubernetes.Interface
	cluster *kube.Cluster
	p       providers.Provider
	fp      *audit.Fingerprinter
	ns      string
	created []*corev1.Secret // as the API server stored them
}

func newSetup(t *testing.T, ns string) *setup {
	k := testenv.RequireKube(t)
	eso := testenv.RequireESO(t, k)
	testenv.RequireGC(t, k) // after ESO: its CRDs must be known to the collector
	v := testenv.NewVault(t, vaultapi.Options{})
	ctx := context.Background()
	cs, err := k.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := kube.NewCluster(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	s := &setup{k: k, eso: eso, cs: cs, cluster: cluster, fp: newFingerprinter(t), ns: ns, p: openVault(t, v, ns+"/{{.Namespace}}/{{.Name}}")}
	if err := k.CreateNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	tok := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "vault-token", Namespace: ns}, StringData: map[string]string{"token": v.Token}}
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, tok, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, sec := range everyType(ns) {
		got, err := cs.CoreV1().Secrets(ns).Create(ctx, sec, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("seed %s: %v", sec.Name, err)
		}
		if _, err := cs.AppsV1().Deployments(ns).Create(ctx, consumer(ns, sec.Name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		migrateTo(t, s.p, s.fp, got)
		s.created = append(s.created, got)
	}
	return s
}

func (s *setup) options(runID string) cutover.Options {
	return cutover.Options{Provider: s.p, Fingerprinter: s.fp, Cluster: s.cluster, RunID: runID, Timeout: 90 * time.Second,
		SkipControllerCheck: true, // the controller runs as a process beside the test, not as a Deployment
		Manifests:           templates.Input{Auth: providers.ExternalAuth{Method: "token"}, RefreshInterval: "1h"}}
}

// live reads the Secrets of s.created from the cluster as the engine takes them.
func (s *setup) live(t *testing.T, names ...string) []*kube.Secret {
	t.Helper()
	var out []*kube.Secret
	for _, n := range names {
		sec, _, err := s.cluster.LiveSecret(context.Background(), s.ns, n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sec)
	}
	return out
}

func (s *setup) names() []string {
	var out []string
	for _, c := range s.created {
		out = append(out, c.Name)
	}
	return out
}

// TestCutoverInPlace hands Secrets of every type to the real ESO controller while a poller GETs
// each in a tight loop: never absent, never other bytes; afterwards each is owned by its
// ExternalSecret with the same UID and bytes. A second run finds them already managed. Then
// rollback, with the garbage collector running, returns them to plain Secrets; and a plain
// deletion of an adopted ExternalSecret is shown to delete its Secret.
func TestCutoverInPlace(t *testing.T) {
	s := newSetup(t, "cut-inplace")
	ctx := context.Background()
	log, logPath := openAudit(t, s.fp, "run-1")

	poll := testenv.StartSecretPoller(t, s.k.Config, s.created)
	opts := s.options("run-1")
	opts.Recorder = log
	opts.JournalDir = t.TempDir()
	start := time.Now()
	rep, err := cutover.Run(ctx, s.live(t, s.names()...), opts)
	elapsed := time.Since(start)
	polls, notFound, changed := poll.Finish()
	if err != nil {
		t.Fatalf("cutover: %v\n%s", err, s.eso.LogTail(30))
	}
	t.Logf("cut-over of %d Secrets in %s; poller: %d GETs, %d not found, %d with other bytes", len(s.created), elapsed.Round(time.Millisecond), polls, notFound, changed)
	if notFound != 0 || changed != 0 || polls < int64(len(s.created)) {
		t.Errorf("poller saw %d not-found and %d changed answers in %d GETs; want 0 and 0", notFound, changed, polls)
	}
	for _, it := range rep.Items {
		if it.Result != cutover.ResultAdopted {
			t.Errorf("%s: %s (%s)\n%s", it.Ref(), it.Result, it.Reason, s.eso.LogTail(20))
		}
	}
	for _, c := range s.created {
		got, err := s.cs.CoreV1().Secrets(s.ns).Get(ctx, c.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ctl := kube.ControllerOf(got.OwnerReferences)
		switch {
		case got.UID != c.UID:
			t.Errorf("%s: replaced (uid %s, was %s)", c.Name, got.UID, c.UID)
		case ctl == nil || ctl.Kind != "ExternalSecret" || ctl.Name != c.Name:
			t.Errorf("%s: not controlled by its ExternalSecret: %+v", c.Name, got.OwnerReferences)
		case s.fp.Set(string(got.Type), got.Data) != s.fp.Set(string(c.Type), c.Data):
			t.Errorf("%s: bytes differ after the cut-over", c.Name)
		case got.Annotations[cutover.AnnotationRunID] != "run-1" || got.Annotations[cutover.AnnotationFingerprint] == "":
			t.Errorf("%s: provenance not recorded: %v", c.Name, got.Annotations)
		}
	}

	// Run again: nothing to do.
	again, err := cutover.Run(ctx, s.live(t, s.names()...), s.options("run-2"))
	if err != nil {
		t.Fatal(err)
	}
	if n := again.Counts[cutover.ResultAlreadyManaged]; n != len(s.created) {
		t.Errorf("second run: %v, want %d already-managed", again.Counts, len(s.created))
	}

	// A plain deletion of an adopted ExternalSecret deletes its Secret (the garbage collector
	// follows the ownerReference): what rollback must avoid.
	if err := s.cluster.Dynamic.Resource(kube.ExternalSecretResource).Namespace(s.ns).Delete(ctx, "dotted-keys", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.cluster.Wait(ctx, 60*time.Second, func(ctx context.Context) (bool, string, error) {
		_, err := s.cs.CoreV1().Secrets(s.ns).Get(ctx, "dotted-keys", metav1.GetOptions{})
		return apierrors.IsNotFound(err), "the Secret of a deleted ExternalSecret is still there", nil
	}); err != nil {
		t.Fatalf("plain delete: %v", err)
	}

	// Rollback of the others, poller running.
	var rest []*corev1.Secret
	for _, c := range s.created {
		if c.Name != "dotted-keys" {
			rest = append(rest, c)
		}
	}
	poll = testenv.StartSecretPoller(t, s.k.Config, rest)
	rb, err := cutover.Rollback(ctx, s.ns, nil, cutover.RollbackOptions{Cluster: s.cluster, Fingerprinter: s.fp, Recorder: log, RunID: "run-3", Timeout: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // room for the collector to act on anything left owned
	polls, notFound, changed = poll.Finish()
	t.Logf("rollback of %d Secrets; poller: %d GETs, %d not found, %d with other bytes", len(rest), polls, notFound, changed)
	if notFound != 0 || changed != 0 {
		t.Errorf("during rollback the poller saw %d not-found and %d changed answers; want 0 and 0", notFound, changed)
	}
	if len(rb.Items) != len(rest) {
		t.Errorf("rollback handled %d Secrets, want %d", len(rb.Items), len(rest))
	}
	for _, it := range rb.Items {
		if it.Result != cutover.ResultReleased {
			t.Errorf("rollback %s: %s (%s)", it.Ref(), it.Result, it.Reason)
		}
	}
	for _, c := range rest {
		got, err := s.cs.CoreV1().Secrets(s.ns).Get(ctx, c.Name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("%s: gone after rollback: %v", c.Name, err)
			continue
		}
		if got.UID != c.UID || len(got.OwnerReferences) != 0 || s.fp.Set(string(got.Type), got.Data) != s.fp.Set(string(c.Type), c.Data) {
			t.Errorf("%s: after rollback uid %s (was %s), owners %v, same bytes %v", c.Name, got.UID, c.UID, got.OwnerReferences,
				s.fp.Set(string(got.Type), got.Data) == s.fp.Set(string(c.Type), c.Data))
		}
		for _, a := range []string{cutover.AnnotationCutover, cutover.AnnotationRunID, kube.ESOAnnotationDataHash} {
			if _, ok := got.Annotations[a]; ok {
				t.Errorf("%s: annotation %s left after rollback", c.Name, a)
			}
		}
		if _, ok := got.Labels[kube.ESOLabelManaged]; ok {
			t.Errorf("%s: ESO's managed label left after rollback", c.Name)
		}
		if _, err := s.cluster.Get(ctx, kube.ExternalSecretResource, s.ns, c.Name); !apierrors.IsNotFound(err) {
			t.Errorf("%s: ExternalSecret still there after rollback (%v)", c.Name, err)
		}
	}

	// No value anywhere in the audit log or the reports.
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	reports, _ := json.Marshal([]any{rep, again, rb})
	for _, c := range canaries {
		if strings.Contains(string(b), c) || strings.Contains(string(reports), c) {
			t.Errorf("canary %q leaked into the audit log or a report", c)
		}
	}
	for _, action := range []string{cutover.ActionApply, cutover.ActionAdopt, cutover.ActionVerify, cutover.ActionAnnotate, cutover.ActionRollback} {
		if !strings.Contains(string(b), `"action":"`+action+`"`) {
			t.Errorf("no %s record in the audit log", action)
		}
	}
}

// TestCutoverRefusals: a Secret changed after the migration, one owned by another controller
// and one never migrated are left untouched with their reason; a user who may not patch
// Secrets is refused before anything changes, every missing right listed.
func TestCutoverRefusals(t *testing.T) {
	s := newSetup(t, "cut-refuse")
	ctx := context.Background()

	drifted := s.created[0]
	drifted.Data["password"] = []byte("edited-after-migrate")
	if _, err := s.cs.CoreV1().Secrets(s.ns).Update(ctx, drifted, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	owner, err := s.cs.CoreV1().ConfigMaps(s.ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "operator"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	owned := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "owned", Namespace: s.ns, OwnerReferences: []metav1.OwnerReference{{
		APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID, Controller: &yes}}}, Data: map[string][]byte{"k": []byte("v")}}
	if owned, err = s.cs.CoreV1().Secrets(s.ns).Create(ctx, owned, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	migrateTo(t, s.p, s.fp, owned)
	never := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "never-migrated", Namespace: s.ns}, Data: map[string][]byte{"k": []byte("v")}}
	if _, err := s.cs.CoreV1().Secrets(s.ns).Create(ctx, never, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	rep, err := cutover.Run(ctx, s.live(t, drifted.Name, "owned", "never-migrated", "binary"), s.options("refusals"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		result cutover.Result
		reason string
	}{
		drifted.Name:     {cutover.ResultRefused, "keys other bytes: password"},
		"owned":          {cutover.ResultRefused, "owned by another controller (ConfigMap operator)"},
		"never-migrated": {cutover.ResultSkipped, "holds no copy"},
		"binary":         {cutover.ResultAdopted, ""},
	}
	for _, it := range rep.Items {
		w := want[it.Name]
		if it.Result != w.result || !strings.Contains(it.Reason, w.reason) {
			t.Errorf("%s: %s (%s), want %s (%s)", it.Name, it.Result, it.Reason, w.result, w.reason)
		}
	}
	for _, name := range []string{drifted.Name, "owned", "never-migrated"} {
		if _, err := s.cluster.Get(ctx, kube.ExternalSecretResource, s.ns, name); !apierrors.IsNotFound(err) {
			t.Errorf("%s: an ExternalSecret was applied for a refused Secret (%v)", name, err)
		}
		got, _ := s.cs.CoreV1().Secrets(s.ns).Get(ctx, name, metav1.GetOptions{})
		if got.Annotations[cutover.AnnotationCutover] != "" {
			t.Errorf("%s: annotated though refused", name)
		}
	}

	// A user who may read Secrets but not patch them, nor create ExternalSecrets.
	const user = "cutover-limited"
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "read-secrets", Namespace: s.ns}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list"}}}}
	if _, err := s.cs.RbacV1().Roles(s.ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "read-secrets", Namespace: s.ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}}}
	if _, err := s.cs.RbacV1().RoleBindings(s.ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := testenv.WaitAllowed(ctx, s.cs, user, s.ns, "get", "secrets"); err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(s.k.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	limited, err := kube.NewCluster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	opts := s.options("denied")
	opts.Cluster = limited
	secrets := s.live(t, "tls", "basic-auth")
	_, err = cutover.Run(ctx, secrets, opts)
	var pe *cutover.PreconditionError
	if !errorsAs(err, &pe) {
		t.Fatalf("limited user: %v, want a precondition error", err)
	}
	joined := strings.Join(pe.Problems, "\n")
	for _, w := range []string{"patch secrets in " + s.ns, "create externalsecrets.external-secrets.io in " + s.ns, "create secretstores.external-secrets.io in " + s.ns} {
		if !strings.Contains(joined, w) {
			t.Errorf("problems do not name %q:\n%s", w, joined)
		}
	}
	for _, name := range []string{"tls", "basic-auth"} {
		if _, err := s.cluster.Get(ctx, kube.ExternalSecretResource, s.ns, name); !apierrors.IsNotFound(err) {
			t.Errorf("%s: changed although the preconditions failed", name)
		}
	}
}

func errorsAs(err error, target **cutover.PreconditionError) bool { return errors.As(err, target) }
