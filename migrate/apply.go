package migrate

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// Recorder is the audit log as the engine sees it. Record must return only after the event is
// durable; an error stops the run before any further write (fail-closed).
type Recorder interface {
	Record(ctx context.Context, e audit.Event) error
}

// ErrAudit marks a failure to write the audit log (it is audit.ErrUnavailable). The run stopped;
// no write happened without its intent on record.
var ErrAudit = audit.ErrUnavailable

// AuditError marks err as a failure of the audit log, unless it already is one.
func AuditError(err error) error {
	if err == nil || errors.Is(err, ErrAudit) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrAudit, err)
}

// ErrSourceChanged: the Secret differs from what the plan was made from.
var ErrSourceChanged = errors.New("source changed since the plan was made")

// ErrVerify: a written entry read back differently.
var ErrVerify = errors.New("verification failed")

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
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Job        string         `json:"job"`
	RunID      string         `json:"runID,omitempty"`
	Provider   string         `json:"provider"`
	DryRun     bool           `json:"dryRun,omitempty"`
	Started    time.Time      `json:"started"`
	Duration   string         `json:"duration"`
	Items      []*ItemReport  `json:"items"`
	Counts     map[Result]int `json:"counts"`
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
	if plan.KeyID != opts.Fingerprinter.Value(nil) {
		return nil, errors.New("the plan was made under another fingerprint key\nuse the same --fingerprint-key, or make a new plan")
	}
	if plan.Provider != opts.Provider.Name() {
		return nil, fmt.Errorf("the plan is for provider %q, not %q", plan.Provider, opts.Provider.Name())
	}
	rep := &Report{APIVersion: PlanAPIVersion, Kind: "Report", Job: plan.ID, RunID: opts.RunID, Provider: plan.Provider, DryRun: opts.DryRun, Started: opts.Now().UTC(), Counts: map[Result]int{}}
	if err := prepareAudit(plan); err != nil {
		return nil, err
	}

	var j *Journal
	if !opts.DryRun {
		var err error
		if j, err = OpenJournal(opts.JournalDir, plan.ID); err != nil {
			return nil, err
		}
		defer j.Close()
		if err := j.Begin(opts.RunID); err != nil {
			return nil, err
		}
	}
	if opts.Progress != nil {
		opts.Progress.Start(len(plan.Items))
	}

	var mu sync.Mutex
	add := func(r *ItemReport) {
		mu.Lock()
		rep.Items = append(rep.Items, r)
		rep.Counts[r.Result]++
		if r.Result == ResultDone {
			rep.Resumed++
		}
		mu.Unlock()
		if opts.Progress != nil {
			opts.Progress.Done()
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	a := &applier{opts: opts, journal: j, cancel: cancel, add: add, intents: map[*Item]*intentChunk{}}
	stopIntents := a.recordIntents(ctx, plan.Items, sources)
	err := forEach(ctx, plan.Items, opts, func(ctx context.Context, it *Item) error {
		r, err := a.apply(ctx, it, sources[it.Ref()])
		if r != nil {
			add(r)
		}
		return err
	})
	stopIntents()
	// Every outcome record is durable before the report says anything is done.
	if aerr := a.wait(ctx); aerr != nil {
		err = aerr
	} else if cause := context.Cause(ctx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	sort.Slice(rep.Items, func(i, k int) bool {
		return rep.Items[i].Namespace+"/"+rep.Items[i].Name < rep.Items[k].Namespace+"/"+rep.Items[k].Name
	})
	rep.Duration = opts.Now().Sub(rep.Started).Round(time.Millisecond).String()
	rep.Unrecorded = int(a.unrecorded.Load())
	if j != nil {
		if cerr := j.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	return rep, err
}

type applier struct {
	opts    Options
	journal *Journal
	cancel  context.CancelCauseFunc
	// add reports a finished item.
	add func(*ItemReport)

	// intents holds the items whose write intent is recorded up front, in batches.
	intents map[*Item]*intentChunk

	// Outcome records are written in the background, group-committed with the other workers'
	// records; pending counts those not yet durable.
	pending sync.WaitGroup
	errMu   sync.Mutex
	err     error
	// unrecorded counts writes whose final outcome record is not yet durable.
	unrecorded atomic.Int64
}

// BatchRecorder is implemented by recorders that can make many events durable at once
// (*audit.Log).
type BatchRecorder interface {
	RecordBatch(ctx context.Context, events []audit.Event) error
}

// intentChunk is a group of write intents recorded together; ready is closed once they are
// durable (err nil) or failed, reached once a worker has begun one of its items.
type intentChunk struct {
	ready   chan struct{}
	err     error
	reached chan struct{}
	once    sync.Once
}

// Intent batches grow from firstIntentBatch to maxIntentBatch items, and are recorded at most
// one batch ahead of the items the workers have begun.
const (
	firstIntentBatch = 32
	maxIntentBatch   = 256
)

// recordIntents records the write intent of every item the plan expects to write, in batches:
// each intent must be durable before its item's store is touched, and recording them together
// costs one disk flush per batch instead of one per Secret. A batch is recorded once the
// workers have begun the one before it, so the intents stay just ahead of the writes: after a
// crash the log shows few intents of writes that were never begun. Items found to need a
// write only later record their intent on their own. stop ends the background recording and
// waits for it.
func (a *applier) recordIntents(ctx context.Context, items []*Item, sources map[string]*kube.Secret) (stop func()) {
	br, ok := a.opts.Recorder.(BatchRecorder)
	if !ok || a.opts.DryRun {
		return func() {}
	}
	type chunk struct {
		c      *intentChunk
		events []audit.Event
	}
	var chunks []chunk
	size := firstIntentBatch
	for _, it := range items {
		if !it.read || (it.Action != ActionCreate && it.Action != ActionUpdate) {
			continue
		}
		if len(chunks) == 0 || len(chunks[len(chunks)-1].events) == size {
			if len(chunks) > 0 {
				size = min(2*size, maxIntentBatch)
			}
			chunks = append(chunks, chunk{c: &intentChunk{ready: make(chan struct{}), reached: make(chan struct{})}})
		}
		ch := &chunks[len(chunks)-1]
		ch.events = append(ch.events, itemEvent(audit.ActionMigrateWrite, audit.OutcomeAttempt, it, sources[it.Ref()], it.Version, nil))
		a.intents[it] = ch.c
	}
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var err error
		for i, ch := range chunks {
			if i > 0 && err == nil {
				select {
				case <-chunks[i-1].c.reached:
				case <-quit:
					err = errors.New("the run ended before these items were begun")
				case <-ctx.Done():
				}
			}
			if err == nil && ctx.Err() != nil {
				// The run stopped: no intents for items that will not be attempted.
				err = context.Cause(ctx)
			}
			if err == nil {
				if err = br.RecordBatch(ctx, ch.events); err != nil {
					err = AuditError(err)
				}
			}
			ch.c.err = err
			close(ch.c.ready)
		}
	}()
	return func() {
		close(quit)
		<-finished
	}
}

// begin tells the intent recorder that a worker has begun it.
func (a *applier) begin(it *Item) {
	if c := a.intents[it]; c != nil {
		c.once.Do(func() { close(c.reached) })
	}
}

// intentRecorded waits until the intent of it, recorded up front, is durable. It reports false
// for items whose intent was not recorded up front.
func (a *applier) intentRecorded(ctx context.Context, it *Item) (bool, error) {
	c := a.intents[it]
	if c == nil {
		return false, nil
	}
	select {
	case <-c.ready:
		return true, c.err
	case <-ctx.Done():
		return true, context.Cause(ctx)
	}
}

// AsyncRecorder is implemented by recorders that can queue an event without waiting for the
// disk and say when it is durable (*audit.Log). done must not record anything itself.
type AsyncRecorder interface {
	RecordAsync(e audit.Event, done func(error)) error
	Flush(ctx context.Context) error
}

// recordThen records an outcome without holding up the worker and calls then once the record
// is durable: the item is reported done only after that. The first failure stops the run
// (fail-closed) and wait reports it.
func (a *applier) recordThen(ctx context.Context, action string, outcome audit.Outcome, it *Item, s *kube.Secret, version string, cause error, details map[string]string, then func()) {
	if a.opts.Recorder == nil || a.opts.DryRun {
		if then != nil {
			then()
		}
		return
	}
	e := itemEvent(action, outcome, it, s, version, cause)
	for k, v := range details {
		if e.Details == nil {
			e.Details = map[string]string{}
		}
		e.Details[k] = v
	}
	a.pending.Add(1)
	done := func(err error) {
		defer a.pending.Done()
		if err != nil {
			err = AuditError(err)
			a.errMu.Lock()
			if a.err == nil {
				a.err = err
			}
			a.errMu.Unlock()
			a.cancel(err)
			return
		}
		if then != nil {
			then()
		}
	}
	if ar, ok := a.opts.Recorder.(AsyncRecorder); ok {
		if err := ar.RecordAsync(e, done); err != nil {
			done(err)
		}
		return
	}
	go func() { done(a.opts.Recorder.Record(context.WithoutCancel(ctx), e)) }()
}

// wait returns once every outcome record is durable, with the first failure.
func (a *applier) wait(ctx context.Context) error {
	if ar, ok := a.opts.Recorder.(AsyncRecorder); ok && !a.opts.DryRun {
		if err := ar.Flush(context.WithoutCancel(ctx)); err != nil {
			a.errMu.Lock()
			if a.err == nil {
				a.err = AuditError(err)
			}
			a.errMu.Unlock()
		}
	}
	a.pending.Wait()
	a.errMu.Lock()
	defer a.errMu.Unlock()
	return a.err
}

// apply handles one item. A returned error stops the whole run (audit failure, cancellation);
// an item's own failure is reported in the ItemReport.
func (a *applier) apply(ctx context.Context, it *Item, s *kube.Secret) (*ItemReport, error) {
	a.begin(it)
	r := &ItemReport{Namespace: it.Namespace, Name: it.Name, Target: it.Target, Planned: it.Action, Fingerprint: it.Fingerprint, Reason: it.Reason}
	p := a.opts.Provider

	if it.Action == ActionSkip {
		r.Result = ResultSkipped
		return r, a.record(ctx, audit.ActionMigrateSkip, audit.OutcomeSkipped, it, s, "", nil)
	}
	if s == nil {
		return a.fail(ctx, r, it, s, fmt.Errorf("%s: %w: the Secret no longer exists in the source", it.Ref(), ErrSourceChanged))
	}
	if fp := a.opts.Fingerprinter.Set(s.EffectiveType(), s.Data); fp != it.Fingerprint {
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
		if _, ok := a.journal.Done(it); ok && st != nil && st.Rewrite == "" && sameContent(it.Fingerprint, s, st) {
			r.Result, r.Version, r.Verified, r.Check = ResultDone, st.Version, true, checkOf(st)
			return r, nil
		}
	}
	action := ActionCreate
	expect := ""
	if st != nil {
		var reason, msg string
		action, reason, msg = decide(s, it, st, a.opts)
		expect = st.Version
		if action == ActionConflict {
			r.Result, r.Reason, r.Error = ResultConflict, reason, msg
			return r, a.record(ctx, audit.ActionMigrateConflict, audit.OutcomeFailure, it, s, st.Version, reportedError{text: msg, class: reason, cause: providers.ErrConflict})
		}
	}
	a.opts.Logger.Debug("decided", "secret", it.Ref(), "target", it.Target.String(), "action", action, "expect", expect)
	if action == ActionUnchanged {
		r.Result, r.Version, r.Verified, r.Check = ResultUnchanged, st.Version, true, checkOf(st)
		e, _ := a.journal.Done(it)
		earlier := e.State == "written" || (e.State != "verified" && st.RunID != a.opts.RunID && a.journal.EarlierRun(st.RunID))
		if earlier && !a.opts.DryRun {
			// An earlier run of this job wrote this entry and stopped before its outcome was on
			// record (a crash; its journal may not even have said "written"): record now that
			// it is there and equal to the source.
			a.recordThen(ctx, audit.ActionMigrateVerify, audit.OutcomeSuccess, it, s, st.Version, nil, map[string]string{"written_by_earlier_run": "true"}, func() {
				a.journal.Mark(it, "verified", st.Version)
				a.add(r)
			})
			return nil, nil
		}
		a.journal.Mark(it, "verified", st.Version)
		return r, nil
	}
	if a.opts.DryRun {
		r.Result = ResultWouldCreate
		if action == ActionUpdate {
			r.Result = ResultWouldUpdate
		}
		return r, nil
	}

	// Fail-closed: the intent is durable in the audit log before the store is touched.
	recorded, err := a.intentRecorded(ctx, it)
	if err != nil {
		return nil, err
	}
	if !recorded {
		if err := a.record(ctx, audit.ActionMigrateWrite, audit.OutcomeAttempt, it, s, expect, nil); err != nil {
			return nil, err
		}
	}
	a.opts.Logger.Debug("writing", "secret", it.Ref(), "target", it.Target.String(), "expect", expect)
	version, err := p.Write(ctx, *it.Target, providers.Payload{Secret: s, Fingerprint: it.Fingerprint, FingerprintKeyID: a.opts.Fingerprinter.KeyID(), Cluster: s.Origin.Cluster, RunID: a.opts.RunID}, expect)
	if err != nil {
		if errors.Is(err, providers.ErrConflict) {
			r.Result, r.Error = ResultConflict, err.Error()
			return r, a.record(ctx, audit.ActionMigrateWrite, audit.OutcomeFailure, it, s, expect, err)
		}
		return a.fail(ctx, r, it, s, err)
	}
	a.journal.Mark(it, "written", version)
	a.unrecorded.Add(1)
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
		a.recordThen(ctx, audit.ActionMigrateWrite, audit.OutcomeSuccess, it, s, version, nil, nil, nil)
		a.recordThen(ctx, audit.ActionMigrateVerify, audit.OutcomeFailure, it, s, version, err, nil, func() {
			a.unrecorded.Add(-1)
			a.add(r)
		})
		return nil, nil
	}
	r.Verified, r.Check = true, check
	// One record says both: written at this version and read back equal. It follows the
	// intent recorded before the write.
	a.recordThen(ctx, audit.ActionMigrateWrite, audit.OutcomeSuccess, it, s, version, nil, map[string]string{"verified": "true"}, func() {
		a.journal.Mark(it, "verified", version)
		a.unrecorded.Add(-1)
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
	if !sameContent(it.Fingerprint, s, st) {
		return "", fmt.Errorf("read back %s: %w: stored content differs from the source (%s)", it.Target, ErrVerify, diffStored(s.Data, st, a.opts.Fingerprinter))
	}
	return checkOf(st), nil
}

// diffStored names what differs between want and st, never a value.
func diffStored(want kube.Data, st *providers.Stored, f *audit.Fingerprinter) string {
	if st.Problem != "" {
		return st.Problem
	}
	return diffKeys(want, st.Data, f)
}

// diffKeys names the keys that differ, never their values.
func diffKeys(want, got kube.Data, f *audit.Fingerprinter) string {
	if got == nil {
		return "recorded fingerprint differs"
	}
	var out []string
	for _, k := range want.Keys() {
		v, ok := got[k]
		switch {
		case !ok:
			out = append(out, "missing key "+k)
		case f.Value(v) != f.Value(want[k]):
			out = append(out, "different value for key "+k)
		}
	}
	for _, k := range got.Keys() {
		if _, ok := want[k]; !ok {
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
	r.Result, r.Error = ResultFailed, err.Error()
	a.journal.Mark(it, "failed", "")
	return r, a.record(ctx, audit.ActionMigrateWrite, audit.OutcomeFailure, it, s, "", err)
}

// record writes one audit event and waits until it is durable; a failure becomes ErrAudit and
// stops the run.
func (a *applier) record(ctx context.Context, action string, outcome audit.Outcome, it *Item, s *kube.Secret, version string, cause error) error {
	if a.opts.Recorder == nil || a.opts.DryRun {
		return nil
	}
	if err := a.opts.Recorder.Record(ctx, itemEvent(action, outcome, it, s, version, cause)); err != nil {
		return AuditError(err)
	}
	return nil
}

// itemEvent builds the audit event for one item: names, target and keyed fingerprints only. The origin (a file path, or the cluster) is
// made valid UTF-8: a file name need not be, and the audit log refuses text that is not.
func itemEvent(action string, outcome audit.Outcome, it *Item, s *kube.Secret, version string, cause error) audit.Event {
	e := audit.Event{Action: action, Outcome: outcome}
	if it.keySet != nil {
		e.KeySet = it.keySet
	} else {
		e.Keys, e.Fingerprints = it.Keys, it.KeyFingerprints
	}
	e.Source = &audit.Source{Namespace: it.Namespace, Name: it.Name, UID: it.UID, Origin: strings.ToValidUTF8(it.Origin.String(), "\uFFFD")}
	if s != nil {
		e.Source.Cluster = s.Origin.Cluster
	}
	if it.Target != nil {
		e.Target = &audit.Target{Provider: it.Target.Provider, Address: it.Target.Address, Version: version}
	}
	if cause != nil {
		e.ErrorClass, e.Error = errorClass(cause), cause.Error()
	}
	if it.Action == ActionUpdate && it.Reason != "" && action == audit.ActionMigrateWrite {
		// Why content is replaced (--overwrite, new SOPS recipients) is part of the record.
		e.Details = map[string]string{"reason": it.Reason}
	}
	return e
}

// errorClass names the sentinel behind err, for the audit log and reports.
func errorClass(err error) string {
	var reported reportedError
	if errors.As(err, &reported) && reported.class != "" {
		return reported.class
	}
	for _, c := range []struct {
		err  error
		name string
	}{
		{providers.ErrConflict, "conflict"}, {providers.ErrNotFound, "not-found"}, {providers.ErrInvalidName, "invalid-name"},
		{providers.ErrTooLarge, "too-large"}, {providers.ErrPermission, "permission"}, {providers.ErrUnsupported, "unsupported"},
		{ErrSourceChanged, "source-changed"}, {ErrVerify, "verify"}, {context.Canceled, "cancelled"},
	} {
		if errors.Is(err, c.err) {
			return c.name
		}
	}
	return "error"
}

// reportedError is an outcome as the report words it (text), for the audit log: its class is
// class when set (a conflict's reason: changed-in-store, foreign-content, ...), else cause's.
type reportedError struct {
	text, class string
	cause       error
}

func (e reportedError) Error() string { return e.text }
func (e reportedError) Unwrap() error { return e.cause }
