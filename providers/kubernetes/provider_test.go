package kubernetes

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/internal/recordertest"
	"github.com/secretshift/secretshift/internal/testenv"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
	"github.com/secretshift/secretshift/rotate"
	"github.com/secretshift/secretshift/rotate/generate"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.NeedKube) }

func open(t *testing.T) (*Provider, *testenv.Kube) {
	t.Helper()
	k := testenv.RequireKube(t)
	c := NewConfig()
	c.UseCluster(func() (*rest.Config, error) { return rest.CopyConfig(k.Config), nil })
	p, err := c.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p.(*Provider), k
}

// Read, create and check-and-set update on the real apiserver; a Secret a controller owns is
// reported with a Problem; Entries leaves out what must not be rotated here.
func TestReadWriteEntries(t *testing.T) {
	p, k := open(t)
	ctx := context.Background()
	const ns = "kubernetes-store"
	if err := k.CreateNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	cs := p.cs
	bin := []byte{0xff, 0x00, 0xfe}
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns, Labels: map[string]string{"app": "db"},
		OwnerReferences: nil}, Data: map[string][]byte{"password": []byte("old"), "blob": bin}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "token", Namespace: ns, Annotations: map[string]string{"kubernetes.io/service-account.name": "default"}},
		Type: corev1.SecretTypeServiceAccountToken}, metav1.CreateOptions{})
	yes := true
	cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "owned", Namespace: ns,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "external-secrets.io/v1", Kind: "ExternalSecret", Name: "owned", UID: "u", Controller: &yes}}}}, metav1.CreateOptions{})

	tg := providers.Target{Provider: Name, Address: ns + "/db"}
	st, err := p.Read(ctx, tg)
	if err != nil || !bytes.Equal(st.Data["blob"], bin) || st.Labels["app"] != "db" || st.Updated.IsZero() || st.Ref.Name != "db" {
		t.Fatalf("read: %+v, %v", st, err)
	}
	pl := providers.Payload{Ref: st.Ref, Type: "Opaque", Data: kube.Data{"password": []byte("new"), "blob": bin}, Labels: st.Labels, Fingerprint: "hmac-sha256:x"}
	if _, err := p.Write(ctx, tg, pl, "1"); !errors.Is(err, providers.ErrConflict) {
		t.Errorf("stale resourceVersion: %v", err)
	}
	v, err := p.Write(ctx, tg, pl, st.Version)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := p.Read(ctx, tg)
	if got.Version != v || string(got.Data["password"]) != "new" || !got.Managed || got.Labels["app"] != "db" {
		t.Errorf("after update: %+v", got)
	}
	if _, err := p.Write(ctx, tg, pl, ""); !errors.Is(err, providers.ErrConflict) {
		t.Errorf("create over an existing Secret: %v", err)
	}
	if owned, err := p.Read(ctx, providers.Target{Provider: Name, Address: ns + "/owned"}); err != nil || !strings.Contains(owned.Problem, "ExternalSecret") {
		t.Errorf("owned: %+v, %v", owned, err)
	}
	if _, err := p.Read(ctx, providers.Target{Provider: Name, Address: ns + "/none"}); !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
	entries, err := p.Entries(ctx, ns+"/")
	if err != nil || len(entries) != 1 || entries[0].Address != ns+"/db" {
		t.Errorf("entries %v, %v", entries, err)
	}
	if _, err := p.Target(providers.Ref{Namespace: "Bad_NS", Name: "x"}); !errors.Is(err, providers.ErrInvalidName) {
		t.Errorf("bad namespace: %v", err)
	}
}

// A plain Secret rotated in place: the new value current, the other keys and the labels kept,
// and its age taken from when it was last written.
func TestRotatePlainSecret(t *testing.T) {
	p, k := open(t)
	ctx := context.Background()
	const ns = "kubernetes-rotate"
	if err := k.CreateNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if _, err := p.cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: ns, Labels: map[string]string{"team": "x"}},
		Type: corev1.SecretTypeBasicAuth, Data: map[string][]byte{"username": []byte("svc"), "password": []byte("old")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	fp, _ := audit.NewFingerprinter(bytes.Repeat([]byte("k"), audit.MinKeyLen))
	spec, _ := generate.ParseSpec("password:length=24")
	g, err := generate.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	e := rotate.Entry{Target: providers.Target{Provider: Name, Address: ns + "/api"}, Keys: []rotate.Key{{Name: "password", Spec: spec, Generator: g}}, MaxAge: time.Hour}
	opts := rotate.Options{Provider: p, Fingerprinter: fp, Recorder: &recordertest.Log{}, JournalDir: t.TempDir(), RunID: "r1", Due: true}
	rep, err := rotate.Run(ctx, []rotate.Entry{e}, opts)
	if err != nil || rep.Items[0].Result != rotate.ResultNotDue {
		t.Fatalf("a new Secret is not due: %+v, %v", rep.Items, err)
	}
	opts.Due = false
	rep, err = rotate.Run(ctx, []rotate.Entry{e}, opts)
	if err != nil || rep.Items[0].Result != rotate.ResultRotated {
		t.Fatalf("rotate: %+v, %v", rep.Items, err)
	}
	// An immutable Secret cannot take new values: refused before anything changes.
	yes := true
	if _, err := p.cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "frozen", Namespace: ns}, Immutable: &yes,
		Data: map[string][]byte{"password": []byte("old")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	frozen := e
	frozen.Target.Address = ns + "/frozen"
	if rep, err := rotate.Run(ctx, []rotate.Entry{frozen}, opts); err != nil || rep.Items[0].Result != rotate.ResultFailed || !strings.Contains(rep.Items[0].Error, "immutable") {
		t.Errorf("immutable: %+v, %v", rep.Items, err)
	}
	s, _ := p.cs.CoreV1().Secrets(ns).Get(ctx, "api", metav1.GetOptions{})
	if len(s.Data["password"]) != 24 || string(s.Data["username"]) != "svc" || s.Labels["team"] != "x" || s.Type != corev1.SecretTypeBasicAuth {
		t.Errorf("after rotation: %d-byte password, labels %v, type %s", len(s.Data["password"]), s.Labels, s.Type)
	}
}

// The lease is an annotation written with check-and-set: a second holder is refused, an
// earlier run of the same job takes it over, and a write of the Secret ends it.
func TestLease(t *testing.T) {
	p, k := open(t)
	ctx := context.Background()
	const ns = "kubernetes-lease"
	if err := k.CreateNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if _, err := p.cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns}, Data: map[string][]byte{"k": []byte("v")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tg := providers.Target{Provider: Name, Address: ns + "/db"}
	none := func(string) bool { return false }
	release, err := p.Lease(ctx, tg, "run-a", time.Minute, none)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Lease(ctx, tg, "run-b", time.Minute, none); !errors.Is(err, providers.ErrBusy) || !strings.Contains(err.Error(), "run-a") {
		t.Errorf("second holder: %v", err)
	}
	if _, err := p.Lease(ctx, tg, "run-c", time.Minute, func(h string) bool { return h == "run-a" }); err != nil {
		t.Errorf("take-over by a later run of the same job: %v", err)
	}
	if err := release(ctx); err != nil {
		t.Error(err)
	}
	st, _ := p.Read(ctx, tg)
	if _, err := p.Write(ctx, tg, providers.Payload{Ref: st.Ref, Type: "Opaque", Data: kube.Data{"k": []byte("w")}}, st.Version); err != nil {
		t.Fatal(err)
	}
	if st, _ := p.Read(ctx, tg); st.Annotations[annotationLease] != "" {
		t.Error("a write did not end the lease")
	}
}
