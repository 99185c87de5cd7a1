package migrate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/job"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// ErrSourceChanged: the Secret differs from what the plan was made from.
var ErrSourceChanged error = classedError{"source changed since the plan was made", "source-changed"}

// classedError is a sentinel with its error class (job.Classed).
type classedError struct{ msg, class string }

func (e classedError) Error() string { return e.msg }
func (e classedError) Class() string { return e.class }

// Result is what happened to one item.
type Result string

const (
	ResultCreated   Result = "created"
	ResultUpdated   Result = "updated"
	ResultUnchanged Result = "unchanged"
	ResultSkipped   Result = "skipped"
	ResultConflict  Result = "conflict"
	ResultFailed    Result = "failed"
	// ResultDone: an earlier run of the same job already wrote and verified the item.
	ResultDone Result = "done-earlier"
	// ResultWouldCreate and ResultWouldUpdate are dry-run results.
	ResultWouldCreate Result = "would-create"
	ResultWouldUpdate Result = "would-update"
	// ResultVerified and ResultMismatch and ResultMissing are results of Verify.
	ResultVerified Result = "verified"
	ResultMismatch Result = "mismatch"
	ResultMissing  Result = "missing"
)

// Check is how a target was compared with its source.
type Check string

const (
	// CheckContent: the values were read back and compared byte by byte.
	CheckContent Check = "content"
	// CheckFingerprint: the values could not be read back; the keyed fingerprint the store
	// recorded at write time was compared instead.
	CheckFingerprint Check = "recorded-fingerprint"
)

// checkOf says how st was compared.
func checkOf(st *providers.Stored) Check {
	if st.Data == nil {
		return CheckFingerprint
	}
	return CheckContent
}

// ItemReport is the outcome for one Secret. It holds no values.
type ItemReport struct {
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	Target    *providers.Target `json:"target,omitempty"`
	Planned   Action            `json:"planned"`
	Result    Result            `json:"result"`
	Version   string            `json:"version,omitempty"`
	Verified  bool              `json:"verified"`
	// Check says how Verified was established: CheckContent (every byte read back and
	// compared) or CheckFingerprint (the store could not be read, e.g. a SOPS file without a
	// decryption key, and only the keyed fingerprint recorded at write time was compared).
	Check       Check  `json:"check,omitempty"`
	Fingerprint string `json:"fingerprint"`
	Reason      string `json:"reason,omitempty"`
	Error       string `json:"error,omitempty"`
}

// Report is the outcome of Apply or Verify.
type Report struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Job        string `json:"job"`
	RunID      string `json:"runID,omitempty"`
	Provider   string `json:"provider"`
	DryRun     bool   `json:"dryRun,omitempty"`
	// Shard is "I/N" when the run was shard I of N (the plan's Source.Shard).
	Shard    string         `json:"shard,omitempty"`
	Started  time.Time      `json:"started"`
	Duration string         `json:"duration"`
	Items    []*ItemReport  `json:"items"`
	Counts   map[Result]int `json:"counts"`
	// Resumed counts items an earlier run of the same job had finished.
	Resumed int `json:"resumed,omitempty"`
	// Problems lists why nothing was done when the run stopped before the first write (an
	// input that could not be read, a rejected plan).
	Problems []Problem `json:"problems,omitempty"`
	// Unrecorded counts items written to the store whose outcome did not reach the audit log
	// because it failed (the run then stopped). They are not in Items; the next run finds
	// them written, records that, and reports them.
	Unrecorded int `json:"unrecorded,omitempty"`
}

// collect fills r with the items of a finished run, in namespace/name order, and its duration.
func (r *Report) collect(results *job.Results[*ItemReport, Result], opts Options) {
	r.Items = results.Items(func(it *ItemReport) string { return it.Namespace + "/" + it.Name })
	r.Counts = results.Counts()
	r.Duration = opts.Now().Sub(r.Started).Round(time.Millisecond).String()
}

// Checked counts the verified items compared by check.
func (r *Report) Checked(check Check) int {
	n := 0
	for _, it := range r.Items {
		if it.Verified && it.Check == check {
			n++
		}
	}
	return n
}

// Failed reports whether any item failed, conflicted or did not verify.
func (r *Report) Failed() bool {
	return r.Counts[ResultFailed]+r.Counts[ResultConflict]+r.Counts[ResultMismatch]+r.Counts[ResultMissing] > 0
}

// Apply executes plan. sources must hold the current Secrets by namespace/name; each one's
// fingerprint must still match the plan. Every write is read back and compared before the item
// counts as done; the journal and the audit log record each step.
func Apply(ctx context.Context, plan *Plan, sources map[string]*kube.Secret, opts Options) (*Report, error) {
	opts.defaults()
	if err := plan.fits(opts.Provider, opts.Fingerprinter); err != nil {
		return nil, err
	}
	rep := &Report{APIVersion: PlanAPIVersion, Kind: ReportKind, Job: plan.ID, RunID: opts.RunID, Provider: plan.Provider, DryRun: opts.DryRun,
		Shard: plan.Source.Shard, Started: opts.Now().UTC(), Counts: map[Result]int{}}
	if err := checkAudit(plan); err != nil {
		return nil, err
	}

	var j *job.Journal
	if !opts.DryRun {
		var err error
		if j, err = job.OpenJournal(opts.JournalDir, plan.ID); err != nil {
			return nil, err
		}
		defer j.Close()
		if err := j.Begin(opts.RunID); err != nil {
			return nil, err
		}
	}
	results := job.NewResults[*ItemReport, Result](len(plan.Items), opts.progress())
	add := func(r *ItemReport) { results.Add(r, r.Result) }
	var rec job.Recorder
	if !opts.DryRun {
		rec = opts.Recorder
	}
	pipe, ctx := job.Start[*Item](ctx, rec)
	defer pipe.Close()
	a := &applier{opts: opts, journal: j, pipe: pipe, add: add}
	if runs := j.EarlierRuns(opts.RunID); len(runs) > 0 && opts.Earlier != nil {
		// A resumed job: what its earlier runs left on record decides which writes still need
		// naming as done (the journal alone can lag the audit log, or be cut by a crash).
		earlier, err := opts.Earlier(runs)
		if err != nil {
			opts.Logger.Warn("the audit log's record of earlier runs could not be read; relying on the journal", "error", err)
		}
		a.earlier = earlier
	}
	// Intents of the items the plan expects to write, recorded ahead in batches, each batch
	// made just before it is recorded. The background recorder reads only what no worker
	// changes (it encodes the keys for itself, never through it.keySet).
	var keys []*Item
	for _, it := range plan.Items {
		if it.read && (it.Action == ActionCreate || it.Action == ActionUpdate) {
			keys = append(keys, it)
		}
	}
	stopIntents := pipe.RecordIntents(ctx, keys, func(it *Item) audit.Event {
		ks, _ := it.encodeKeys() // checked: checkAudit
		return eventOf(audit.ActionMigrateWrite, audit.OutcomeAttempt, it, ks, sources[it.Ref()], it.Version, nil)
	})
	err := job.Each(ctx, plan.Items, opts.limits(), func(ctx context.Context, it *Item) error {
		if it.Action != ActionSkip {
			it.prepareAudit()
		}
		r, err := a.apply(ctx, it, sources[it.Ref()])
		// Its records hold their own reference to its encoded keys: the item lets go of it,
		// so that a large plan does not hold every item's until the end.
		it.keySet = nil
		if r != nil {
			add(r)
		}
		return err
	})
	stopIntents()
	// Every outcome record is durable before the report says anything is done.
	if aerr := pipe.Wait(ctx); aerr != nil {
		err = aerr
	} else if cause := context.Cause(ctx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	rep.collect(results, opts)
	plan.release()
	if fin, ok := opts.Provider.(providers.Finisher); ok && err == nil && !opts.DryRun {
		// An index of all targets (a kustomization.yaml), also after a run that wrote nothing,
		// so that a run after an interrupted one completes it.
		if ferr := fin.Finish(ctx); ferr != nil {
			err = fmt.Errorf("%s: %w", opts.Provider.Name(), ferr)
		}
	}
	rep.Resumed = results.Count(ResultDone)
	rep.Unrecorded = pipe.Unrecorded()
	if j != nil {
		if cerr := j.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	return rep, err
}

// applier applies the items of one plan through the job pipeline.
type applier struct {
	opts    Options
	journal *job.Journal
	// earlier is what the audit log holds of earlier runs of the job, by Secret (Options.Earlier).
	earlier map[string]EarlierRecord
	pipe    *job.Pipeline[*Item]
	// add reports a finished item.
	add func(*ItemReport)
	// unanswered counts the items in a row that failed without an answer from the store.
	unanswered atomic.Int32
}

// unansweredLimit is how many items in a row may fail without an answer from the store (every
// request reset, cut or timed out after the adapter's retries) before the run stops as if the
// store were busy: it is gone for now, and every further item would wait out its retries the
// same way. Twice the concurrency, so that the requests in flight when the store went away
// are not what stops a run through a short outage.
func (a *applier) unansweredLimit() int32 { return int32(max(8, 2*a.opts.Concurrency)) }

// countUnanswered counts an item that failed with err, and returns the error that stops the
// run once unansweredLimit items in a row got no answer.
func (a *applier) countUnanswered(err error) error {
	if !providers.NoAnswer(err) {
		a.unanswered.Store(0)
		return nil
	}
	if n := a.unanswered.Add(1); n >= a.unansweredLimit() {
		return &stoppedAnswering{n: n, err: err}
	}
	return nil
}

// stoppedAnswering stops a run whose store no longer answers; it is providers.ErrBusy.
type stoppedAnswering struct {
	n   int32
	err error
}

func (e *stoppedAnswering) Error() string {
	return fmt.Sprintf("the store stopped answering: %d Secrets in a row got no answer; the last: %v", e.n, e.err)
}
func (e *stoppedAnswering) Unwrap() []error { return []error{providers.ErrBusy, e.err} }

// key names it in the job's journal.
func key(it *Item) job.Key {
	k := job.Key{Ref: it.Ref(), Fingerprint: it.Fingerprint}
	if it.Target != nil {
		k.Target = it.Target.String()
	}
	return k
}

// recordThen records an outcome of it and calls then once the record is durable; settles says
// it is the final outcome of a write.
func (a *applier) recordThen(ctx context.Context, action string, outcome audit.Outcome, it *Item, s *kube.Secret, version string, cause error, details map[string]string, settles bool, then func()) {
	e := itemEvent(action, outcome, it, s, version, cause)
	for k, v := range details {
		if e.Details == nil {
			e.Details = map[string]string{}
		}
		e.Details[k] = v
	}
	a.pipe.RecordThen(ctx, e, settles, then)
}

// apply handles one item. A returned error stops the whole run (audit failure, cancellation);
// an item's own failure is reported in the ItemReport.
func (a *applier) apply(ctx context.Context, it *Item, s *kube.Secret) (*ItemReport, error) {
	a.pipe.Begin(it)
	r := &ItemReport{Namespace: it.Namespace, Name: it.Name, Target: it.Target, Planned: it.Action, Fingerprint: it.Fingerprint, Reason: it.Reason}
	p := a.opts.Provider

	if it.Action == ActionSkip {
		r.Result = ResultSkipped
		return r, a.record(ctx, audit.ActionMigrateSkip, audit.OutcomeSkipped, it, s, "", nil)
	}
	if s == nil {
		return a.fail(ctx, r, it, s, fmt.Errorf("%s: %w: the Secret no longer exists in the source", it.Ref(), ErrSourceChanged))
	}
	fp := s.MeasuredFingerprint()
	if s.Data != nil || fp == "" {
		fp = a.opts.Fingerprinter.Set(s.EffectiveType(), s.Data)
	}
	if fp != it.Fingerprint {
		return a.fail(ctx, r, it, s, fmt.Errorf("%s: %w\nmake a new plan", it.Ref(), ErrSourceChanged))
	}
	// A plan made in this process has just read the target; a saved plan reads it now.
	st, err := it.stored, error(nil)
	if !it.read {
		st, err = p.Read(ctx, *it.Target)
		if errors.Is(err, providers.ErrNotFound) {
			st, err = nil, nil
		}
		if err != nil {
			return a.fail(ctx, r, it, s, err)
		}
		// An earlier run of this plan finished the item, and the store still holds it. If the
		// store lost it since (deleted, changed), the item is decided again below.
		if _, ok := a.journal.Last(key(it)); ok && st != nil && st.Rewrite == "" && sameContent(it, st, a.opts.Fingerprinter) {
			r.Result, r.Version, r.Verified, r.Check = ResultDone, st.Version, true, checkOf(st)
			return r, nil
		}
	}
	action := ActionCreate
	expect := ""
	if st != nil {
		var reason, msg string
		action, reason, msg = decide(it, st, a.opts)
		expect = st.Version
		if action == ActionConflict {
			r.Result, r.Reason, r.Error = ResultConflict, reason, msg
			return r, a.record(ctx, audit.ActionMigrateConflict, audit.OutcomeFailure, it, s, st.Version, job.Reported{Text: msg, ClassName: reason, Cause: providers.ErrConflict})
		}
	}
	a.opts.Logger.Debug("decided", "secret", it.Ref(), "target", it.Target.String(), "action", action, "expect", expect)
	if action == ActionUnchanged {
		r.Result, r.Version, r.Verified, r.Check = ResultUnchanged, st.Version, true, checkOf(st)
		e, _ := a.journal.Last(key(it))
		prev := a.earlier[it.Ref()]
		earlier := !prev.Done && (prev.Intent || e.State == job.StateWritten ||
			(e.State != job.StateVerified && st.RunID != a.opts.RunID && a.journal.EarlierRun(st.RunID)))
		if earlier && !a.opts.DryRun {
			// An earlier run of this job wrote this entry and stopped before its outcome was on
			// record (a crash; its journal may not even have said "written", and a file store
			// records no run: its intent in the audit log says it): record now that it is there
			// and equal to the source. A write the audit log already names as done is not
			// named again, whatever the journal lost.
			a.recordThen(ctx, audit.ActionMigrateVerify, audit.OutcomeSuccess, it, s, st.Version, nil, map[string]string{"written_by_earlier_run": "true"}, false, func() {
				a.journal.Mark(key(it), job.StateVerified, st.Version)
				a.add(r)
			})
			return nil, nil
		}
		a.journal.Mark(key(it), job.StateVerified, st.Version)
		return r, nil
	}
	if a.opts.DryRun {
		r.Result = ResultWouldCreate
		if action == ActionUpdate {
			r.Result = ResultWouldUpdate
		}
		return r, nil
	}

	// A Secret read without its values (Options.LoadValues) gets them now, for its write only.
	data, err := a.values(ctx, it, s)
	if err != nil {
		return a.fail(ctx, r, it, s, err)
	}
	// Fail-closed: the intent is durable in the audit log before the store is touched.
	var version string
	err = a.pipe.Act(ctx, it, itemEvent(audit.ActionMigrateWrite, audit.OutcomeAttempt, it, s, expect, nil), func() error {
		a.opts.Logger.Debug("writing", "secret", it.Ref(), "target", it.Target.String(), "expect", expect)
		var werr error
		pl := providers.PayloadOf(s)
		pl.Data = data
		pl.Fingerprint, pl.FingerprintKeyID, pl.RunID = it.Fingerprint, a.opts.Fingerprinter.KeyID(), a.opts.RunID
		version, werr = p.Write(ctx, *it.Target, pl, expect)
		return werr
	})
	if errors.Is(err, job.ErrAudit) {
		return nil, err
	}
	if err != nil {
		if errors.Is(err, providers.ErrConflict) {
			if st, ok := a.landedMeanwhile(ctx, it, s); ok {
				return a.foundWritten(ctx, r, it, s, st)
			}
			r.Result, r.Error = ResultConflict, err.Error()
			return r, a.record(ctx, audit.ActionMigrateWrite, audit.OutcomeFailure, it, s, expect, err)
		}
		return a.fail(ctx, r, it, s, err)
	}
	a.unanswered.Store(0)
	a.journal.Mark(key(it), job.StateWritten, version)
	r.Version = version
	r.Result = ResultCreated
	if action == ActionUpdate {
		r.Result = ResultUpdated
	}
	// The item is reported (and, once verified, journaled as done) only when its outcome
	// records are durable.
	check, err := a.verify(ctx, it, s)
	a.opts.Logger.Debug("read back", "secret", it.Ref(), "target", it.Target.String(), "version", version, "check", check, "ok", err == nil)
	if err != nil {
		r.Result, r.Error = ResultFailed, err.Error()
		a.recordThen(ctx, audit.ActionMigrateWrite, audit.OutcomeSuccess, it, s, version, nil, nil, false, nil)
		a.recordThen(ctx, audit.ActionMigrateVerify, audit.OutcomeFailure, it, s, version, err, nil, true, func() {
			a.add(r)
		})
		return nil, nil
	}
	r.Verified, r.Check = true, check
	// One record says both: written at this version and read back equal. It follows the
	// intent recorded before the write.
	a.recordThen(ctx, audit.ActionMigrateWrite, audit.OutcomeSuccess, it, s, version, nil, map[string]string{"verified": "true"}, true, func() {
		a.journal.Mark(key(it), job.StateVerified, version)
		a.add(r)
	})
	return nil, nil
}

// values returns the values of s to write: its Data, or those Options.LoadValues reads again
// when it was read without them, checked against the plan's fingerprint.
func (a *applier) values(ctx context.Context, it *Item, s *kube.Secret) (kube.Data, error) {
	if s.Data != nil || a.opts.LoadValues == nil {
		return s.Data, nil
	}
	data, err := a.opts.LoadValues(ctx, s)
	switch {
	case errors.Is(err, providers.ErrNotFound):
		return nil, fmt.Errorf("%s: %w: the Secret no longer exists in the source; run the same command again", it.Ref(), ErrSourceChanged)
	case err != nil:
		return nil, fmt.Errorf("read the values of %s again: %w", it.Ref(), err)
	case a.opts.Fingerprinter.Set(s.EffectiveType(), data) != it.Fingerprint:
		return nil, fmt.Errorf("%s: %w since it was planned; run the same command again", it.Ref(), ErrSourceChanged)
	}
	return data, nil
}

// landedMeanwhile reads the target again after a check-and-set conflict: a write of an
// earlier run of this job that was still on its way when that run died can land after this
// run read the target (a server applies a request it has received even when its client is
// gone), and then the store holds exactly what this run meant to write.
func (a *applier) landedMeanwhile(ctx context.Context, it *Item, s *kube.Secret) (*providers.Stored, bool) {
	st, err := a.opts.Provider.Read(ctx, *it.Target)
	if err != nil || st == nil || st.Rewrite != "" || !sameContent(it, st, a.opts.Fingerprinter) {
		return nil, false
	}
	return st, true
}

// foundWritten settles an item whose content the store already holds although this run found
// the target otherwise: this run's write is recorded as skipped, and the content as verified,
// written by an earlier run of the job when the store or the audit log says so.
func (a *applier) foundWritten(ctx context.Context, r *ItemReport, it *Item, s *kube.Secret, st *providers.Stored) (*ItemReport, error) {
	r.Result, r.Version, r.Verified, r.Check = ResultUnchanged, st.Version, true, checkOf(st)
	if err := a.record(ctx, audit.ActionMigrateWrite, audit.OutcomeSkipped, it, s, st.Version, nil); err != nil {
		return nil, err
	}
	prev := a.earlier[it.Ref()]
	details := map[string]string{"already_present": "true"}
	if !prev.Done && (prev.Intent || (st.RunID != a.opts.RunID && a.journal.EarlierRun(st.RunID))) {
		details = map[string]string{"written_by_earlier_run": "true"}
	}
	a.recordThen(ctx, audit.ActionMigrateVerify, audit.OutcomeSuccess, it, s, st.Version, nil, details, true, func() {
		a.journal.Mark(key(it), job.StateVerified, st.Version)
		a.add(r)
	})
	return nil, nil
}

// verify reads the target back and compares it with the source; it says how.
func (a *applier) verify(ctx context.Context, it *Item, s *kube.Secret) (Check, error) {
	st, err := a.opts.Provider.Read(ctx, *it.Target)
	if err != nil {
		return "", fmt.Errorf("read back %s: %w", it.Target, err)
	}
	if !sameContent(it, st, a.opts.Fingerprinter) {
		return "", fmt.Errorf("read back %s: %w: stored content differs from the source (%s)", it.Target, job.ErrVerify, diffStored(it, st, a.opts.Fingerprinter))
	}
	return checkOf(st), nil
}

// diffStored names what differs between the item's values and st, by keyed fingerprint, never
// a value.
func diffStored(it *Item, st *providers.Stored, f *audit.Fingerprinter) string {
	if st.Problem != "" {
		return st.Problem
	}
	if st.Data == nil {
		return "recorded fingerprint differs"
	}
	var out []string
	for _, k := range it.Keys {
		v, ok := st.Data[k]
		switch {
		case !ok:
			out = append(out, "missing key "+k)
		case f.Value(v) != it.KeyFingerprints[k]:
			out = append(out, "different value for key "+k)
		}
	}
	for _, k := range st.Data.Keys() {
		if _, ok := it.KeyFingerprints[k]; !ok {
			out = append(out, "extra key "+k)
		}
	}
	if len(out) == 0 {
		return "type differs"
	}
	return fmt.Sprint(out)
}

func (a *applier) fail(ctx context.Context, r *ItemReport, it *Item, s *kube.Secret, err error) (*ItemReport, error) {
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if errors.Is(err, providers.ErrBusy) {
		return nil, err // every other item would fail the same way
	}
	if stop := a.countUnanswered(err); stop != nil {
		return nil, stop
	}
	r.Result, r.Error = ResultFailed, err.Error()
	a.journal.Mark(key(it), job.StateFailed, "")
	return r, a.record(ctx, audit.ActionMigrateWrite, audit.OutcomeFailure, it, s, "", err)
}

// record writes one audit event and waits until it is durable; a failure becomes job.ErrAudit and
// stops the run.
func (a *applier) record(ctx context.Context, action string, outcome audit.Outcome, it *Item, s *kube.Secret, version string, cause error) error {
	return a.pipe.Record(ctx, itemEvent(action, outcome, it, s, version, cause))
}

// itemEvent builds the audit event for one item: names, target and keyed fingerprints only. The origin (a file path, or the cluster) is
// made valid UTF-8: a file name need not be, and the audit log refuses text that is not.
func itemEvent(action string, outcome audit.Outcome, it *Item, s *kube.Secret, version string, cause error) audit.Event {
	return eventOf(action, outcome, it, it.keySet, s, version, cause)
}

// eventOf is itemEvent with the item's keys encoded as ks (nil: the log checks and encodes
// Keys and KeyFingerprints itself).
func eventOf(action string, outcome audit.Outcome, it *Item, ks *audit.KeySet, s *kube.Secret, version string, cause error) audit.Event {
	e := audit.Event{Action: action, Outcome: outcome}
	if ks != nil {
		e.KeySet = ks
	} else {
		e.Keys, e.Fingerprints = it.Keys, it.KeyFingerprints
	}
	e.Source = &audit.Source{Namespace: it.Namespace, Name: it.Name, UID: it.UID, Origin: strings.ToValidUTF8(it.Origin.String(), "\uFFFD")}
	if s != nil {
		e.Source.Cluster = s.Origin.Cluster
	}
	if it.Target != nil {
		e.Target = &audit.StoreTarget{Provider: it.Target.Provider, Address: it.Target.Address, Version: version}
	}
	if cause != nil {
		e.ErrorClass, e.Error = job.Class(cause), cause.Error()
	}
	if it.Action == ActionUpdate && it.Reason != "" && action == audit.ActionMigrateWrite {
		// Why content is replaced (--overwrite, new SOPS recipients) is part of the record.
		e.Details = map[string]string{"reason": it.Reason}
	}
	return e
}
