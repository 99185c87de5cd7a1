package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/secretshift/secretshift/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.NeedKube)
}

// clusterFixture is a namespace seeded with Secrets of every kind Classify knows and workloads
// of every kind FindConsumers reads.
type clusterFixture struct {
	ns     string
	runID  string
	config *rest.Config
	client kubernetes.Interface
}

const bulkSecrets = 30

func newClusterFixture(t *testing.T) *clusterFixture {
	t.Helper()
	k := testenv.RequireKube(t)
	cfg := rest.CopyConfig(k.Config)
	cfg.QPS, cfg.Burst = 200, 400
	cfg.WarningHandler = rest.NoWarnings{} // the API server warns about test TLS data that is not PEM
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 4)
	rand.Read(id)
	f := &clusterFixture{ns: "discover-" + hex.EncodeToString(id), runID: hex.EncodeToString(id), config: k.Config, client: client}
	ctx := context.Background()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := k.CreateNamespace(ctx, f.ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = client.CoreV1().Namespaces().Delete(context.Background(), f.ns, metav1.DeleteOptions{})
	})
	must(client.CoreV1().ServiceAccounts(f.ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "sa-registry"}}}, metav1.CreateOptions{}))

	secret := func(name string, typ corev1.SecretType, data map[string]string, mutate ...func(*corev1.Secret)) {
		t.Helper()
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"secretshift.io/test-run": f.runID}}, Type: typ, Data: map[string][]byte{}}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		for _, m := range mutate {
			m(s)
		}
		must(client.CoreV1().Secrets(f.ns).Create(ctx, s, metav1.CreateOptions{}))
	}
	uid := types.UID("00000000-0000-0000-0000-000000000001")
	yes := true
	secret("db", corev1.SecretTypeOpaque, map[string]string{"user": "app", "password": "p4ss\n"}, func(s *corev1.Secret) { s.Labels["tier"] = "selected" })
	secret("api", corev1.SecretTypeOpaque, map[string]string{"token": "t"})
	secret("registry", corev1.SecretTypeDockerConfigJson, map[string]string{".dockerconfigjson": `{"auths":{}}`})
	secret("sa-registry", corev1.SecretTypeDockerConfigJson, map[string]string{".dockerconfigjson": `{"auths":{}}`})
	secret("web-tls", corev1.SecretTypeTLS, map[string]string{"tls.crt": "c", "tls.key": "k"})
	secret("legacy-registry", corev1.SecretTypeDockercfg, map[string]string{".dockercfg": `{}`})
	secret("basic", corev1.SecretTypeBasicAuth, map[string]string{"username": "u", "password": "p"})
	secret("ssh", corev1.SecretTypeSSHAuth, map[string]string{"ssh-privatekey": "k"})
	secret("projected", corev1.SecretTypeOpaque, map[string]string{"ca.crt": "c"})
	secret("batch", corev1.SecretTypeOpaque, map[string]string{"key": "k"})
	secret("frozen", corev1.SecretTypeOpaque, map[string]string{"k": "v"}, func(s *corev1.Secret) { s.Immutable = &yes })
	secret("sa-token", corev1.SecretTypeServiceAccountToken, nil, func(s *corev1.Secret) {
		s.Annotations = map[string]string{"kubernetes.io/service-account.name": "web"}
	})
	secret("bootstrap-token-abcdef", TypeBootstrapToken, map[string]string{"token-id": "abcdef", "token-secret": "0123456789abcdef"})
	secret("sh.helm.release.v1.web.v1", TypeHelmRelease, map[string]string{"release": "H4sI"}, func(s *corev1.Secret) {
		s.Labels["owner"] = "helm"
	})
	secret("eso-synced", corev1.SecretTypeOpaque, map[string]string{"k": "v"}, func(s *corev1.Secret) {
		s.Labels["reconcile.external-secrets.io/managed"] = "true"
	})
	secret("unsealed", corev1.SecretTypeOpaque, map[string]string{"k": "v"}, func(s *corev1.Secret) {
		s.OwnerReferences = []metav1.OwnerReference{{APIVersion: "bitnami.com/v1alpha1", Kind: "SealedSecret", Name: "unsealed", UID: uid, Controller: &yes}}
	})
	secret("issued", corev1.SecretTypeTLS, map[string]string{"tls.crt": "c", "tls.key": "k"}, func(s *corev1.Secret) {
		s.Annotations = map[string]string{"cert-manager.io/certificate-name": "web"}
	})
	secret("owned", corev1.SecretTypeOpaque, map[string]string{"k": "v"}, func(s *corev1.Secret) {
		s.OwnerReferences = []metav1.OwnerReference{{APIVersion: "example.com/v1", Kind: "Database", Name: "pg", UID: uid, Controller: &yes}}
	})
	secret("empty", corev1.SecretTypeOpaque, nil)
	secret("last-applied", corev1.SecretTypeOpaque, map[string]string{"k": "v"}, func(s *corev1.Secret) {
		s.Annotations = map[string]string{LastAppliedAnnotation: `{"data":{"k":"dg=="}}`}
	})
	for i := range bulkSecrets {
		secret(fmt.Sprintf("bulk-%02d", i), corev1.SecretTypeOpaque, map[string]string{"n": fmt.Sprint(i)})
	}

	env := func(name, secret, key string, optional bool) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: key, Optional: &optional}}}
	}
	envFrom := func(secret string) corev1.EnvFromSource {
		return corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: secret}}}
	}
	template := func(sa string, c corev1.Container, volumes ...corev1.Volume) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}},
			Spec: corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{c}, Volumes: volumes, RestartPolicy: corev1.RestartPolicyAlways}}
	}
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}

	webTmpl := template("web", corev1.Container{Name: "app", Image: "app",
		Env:     []corev1.EnvVar{env("DB_PASSWORD", "db", "password", false), env("GONE", "gone", "k", false), env("MAYBE", "maybe", "k", true), env("NOKEY", "api", "nope", false)},
		EnvFrom: []corev1.EnvFromSource{envFrom("api")}},
		corev1.Volume{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "db", Items: []corev1.KeyToPath{{Key: "user", Path: "user"}}}}},
		corev1.Volume{Name: "bundle", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "projected"}}}}}}})
	webTmpl.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "registry"}}
	dep, err := client.AppsV1().Deployments(f.ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Selector: selector, Template: webTmpl}}, metav1.CreateOptions{})
	must(dep, err)
	// What the controllers would create: a ReplicaSet owned by the Deployment, a Pod owned by it.
	rs, err := client.AppsV1().ReplicaSets(f.ns).Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-5d4f8",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: dep.UID, Controller: &yes}}},
		Spec: appsv1.ReplicaSetSpec{Selector: selector, Template: webTmpl}}, metav1.CreateOptions{})
	must(rs, err)
	podSpec := webTmpl.Spec
	must(client.CoreV1().Pods(f.ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-5d4f8-abcde",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &yes}}},
		Spec: podSpec}, metav1.CreateOptions{}))

	must(client.AppsV1().StatefulSets(f.ns).Create(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "pg"},
		Spec: appsv1.StatefulSetSpec{Selector: selector, ServiceName: "pg", Template: template("", corev1.Container{Name: "pg", Image: "pg",
			Env: []corev1.EnvVar{env("PGPASSWORD", "db", "password", false)}})}}, metav1.CreateOptions{}))
	must(client.AppsV1().DaemonSets(f.ns).Create(ctx, &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{Selector: selector, Template: template("", corev1.Container{Name: "agent", Image: "agent"},
			corev1.Volume{Name: "ssh", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "ssh"}}})}}, metav1.CreateOptions{}))

	jobTmpl := template("", corev1.Container{Name: "job", Image: "job", Env: []corev1.EnvVar{env("K", "batch", "key", false)}})
	jobTmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	cj, err := client.BatchV1().CronJobs(f.ns).Create(ctx, &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "nightly"},
		Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: jobTmpl}}}}, metav1.CreateOptions{})
	must(cj, err)
	job, err := client.BatchV1().Jobs(f.ns).Create(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "nightly-28000000",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID, Controller: &yes}}},
		Spec: batchv1.JobSpec{Template: jobTmpl}}, metav1.CreateOptions{})
	must(job, err)
	jobPod := jobTmpl.Spec
	must(client.CoreV1().Pods(f.ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "nightly-28000000-xyz",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID, Controller: &yes}}},
		Spec: jobPod}, metav1.CreateOptions{}))

	bare, err := client.CoreV1().Pods(f.ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bare"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "c", EnvFrom: []corev1.EnvFromSource{envFrom("basic")}}}}}, metav1.CreateOptions{})
	must(bare, err)
	// Ephemeral containers can only be added through their subresource, as kubectl debug does.
	bare.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		Name: "debugger", Image: "busybox", EnvFrom: []corev1.EnvFromSource{envFrom("frozen")}}}}
	must(client.CoreV1().Pods(f.ns).UpdateEphemeralContainers(ctx, bare.Name, bare, metav1.UpdateOptions{}))

	must(client.NetworkingV1().Ingresses(f.ns).Create(ctx, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: networkingv1.IngressSpec{TLS: []networkingv1.IngressTLS{{Hosts: []string{"shop.example.com"}, SecretName: "web-tls"}, {SecretName: "missing-tls"}},
			DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}},
		metav1.CreateOptions{}))
	return f
}

// countingClient returns a protobuf client that counts Secret list requests of the given size.
func (f *clusterFixture) countingClient(t *testing.T, pageSize int64, lists *atomic.Int32) kubernetes.Interface {
	t.Helper()
	cfg := rest.CopyConfig(f.config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if strings.HasSuffix(r.URL.Path, "/secrets") && r.URL.Query().Get("limit") == fmt.Sprint(pageSize) {
				lists.Add(1)
			}
			return rt.RoundTrip(r)
		})
	}
	c, err := NewClient(cfg, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestDiscoverCluster(t *testing.T) {
	f := newClusterFixture(t)
	var lists atomic.Int32
	const pageSize = 7
	client := f.countingClient(t, pageSize, &lists)
	report, err := Discover(context.Background(), Options{Client: client, Cluster: f.config.Host, Namespace: f.ns, PageSize: pageSize,
		Fingerprinter: testFingerprinter(t), KeepValues: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Errors) > 0 {
		t.Fatalf("errors: %v", report.Errors)
	}
	const seeded = 20 + bulkSecrets
	if len(report.Items) != seeded {
		t.Errorf("%d items, want %d", len(report.Items), seeded)
	}
	if n := lists.Load(); n < seeded/pageSize+1 {
		t.Errorf("%d secret list requests with limit %d: the listing was not paged", n, pageSize)
	}

	decisions := map[string]string{}
	consumers := map[string][]string{}
	for _, it := range report.Items {
		d := string(it.Action)
		if it.Reason != "" {
			d += "/" + string(it.Reason)
		}
		decisions[it.Name] = d
		consumers[it.Name] = consumerStrings(it.Consumers)
		if it.Origin.Cluster != f.config.Host {
			t.Errorf("%s: origin %v, want cluster %s", it.Name, it.Origin, f.config.Host)
		}
	}
	wantDecisions := map[string]string{
		"db": "migrate", "registry": "migrate", "legacy-registry": "migrate", "web-tls": "migrate", "basic": "migrate", "ssh": "migrate", "frozen": "migrate",
		"sa-token": "skip/service-account-token", "bootstrap-token-abcdef": "skip/bootstrap-token",
		"sh.helm.release.v1.web.v1": "skip/helm-release", "eso-synced": "skip/external-secrets", "unsealed": "skip/sealed-secret",
		"issued": "skip/cert-manager", "owned": "skip/owned", "empty": "skip/empty",
	}
	for name, want := range wantDecisions {
		if decisions[name] != want {
			t.Errorf("%s: %s, want %s", name, decisions[name], want)
		}
	}
	wantConsumers := map[string][]string{
		"db":          {"Deployment/web env:app:DB_PASSWORD:password,volume:creds:user", "StatefulSet/pg env:pg:PGPASSWORD:password"},
		"api":         {"Deployment/web env:app:NOKEY:nope,env-from:app"},
		"registry":    {"Deployment/web image-pull-secret"},
		"sa-registry": {"Deployment/web service-account-image-pull-secret:web", "ServiceAccount/web image-pull-secret"},
		"projected":   {"Deployment/web projected-volume:bundle"},
		"ssh":         {"DaemonSet/agent volume:ssh"},
		"batch":       {"CronJob/nightly env:job:K:key"},
		"basic":       {"Pod/bare env-from:c"},
		"frozen":      {"Pod/bare env-from:debugger"},
		"web-tls":     {"Ingress/web ingress-tls"},
		"empty":       nil,
	}
	for name, want := range wantConsumers {
		if !slices.Equal(consumers[name], want) {
			t.Errorf("%s consumers:\n got  %q\n want %q", name, consumers[name], want)
		}
	}

	var missing []string
	for _, m := range report.MissingReferences {
		missing = append(missing, fmt.Sprintf("%s[%s] %s %s optional=%v", m.Secret, m.Key, m.Problem, m.Consumer, m.Optional))
	}
	wantMissing := []string{
		"api[nope] key-not-found Deployment/web optional=false",
		"gone[k] secret-not-found Deployment/web optional=false",
		"maybe[k] secret-not-found Deployment/web optional=true",
		"missing-tls[] secret-not-found Ingress/web optional=false",
	}
	if !slices.Equal(missing, wantMissing) {
		t.Errorf("missing:\n got  %q\n want %q", missing, wantMissing)
	}

	db := findItem(t, report, f.ns+"/db")
	if string(db.Secret.Data["password"]) != "p4ss\n" || db.Keys[0].Fingerprint == "" || db.Fingerprint == "" {
		t.Errorf("db: values or fingerprints wrong (%d keys)", len(db.Keys))
	}
	if la := findItem(t, report, f.ns+"/last-applied"); la.Secret.Annotations != nil {
		t.Errorf("last-applied-configuration kept: %v", la.Secret.Annotations)
	}
}

// With a label selector the listing is filtered by the API server; Secrets that workloads
// reference but the selector left out must not be reported missing.
func TestDiscoverClusterSelectorAndFilters(t *testing.T) {
	f := newClusterFixture(t)
	client, err := NewClient(f.config, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		opts      Options
		wantItems []string
	}{
		{"selector", Options{Namespace: f.ns, Filter: Filter{Selector: "tier=selected"}}, []string{"db"}},
		{"types", Options{Namespace: f.ns, Filter: Filter{Types: []string{"kubernetes.io/ssh-auth", "kubernetes.io/basic-auth"}}}, []string{"basic", "ssh"}},
		{"all namespaces, excluding ours", Options{Filter: Filter{Selector: "secretshift.io/test-run=" + f.runID, ExcludeNamespaces: []string{f.ns}}}, nil},
		{"all namespaces, by run label", Options{Filter: Filter{Selector: "secretshift.io/test-run=" + f.runID + ",tier=selected"}}, []string{"db"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Client, tt.opts.Cluster = client, f.config.Host
			report, err := Discover(context.Background(), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, it := range report.Items {
				names = append(names, it.Name)
			}
			if !slices.Equal(names, tt.wantItems) {
				t.Errorf("items %v, want %v", names, tt.wantItems)
			}
			for _, m := range report.MissingReferences {
				if m.Namespace == f.ns && m.Problem == MissingSecret && m.Secret != "gone" && m.Secret != "maybe" && m.Secret != "missing-tls" {
					t.Errorf("reported missing although it exists: %+v", m)
				}
			}
		})
	}
}

// A user who may list Secrets but not workloads still gets every Secret, and one Problem per
// consumer kind it could not list.
func TestDiscoverClusterForbiddenConsumers(t *testing.T) {
	f := newClusterFixture(t)
	ctx := context.Background()
	const user = "discover-secrets-only"
	_, err := f.client.RbacV1().Roles(f.ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "secrets-only"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.client.RbacV1().RoleBindings(f.ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "secrets-only"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "secrets-only"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := testenv.WaitAllowed(ctx, f.client, user, f.ns, "list", "secrets"); err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(f.config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	client, err := NewClient(cfg, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	report, err := Discover(ctx, Options{Client: client, Cluster: cfg.Host, Namespace: f.ns})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Items) != 20+bulkSecrets {
		t.Errorf("%d items", len(report.Items))
	}
	var kinds []string
	for _, p := range report.Errors {
		kinds = append(kinds, p.Kind)
		if !strings.Contains(p.Message, "forbidden") {
			t.Errorf("problem: %s", p.Error())
		}
	}
	slices.Sort(kinds)
	want := []string{KindCronJob, KindDaemonSet, KindDeployment, KindIngress, KindJob, KindPod, KindReplicaSet, KindServiceAccount, KindStatefulSet}
	if !slices.Equal(kinds, want) || report.Summary.Errors != len(want) {
		t.Errorf("problems for %v (summary %d), want %v", kinds, report.Summary.Errors, want)
	}

	// Without the right to list Secrets there is nothing to report: an error.
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "nobody"}
	if client, err = NewClient(cfg, ClientOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Discover(ctx, Options{Client: client, Namespace: f.ns}); err == nil || !strings.Contains(err.Error(), "list secrets in namespace "+f.ns) {
		t.Errorf("err = %v", err)
	}
}
