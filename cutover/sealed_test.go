package cutover_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/secretshift/secretshift/cutover"
	"github.com/secretshift/secretshift/internal/testenv"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers/sealed"
)

// TestCutoverSealedInPlace hands Secrets of every type to the real sealed-secrets controller:
// the Secret is marked sealedsecrets.bitnami.com/managed, its SealedSecret (as migrate --to
// sealed wrote it) applied, and the controller takes it over in place while a poller finds it
// always there with the same bytes; rollback returns it to a plain Secret.
func TestCutoverSealedInPlace(t *testing.T) {
	k := testenv.RequireKube(t)
	ctrl := testenv.RequireSealedSecrets(t, k, "cut-sealed-controller")
	testenv.RequireGC(t, k)
	ctx := context.Background()
	const ns = "cut-sealed"
	if err := k.CreateNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	cert, err := ctrl.Certificate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(certFile, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := sealed.NewConfig()
	cfg.Out, cfg.Cert = filepath.Join(dir, "sealed"), certFile
	p, err := cfg.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := k.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := kube.NewCluster(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	fp := newFingerprinter(t)
	s := &setup{k: k, cs: cs, cluster: cluster, p: p, fp: fp, ns: ns}
	for _, sec := range everyType(ns) {
		if sec.Name == "large" {
			continue // sealed, it would exceed what the API server stores
		}
		got, err := cs.CoreV1().Secrets(ns).Create(ctx, sec, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cs.AppsV1().Deployments(ns).Create(ctx, consumer(ns, sec.Name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		migrateTo(t, p, fp, got)
		s.created = append(s.created, got)
	}

	poll := testenv.StartSecretPoller(t, k.Config, s.created)
	rep, err := cutover.Run(ctx, s.live(t, s.names()...), cutover.Options{Provider: p, Fingerprinter: fp, Cluster: cluster, RunID: "sealed-1",
		Timeout: 90 * time.Second, SkipControllerCheck: true})
	polls, notFound, changed := poll.Finish()
	if err != nil {
		t.Fatalf("cutover: %v\n%s", err, ctrl.LogTail(30))
	}
	t.Logf("sealed cut-over of %d Secrets in %s; poller: %d GETs, %d not found, %d with other bytes", len(s.created), rep.Duration, polls, notFound, changed)
	if notFound != 0 || changed != 0 {
		t.Errorf("poller saw %d not-found and %d changed answers; want 0 and 0", notFound, changed)
	}
	for _, it := range rep.Items {
		if it.Result != cutover.ResultAdopted {
			t.Errorf("%s: %s (%s)\n%s", it.Ref(), it.Result, it.Reason, ctrl.LogTail(20))
		}
	}
	for _, c := range s.created {
		got, err := cs.CoreV1().Secrets(ns).Get(ctx, c.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ctl := kube.ControllerOf(got.OwnerReferences)
		if got.UID != c.UID || ctl == nil || ctl.Kind != "SealedSecret" || fp.Set(string(got.Type), got.Data) != fp.Set(string(c.Type), c.Data) ||
			got.Annotations[cutover.AnnotationCutover] != cutover.ControllerSealed {
			t.Errorf("%s: uid %s (was %s), controller %v, provenance %q", c.Name, got.UID, c.UID, ctl, got.Annotations[cutover.AnnotationCutover])
		}
	}

	rb, err := cutover.Rollback(ctx, ns, nil, cutover.RollbackOptions{Cluster: cluster, Fingerprinter: fp, RunID: "sealed-2", Timeout: 90 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range rb.Items {
		if it.Result != cutover.ResultReleased {
			t.Errorf("rollback %s: %s (%s)", it.Ref(), it.Result, it.Reason)
		}
	}
	for _, c := range s.created {
		got, err := cs.CoreV1().Secrets(ns).Get(ctx, c.Name, metav1.GetOptions{})
		if err != nil || got.UID != c.UID || len(got.OwnerReferences) != 0 || got.Annotations[kube.SealedManagedAnnotation] != "" {
			t.Errorf("%s after rollback: %v, owners %v", c.Name, err, got.OwnerReferences)
		}
	}
}
