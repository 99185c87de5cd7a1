package cutover

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/job"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/templates"
)

// runner hands the checked Secrets over, namespace by namespace.
type runner struct {
	opts    *Options
	journal *job.Journal
	h       *handler
	objs    *objects
}

// errStep marks a Secret's step that failed; the run goes on with the others.
type errStep struct {
	result Result
	err    error
}

func (e *errStep) Error() string { return e.err.Error() }
func (e *errStep) Unwrap() error { return e.err }

func (r *runner) handOver(ctx context.Context, todo []*item) error {
	objs := r.objs
	o := r.opts
	byNS := map[string][]*item{}
	for _, it := range todo {
		byNS[it.src.Namespace] = append(byNS[it.src.Namespace], it)
	}
	namespaces := make([]string, 0, len(byNS))
	for ns := range byNS {
		namespaces = append(namespaces, ns)
	}
	sort.Strings(namespaces)

	for _, sa := range objs.serviceAccounts {
		if _, err := o.Cluster.Apply(ctx, sa.gvr, sa.obj, o.DryRun); err != nil {
			return err
		}
	}
	// The stores first, each Ready before its ExternalSecrets: an ExternalSecret applied before
	// its store only logs "store not found" until the next retry.
	storeErr := map[string]error{}
	for _, s := range objs.stores {
		began := time.Now()
		err := r.applyStore(ctx, s)
		o.Logger.Info("store applied", "kind", s.typed.Kind, "namespace", s.typed.Metadata.Namespace, "name", s.typed.Metadata.Name, "took", time.Since(began).Round(time.Millisecond), "error", err)
		if err != nil {
			if errors.Is(err, job.ErrAudit) || ctx.Err() != nil {
				return err
			}
			storeErr[s.typed.Metadata.Namespace] = err
		}
	}
	for _, ns := range namespaces {
		items := byNS[ns]
		var progress job.Progress
		if o.Progress != nil {
			progress = o.Progress(ns)
		}
		results := job.NewResults[*item, Result](len(items), progress)
		err := job.Each(ctx, items, o.Limits, func(ctx context.Context, it *item) error {
			it.started = time.Now()
			serr := storeErr[ns]
			if serr == nil {
				serr = storeErr[""]
			}
			var err error
			if serr != nil {
				err = &errStep{ResultFailed, fmt.Errorf("store not ready: %w", serr)}
			} else {
				err = r.one(ctx, it)
			}
			var es *errStep
			switch {
			case err == nil:
			case errors.As(err, &es):
				it.report.Result, it.report.Reason = es.result, es.err.Error()
			default:
				return err // the audit log failed, or the run was cancelled
			}
			it.report.Duration = time.Since(it.started).Round(time.Millisecond).String()
			results.Add(it, it.report.Result)
			return nil
		})
		o.Logger.Info("namespace handed over", "namespace", ns, "secrets", len(items), "adopted", results.Count(ResultAdopted))
		if f, ok := progress.(interface{ Finish() }); ok {
			f.Finish()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// applyStore applies a SecretStore (or the ClusterSecretStore) and waits until it is Ready.
func (r *runner) applyStore(ctx context.Context, so object[templates.SecretStore]) error {
	o := r.opts
	s, gvr := so.typed, so.gvr
	ev := audit.Event{Action: ActionStore, Target: &audit.StoreTarget{Provider: o.Provider.Name()},
		Details: map[string]string{"kind": s.Kind, "namespace": s.Metadata.Namespace, "name": s.Metadata.Name, "dry_run": fmt.Sprint(o.DryRun)}}
	if err := r.step(ctx, ev, func() error {
		if _, err := o.Cluster.Apply(ctx, gvr, so.obj, o.DryRun); err != nil {
			return err
		}
		if o.DryRun {
			return nil
		}
		return o.Cluster.Wait(ctx, o.Timeout, func(ctx context.Context) (bool, string, error) {
			got, err := o.Cluster.Get(ctx, gvr, s.Metadata.Namespace, s.Metadata.Name)
			if err != nil {
				return false, err.Error(), nil
			}
			ok, msg := kube.Ready(got)
			return ok, s.Kind + " " + s.Metadata.Name + " not Ready: " + msg, nil
		})
	}); err != nil {
		return err
	}
	return nil
}

// step records ev's intent, runs act, and records its outcome.
func (r *runner) step(ctx context.Context, ev audit.Event, act func() error) error {
	ev.Outcome = audit.OutcomeAttempt
	if err := record(ctx, r.opts.Recorder, ev); err != nil {
		return err
	}
	err := act()
	ev.Outcome = audit.OutcomeSuccess
	if err != nil {
		ev.Outcome, ev.ErrorClass, ev.Error = audit.OutcomeFailure, job.Class(err), truncate(err.Error(), 2000)
	}
	if rerr := record(context.WithoutCancel(ctx), r.opts.Recorder, ev); rerr != nil {
		return rerr
	}
	return err
}

// one hands one Secret over: mark it for the controller if it needs that, apply the object that
// will own it, wait until the controller owns the Secret, compare, record provenance.
func (r *runner) one(ctx context.Context, it *item) error {
	o, h := r.opts, r.h
	s := it.src
	owner := r.objs.owners[s.Ref()]
	obj, ownerName := owner.obj, owner.typed
	it.report.Owner = h.kind + "/" + ownerName
	key := job.Key{Ref: s.Ref(), Target: it.target.String(), Fingerprint: it.fp}
	base := audit.Event{
		Source: &audit.Source{Cluster: o.Cluster.Server, Namespace: s.Namespace, Name: s.Name, UID: s.UID},
		Target: &audit.StoreTarget{Provider: it.target.Provider, Address: it.target.Address},
		Keys:   s.Data.Keys(),
	}
	withDetails := func(action string, d map[string]string) audit.Event {
		ev := base
		ev.Action = action
		ev.Details = map[string]string{"fingerprint": it.fp, "controller": h.controller, "owner": h.kind + "/" + ownerName, "dry_run": fmt.Sprint(o.DryRun)}
		for k, v := range d {
			ev.Details[k] = v
		}
		return ev
	}
	// 0. What the controller needs to see on the Secret before it takes it over.
	if len(h.adopt) > 0 && !hasAll(s.Annotations, h.adopt) {
		marks := map[string]*string{}
		for k, v := range h.adopt {
			marks[k] = &v
		}
		if err := r.step(ctx, withDetails(ActionMark, nil), func() error {
			return o.Cluster.PatchSecretMeta(ctx, s.Namespace, s.Name, s.ResourceVersion, marks, nil, nil, o.DryRun)
		}); err != nil {
			return asStep(ResultFailed, err)
		}
	}
	// 1. The owning object (an ExternalSecret with creationPolicy Owner, a SealedSecret): the
	// controller adopts the Secret in place.
	if err := r.step(ctx, withDetails(ActionApply, nil), func() error {
		_, err := o.Cluster.Apply(ctx, owner.gvr, obj, o.DryRun)
		return err
	}); err != nil {
		return asStep(ResultFailed, err)
	}
	if o.DryRun {
		// The provenance patch, validated by the server too.
		if err := o.Cluster.PatchSecretMeta(ctx, s.Namespace, s.Name, s.ResourceVersion, r.provenance(it), nil, nil, true); err != nil {
			return asStep(ResultFailed, err)
		}
		it.report.Result = ResultWouldAdopt
		return nil
	}
	r.journal.Mark(key, job.StateWritten, "")

	// 2. Wait until the owning object reports the Secret synced and controls it.
	var uid string
	if err := r.step(ctx, withDetails(ActionAdopt, nil), func() error {
		return o.Cluster.Wait(ctx, o.Timeout, func(ctx context.Context) (bool, string, error) {
			got, err := o.Cluster.Get(ctx, h.resource, s.Namespace, ownerName)
			if err != nil {
				return false, h.kind + ": " + err.Error(), nil
			}
			uid = string(got.GetUID())
			ready, msg := kube.Condition(got, h.condition)
			if !ready {
				return false, h.kind + " not " + h.condition + ": " + msg, nil
			}
			_, refs, err := o.Cluster.LiveSecret(ctx, s.Namespace, s.Name)
			if err != nil {
				if apierrors.IsNotFound(err) {
					return false, "", fmt.Errorf("the Secret is gone: %w", err)
				}
				return false, err.Error(), nil
			}
			ctl := kube.ControllerOf(refs)
			if ctl == nil || string(ctl.UID) != uid {
				return false, h.kind + " " + h.condition + " but the Secret has no ownerReference to it yet", nil
			}
			return true, "", nil
		})
	}); err != nil {
		return asStep(ResultFailed, err)
	}

	// 3. Compare the live Secret with the source: same UID, type, keys and bytes.
	var live *kube.Secret
	if err := r.step(ctx, withDetails(ActionVerify, nil), func() error {
		var err error
		if live, _, err = o.Cluster.LiveSecret(ctx, s.Namespace, s.Name); err != nil {
			return err
		}
		if live.UID != s.UID {
			return fmt.Errorf("%w: the Secret was replaced (uid %s, was %s)", job.ErrVerify, live.UID, s.UID)
		}
		if got := o.Fingerprinter.Set(live.EffectiveType(), live.Data); got != it.fp {
			return fmt.Errorf("%w: the Secret the %s owns differs from the source (fingerprint %s, want %s)", job.ErrVerify, h.what, got, it.fp)
		}
		return nil
	}); err != nil {
		if errors.Is(err, job.ErrVerify) {
			return asStep(ResultVerifyFailed, err)
		}
		return asStep(ResultFailed, err)
	}

	// 4. Provenance on the Secret, retried when ESO changed it meanwhile.
	if err := r.step(ctx, withDetails(ActionAnnotate, nil), func() error {
		rv := live.ResourceVersion
		for attempt := 0; ; attempt++ {
			err := o.Cluster.PatchSecretMeta(ctx, s.Namespace, s.Name, rv, r.provenance(it), nil, nil, false)
			if err == nil || !apierrors.IsConflict(err) || attempt == 5 {
				return err
			}
			again, _, gerr := o.Cluster.LiveSecret(ctx, s.Namespace, s.Name)
			if gerr != nil {
				return gerr
			}
			if o.Fingerprinter.Set(again.EffectiveType(), again.Data) != it.fp {
				return fmt.Errorf("%w: the Secret changed while its provenance was recorded", job.ErrVerify)
			}
			rv = again.ResourceVersion
		}
	}); err != nil {
		if errors.Is(err, job.ErrVerify) {
			return asStep(ResultVerifyFailed, err)
		}
		return asStep(ResultFailed, err)
	}
	r.journal.Mark(key, job.StateVerified, "")
	it.report.Result = ResultAdopted
	return nil
}

// provenance is the annotations recorded on a Secret handed over.
func (r *runner) provenance(it *item) map[string]*string {
	v := func(s string) *string { return &s }
	return map[string]*string{
		AnnotationCutover:        v(r.h.controller),
		AnnotationFingerprint:    v(it.fp),
		AnnotationFingerprintKey: v(r.opts.Fingerprinter.KeyID()),
		AnnotationStore:          v(it.target.String()),
		AnnotationRunID:          v(r.opts.RunID),
	}
}

// asStep keeps audit failures and cancellations as they are (they stop the run) and makes any
// other error the Secret's own result.
func asStep(result Result, err error) error {
	if errors.Is(err, job.ErrAudit) || errors.Is(err, context.Canceled) {
		return err
	}
	return &errStep{result, err}
}

// hasAll reports whether m holds every key of want with its value.
func hasAll(m, want map[string]string) bool {
	for k, v := range want {
		if m[k] != v {
			return false
		}
	}
	return true
}
