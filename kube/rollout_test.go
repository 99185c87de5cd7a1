package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/secretshift/secretshift/internal/testenv"
)

// rolloutEnv is an empty namespace of the test cluster with clients for it.
type rolloutEnv struct {
	kube *testenv.Kube
	ns   string
	cs   kubernetes.Interface
	dyn  dynamic.Interface
}

func newRolloutEnv(t *testing.T, prefix string) *rolloutEnv {
	t.Helper()
	k := testenv.RequireKube(t)
	cfg := rest.CopyConfig(k.Config)
	cfg.WarningHandler = rest.NoWarnings{} // the API server warns of fields a CRD prunes
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 4)
	rand.Read(id)
	e := &rolloutEnv{kube: k, ns: prefix + "-" + hex.EncodeToString(id), cs: cs, dyn: dyn}
	if err := k.CreateNamespace(context.Background(), e.ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), e.ns, metav1.DeleteOptions{}) })
	return e
}

// fastPoll makes WaitSecret and WaitRollout poll often for the rest of the test.
func fastPoll(t *testing.T) {
	old := pollInterval
	pollInterval = 50 * time.Millisecond
	t.Cleanup(func() { pollInterval = old })
}

func (e *rolloutEnv) secret(t *testing.T, name string, data map[string]string) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	s, err := e.cs.CoreV1().Secrets(e.ns).Create(context.Background(), s, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var rolloutSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}

func rolloutTemplate(annotations map[string]string, c corev1.Container, volumes ...corev1.Volume) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}, Annotations: annotations},
		Spec: corev1.PodSpec{Containers: []corev1.Container{c}, Volumes: volumes}}
}

func envFromSecret(name, secret, key string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: key}}}
}

func int32p(n int32) *int32 { return &n }

// consumerWorkloads creates, around the Secret "rotated": a Deployment reading it through env,
// a StatefulSet through a volume, a DaemonSet through envFrom, and workloads that must not be
// restarted (a Deployment reading another Secret, a CronJob and a bare Pod reading it).
func (e *rolloutEnv) consumerWorkloads(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	e.secret(t, "rotated", map[string]string{"password": "old"})
	e.secret(t, "unrelated", map[string]string{"token": "t"})
	apps := e.cs.AppsV1()
	check := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	check(apps.Deployments(e.ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: int32p(2), Selector: rolloutSelector, Template: rolloutTemplate(map[string]string{"team": "shop"},
			corev1.Container{Name: "app", Image: "app", Env: []corev1.EnvVar{envFromSecret("DB_PASSWORD", "rotated", "password")}})}},
		metav1.CreateOptions{}))
	check(apps.StatefulSets(e.ns).Create(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{Replicas: int32p(3), Selector: rolloutSelector, ServiceName: "db", Template: rolloutTemplate(nil,
			corev1.Container{Name: "db", Image: "db"},
			corev1.Volume{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "rotated"}}})}},
		metav1.CreateOptions{}))
	check(apps.DaemonSets(e.ns).Create(ctx, &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{Selector: rolloutSelector, Template: rolloutTemplate(nil, corev1.Container{Name: "agent", Image: "agent",
			EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "rotated"}}}}})}},
		metav1.CreateOptions{}))
	check(apps.Deployments(e.ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "other"},
		Spec: appsv1.DeploymentSpec{Selector: rolloutSelector, Template: rolloutTemplate(map[string]string{"team": "other"},
			corev1.Container{Name: "app", Image: "app", Env: []corev1.EnvVar{envFromSecret("TOKEN", "unrelated", "token")}})}},
		metav1.CreateOptions{}))
	jobTmpl := rolloutTemplate(nil, corev1.Container{Name: "job", Image: "job", Env: []corev1.EnvVar{envFromSecret("P", "rotated", "password")}})
	jobTmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	check(e.cs.BatchV1().CronJobs(e.ns).Create(ctx, &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "nightly"},
		Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: jobTmpl}}}},
		metav1.CreateOptions{}))
	check(e.cs.CoreV1().Pods(e.ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bare"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "c", Env: []corev1.EnvVar{envFromSecret("P", "rotated", "password")}}}}},
		metav1.CreateOptions{}))
}

// templateAnnotations returns the pod template annotations and the resourceVersion of a workload.
func (e *rolloutEnv) templateAnnotations(t *testing.T, kind, name string) (map[string]string, string) {
	t.Helper()
	ctx := context.Background()
	apps := e.cs.AppsV1()
	switch kind {
	case KindDeployment:
		d, err := apps.Deployments(e.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d.Spec.Template.Annotations, d.ResourceVersion
	case KindStatefulSet:
		s, err := apps.StatefulSets(e.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s.Spec.Template.Annotations, s.ResourceVersion
	case KindDaemonSet:
		d, err := apps.DaemonSets(e.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d.Spec.Template.Annotations, d.ResourceVersion
	case KindCronJob:
		c, err := e.cs.BatchV1().CronJobs(e.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return c.Spec.JobTemplate.Spec.Template.Annotations, c.ResourceVersion
	case KindPod:
		p, err := e.cs.CoreV1().Pods(e.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p.Annotations, p.ResourceVersion
	}
	t.Fatalf("kind %s", kind)
	return nil, ""
}

func TestRestartConsumers(t *testing.T) {
	e := newRolloutEnv(t, "restart")
	e.consumerWorkloads(t)
	ctx := context.Background()
	type object struct{ kind, name string }
	untouched := []object{{KindDeployment, "other"}, {KindCronJob, "nightly"}, {KindPod, "bare"}}
	before := map[object]string{}
	for _, o := range untouched {
		_, before[o] = e.templateAnnotations(t, o.kind, o.name)
	}

	at := time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)
	got, err := RestartConsumers(ctx, e.cs, e.ns, "rotated", at)
	if err != nil {
		t.Fatal(err)
	}
	want := []Restarted{{KindDaemonSet, e.ns, "agent"}, {KindDeployment, e.ns, "web"}, {KindStatefulSet, e.ns, "db"}}
	if !slices.Equal(got, want) {
		t.Fatalf("restarted %v, want %v", got, want)
	}
	wantAt := "2026-03-14T15:09:26Z"
	versions := map[Restarted]string{}
	for _, r := range want {
		ann, rv := e.templateAnnotations(t, r.Kind, r.Name)
		versions[r] = rv
		if ann[RestartedAtAnnotation] != wantAt {
			t.Errorf("%s: %s = %q, want %q", r, RestartedAtAnnotation, ann[RestartedAtAnnotation], wantAt)
		}
	}
	if ann, _ := e.templateAnnotations(t, KindDeployment, "web"); ann["team"] != "shop" || len(ann) != 2 {
		t.Errorf("web: pod template annotations %v, want team=shop kept next to %s", ann, RestartedAtAnnotation)
	}
	for _, o := range untouched {
		ann, rv := e.templateAnnotations(t, o.kind, o.name)
		if rv != before[o] || ann[RestartedAtAnnotation] != "" {
			t.Errorf("%s/%s was changed: resourceVersion %s -> %s, annotations %v", o.kind, o.name, before[o], rv, ann)
		}
	}

	// The same restart again (a retry) patches nothing and reports the same workloads.
	again, err := RestartConsumers(ctx, e.cs, e.ns, "rotated", at)
	if err != nil || !slices.Equal(again, want) {
		t.Fatalf("retry: %v, %v", again, err)
	}
	for _, r := range want {
		if _, rv := e.templateAnnotations(t, r.Kind, r.Name); rv != versions[r] {
			t.Errorf("retry patched %s again", r)
		}
	}

	// A Secret nothing reads: nothing to restart.
	if none, err := RestartConsumers(ctx, e.cs, e.ns, "nobody-reads-this", at); err != nil || len(none) != 0 {
		t.Errorf("unused secret: %v, %v", none, err)
	}
}

// A paused Deployment is not restarted, as kubectl refuses to; the others are.
func TestRestartConsumersPaused(t *testing.T) {
	e := newRolloutEnv(t, "restart-paused")
	ctx := context.Background()
	e.secret(t, "rotated", map[string]string{"k": "v"})
	for _, name := range []string{"paused", "running"} {
		_, err := e.cs.AppsV1().Deployments(e.ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: appsv1.DeploymentSpec{Paused: name == "paused", Selector: rolloutSelector, Template: rolloutTemplate(nil,
				corev1.Container{Name: "app", Image: "app", EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "rotated"}}}}})}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := RestartConsumers(ctx, e.cs, e.ns, "rotated", time.Now())
	if err == nil || !strings.Contains(err.Error(), "Deployment "+e.ns+"/paused") || !strings.Contains(err.Error(), "paused") {
		t.Errorf("err = %v, want the paused deployment named", err)
	}
	if want := []Restarted{{KindDeployment, e.ns, "running"}}; !slices.Equal(got, want) {
		t.Errorf("restarted %v, want %v", got, want)
	}
	if ann, _ := e.templateAnnotations(t, KindDeployment, "paused"); ann[RestartedAtAnnotation] != "" {
		t.Errorf("paused deployment patched: %v", ann)
	}
}

// The test cluster has no controller manager, so this test plays the controllers: it writes
// the status a finished rollout has.
func TestWaitRollout(t *testing.T) {
	fastPoll(t)
	e := newRolloutEnv(t, "rollout")
	e.consumerWorkloads(t)
	ctx := context.Background()
	restarted, err := RestartConsumers(ctx, e.cs, e.ns, "rotated", time.Now())
	if err != nil {
		t.Fatal(err)
	}

	// Nothing rolled yet: the timeout names every workload and what it waits for.
	err = WaitRollout(ctx, e.cs, restarted, 300*time.Millisecond)
	if !errors.Is(err, ErrWaitTimeout) {
		t.Fatalf("err = %v, want a timeout", err)
	}
	for _, r := range restarted {
		if !strings.Contains(err.Error(), r.String()+": waiting for the") {
			t.Errorf("timeout error does not name %s as waiting for its spec to be observed: %v", r, err)
		}
	}

	apps := e.cs.AppsV1()
	// The Deployment's controller saw the new spec, but only half of its pods are new.
	dep, err := apps.Deployments(e.ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: 3, UpdatedReplicas: 1, ReadyReplicas: 3, AvailableReplicas: 3}
	if dep, err = apps.Deployments(e.ns).UpdateStatus(ctx, dep, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = WaitRollout(ctx, e.cs, []Restarted{{KindDeployment, e.ns, "web"}}, 300*time.Millisecond)
	if !errors.Is(err, ErrWaitTimeout) || !strings.Contains(err.Error(), "Deployment "+e.ns+"/web: 1 out of 2 new replicas have been updated") {
		t.Errorf("partial rollout: err = %v", err)
	}

	// Finish every rollout while WaitRollout waits.
	finished := make(chan error, 1)
	go func() {
		time.Sleep(200 * time.Millisecond)
		finished <- func() error {
			dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2}
			if _, err := apps.Deployments(e.ns).UpdateStatus(ctx, dep, metav1.UpdateOptions{}); err != nil {
				return err
			}
			sts, err := apps.StatefulSets(e.ns).Get(ctx, "db", metav1.GetOptions{})
			if err != nil {
				return err
			}
			sts.Status = appsv1.StatefulSetStatus{ObservedGeneration: sts.Generation, Replicas: 3, ReadyReplicas: 3, CurrentReplicas: 3,
				UpdatedReplicas: 3, AvailableReplicas: 3, CurrentRevision: "db-7c9f", UpdateRevision: "db-7c9f"}
			if _, err := apps.StatefulSets(e.ns).UpdateStatus(ctx, sts, metav1.UpdateOptions{}); err != nil {
				return err
			}
			ds, err := apps.DaemonSets(e.ns).Get(ctx, "agent", metav1.GetOptions{})
			if err != nil {
				return err
			}
			ds.Status = appsv1.DaemonSetStatus{ObservedGeneration: ds.Generation, CurrentNumberScheduled: 2, DesiredNumberScheduled: 2,
				NumberReady: 2, UpdatedNumberScheduled: 2, NumberAvailable: 2}
			_, err = apps.DaemonSets(e.ns).UpdateStatus(ctx, ds, metav1.UpdateOptions{})
			return err
		}()
	}()
	start := time.Now()
	if err := WaitRollout(ctx, e.cs, restarted, 30*time.Second); err != nil {
		t.Fatalf("after the rollouts finished: %v", err)
	}
	if err := <-finished; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("WaitRollout took %s", d)
	}
}

// A StatefulSet whose pods are not yet all at the new revision, one with the OnDelete strategy
// and one that is gone.
func TestWaitRolloutStatefulSet(t *testing.T) {
	fastPoll(t)
	e := newRolloutEnv(t, "rollout-sts")
	ctx := context.Background()
	apps := e.cs.AppsV1()
	create := func(name string, strategy appsv1.StatefulSetUpdateStrategy) *appsv1.StatefulSet {
		t.Helper()
		s, err := apps.StatefulSets(e.ns).Create(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: appsv1.StatefulSetSpec{Replicas: int32p(2), Selector: rolloutSelector, ServiceName: name, UpdateStrategy: strategy,
				Template: rolloutTemplate(nil, corev1.Container{Name: "c", Image: "c"})}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	rolling := create("rolling", appsv1.StatefulSetUpdateStrategy{})
	create("manual", appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType})
	rolling.Status = appsv1.StatefulSetStatus{ObservedGeneration: rolling.Generation, Replicas: 2, ReadyReplicas: 2, CurrentReplicas: 0,
		UpdatedReplicas: 2, AvailableReplicas: 2, CurrentRevision: "rolling-1", UpdateRevision: "rolling-2"}
	if _, err := apps.StatefulSets(e.ns).UpdateStatus(ctx, rolling, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := WaitRollout(ctx, e.cs, []Restarted{{KindStatefulSet, e.ns, "rolling"}, {KindStatefulSet, e.ns, "manual"}, {KindDaemonSet, e.ns, "gone"}},
		300*time.Millisecond)
	for _, want := range []string{
		"StatefulSet " + e.ns + "/rolling: waiting for the rolling update to complete",
		"StatefulSet " + e.ns + "/manual: the statefulset uses the OnDelete update strategy",
		"DaemonSet " + e.ns + "/gone: ",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to say %q", err, want)
		}
	}
	if !errors.Is(err, ErrWaitTimeout) || !apierrors.IsNotFound(err) {
		t.Errorf("err = %v: want a timeout and the missing DaemonSet's NotFound", err)
	}
}

func TestWaitSecret(t *testing.T) {
	fastPoll(t)
	e := newRolloutEnv(t, "wait-secret")
	ctx := context.Background()
	s := e.secret(t, "db", map[string]string{"password": "old-value"})
	rotated := func(s *corev1.Secret) bool { return string(s.Data["password"]) == "new-value" }

	updated := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		s.Data["password"] = []byte("new-value")
		_, err := e.cs.CoreV1().Secrets(e.ns).Update(ctx, s, metav1.UpdateOptions{})
		updated <- err
	}()
	if err := WaitSecret(ctx, e.cs, e.ns, "db", rotated, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := <-updated; err != nil {
		t.Fatal(err)
	}

	// A Secret created while waiting, as ESO creates its target.
	go func() {
		time.Sleep(300 * time.Millisecond)
		_, err := e.cs.CoreV1().Secrets(e.ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "later"},
			Data: map[string][]byte{"password": []byte("new-value")}}, metav1.CreateOptions{})
		updated <- err
	}()
	if err := WaitSecret(ctx, e.cs, e.ns, "later", rotated, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := <-updated; err != nil {
		t.Fatal(err)
	}

	// Never done: a timeout that names the Secret and not its values.
	err := WaitSecret(ctx, e.cs, e.ns, "db", func(*corev1.Secret) bool { return false }, 300*time.Millisecond)
	if !errors.Is(err, ErrWaitTimeout) || !strings.Contains(err.Error(), "secret "+e.ns+"/db") || strings.Contains(err.Error(), "-value") {
		t.Errorf("err = %v", err)
	}
	err = WaitSecret(ctx, e.cs, e.ns, "never", rotated, 300*time.Millisecond)
	if !errors.Is(err, ErrWaitTimeout) || !strings.Contains(err.Error(), "it does not exist") {
		t.Errorf("missing secret: err = %v", err)
	}

	// A cancelled context ends the wait with its own error.
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(200*time.Millisecond, cancel)
	if err := WaitSecret(cctx, e.cs, e.ns, "db", func(*corev1.Secret) bool { return false }, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}

func externalSecret(name, target string, annotations map[string]string) *unstructured.Unstructured {
	es := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "external-secrets.io/v1",
		"kind":       "ExternalSecret",
		"metadata":   map[string]any{"name": name},
		"spec": map[string]any{
			"refreshInterval": "1h",
			"secretStoreRef":  map[string]any{"kind": "SecretStore", "name": "vault"},
			"target":          map[string]any{},
			"data": []any{map[string]any{"secretKey": "password",
				"remoteRef": map[string]any{"key": "app/db", "property": "password"}}},
		},
	}}
	if target != "" {
		_ = unstructured.SetNestedField(es.Object, target, "spec", "target", "name")
	}
	if annotations != nil {
		es.SetAnnotations(annotations)
	}
	return es
}

func TestForceSyncExternalSecrets(t *testing.T) {
	e := newRolloutEnv(t, "force-sync")
	ctx := context.Background()
	at := time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))

	// Without ESO's CRDs there is nothing to annotate. CRDs are cluster-wide: this part runs
	// only while no test of this binary has installed them yet.
	_, err := e.cs.Discovery().ServerResourcesForGroupVersion(ExternalSecretResource.GroupVersion().String())
	switch {
	case apierrors.IsNotFound(err):
		names, err := ForceSyncExternalSecrets(ctx, e.dyn, e.ns, "db", at)
		if err != nil || len(names) != 0 {
			t.Errorf("without the CRD: %v, %v", names, err)
		}
	case err == nil:
		t.Log("ExternalSecret CRD already installed: the case without it is not run")
	default:
		t.Fatal(err)
	}

	if err := testenv.InstallCRDs(ctx, e.kube.Config, testenv.ESOCRDDir()); err != nil {
		t.Fatal(err)
	}
	client := e.dyn.Resource(ExternalSecretResource).Namespace(e.ns)
	// No ExternalSecret in the namespace.
	if names, err := ForceSyncExternalSecrets(ctx, e.dyn, e.ns, "db", at); err != nil || len(names) != 0 {
		t.Errorf("no externalsecrets: %v, %v", names, err)
	}
	for _, es := range []*unstructured.Unstructured{
		externalSecret("app-db", "db", map[string]string{"team": "shop"}), // targets db by spec.target.name
		externalSecret("db", "", nil),                                     // targets db by its own name
		externalSecret("cache", "cache", nil),                             // another Secret
		externalSecret("db-copy", "db-copy", nil),
	} {
		if _, err := client.Create(ctx, es, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// One writing another kind of object, named like the Secret (ESO's generic targets). A CRD
	// that does not know spec.target.manifest prunes it: then there is no such case to test.
	generic := externalSecret("configmap-db", "db", nil)
	if err := unstructured.SetNestedMap(generic.Object, map[string]any{"apiVersion": "v1", "kind": "ConfigMap"}, "spec", "target", "manifest"); err != nil {
		t.Fatal(err)
	}
	untouched := []string{"cache", "db-copy"}
	created, err := client.Create(ctx, generic, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, found, _ := unstructured.NestedMap(created.Object, "spec", "target", "manifest"); found {
		untouched = append(untouched, "configmap-db")
	} else {
		t.Log("the installed ExternalSecret CRD has no spec.target.manifest: generic targets not tested")
		if err := client.Delete(ctx, "configmap-db", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	before := map[string]string{}
	list, err := client.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, es := range list.Items {
		before[es.GetName()] = es.GetResourceVersion()
	}

	names, err := ForceSyncExternalSecrets(ctx, e.dyn, e.ns, "db", at)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"app-db", "db"}; !slices.Equal(names, want) {
		t.Errorf("annotated %v, want %v", names, want)
	}
	wantValue := "2026-03-14T14:09:26.535897932Z"
	for _, name := range append([]string{"app-db", "db"}, untouched...) {
		es, err := client.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ann := es.GetAnnotations()
		switch name {
		case "app-db", "db":
			if ann[ForceSyncAnnotation] != wantValue {
				t.Errorf("%s: %s = %q, want %q", name, ForceSyncAnnotation, ann[ForceSyncAnnotation], wantValue)
			}
			if name == "app-db" && ann["team"] != "shop" {
				t.Errorf("%s: other annotations lost: %v", name, ann)
			}
		default:
			if es.GetResourceVersion() != before[name] || ann[ForceSyncAnnotation] != "" {
				t.Errorf("%s was changed: %v", name, ann)
			}
		}
	}

	// A later rotation changes the value again, which is what makes ESO refresh.
	later := at.Add(time.Second)
	if names, err := ForceSyncExternalSecrets(ctx, e.dyn, e.ns, "db", later); err != nil || len(names) != 2 {
		t.Fatalf("second sync: %v, %v", names, err)
	}
	es, err := client.Get(ctx, "app-db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := es.GetAnnotations()[ForceSyncAnnotation]; got != later.UTC().Format(time.RFC3339Nano) {
		t.Errorf("second sync: %s = %q", ForceSyncAnnotation, got)
	}
}

func TestExternalSecretTarget(t *testing.T) {
	generic := externalSecret("to-configmap", "db", nil)
	_ = unstructured.SetNestedMap(generic.Object, map[string]any{"apiVersion": "v1", "kind": "ConfigMap"}, "spec", "target", "manifest")
	nullManifest := externalSecret("null-manifest", "db", nil)
	_ = unstructured.SetNestedField(nullManifest.Object, nil, "spec", "target", "manifest")
	noTarget := externalSecret("no-target", "", nil)
	unstructured.RemoveNestedField(noTarget.Object, "spec", "target")
	for _, tt := range []struct {
		es   *unstructured.Unstructured
		want string
	}{
		{externalSecret("es", "db", nil), "db"},
		{externalSecret("db", "", nil), "db"},
		{noTarget, "no-target"},
		{generic, ""},
		{nullManifest, "db"},
	} {
		if got := externalSecretTarget(tt.es); got != tt.want {
			t.Errorf("%s: target %q, want %q", tt.es.GetName(), got, tt.want)
		}
	}
}

// The rollout judgements, case by case, as kubectl's status viewers make them.
func TestRolloutStatus(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "w", Generation: 3}
	progressing := func(reason string) []appsv1.DeploymentCondition {
		return []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: reason}}
	}
	partition := func(p int32) appsv1.StatefulSetUpdateStrategy {
		return appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: int32p(p)}}
	}
	type result struct {
		msg  string // a part of the message
		done bool
		err  string // a part of the error
	}
	tests := []struct {
		name string
		eval func() (string, bool, error)
		want result
	}{
		{"deployment: spec not observed", func() (string, bool, error) {
			return deploymentRolloutStatus(&appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Replicas: int32p(2)},
				Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}})
		}, result{msg: "spec update to be observed"}},
		{"deployment: old replicas left", func() (string, bool, error) {
			return deploymentRolloutStatus(&appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Replicas: int32p(2)},
				Status: appsv1.DeploymentStatus{ObservedGeneration: 3, Replicas: 3, UpdatedReplicas: 2, AvailableReplicas: 2}})
		}, result{msg: "1 old replicas are pending termination"}},
		{"deployment: not available", func() (string, bool, error) {
			return deploymentRolloutStatus(&appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Replicas: int32p(2)},
				Status: appsv1.DeploymentStatus{ObservedGeneration: 3, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 1}})
		}, result{msg: "1 of 2 updated replicas are available"}},
		{"deployment: done", func() (string, bool, error) {
			return deploymentRolloutStatus(&appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Replicas: int32p(2)},
				Status: appsv1.DeploymentStatus{ObservedGeneration: 3, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2,
					Conditions: progressing("NewReplicaSetAvailable")}})
		}, result{done: true}},
		{"deployment: progress deadline", func() (string, bool, error) {
			return deploymentRolloutStatus(&appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Replicas: int32p(2)},
				Status: appsv1.DeploymentStatus{ObservedGeneration: 3, Conditions: progressing(progressDeadlineExceeded)}})
		}, result{err: "exceeded its progress deadline"}},
		{"statefulset: never observed", func() (string, bool, error) {
			return statefulSetRolloutStatus(&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "w"}, Spec: appsv1.StatefulSetSpec{UpdateStrategy: partition(0)}})
		}, result{msg: "spec update to be observed"}},
		{"statefulset: pods not ready", func() (string, bool, error) {
			return statefulSetRolloutStatus(&appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Replicas: int32p(3), UpdateStrategy: partition(0)},
				Status: appsv1.StatefulSetStatus{ObservedGeneration: 3, ReadyReplicas: 1, UpdatedReplicas: 3}})
		}, result{msg: "waiting for 2 pods to be ready"}},
		{"statefulset: partition reached", func() (string, bool, error) {
			return statefulSetRolloutStatus(&appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Replicas: int32p(3), UpdateStrategy: partition(2)},
				Status: appsv1.StatefulSetStatus{ObservedGeneration: 3, ReadyReplicas: 3, UpdatedReplicas: 1, CurrentRevision: "a", UpdateRevision: "b"}})
		}, result{done: true}},
		{"statefulset: partition not reached", func() (string, bool, error) {
			return statefulSetRolloutStatus(&appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Replicas: int32p(3), UpdateStrategy: partition(1)},
				Status: appsv1.StatefulSetStatus{ObservedGeneration: 3, ReadyReplicas: 3, UpdatedReplicas: 1}})
		}, result{msg: "1 out of 2 new pods have been updated"}},
		{"statefulset: revision not current", func() (string, bool, error) {
			return statefulSetRolloutStatus(&appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Replicas: int32p(3), UpdateStrategy: partition(0)},
				Status: appsv1.StatefulSetStatus{ObservedGeneration: 3, ReadyReplicas: 3, UpdatedReplicas: 3, CurrentRevision: "a", UpdateRevision: "b"}})
		}, result{msg: "rolling update to complete"}},
		{"statefulset: done", func() (string, bool, error) {
			return statefulSetRolloutStatus(&appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Replicas: int32p(3), UpdateStrategy: partition(0)},
				Status: appsv1.StatefulSetStatus{ObservedGeneration: 3, ReadyReplicas: 3, UpdatedReplicas: 3, CurrentRevision: "b", UpdateRevision: "b"}})
		}, result{done: true}},
		{"daemonset: not updated", func() (string, bool, error) {
			return daemonSetRolloutStatus(&appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType}},
				Status: appsv1.DaemonSetStatus{ObservedGeneration: 3, DesiredNumberScheduled: 4, UpdatedNumberScheduled: 3, NumberAvailable: 4}})
		}, result{msg: "3 out of 4 new pods have been updated"}},
		{"daemonset: not available", func() (string, bool, error) {
			return daemonSetRolloutStatus(&appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType}},
				Status: appsv1.DaemonSetStatus{ObservedGeneration: 3, DesiredNumberScheduled: 4, UpdatedNumberScheduled: 4, NumberAvailable: 3}})
		}, result{msg: "3 of 4 updated pods are available"}},
		{"daemonset: on delete", func() (string, bool, error) {
			return daemonSetRolloutStatus(&appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}}})
		}, result{err: "OnDelete"}},
		{"daemonset: done", func() (string, bool, error) {
			return daemonSetRolloutStatus(&appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType}},
				Status: appsv1.DaemonSetStatus{ObservedGeneration: 3, DesiredNumberScheduled: 4, UpdatedNumberScheduled: 4, NumberAvailable: 4}})
		}, result{done: true}},
	}
	for _, tt := range tests {
		msg, done, err := tt.eval()
		switch {
		case tt.want.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.want.err) {
				t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want.err)
			}
		case err != nil || done != tt.want.done || !strings.Contains(msg, tt.want.msg):
			t.Errorf("%s: (%q, %v, %v), want done=%v and a message with %q", tt.name, msg, done, err, tt.want.done, tt.want.msg)
		}
	}
}

// The ExternalSecrets ESO would not refresh on a force-sync are named with the reason, as
// ESO's controller decides it; the ones it would refresh, and those of other Secrets, are not.
func TestExternalSecretsThatWillNotRefresh(t *testing.T) {
	e := newRolloutEnv(t, "wont-refresh")
	ctx := context.Background()
	if err := testenv.InstallCRDs(ctx, e.kube.Config, testenv.ESOCRDDir()); err != nil {
		t.Fatal(err)
	}
	client := e.dyn.Resource(ExternalSecretResource).Namespace(e.ns)
	for _, tc := range []struct {
		name, target string
		spec         map[string]any // merged into spec
		synced       bool
	}{
		{"periodic", "db", map[string]any{"refreshInterval": "1h"}, true},
		{"on-change", "db", map[string]any{"refreshPolicy": "OnChange"}, true},
		{"once-not-synced", "db", map[string]any{"refreshPolicy": "CreatedOnce"}, false},
		{"once", "db", map[string]any{"refreshPolicy": "CreatedOnce"}, true},
		{"interval-zero", "db", map[string]any{"refreshInterval": "0s"}, true},
		{"immutable", "db", map[string]any{"target": map[string]any{"name": "db", "immutable": true}}, false},
		{"none", "db", map[string]any{"target": map[string]any{"name": "db", "creationPolicy": "None"}}, false},
		{"other-secret", "cache", map[string]any{"refreshPolicy": "CreatedOnce"}, true},
	} {
		es := externalSecret(tc.name, tc.target, nil)
		for k, v := range tc.spec {
			if err := unstructured.SetNestedField(es.Object, v, "spec", k); err != nil {
				t.Fatal(err)
			}
		}
		created, err := client.Create(ctx, es, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tc.synced {
			_ = unstructured.SetNestedField(created.Object, "1-abc", "status", "syncedResourceVersion")
			if _, err := client.UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
				t.Fatalf("%s: status: %v", tc.name, err)
			}
		}
	}
	got, err := ExternalSecretsThatWillNotRefresh(ctx, e.dyn, e.ns, "db")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"immutable": "immutable", "interval-zero": "refreshInterval is 0s", "none": "creationPolicy is None", "once": "CreatedOnce"}
	if len(got) != len(want) {
		t.Fatalf("got %d reasons, want %d: %q", len(got), len(want), got)
	}
	for i, name := range []string{"immutable", "interval-zero", "none", "once"} {
		if prefix := "ExternalSecret " + e.ns + "/" + name + ": "; !strings.HasPrefix(got[i], prefix) || !strings.Contains(got[i], want[name]) {
			t.Errorf("reason %d: %q, want %q… with %q", i, got[i], prefix, want[name])
		}
	}
}
