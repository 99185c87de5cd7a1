package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// ESO's other resources a cut-over applies, and the sealed-secrets controller's.
var (
	SecretStoreResource        = schema.GroupVersionResource{Group: "external-secrets.io", Version: "v1", Resource: "secretstores"}
	ClusterSecretStoreResource = schema.GroupVersionResource{Group: "external-secrets.io", Version: "v1", Resource: "clustersecretstores"}
	SealedSecretResource       = schema.GroupVersionResource{Group: "bitnami.com", Version: "v1alpha1", Resource: "sealedsecrets"}
)

// SealedManagedAnnotation on an existing Secret lets the sealed-secrets controller take it over
// (its source: a Secret without it, not owned by the SealedSecret, is left alone).
const SealedManagedAnnotation = "sealedsecrets.bitnami.com/managed"

// SealedControllerSelector finds the sealed-secrets controller's Deployment (the Helm chart's
// labels).
const SealedControllerSelector = "app.kubernetes.io/name=sealed-secrets"

// What ESO puts on a Secret it manages (external-secrets.io/v1, v0.16): the labels tell its
// informers which Secrets to watch, the annotation the hash of the data it wrote.
const (
	ESOLabelManaged       = "reconcile.external-secrets.io/managed"
	ESOLabelCreatedBy     = "reconcile.external-secrets.io/created-by"
	ESOAnnotationDataHash = "reconcile.external-secrets.io/data-hash"
)

// ESOControllerSelector finds the ESO controller's Deployment (the Helm chart's labels).
const ESOControllerSelector = "app.kubernetes.io/name=external-secrets"

// Cluster is the Kubernetes side of a cut-over: reading the live Secret, applying ESO objects
// with server-side apply (field manager "secretshift"), waiting for the controller, and
// patching Secrets' metadata. It never deletes a Secret.
type Cluster struct {
	Client  kubernetes.Interface
	Dynamic dynamic.Interface
	// Server is the API server URL, for audit records.
	Server string
	// Poll is how often waits read what they wait for (default 100ms).
	Poll time.Duration
}

// NewCluster connects to the API server of cfg.
func NewCluster(cfg *rest.Config) (*Cluster, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create kubernetes client for %s: %w", cfg.Host, err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create dynamic client for %s: %w", cfg.Host, err)
	}
	return &Cluster{Client: cs, Dynamic: dyn, Server: cfg.Host}, nil
}

// ESOInstalled checks that the API server serves ExternalSecrets and SecretStores (ESO's CRDs
// are installed), and ClusterSecretStores when cluster is set.
func (c *Cluster) ESOInstalled(ctx context.Context, cluster bool) error {
	res, err := c.Client.Discovery().ServerResourcesForGroupVersion("external-secrets.io/v1")
	if err != nil {
		if apierrors.IsNotFound(err) {
			return errors.New("the External Secrets Operator is not installed: the API server does not serve external-secrets.io/v1 (its CRDs are missing)")
		}
		return fmt.Errorf("look up external-secrets.io/v1: %w", err)
	}
	served := map[string]bool{}
	for _, r := range res.APIResources {
		served[r.Name] = true
	}
	want := []string{"externalsecrets", "secretstores"}
	if cluster {
		want = append(want, "clustersecretstores")
	}
	var missing []string
	for _, w := range want {
		if !served[w] {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the API server does not serve external-secrets.io/v1 %s (ESO's CRDs are incomplete)", strings.Join(missing, ", "))
	}
	return nil
}

// SealedSecretsInstalled checks that the API server serves SealedSecrets (the controller's CRD).
func (c *Cluster) SealedSecretsInstalled(ctx context.Context) error {
	res, err := c.Client.Discovery().ServerResourcesForGroupVersion("bitnami.com/v1alpha1")
	if err == nil {
		for _, r := range res.APIResources {
			if r.Name == "sealedsecrets" {
				return nil
			}
		}
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("look up bitnami.com/v1alpha1: %w", err)
	}
	return errors.New("the sealed-secrets controller is not installed: the API server does not serve bitnami.com/v1alpha1 sealedsecrets (its CRD is missing)")
}

// ESOControllerAvailable checks that a Deployment of the ESO controller (ESOControllerSelector,
// any namespace) reports Available.
func (c *Cluster) ESOControllerAvailable(ctx context.Context) error {
	return c.ControllerAvailable(ctx, "ESO controller", ESOControllerSelector)
}

// ControllerAvailable checks that a Deployment matching selector (any namespace) reports
// Available; what names the controller in messages.
func (c *Cluster) ControllerAvailable(ctx context.Context, what, selector string) error {
	list, err := c.Client.AppsV1().Deployments("").List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return fmt.Errorf("look for the %s Deployment (%s): %w", what, selector, err)
	}
	for _, d := range list.Items {
		for _, cond := range d.Status.Conditions {
			if cond.Type == "Available" && cond.Status == corev1.ConditionTrue {
				return nil
			}
		}
	}
	if len(list.Items) == 0 {
		return fmt.Errorf("no %s Deployment found (label %s)", what, selector)
	}
	return fmt.Errorf("the %s Deployment %s/%s is not Available", what, list.Items[0].Namespace, list.Items[0].Name)
}

// Access is one right a cut-over needs.
type Access struct {
	Namespace, Group, Resource, Verb string
}

func (a Access) String() string {
	r := a.Resource
	if a.Group != "" {
		r += "." + a.Group
	}
	if a.Namespace == "" {
		return a.Verb + " " + r + " (cluster-wide)"
	}
	return a.Verb + " " + r + " in " + a.Namespace
}

// Denied returns the rights among want that the API server says our credentials lack
// (SelfSubjectAccessReview), each with the authorizer's reason.
func (c *Cluster) Denied(ctx context.Context, want []Access) ([]string, error) {
	var out []string
	for _, a := range want {
		r, err := c.Client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: a.Namespace, Group: a.Group, Resource: a.Resource, Verb: a.Verb,
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("check access (%s): %w", a, err)
		}
		if !r.Status.Allowed {
			msg := "not allowed to " + a.String()
			if r.Status.Reason != "" {
				msg += ": " + r.Status.Reason
			}
			out = append(out, msg)
		}
	}
	return out, nil
}

// LiveSecret reads a Secret, values kept, with its owner references' UIDs.
func (c *Cluster) LiveSecret(ctx context.Context, namespace, name string) (*Secret, []metav1.OwnerReference, error) {
	s, err := c.Client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("read secret %s/%s: %w", namespace, name, err)
	}
	refs := s.OwnerReferences
	return secretFromAPI(s, Origin{Cluster: c.Server}), refs, nil
}

// Apply applies obj (a typed object that marshals to a whole manifest with apiVersion, kind
// and metadata) with server-side apply as field manager "secretshift", taking over fields
// another manager set. With dryRun the server validates and answers without storing.
func (c *Cluster) Apply(ctx context.Context, gvr schema.GroupVersionResource, obj any, dryRun bool) (*unstructured.Unstructured, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", gvr.Resource, err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(b); err != nil {
		return nil, fmt.Errorf("decode %s: %w", gvr.Resource, err)
	}
	force := true
	opts := metav1.PatchOptions{FieldManager: fieldManager, Force: &force}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	var ri dynamic.ResourceInterface = c.Dynamic.Resource(gvr)
	if ns := u.GetNamespace(); ns != "" {
		ri = c.Dynamic.Resource(gvr).Namespace(ns)
	}
	out, err := ri.Patch(ctx, u.GetName(), types.ApplyPatchType, b, opts)
	if err != nil {
		return nil, fmt.Errorf("apply %s %s: %w", u.GetKind(), objectRef(u.GetNamespace(), u.GetName()), err)
	}
	return out, nil
}

func objectRef(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// Get reads an ESO object (namespace "" for cluster-scoped ones).
func (c *Cluster) Get(ctx context.Context, gvr schema.GroupVersionResource, namespace, name string) (*unstructured.Unstructured, error) {
	if namespace == "" {
		return c.Dynamic.Resource(gvr).Get(ctx, name, metav1.GetOptions{})
	}
	return c.Dynamic.Resource(gvr).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
}

// Ready returns whether obj's status has condition Ready=True, and its reason and message.
func Ready(obj *unstructured.Unstructured) (bool, string) { return Condition(obj, "Ready") }

// Condition returns whether obj's status has condition typ=True, and its reason and message.
func Condition(obj *unstructured.Unstructured, typ string) (bool, string) {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			return m["status"] == "True", fmt.Sprintf("%v: %v", m["reason"], m["message"])
		}
	}
	return false, "no " + typ + " condition yet"
}

// ControllerOf returns the owner reference of refs with controller: true, if any.
func ControllerOf(refs []metav1.OwnerReference) *metav1.OwnerReference {
	for i := range refs {
		if refs[i].Controller != nil && *refs[i].Controller {
			return &refs[i]
		}
	}
	return nil
}

// Wait calls check every Poll until it reports done, fails, or timeout passes; the last
// state check reported is in the timeout error.
func (c *Cluster) Wait(ctx context.Context, timeout time.Duration, check func(context.Context) (bool, string, error)) error {
	interval := c.Poll
	if interval <= 0 {
		interval = 100 * time.Millisecond
	}
	deadline := time.Now().Add(timeout)
	for {
		done, state, err := check(ctx)
		switch {
		case err != nil:
			return err
		case done:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("%w after %s: %s", ErrWaitTimeout, timeout, state)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// PatchSecretMeta changes a Secret's metadata only, with a JSON merge patch that carries the
// resourceVersion read before (a concurrent change makes it fail with a conflict): annotations
// and labels set (a nil value removes one), and, when owners is not nil, the owner references
// replaced by it. With dryRun the server validates without storing.
func (c *Cluster) PatchSecretMeta(ctx context.Context, namespace, name, resourceVersion string, annotations, labels map[string]*string, owners []metav1.OwnerReference, dryRun bool) error {
	meta := map[string]any{"resourceVersion": resourceVersion}
	if len(annotations) > 0 {
		meta["annotations"] = annotations
	}
	if len(labels) > 0 {
		meta["labels"] = labels
	}
	if owners != nil {
		meta["ownerReferences"] = owners
	}
	b, err := json.Marshal(map[string]any{"metadata": meta})
	if err != nil {
		return err
	}
	opts := metav1.PatchOptions{FieldManager: fieldManager}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if _, err := c.Client.CoreV1().Secrets(namespace).Patch(ctx, name, types.MergePatchType, b, opts); err != nil {
		return fmt.Errorf("patch secret %s/%s metadata: %w", namespace, name, err)
	}
	return nil
}

// DeleteOrphaning deletes an ExternalSecret (or, with gvr, a SealedSecret) with propagationPolicy
// Orphan: the garbage collector removes the owner reference from the Secret it made before the
// object goes, so the Secret stays. A plain delete (background propagation) would delete that
// Secret too.
func (c *Cluster) DeleteOrphaning(ctx context.Context, gvr schema.GroupVersionResource, namespace, name string, dryRun bool) error {
	orphan := metav1.DeletePropagationOrphan
	opts := metav1.DeleteOptions{PropagationPolicy: &orphan}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	err := c.Dynamic.Resource(gvr).Namespace(namespace).Delete(ctx, name, opts)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete %s %s/%s (orphaning its Secret): %w", gvr.Resource, namespace, name, err)
	}
	return nil
}

// SecretsAnnotated lists the names of the Secrets in namespace that carry annotation key.
func (c *Cluster) SecretsAnnotated(ctx context.Context, namespace, key string) ([]string, error) {
	var names []string
	err := listPages(ctx, metav1.ListOptions{}, c.Client.CoreV1().Secrets(namespace).List,
		func() { names = nil },
		func(page *corev1.SecretList) {
			for _, s := range page.Items {
				if _, ok := s.Annotations[key]; ok {
					names = append(names, s.Name)
				}
			}
		})
	if err != nil {
		return nil, fmt.Errorf("list secrets in %s: %w", namespace, err)
	}
	sort.Strings(names)
	return names, nil
}
