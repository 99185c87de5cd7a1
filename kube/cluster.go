package kube

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// DefaultPageSize is how many objects the first list request of a listing asks for, as
// kubectl's pages do: large clusters are read in pages, never in one response.
const DefaultPageSize = 500

// Unless a page size is given, a listing's pages grow from DefaultPageSize while they stay
// small: the next page asks for as many objects as fit in PageBytes at the size the last page
// had, at most four times as many and never more than MaxPageSize, never fewer than
// DefaultPageSize. What a page costs the API server is bytes more than objects: 500 Secrets of
// 1 KiB are a 0.5 MiB page, and each page is a round trip (10,000 such Secrets are 20 pages of
// 500, or 4 growing ones), while a page of large Secrets stays at kubectl's 500.
const (
	MaxPageSize = 5000
	PageBytes   = 8 << 20
)

// Client-side rate limits. client-go's defaults (5 QPS, burst 10) make a cluster-wide
// inventory crawl; these stay well inside the API server's default priority-and-fairness
// shares.
const (
	DefaultQPS   = 50
	DefaultBurst = 100
)

// ClientOptions tune NewClient.
type ClientOptions struct {
	// QPS and Burst replace DefaultQPS and DefaultBurst when positive.
	QPS   float32
	Burst int
}

// NewClient returns a clientset for cfg that speaks protobuf (smaller and faster to decode
// than JSON for built-in kinds) under the given rate limits. cfg is not modified.
func NewClient(cfg *rest.Config, opts ClientOptions) (kubernetes.Interface, error) {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = DefaultQPS, DefaultBurst
	if opts.QPS > 0 {
		c.QPS = opts.QPS
	}
	if opts.Burst > 0 {
		c.Burst = opts.Burst
	}
	c.RateLimiter = nil
	c.ContentType = "application/vnd.kubernetes.protobuf"
	c.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	cs, err := kubernetes.NewForConfig(c)
	if err != nil {
		return nil, fmt.Errorf("create kubernetes client for %s: %w", cfg.Host, err)
	}
	return cs, nil
}

// ListOptions select what ListCluster reads.
type ListOptions struct {
	Filter
	// Namespace limits the listing to one namespace; empty lists all namespaces.
	Namespace string
	// PageSize is the size of every list page; zero lets pages grow from DefaultPageSize
	// (see PageBytes).
	PageSize int64
	// Cluster names the cluster in Origin (its server URL).
	Cluster string
}

// ListCluster reads Secrets and their possible consumers (Pods, ReplicaSets, Deployments,
// StatefulSets, DaemonSets, Jobs, CronJobs, ServiceAccounts, Ingresses) from a cluster, page by
// page, reducing each object as soon as its page arrives. A failure to list Secrets is an
// error; a failure to list a consumer kind (for instance, RBAC forbids it) is an ObjectError, since
// the Secrets are still reported.
func ListCluster(ctx context.Context, c kubernetes.Interface, opts ListOptions) (*Inventory, error) {
	sink := &inventorySink{}
	inv, err := listCluster(ctx, c, opts, sink)
	if err != nil {
		return nil, err
	}
	inv.Secrets = sink.secrets
	return inv, nil
}

// secretSink receives the selected Secrets of a listing as their pages arrive.
type secretSink interface {
	add(*Secret)
	// reset forgets everything added: the listing starts over.
	reset()
	// has reports whether a Secret ("namespace/name") was added.
	has(ref string) bool
}

// inventorySink keeps the Secrets, values included, for ListCluster.
type inventorySink struct {
	secrets []*Secret
	index   map[string]bool
}

func (k *inventorySink) add(s *Secret) { k.secrets = append(k.secrets, s) }
func (k *inventorySink) reset()        { k.secrets = nil }
func (k *inventorySink) has(ref string) bool {
	if k.index == nil {
		k.index = make(map[string]bool, len(k.secrets))
		for _, s := range k.secrets {
			k.index[s.Ref()] = true
		}
	}
	return k.index[ref]
}

func listCluster(ctx context.Context, c kubernetes.Interface, opts ListOptions, sink secretSink) (*Inventory, error) {
	f, err := opts.compile()
	if err != nil {
		return nil, err
	}
	base := metav1.ListOptions{Limit: max(opts.PageSize, 0)}
	if len(opts.ExcludeNamespaces) > 0 {
		sel := make([]string, len(opts.ExcludeNamespaces))
		for i, ns := range opts.ExcludeNamespaces {
			sel[i] = "metadata.namespace!=" + ns
		}
		base.FieldSelector = strings.Join(sel, ",")
	}
	l := &clusterLister{c: c, ns: opts.Namespace, base: base, origin: Origin{Cluster: opts.Cluster}, filter: f, sink: sink}

	// Failing to list Secrets ends the run; the group's context stops the other listings then.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return l.listSecrets(gctx, opts.Selector) })
	kinds := l.workloadListers()
	results := make([][]Workload, len(kinds))
	for i, k := range kinds {
		g.Go(func() error {
			ws, err := k.list(gctx)
			if err != nil {
				if gctx.Err() != nil {
					return gctx.Err()
				}
				l.problem(ObjectError{Origin: l.origin, Kind: k.kind, Message: fmt.Sprintf("list %s%s: %v (consumers of this kind are not reported)", k.resource, l.where(), err)})
			}
			results[i] = ws
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, ws := range results {
		l.inv.Workloads = append(l.inv.Workloads, ws...)
	}
	if opts.Selector != "" {
		if err := l.resolveUnlisted(ctx); err != nil {
			return nil, err
		}
	}
	return &l.inv, nil
}

type clusterLister struct {
	c      kubernetes.Interface
	ns     string
	base   metav1.ListOptions
	origin Origin
	filter *compiledFilter
	sink   secretSink

	mu  sync.Mutex // guards inv.Problems
	inv Inventory
}

func (l *clusterLister) problem(p ObjectError) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inv.Problems = append(l.inv.Problems, p)
}

func (l *clusterLister) where() string {
	if l.ns == "" {
		return " in all namespaces"
	}
	return " in namespace " + l.ns
}

func (l *clusterLister) listSecrets(ctx context.Context, selector string) error {
	opts := l.base
	opts.LabelSelector = selector
	var others []SecretKeys
	otherShards := 0
	err := listPages(ctx, opts, l.c.CoreV1().Secrets(l.ns).List,
		func() { l.sink.reset(); others, otherShards = nil, 0 },
		func(page *corev1.SecretList) {
			for i := range page.Items {
				s := secretFromAPI(&page.Items[i], l.origin)
				selected := l.filter.matches(s)
				switch {
				case selected && l.filter.inShard(s.Namespace, s.Name):
					l.sink.add(s)
				case selected:
					otherShards++
					others = append(others, SecretKeys{Namespace: s.Namespace, Name: s.Name, Keys: s.Data.Keys()})
				case !l.filter.namespaceExcluded(s.Namespace):
					others = append(others, SecretKeys{Namespace: s.Namespace, Name: s.Name, Keys: s.Data.Keys()})
				}
			}
		})
	if err != nil {
		return fmt.Errorf("list secrets%s: %w", l.where(), err)
	}
	l.inv.Others, l.inv.InOtherShards = others, otherShards
	return nil
}

// resolveUnlisted looks up, one by one, Secrets that workloads reference but a label selector
// kept out of the listing, so that they are not reported missing.
func (l *clusterLister) resolveUnlisted(ctx context.Context) error {
	ix := newSecretIndex(&l.inv)
	wanted := map[[2]string]bool{}
	for _, w := range l.inv.Workloads {
		for _, r := range w.References {
			ref := w.Namespace + "/" + r.Secret
			if _, ok := ix[ref]; !ok && !l.sink.has(ref) {
				wanted[[2]string{w.Namespace, r.Secret}] = true
			}
		}
	}
	var g errgroup.Group
	g.SetLimit(8)
	var mu sync.Mutex
	for ref := range wanted {
		g.Go(func() error {
			s, err := l.c.CoreV1().Secrets(ref[0]).Get(ctx, ref[1], metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				return nil
			case err != nil:
				return fmt.Errorf("get secret %s/%s: %w", ref[0], ref[1], err)
			}
			keys := make([]string, 0, len(s.Data))
			for k := range s.Data {
				keys = append(keys, k)
			}
			mu.Lock()
			l.inv.Others = append(l.inv.Others, SecretKeys{Namespace: ref[0], Name: ref[1], Keys: keys})
			mu.Unlock()
			return nil
		})
	}
	return g.Wait()
}

// listPages calls list page by page, handing each page to each. base.Limit is the size of
// every page; zero lets the pages grow from DefaultPageSize (see PageBytes) for lists that
// know their encoded size (the typed ones). When a continue token expires mid-way (the API
// server compacted past it) the listing starts over after reset, as a consistent snapshot
// requires.
func listPages[L interface{ GetContinue() string }](ctx context.Context, base metav1.ListOptions,
	list func(context.Context, metav1.ListOptions) (L, error), reset func(), each func(L)) error {
	grow := base.Limit <= 0
	if grow {
		base.Limit = DefaultPageSize
	}
	opts := base
	for restarts := 0; ; {
		page, err := list(ctx, opts)
		if err != nil {
			if opts.Continue != "" && apierrors.IsResourceExpired(err) && restarts < 3 {
				restarts++
				reset()
				opts = base
				continue
			}
			return err
		}
		each(page)
		opts.Continue = page.GetContinue()
		if opts.Continue == "" {
			return nil
		}
		if !grow {
			continue
		}
		if sized, ok := any(page).(interface{ Size() int }); ok {
			opts.Limit = nextPageSize(opts.Limit, sized.Size())
		}
	}
}

// nextPageSize is the limit of the page after a full page of limit objects that encoded to
// size bytes: as many as fit in PageBytes, at most 4×limit and MaxPageSize, never fewer than
// DefaultPageSize.
func nextPageSize(limit int64, size int) int64 {
	next := min(4*limit, MaxPageSize)
	if size > 0 {
		next = min(next, int64(PageBytes)*limit/int64(size))
	}
	return max(next, DefaultPageSize)
}

// secretFromAPI converts an API Secret, keeping its maps rather than copying them: the rest of
// the page becomes garbage as soon as the page is done.
func secretFromAPI(in *corev1.Secret, origin Origin) *Secret {
	ann := in.Annotations
	delete(ann, LastAppliedAnnotation)
	if len(ann) == 0 {
		ann = nil
	}
	var owners []Owner
	for _, o := range in.OwnerReferences {
		owners = append(owners, Owner{APIVersion: o.APIVersion, Kind: o.Kind, Name: o.Name, Controller: o.Controller != nil && *o.Controller})
	}
	return &Secret{
		Namespace:       in.Namespace,
		Name:            in.Name,
		UID:             string(in.UID),
		Type:            string(in.Type),
		Labels:          in.Labels,
		Annotations:     ann,
		Owners:          owners,
		Immutable:       in.Immutable != nil && *in.Immutable,
		ResourceVersion: in.ResourceVersion,
		Created:         in.CreationTimestamp.Time,
		Data:            Data(in.Data),
		Origin:          origin,
	}
}

// workloadLister lists one consumer kind.
type workloadLister struct {
	kind, resource string
	list           func(context.Context) ([]Workload, error)
}

func (l *clusterLister) workloadListers() []workloadLister {
	ns, c := l.ns, l.c
	return []workloadLister{
		{KindPod, "pods", func(ctx context.Context) ([]Workload, error) {
			return listWorkloads(ctx, l.base, c.CoreV1().Pods(ns).List, func(p *corev1.PodList, add func(Workload)) {
				for i := range p.Items {
					o := &p.Items[i]
					add(l.fromPodSpec(KindPod, o.ObjectMeta, &o.Spec))
				}
			})
		}},
		{KindReplicaSet, "replicasets", func(ctx context.Context) ([]Workload, error) {
			return listWorkloads(ctx, l.base, c.AppsV1().ReplicaSets(ns).List, func(p *appsv1.ReplicaSetList, add func(Workload)) {
				for i := range p.Items {
					o := &p.Items[i]
					add(l.fromPodSpec(KindReplicaSet, o.ObjectMeta, &o.Spec.Template.Spec))
				}
			})
		}},
		{KindDeployment, "deployments", func(ctx context.Context) ([]Workload, error) {
			return listWorkloads(ctx, l.base, c.AppsV1().Deployments(ns).List, func(p *appsv1.DeploymentList, add func(Workload)) {
				for i := range p.Items {
					o := &p.Items[i]
					add(l.fromPodSpec(KindDeployment, o.ObjectMeta, &o.Spec.Template.Spec))
				}
			})
		}},
		{KindStatefulSet, "statefulsets", func(ctx context.Context) ([]Workload, error) {
			return listWorkloads(ctx, l.base, c.AppsV1().StatefulSets(ns).List, func(p *appsv1.StatefulSetList, add func(Workload)) {
				for i := range p.Items {
					o := &p.Items[i]
					add(l.fromPodSpec(KindStatefulSet, o.ObjectMeta, &o.Spec.Template.Spec))
				}
			})
		}},
		{KindDaemonSet, "daemonsets", func(ctx context.Context) ([]Workload, error) {
			return listWorkloads(ctx, l.base, c.AppsV1().DaemonSets(ns).List, func(p *appsv1.DaemonSetList, add func(Workload)) {
				for i := range p.Items {
					o := &p.Items[i]
					add(l.fromPodSpec(KindDaemonSet, o.ObjectMeta, &o.Spec.Template.Spec))
				}
			})
		}},
		{KindJob, "jobs", func(ctx context.Context) ([]Workload, error) {
			return listWorkloads(ctx, l.base, c.BatchV1().Jobs(ns).List, func(p *batchv1.JobList, add func(Workload)) {
				for i := range p.Items {
					o := &p.Items[i]
					add(l.fromPodSpec(KindJob, o.ObjectMeta, &o.Spec.Template.Spec))
				}
			})
		}},
		{KindCronJob, "cronjobs", func(ctx context.Context) ([]Workload, error) {
			return listWorkloads(ctx, l.base, c.BatchV1().CronJobs(ns).List, func(p *batchv1.CronJobList, add func(Workload)) {
				for i := range p.Items {
					o := &p.Items[i]
					add(l.fromPodSpec(KindCronJob, o.ObjectMeta, &o.Spec.JobTemplate.Spec.Template.Spec))
				}
			})
		}},
		{KindServiceAccount, "serviceaccounts", func(ctx context.Context) ([]Workload, error) {
			return listWorkloads(ctx, l.base, c.CoreV1().ServiceAccounts(ns).List, func(p *corev1.ServiceAccountList, add func(Workload)) {
				for i := range p.Items {
					o := &p.Items[i]
					w := l.workload(KindServiceAccount, o.ObjectMeta)
					for _, s := range o.ImagePullSecrets {
						if s.Name != "" {
							w.References = append(w.References, Reference{Secret: s.Name, Use: Use{Via: ViaImagePullSecret}})
						}
					}
					add(w)
				}
			})
		}},
		{KindIngress, "ingresses", func(ctx context.Context) ([]Workload, error) {
			return listWorkloads(ctx, l.base, c.NetworkingV1().Ingresses(ns).List, func(p *networkingv1.IngressList, add func(Workload)) {
				for i := range p.Items {
					o := &p.Items[i]
					w := l.workload(KindIngress, o.ObjectMeta)
					for _, t := range o.Spec.TLS {
						if t.SecretName != "" {
							w.References = append(w.References, Reference{Secret: t.SecretName, Use: Use{Via: ViaIngressTLS}})
						}
					}
					add(w)
				}
			})
		}},
	}
}

func listWorkloads[L interface{ GetContinue() string }](ctx context.Context, base metav1.ListOptions,
	list func(context.Context, metav1.ListOptions) (L, error), convert func(L, func(Workload))) ([]Workload, error) {
	var out []Workload
	add := func(w Workload) { out = append(out, w) }
	err := listPages(ctx, base, list, func() { out = nil }, func(page L) { convert(page, add) })
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (l *clusterLister) workload(kind string, meta metav1.ObjectMeta) Workload {
	w := Workload{Kind: kind, Namespace: meta.Namespace, Name: meta.Name, Origin: l.origin}
	for _, o := range meta.OwnerReferences {
		if o.Controller != nil && *o.Controller {
			w.Controller = &ObjectRef{Kind: o.Kind, Name: o.Name}
			break
		}
	}
	return w
}

func (l *clusterLister) fromPodSpec(kind string, meta metav1.ObjectMeta, spec *corev1.PodSpec) Workload {
	w := l.workload(kind, meta)
	p := podSpecFromAPI(spec)
	w.ServiceAccount = p.serviceAccount()
	w.References = p.references()
	return w
}

// podSpecFromAPI copies the Secret-naming parts of an API PodSpec into the reduced form that
// manifests decode into, so both sources share one reference walker.
func podSpecFromAPI(in *corev1.PodSpec) podSpec {
	p := podSpec{ServiceAccountName: in.ServiceAccountName, ServiceAccount: in.DeprecatedServiceAccount}
	keys := func(items []corev1.KeyToPath) []keyPath {
		var out []keyPath
		for _, it := range items {
			out = append(out, keyPath{Key: it.Key})
		}
		return out
	}
	for _, v := range in.Volumes {
		var out volume
		out.Name = v.Name
		switch {
		case v.Secret != nil:
			out.Secret = &secretVolume{SecretName: v.Secret.SecretName, Items: keys(v.Secret.Items), Optional: v.Secret.Optional}
		case v.Projected != nil:
			out.Projected = &projectedVolume{}
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					out.Projected.Sources = append(out.Projected.Sources, projection{Secret: &projectedSecret{
						Name: src.Secret.Name, Items: keys(src.Secret.Items), Optional: src.Secret.Optional}})
				}
			}
		default:
			continue
		}
		p.Volumes = append(p.Volumes, out)
	}
	conv := func(name string, env []corev1.EnvVar, envFrom []corev1.EnvFromSource) container {
		c := container{Name: name}
		for _, e := range env {
			if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				continue
			}
			r := e.ValueFrom.SecretKeyRef
			c.Env = append(c.Env, envVar{Name: e.Name, ValueFrom: &envSource{
				SecretKeyRef: &secretKeyRef{Name: r.Name, Key: r.Key, Optional: r.Optional}}})
		}
		for _, ef := range envFrom {
			if ef.SecretRef != nil {
				c.EnvFrom = append(c.EnvFrom, envFromSource{SecretRef: &secretRef{Name: ef.SecretRef.Name, Optional: ef.SecretRef.Optional}})
			}
		}
		return c
	}
	for _, c := range in.InitContainers {
		p.InitContainers = append(p.InitContainers, conv(c.Name, c.Env, c.EnvFrom))
	}
	for _, c := range in.Containers {
		p.Containers = append(p.Containers, conv(c.Name, c.Env, c.EnvFrom))
	}
	for _, c := range in.EphemeralContainers {
		p.EphemeralContainers = append(p.EphemeralContainers, conv(c.Name, c.Env, c.EnvFrom))
	}
	for _, s := range in.ImagePullSecrets {
		p.ImagePullSecrets = append(p.ImagePullSecrets, localObjectRefer{Name: s.Name})
	}
	return p
}
