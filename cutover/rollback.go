package cutover

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/job"
	"github.com/secretshift/secretshift/kube"
)

// RollbackOptions configure a rollback.
type RollbackOptions struct {
	Cluster       *kube.Cluster
	Fingerprinter *audit.Fingerprinter
	Recorder      job.Recorder
	RunID         string
	DryRun        bool
	// Timeout bounds how long the garbage collector may take to release each Secret.
	Timeout time.Duration
}

// Rollback returns Secrets a cut-over handed to ESO (or the sealed-secrets controller) in
// namespace to plain Secrets: names, or every Secret there that carries AnnotationCutover when
// names is empty. For each, the ExternalSecret (SealedSecret) that controls it is deleted with
// propagationPolicy Orphan and Rollback waits until it is gone and the Secret's ownerReference
// released (the garbage collector does both); then the controller's labels and annotations and
// the provenance annotations are removed. The Secret keeps
// its UID and bytes; nothing deletes it. A Secret secretshift did not hand over is refused.
func Rollback(ctx context.Context, namespace string, names []string, o RollbackOptions) (*Report, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	rep := &Report{APIVersion: APIVersion, Kind: RollbackReportKind, RunID: o.RunID, DryRun: o.DryRun, Started: time.Now().UTC()}
	denied, err := o.Cluster.Denied(ctx, []kube.Access{
		{Namespace: namespace, Resource: "secrets", Verb: "get"},
		{Namespace: namespace, Resource: "secrets", Verb: "patch"},
	})
	if err != nil {
		return nil, err
	}
	if len(denied) > 0 {
		rep.Problems = denied
		rep.finish(nil)
		return rep, &PreconditionError{Problems: denied}
	}
	if len(names) == 0 {
		if names, err = o.Cluster.SecretsAnnotated(ctx, namespace, AnnotationCutover); err != nil {
			return nil, err
		}
	}
	var items []*item
	for _, name := range names {
		it := &item{report: &ItemReport{Namespace: namespace, Name: name}}
		items = append(items, it)
		err := releaseOne(ctx, namespace, name, it.report, &o)
		var es *errStep
		switch {
		case err == nil:
		case errors.As(err, &es):
			it.report.Result, it.report.Reason = es.result, es.err.Error()
		default:
			rep.finish(reports(items))
			return rep, err
		}
	}
	rep.finish(reports(items))
	return rep, nil
}

func releaseOne(ctx context.Context, ns, name string, rep *ItemReport, o *RollbackOptions) error {
	s, refs, err := o.Cluster.LiveSecret(ctx, ns, name)
	if err != nil {
		return &errStep{ResultRefused, err}
	}
	rep.UID, rep.Type, rep.Keys = s.UID, s.EffectiveType(), s.Data.Keys()
	if s.Annotations[AnnotationCutover] == "" {
		return &errStep{ResultRefused, fmt.Errorf("not handed over by secretshift (no %s annotation); left as it is", AnnotationCutover)}
	}
	fp := o.Fingerprinter.Set(s.EffectiveType(), s.Data)
	rep.Fingerprint, rep.Target = fp, s.Annotations[AnnotationStore]
	var ownerName string
	h, ctl := handlerOf(refs)
	if h != nil {
		ownerName = ctl.Name
	} else if h = handlerNamed(s.Annotations[AnnotationCutover]); h == nil {
		return &errStep{ResultRefused, fmt.Errorf("handed to an unknown controller %q", s.Annotations[AnnotationCutover])}
	}
	if denied, err := o.Cluster.Denied(ctx, []kube.Access{{Namespace: ns, Group: h.group, Resource: h.resource.Resource, Verb: "get"},
		{Namespace: ns, Group: h.group, Resource: h.resource.Resource, Verb: "delete"}}); err != nil || len(denied) > 0 {
		return &errStep{ResultRefused, fmt.Errorf("%s%v", strings.Join(denied, "; "), errOrNil(err))}
	}
	if ownerName != "" {
		rep.Owner = h.kind + "/" + ownerName
	}
	ev := audit.Event{Action: ActionRollback, Source: &audit.Source{Cluster: o.Cluster.Server, Namespace: ns, Name: name, UID: s.UID},
		Keys: s.Data.Keys(), Details: map[string]string{"fingerprint": fp, "controller": h.controller, "owner": h.kind + "/" + ownerName, "dry_run": fmt.Sprint(o.DryRun)}}
	r := &runner{opts: &Options{Recorder: o.Recorder}}
	err = r.step(ctx, ev, func() error {
		if ownerName != "" {
			if err := o.Cluster.DeleteOrphaning(ctx, h.resource, ns, ownerName, o.DryRun); err != nil {
				return err
			}
		}
		if o.DryRun {
			return o.Cluster.PatchSecretMeta(ctx, ns, name, s.ResourceVersion, releasedAnnotations(), releasedLabels(), withoutControllers(refs), true)
		}
		if ownerName != "" {
			if err := o.Cluster.Wait(ctx, o.Timeout, func(ctx context.Context) (bool, string, error) {
				_, err := o.Cluster.Get(ctx, h.resource, ns, ownerName)
				if err == nil {
					return false, "the " + h.kind + " " + ownerName + " is still there (orphaning waits for the garbage collector: does kube-controller-manager run?)", nil
				}
				if !apierrors.IsNotFound(err) {
					return false, err.Error(), nil
				}
				return true, "", nil
			}); err != nil {
				return err
			}
		}
		// The controller has let go (the owning object is gone): now its marks can go too
		// without it putting them back.
		for attempt := 0; ; attempt++ {
			live, refs, err := o.Cluster.LiveSecret(ctx, ns, name)
			if err != nil {
				return err
			}
			if got := o.Fingerprinter.Set(live.EffectiveType(), live.Data); got != fp || live.UID != s.UID {
				return fmt.Errorf("%w: the Secret changed during rollback", job.ErrVerify)
			}
			err = o.Cluster.PatchSecretMeta(ctx, ns, name, live.ResourceVersion, releasedAnnotations(), releasedLabels(), withoutControllers(refs), false)
			if err == nil || !apierrors.IsConflict(err) || attempt == 5 {
				return err
			}
		}
	})
	if err != nil {
		return asStep(ResultFailed, err)
	}
	if o.DryRun {
		rep.Result = ResultWouldRelease
		return nil
	}
	live, refs, err := o.Cluster.LiveSecret(ctx, ns, name)
	if err != nil {
		return &errStep{ResultFailed, err}
	}
	if len(withoutControllers(refs)) != len(refs) || o.Fingerprinter.Set(live.EffectiveType(), live.Data) != fp {
		return &errStep{ResultVerifyFailed, fmt.Errorf("after rollback the Secret is still owned by a %s or its bytes differ", h.kind)}
	}
	rep.Result = ResultReleased
	return nil
}

func releasedAnnotations() map[string]*string {
	m := map[string]*string{kube.ESOAnnotationDataHash: nil, kube.SealedManagedAnnotation: nil}
	for _, a := range provenanceAnnotations {
		m[a] = nil
	}
	return m
}

func releasedLabels() map[string]*string {
	return map[string]*string{kube.ESOLabelManaged: nil, kube.ESOLabelCreatedBy: nil}
}

// withoutControllers is refs without owner references to ExternalSecrets and SealedSecrets
// (never nil, so that a patch sets the list even when it becomes empty).
func withoutControllers(refs []metav1.OwnerReference) []metav1.OwnerReference {
	out := []metav1.OwnerReference{}
next:
	for _, r := range refs {
		for _, h := range handlers {
			if h.owns(r.APIVersion, r.Kind) {
				continue next
			}
		}
		out = append(out, r)
	}
	return out
}

// handlerNamed is the handler whose AnnotationCutover value is controller.
func handlerNamed(controller string) *handler {
	for _, h := range handlers {
		if h.controller == controller {
			return h
		}
	}
	return nil
}

func errOrNil(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
