package migrate

import (
	"context"
	"errors"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/job"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// NotMigratedReason is verify's reason for a Secret without a copy in the store, when the
// selection holds Secrets handed over by a cut-over and this one was not: it was never part of
// the migration (created after it, or left out), not lost from the store.
const NotMigratedReason = "not part of the migration: the store holds no copy, and it was not cut over"

// Verify re-checks a finished migration on its own: every planned target is read and compared
// with its source by keyed fingerprint. It writes nothing but the audit record of the check.
func Verify(ctx context.Context, plan *Plan, sources map[string]*kube.Secret, opts Options) (*Report, error) {
	opts.defaults()
	rep := &Report{APIVersion: PlanAPIVersion, Kind: VerifyReportKind, Job: plan.ID, RunID: opts.RunID, Provider: plan.Provider, Shard: plan.Source.Shard,
		Started: opts.Now().UTC(), Counts: map[Result]int{}}
	if err := checkAudit(plan); err != nil {
		return nil, err
	}
	results := job.NewResults[*ItemReport, Result](len(plan.Items), opts.progress())
	pipe, ctx := job.Start[*Item](ctx, opts.Recorder)
	defer pipe.Close()
	a := &applier{opts: opts, pipe: pipe}
	// After a cut-over, Secrets that were never migrated are expected to have no copy.
	cutOver := false
	for _, s := range sources {
		if s != nil && s.Annotations[providers.AnnotationCutover] != "" {
			cutOver = true
			break
		}
	}
	err := job.Each(ctx, plan.Items, opts.limits(), func(ctx context.Context, it *Item) error {
		r := &ItemReport{Namespace: it.Namespace, Name: it.Name, Target: it.Target, Planned: it.Action, Fingerprint: it.Fingerprint}
		s := sources[it.Ref()]
		var recErr error
		switch {
		case it.Action == ActionSkip:
			r.Result = ResultSkipped
		case s == nil:
			r.Result, r.Error = ResultFailed, "the source Secret no longer exists"
		default:
			st, err := opts.Provider.Read(ctx, *it.Target)
			var cause error
			switch {
			case errors.Is(err, providers.ErrNotFound) && cutOver && s.Annotations[providers.AnnotationCutover] == "":
				r.Result, r.Reason = ResultSkipped, NotMigratedReason
				results.Add(r, r.Result)
				return nil
			case errors.Is(err, providers.ErrNotFound) && otherStore(s, *it.Target):
				r.Result, r.Reason = ResultSkipped, "cut over from another store ("+s.Annotations[providers.AnnotationCutoverStore]+"), not from this one"
				results.Add(r, r.Result)
				return nil
			case errors.Is(err, providers.ErrNotFound):
				r.Result, r.Error, cause = ResultMissing, "nothing stored at the target", err
			case err != nil:
				r.Result, r.Error, cause = ResultFailed, err.Error(), err
			case sameContent(it, st, opts.Fingerprinter):
				r.Result, r.Verified, r.Version, r.Check = ResultVerified, true, st.Version, checkOf(st)
			default:
				r.Result, r.Version = ResultMismatch, st.Version
				r.Error = "stored content differs from the source (" + diffStored(it, st, opts.Fingerprinter) + ")"
				cause = job.ErrVerify
			}
			outcome := audit.OutcomeSuccess
			if !r.Verified {
				// The record's error text is the report's; the class comes from the cause.
				outcome, cause = audit.OutcomeFailure, job.Reported{Text: r.Error, Cause: cause}
			}
			recErr = a.record(ctx, audit.ActionVerifyCheck, outcome, it, s, r.Version, cause)
		}
		results.Add(r, r.Result)
		return recErr
	})
	rep.collect(results, opts)
	return rep, err
}

// otherStore reports whether s was cut over to a controller reading another store address than t.
func otherStore(s *kube.Secret, t providers.Target) bool {
	at := s.Annotations[providers.AnnotationCutoverStore]
	return s.Annotations[providers.AnnotationCutover] != "" && at != "" && at != t.String()
}
