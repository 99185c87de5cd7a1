package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// What a rotation does in the cluster once a store holds a Secret's new values: have External
// Secrets Operator write them into the Secret now (ForceSyncExternalSecrets, then WaitSecret),
// and restart the workloads that read the Secret (RestartConsumers, then WaitRollout). Every
// function here handles names only; none reads, logs or returns a Secret's values.

// ForceSyncAnnotation is the ExternalSecret annotation ESO's documentation uses to trigger a
// refresh (`kubectl annotate es my-es force-sync=$(date +%s) --overwrite`). The name carries no
// meaning to ESO: its controller refreshes an ExternalSecret whose labels or annotations
// changed since it last synced.
const ForceSyncAnnotation = "force-sync"

// RestartedAtAnnotation is the pod template annotation `kubectl rollout restart` sets; changing
// the pod template makes the workload's controller replace its pods.
const RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// fieldManager names secretshift in the managedFields of what it patches.
const fieldManager = "secretshift"

// ExternalSecretResource is the ExternalSecret resource ForceSyncExternalSecrets reads.
var ExternalSecretResource = schema.GroupVersionResource{Group: "external-secrets.io", Version: "v1", Resource: "externalsecrets"}

// ErrWaitTimeout is wrapped by the errors of WaitSecret and WaitRollout when their timeout
// passed before the wait was over.
var ErrWaitTimeout = errors.New("timed out")

// pollInterval is how often WaitSecret and WaitRollout read what they wait for.
var pollInterval = time.Second

// requestGrace is how long past a wait's timeout its last reads may take.
const requestGrace = 10 * time.Second

// progressDeadlineExceeded is the reason of a Deployment's Progressing condition once its
// rollout exceeded spec.progressDeadlineSeconds (deploymentutil.TimedOutReason in kubectl).
const progressDeadlineExceeded = "ProgressDeadlineExceeded"

// ForceSyncExternalSecrets annotates every ExternalSecret (external-secrets.io/v1) in namespace
// whose target is the Secret secretName, so that ESO reads the store again and rewrites the
// Secret now rather than at its next refresh interval. The target is spec.target.name, or the
// ExternalSecret's own name when that is empty, as ESO resolves it; an ExternalSecret whose
// target is not a Secret (spec.target.manifest) is left alone.
//
// The annotation is ForceSyncAnnotation with at in RFC 3339 form, to the nanosecond (two
// rotations within one second must still differ), set with a JSON merge patch that keeps the
// other annotations. An ExternalSecret that already carries that exact value is not patched
// again (a retry) but is returned.
//
// It returns the names of the ExternalSecrets annotated, sorted, also with an error (those
// annotated before it). When the ExternalSecret API is
// not served (ESO not installed) or none targets the Secret, it returns none and no error.
//
// ESO refreshes on a metadata change only when its refresh policy allows: an ExternalSecret
// with refreshPolicy CreatedOnce, or Periodic with refreshInterval 0 that synced before, is
// annotated but not refreshed; WaitSecret then times out.
func ForceSyncExternalSecrets(ctx context.Context, dyn dynamic.Interface, namespace, secretName string, at time.Time) ([]string, error) {
	if namespace == "" || secretName == "" {
		return nil, errors.New("force-sync external secrets: namespace and secret name are required")
	}
	client := dyn.Resource(ExternalSecretResource).Namespace(namespace)
	targeting, err := externalSecretsTargeting(ctx, client, namespace, secretName)
	if err != nil {
		return nil, err
	}
	value := at.UTC().Format(time.RFC3339Nano)
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{ForceSyncAnnotation: value}}})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(targeting, func(a, b *unstructured.Unstructured) int { return strings.Compare(a.GetName(), b.GetName()) })
	var names []string
	for _, es := range targeting {
		if es.GetAnnotations()[ForceSyncAnnotation] != value {
			_, err := client.Patch(ctx, es.GetName(), types.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager})
			if err != nil {
				return names, fmt.Errorf("annotate externalsecret %s/%s: %w", namespace, es.GetName(), err)
			}
		}
		names = append(names, es.GetName())
	}
	return names, nil
}

// externalSecretsTargeting lists the ExternalSecrets of namespace whose target is the Secret
// secretName; none when the API server does not serve the resource (ESO not installed).
func externalSecretsTargeting(ctx context.Context, client dynamic.ResourceInterface, namespace, secretName string) ([]*unstructured.Unstructured, error) {
	var targeting []*unstructured.Unstructured
	err := listPages(ctx, metav1.ListOptions{}, client.List,
		func() { targeting = nil },
		func(page *unstructured.UnstructuredList) {
			for i := range page.Items {
				if es := &page.Items[i]; externalSecretTarget(es) == secretName {
					targeting = append(targeting, es)
				}
			}
		})
	switch {
	case apierrors.IsNotFound(err):
		// The API server does not serve the resource: no ExternalSecret can exist.
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("list externalsecrets in namespace %s: %w", namespace, err)
	}
	return targeting, nil
}

// ExternalSecretsThatWillNotRefresh returns, for each ExternalSecret of namespace that makes
// the Secret secretName but would not write new store values into it when force-synced, why
// not, as ESO's controller decides it: refreshPolicy CreatedOnce, or Periodic with
// refreshInterval 0, once the ExternalSecret has synced; target.immutable (ESO leaves an
// immutable Secret alone); creationPolicy None (ESO writes no Secret). A rotation that
// restarts consumers checks this before it changes anything.
func ExternalSecretsThatWillNotRefresh(ctx context.Context, dyn dynamic.Interface, namespace, secretName string) ([]string, error) {
	if namespace == "" || secretName == "" {
		return nil, errors.New("check external secrets: namespace and secret name are required")
	}
	targeting, err := externalSecretsTargeting(ctx, dyn.Resource(ExternalSecretResource).Namespace(namespace), namespace, secretName)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(targeting, func(a, b *unstructured.Unstructured) int { return strings.Compare(a.GetName(), b.GetName()) })
	var out []string
	for _, es := range targeting {
		if why := wontRefresh(es); why != "" {
			out = append(out, "ExternalSecret "+namespace+"/"+es.GetName()+": "+why)
		}
	}
	return out, nil
}

// wontRefresh says why ESO would not rewrite es's Secret on a force-sync, or "".
func wontRefresh(es *unstructured.Unstructured) string {
	str := func(path ...string) string { v, _, _ := unstructured.NestedString(es.Object, path...); return v }
	synced := str("status", "syncedResourceVersion") != ""
	if immutable, _, _ := unstructured.NestedBool(es.Object, "spec", "target", "immutable"); immutable {
		return "spec.target.immutable is true, so ESO does not update the Secret it made; make it false, or recreate the Secret after the rotation"
	}
	if str("spec", "target", "creationPolicy") == "None" {
		return "spec.target.creationPolicy is None, so ESO does not write the Secret"
	}
	switch policy := str("spec", "refreshPolicy"); {
	case policy == "CreatedOnce" && synced:
		return "spec.refreshPolicy is CreatedOnce, so ESO wrote the Secret once and does not refresh it (a force-sync included); set it to OnChange or Periodic"
	case (policy == "" || policy == "Periodic") && synced:
		if iv := str("spec", "refreshInterval"); iv != "" {
			if d, err := time.ParseDuration(iv); err == nil && d <= 0 {
				return "spec.refreshInterval is " + iv + ", so ESO does not refresh the Secret once it synced (a force-sync included); set an interval, or refreshPolicy OnChange"
			}
		}
	}
	return ""
}

// externalSecretTarget returns the name of the Secret an ExternalSecret writes, or "" when its
// target is another kind of object.
func externalSecretTarget(es *unstructured.Unstructured) string {
	if m, _, _ := unstructured.NestedFieldNoCopy(es.Object, "spec", "target", "manifest"); m != nil {
		return ""
	}
	if name, _, _ := unstructured.NestedString(es.Object, "spec", "target", "name"); name != "" {
		return name
	}
	return es.GetName()
}

// WaitSecret reads the Secret namespace/name every second until done returns true for it,
// and returns nil then. A Secret that does not exist yet is waited for. It fails at once when
// the Secret may not be read (forbidden, unauthorized), and with an error wrapping
// ErrWaitTimeout when timeout passes first (timeout <= 0 waits as long as ctx lasts). Errors
// name the Secret, never its values; done must not print them either.
func WaitSecret(ctx context.Context, cs kubernetes.Interface, namespace, name string, done func(*corev1.Secret) bool, timeout time.Duration) error {
	state := "not read yet"
	err := poll(ctx, timeout, func(ctx context.Context) (bool, error) {
		s, err := cs.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			state = "it does not exist"
			return false, nil
		case permanent(err):
			return false, fmt.Errorf("wait for secret %s/%s: %w", namespace, name, err)
		case err != nil:
			state = "last read failed: " + err.Error()
			return false, nil
		case done(s):
			return true, nil
		}
		state = "resourceVersion " + s.ResourceVersion + " is not the one waited for"
		return false, nil
	})
	if errors.Is(err, ErrWaitTimeout) {
		return fmt.Errorf("wait for secret %s/%s: not updated after %s (%s): %w", namespace, name, timeout, state, err)
	}
	return err
}

// Restarted is a workload RestartConsumers restarted.
type Restarted struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// String returns Kind namespace/name.
func (r Restarted) String() string { return r.Kind + " " + r.Namespace + "/" + r.Name }

// RestartConsumers restarts, as `kubectl rollout restart` does, the Deployments, StatefulSets
// and DaemonSets of namespace whose pod template uses the Secret secretName in any way discover
// reports (env, envFrom, secret and projected volumes, imagePullSecrets, its ServiceAccount's
// imagePullSecrets): it sets RestartedAtAnnotation on the pod template to at in RFC 3339 form
// with a strategic merge patch, which keeps the template's other annotations. No other object
// is changed.
//
// Only those three kinds are restarted. A CronJob's or Job's pods read the Secret when they
// start, so the next run gets the new values; a bare Pod has no controller to replace it, and
// ReplicaSets are their Deployment's. A Deployment, StatefulSet or DaemonSet owned by another
// controller (an operator's custom resource) is restarted itself, since it is what replaces the
// pods, though discover names its owner as the consumer.
//
// As kubectl does, a paused Deployment is not restarted; that is an error, and the others are
// restarted all the same. A workload whose template already has at as restartedAt (a retry) is
// not patched again but is returned. RFC 3339 has whole seconds: a second restart within the
// same second as the first changes nothing.
//
// It returns what it restarted, sorted by kind and name, also when the error is not nil, so
// that the caller can wait for those (WaitRollout). Reading which workloads consume the Secret
// lists Deployments, StatefulSets, DaemonSets and ServiceAccounts, not Secrets.
func RestartConsumers(ctx context.Context, cs kubernetes.Interface, namespace, secretName string, at time.Time) ([]Restarted, error) {
	if namespace == "" || secretName == "" {
		return nil, errors.New("restart consumers: namespace and secret name are required")
	}
	consumers, err := restartableConsumers(ctx, cs, namespace, secretName)
	if err != nil {
		return nil, err
	}
	value := at.Format(time.RFC3339)
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{RestartedAtAnnotation: value}}}}})
	if err != nil {
		return nil, err
	}
	var out []Restarted
	var errs []error
	for _, c := range consumers {
		r := Restarted{Kind: c.Kind, Namespace: namespace, Name: c.Name}
		if err := restart(ctx, cs, r, value, patch); err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// restartableKinds are the kinds RestartConsumers restarts.
var restartableKinds = []string{KindDeployment, KindStatefulSet, KindDaemonSet}

// restartableConsumers returns the Deployments, StatefulSets and DaemonSets of namespace that
// use secretName, found by the listing and the consumer search discover uses.
func restartableConsumers(ctx context.Context, cs kubernetes.Interface, namespace, secretName string) ([]Consumer, error) {
	l := &clusterLister{c: cs, ns: namespace, base: metav1.ListOptions{Limit: DefaultPageSize}}
	var workloads []Workload
	for _, k := range l.workloadListers() {
		// ServiceAccounts for the imagePullSecrets a pod template inherits from its account.
		if !slices.Contains(restartableKinds, k.kind) && k.kind != KindServiceAccount {
			continue
		}
		ws, err := k.list(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s in namespace %s: %w", k.resource, namespace, err)
		}
		for i := range ws {
			// Each is the consumer to restart, not the custom resource that may own it.
			ws[i].Controller = nil
		}
		workloads = append(workloads, ws...)
	}
	// The Secret exists (it was just rotated); its keys are not needed to find its consumers.
	ref := namespace + "/" + secretName
	byRef, _ := findConsumers(workloads, secretIndex{ref: nil})
	return slices.DeleteFunc(byRef[ref], func(c Consumer) bool { return !slices.Contains(restartableKinds, c.Kind) }), nil
}

// restart patches the pod template of one workload unless it already has value.
func restart(ctx context.Context, cs kubernetes.Interface, r Restarted, value string, patch []byte) error {
	var (
		annotations map[string]string
		err         error
		apply       func(context.Context, string, types.PatchType, []byte, metav1.PatchOptions, ...string) error
	)
	apps := cs.AppsV1()
	switch r.Kind {
	case KindDeployment:
		var d *appsv1.Deployment
		if d, err = apps.Deployments(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{}); err == nil {
			if d.Spec.Paused {
				return fmt.Errorf("restart %s: the deployment is paused (run kubectl rollout resume first)", r)
			}
			annotations = d.Spec.Template.Annotations
		}
		apply = patchFunc(apps.Deployments(r.Namespace).Patch)
	case KindStatefulSet:
		var s *appsv1.StatefulSet
		if s, err = apps.StatefulSets(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{}); err == nil {
			annotations = s.Spec.Template.Annotations
		}
		apply = patchFunc(apps.StatefulSets(r.Namespace).Patch)
	case KindDaemonSet:
		var d *appsv1.DaemonSet
		if d, err = apps.DaemonSets(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{}); err == nil {
			annotations = d.Spec.Template.Annotations
		}
		apply = patchFunc(apps.DaemonSets(r.Namespace).Patch)
	default:
		return fmt.Errorf("restart %s: kind not supported", r)
	}
	if err != nil {
		return fmt.Errorf("restart %s: %w", r, err)
	}
	if annotations[RestartedAtAnnotation] == value {
		return nil
	}
	if err := apply(ctx, r.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("restart %s: %w", r, err)
	}
	return nil
}

// patchFunc drops the object a typed client's Patch returns.
func patchFunc[T any](p func(context.Context, string, types.PatchType, []byte, metav1.PatchOptions, ...string) (T, error)) func(context.Context, string, types.PatchType, []byte, metav1.PatchOptions, ...string) error {
	return func(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, sub ...string) error {
		_, err := p(ctx, name, pt, data, opts, sub...)
		return err
	}
}

// WaitRollout waits until the rollout of every workload in restarted is complete, judged as
// `kubectl rollout status` judges it (k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go):
//
//   - Deployment: status.observedGeneration >= metadata.generation, updatedReplicas >=
//     spec.replicas, no old replicas left (status.replicas <= updatedReplicas) and
//     availableReplicas >= updatedReplicas. A Progressing condition with reason
//     ProgressDeadlineExceeded fails it.
//   - StatefulSet (RollingUpdate only): observedGeneration as above, readyReplicas >=
//     spec.replicas, and updatedReplicas >= spec.replicas - partition; without a partition also
//     currentRevision == updateRevision, which the StatefulSet controller sets once every pod
//     runs the new revision.
//   - DaemonSet (RollingUpdate only): observedGeneration as above, updatedNumberScheduled and
//     numberAvailable >= desiredNumberScheduled.
//
// A StatefulSet or DaemonSet with the OnDelete strategy, whose pods are replaced only when
// deleted, fails as kubectl fails it, and so does a workload that no longer exists. Those fail
// without stopping the wait for the others. When timeout passes (timeout <= 0: as long as ctx
// lasts) the error wraps ErrWaitTimeout and names every workload not rolled out, with its
// status in kubectl's words.
func WaitRollout(ctx context.Context, cs kubernetes.Interface, restarted []Restarted, timeout time.Duration) error {
	pending := slices.Clone(restarted)
	status := make(map[Restarted]string, len(pending))
	var failed []error
	err := poll(ctx, timeout, func(ctx context.Context) (bool, error) {
		pending = slices.DeleteFunc(pending, func(r Restarted) bool {
			msg, done, err := rolloutStatus(ctx, cs, r)
			switch {
			case err != nil:
				failed = append(failed, err)
				return true
			case done:
				return true
			}
			status[r] = msg
			return false
		})
		return len(pending) == 0, nil
	})
	if errors.Is(err, ErrWaitTimeout) {
		var b strings.Builder
		for i, r := range pending {
			if i > 0 {
				b.WriteString("; ")
			}
			msg := status[r]
			if msg == "" {
				msg = "not read before the timeout"
			}
			fmt.Fprintf(&b, "%s: %s", r, msg)
		}
		err = fmt.Errorf("rollout not finished after %s: %s: %w", timeout, b.String(), err)
	}
	return errors.Join(append(failed, err)...)
}

// rolloutStatus reads one workload and says whether its rollout is complete. An error means the
// rollout cannot complete; a failed read that may succeed next time is only a message.
func rolloutStatus(ctx context.Context, cs kubernetes.Interface, r Restarted) (string, bool, error) {
	var (
		msg    string
		done   bool
		err    error // from the status: the rollout cannot complete
		getErr error
	)
	apps := cs.AppsV1()
	switch r.Kind {
	case KindDeployment:
		var d *appsv1.Deployment
		if d, getErr = apps.Deployments(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{}); getErr == nil {
			msg, done, err = deploymentRolloutStatus(d)
		}
	case KindStatefulSet:
		var s *appsv1.StatefulSet
		if s, getErr = apps.StatefulSets(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{}); getErr == nil {
			msg, done, err = statefulSetRolloutStatus(s)
		}
	case KindDaemonSet:
		var d *appsv1.DaemonSet
		if d, getErr = apps.DaemonSets(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{}); getErr == nil {
			msg, done, err = daemonSetRolloutStatus(d)
		}
	default:
		return "", false, fmt.Errorf("rollout of %s: kind not supported", r)
	}
	switch {
	case getErr != nil && (apierrors.IsNotFound(getErr) || permanent(getErr)):
		return "", false, fmt.Errorf("rollout of %s: %w", r, getErr)
	case getErr != nil:
		return "last read failed: " + getErr.Error(), false, nil
	case err != nil:
		return "", false, fmt.Errorf("rollout of %s: %w", r, err)
	}
	return msg, done, nil
}

// generationObserved is kubectl's test that a workload's controller saw its latest spec.
func generationObserved(generation, observed int64) bool { return generation <= observed }

func replicasOrOne(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// deploymentRolloutStatus is kubectl's DeploymentStatusViewer.Status, without revisions.
func deploymentRolloutStatus(d *appsv1.Deployment) (string, bool, error) {
	if !generationObserved(d.Generation, d.Status.ObservedGeneration) {
		return "waiting for the deployment spec update to be observed", false, nil
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == progressDeadlineExceeded {
			return "", false, errors.New("the deployment exceeded its progress deadline")
		}
	}
	st, want := d.Status, replicasOrOne(d.Spec.Replicas)
	switch {
	case st.UpdatedReplicas < want:
		return fmt.Sprintf("%d out of %d new replicas have been updated", st.UpdatedReplicas, want), false, nil
	case st.Replicas > st.UpdatedReplicas:
		return fmt.Sprintf("%d old replicas are pending termination", st.Replicas-st.UpdatedReplicas), false, nil
	case st.AvailableReplicas < st.UpdatedReplicas:
		return fmt.Sprintf("%d of %d updated replicas are available", st.AvailableReplicas, st.UpdatedReplicas), false, nil
	}
	return "successfully rolled out", true, nil
}

// statefulSetRolloutStatus is kubectl's StatefulSetStatusViewer.Status, with the revision check
// for an unpartitioned rolling update.
func statefulSetRolloutStatus(s *appsv1.StatefulSet) (string, bool, error) {
	if s.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return "", false, errors.New("the statefulset uses the OnDelete update strategy: its pods are replaced only when deleted")
	}
	if s.Status.ObservedGeneration == 0 || !generationObserved(s.Generation, s.Status.ObservedGeneration) {
		return "waiting for the statefulset spec update to be observed", false, nil
	}
	st, want := s.Status, replicasOrOne(s.Spec.Replicas)
	if st.ReadyReplicas < want {
		return fmt.Sprintf("waiting for %d pods to be ready", want-st.ReadyReplicas), false, nil
	}
	var partition int32
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = *ru.Partition
	}
	if st.UpdatedReplicas < want-partition {
		return fmt.Sprintf("%d out of %d new pods have been updated", st.UpdatedReplicas, want-partition), false, nil
	}
	if partition == 0 && st.UpdateRevision != st.CurrentRevision {
		return fmt.Sprintf("waiting for the rolling update to complete: %d pods at revision %s", st.UpdatedReplicas, st.UpdateRevision), false, nil
	}
	return "successfully rolled out", true, nil
}

// daemonSetRolloutStatus is kubectl's DaemonSetStatusViewer.Status.
func daemonSetRolloutStatus(d *appsv1.DaemonSet) (string, bool, error) {
	if d.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType {
		return "", false, errors.New("the daemonset uses the OnDelete update strategy: its pods are replaced only when deleted")
	}
	if !generationObserved(d.Generation, d.Status.ObservedGeneration) {
		return "waiting for the daemonset spec update to be observed", false, nil
	}
	st := d.Status
	switch {
	case st.UpdatedNumberScheduled < st.DesiredNumberScheduled:
		return fmt.Sprintf("%d out of %d new pods have been updated", st.UpdatedNumberScheduled, st.DesiredNumberScheduled), false, nil
	case st.NumberAvailable < st.DesiredNumberScheduled:
		return fmt.Sprintf("%d of %d updated pods are available", st.NumberAvailable, st.DesiredNumberScheduled), false, nil
	}
	return "successfully rolled out", true, nil
}

// permanent reports whether a failed request will fail the same way when repeated.
func permanent(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || apierrors.IsBadRequest(err) ||
		apierrors.IsInvalid(err) || apierrors.IsMethodNotSupported(err) || apierrors.IsNotAcceptable(err)
}

// poll calls check now and then every pollInterval until it reports done or fails, ctx ends
// (its error is returned) or timeout passes (an error wrapping ErrWaitTimeout); timeout <= 0
// leaves the end to ctx. The last check is made when timeout passes. A check's reads are not
// cut short by the timeout, only by ctx or requestGrace after the timeout, so that what the
// timeout error reports is what was read, not a cancelled request.
func poll(ctx context.Context, timeout time.Duration, check func(context.Context) (bool, error)) error {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		cctx, cancel := ctx, context.CancelFunc(func() {})
		if timeout > 0 {
			cctx, cancel = context.WithTimeout(ctx, max(time.Until(deadline), 0)+requestGrace)
		}
		done, err := check(cctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case done:
			return nil
		case err != nil:
			return err
		}
		wait := pollInterval
		if timeout > 0 {
			left := time.Until(deadline)
			if left <= 0 {
				return ErrWaitTimeout
			}
			wait = min(wait, left)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
