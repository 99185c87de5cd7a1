package rotate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/job"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
	"github.com/secretshift/secretshift/rotate/generate"
)

// Audit actions of a rotation, one per step of the state machine.
const (
	ActionDue      = "rotate.due"      // the due check: success = due, skipped = not due
	ActionPending  = "rotate.pending"  // new values generated (their fingerprints), not stored yet
	ActionSet      = "rotate.set"      // the set hook put the new values where they are used
	ActionTest     = "rotate.test"     // the test hook proved the new values work
	ActionPromote  = "rotate.promote"  // the new values became the store's current version
	ActionRollback = "rotate.rollback" // the previous values were put back (hook, or store)
	ActionRefresh  = "rotate.refresh"  // the cluster's copy of the Secret was refreshed (ESO force-sync) and carries the new values
	ActionRestart  = "rotate.restart"  // the workloads that read the Secret were restarted and rolled out
)

// Journal states of an entry beyond job's own (run, written, verified, failed): the step a run
// reached, so that a run after a crash says where the earlier one stopped.
const (
	StatePending    job.State = "pending"
	StateSet        job.State = "set"
	StateTested     job.State = "tested"
	StateRolledBack job.State = "rolled-back"
)

// Result is what happened to one entry.
type Result string

// Results.
const (
	ResultRotated    Result = "rotated"
	ResultNotDue     Result = "not-due"
	ResultWouldRoll  Result = "would-rotate"
	ResultRolledBack Result = "rolled-back" // set or test failed; the previous values are back
	ResultFailed     Result = "failed"
	ResultConflict   Result = "conflict" // someone else changed the entry meanwhile
	// ResultNotRestarted: the new values are current in the store, but refreshing the
	// cluster's copy or restarting its consumers failed.
	ResultNotRestarted Result = "rotated-not-restarted"
)

// Report kinds.
const (
	APIVersion = "secretshift.io/v1alpha1"
	ReportKind = "RotationReport"
)

// Entry is one stored Secret to rotate and how.
type Entry struct {
	// Target is the entry in the store.
	Target providers.Target
	// Keys are the keys to give new values; the entry's other keys keep theirs.
	Keys []Key
	// MaxAge is the age after which the entry is due (0: always due).
	MaxAge time.Duration
	// Hooks apply and prove the new values (none: the store is all there is).
	Hooks Hooks
	// Filter, when set, is asked about what the entry holds before anything else; an entry it
	// refuses is left out of the run and the report (a policy's namespace and label match).
	Filter func(st *providers.Stored) bool
	// Rule names what chose the entry (a policy's rotation), for the report and the audit.
	Rule string
	// Restart asks, after promotion, for the cluster's copy of the Secret to be refreshed and
	// the workloads that read it restarted (Options.Consumers).
	Restart bool
}

// Consumers is what a rotation does in the cluster after promotion, for entries that ask for
// it: make the cluster's copy of the Secret carry the new values (an ExternalSecret
// force-synced, then waited for), and restart the workloads that read it and wait for their
// rollout. Both return what they did, in words, for the report and the audit log. Check, before
// anything changes (and in a dry run), says why the cluster could not follow a rotation of the
// Secret (an ExternalSecret ESO would not refresh), or that the cluster cannot be reached.
type Consumers interface {
	Check(ctx context.Context, ref providers.Ref) error
	Refresh(ctx context.Context, ref providers.Ref, typ string, fingerprint string) (string, error)
	Restart(ctx context.Context, ref providers.Ref) (string, error)
}

// Key is one key of an entry and the generator of its new value.
type Key struct {
	Name      string
	Spec      generate.Spec
	Generator generate.Generator
}

// Options are the settings of a rotation run.
type Options struct {
	Provider      providers.Provider
	Fingerprinter *audit.Fingerprinter
	// Recorder is the audit log; nil records nothing (dry run).
	Recorder job.Recorder
	// JournalDir keeps the journal of the run (no values).
	JournalDir string
	// Promoted, when set, reads the promotions that earlier runs of the job recorded as done
	// (PromotedFromAuditLog): a run resuming a job that stopped part-way does not record
	// again, nor rotate again, an entry whose promotion is on record but whose journal line
	// the crash lost.
	Promoted func(runIDs []string) (map[string]string, error)
	RunID    string
	// Due rotates only entries older than their MaxAge.
	Due bool
	// DryRun says what is due and why, and changes nothing.
	DryRun bool
	Now    func() time.Time
	Logger *slog.Logger
	// Consumers, when set, refreshes and restarts what reads entries with Restart.
	Consumers Consumers
	// Limits bound the entries in flight at once and begun per second.
	Limits job.Limits
}

// ItemReport is the outcome of one entry. It holds fingerprints, never values.
type ItemReport struct {
	Target   providers.Target `json:"target"`
	Rule     string           `json:"rule,omitempty"`
	Result   Result           `json:"result"`
	Keys     []string         `json:"keys"`
	Age      string           `json:"age,omitempty"`
	Reason   string           `json:"reason,omitempty"`
	Previous string           `json:"previousVersion,omitempty"`
	Version  string           `json:"version,omitempty"`
	// OldFingerprint and NewFingerprint are the keyed fingerprints of the whole entry before
	// and after.
	OldFingerprint string `json:"oldFingerprint,omitempty"`
	NewFingerprint string `json:"newFingerprint,omitempty"`
	// Resumed names the step an earlier run of the same job stopped at for this entry.
	Resumed string `json:"resumed,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Report is the outcome of a run.
type Report struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Job        string `json:"job"`
	RunID      string `json:"runID"`
	Provider   string `json:"provider"`
	DryRun     bool   `json:"dryRun,omitempty"`
	// Shard is "I/N" when the run rotated one shard of the entries (rotate --shard).
	Shard    string         `json:"shard,omitempty"`
	Started  time.Time      `json:"started"`
	Duration string         `json:"duration"`
	Items    []*ItemReport  `json:"items"`
	Counts   map[Result]int `json:"counts"`
	// Problems say why a run stopped before any entry was rotated (a bad policy, a store that
	// cannot be opened); Items is empty then.
	Problems []string `json:"problems,omitempty"`
}

// Failed reports whether any entry failed, conflicted or was rolled back.
func (r *Report) Failed() bool {
	return r.Counts[ResultFailed]+r.Counts[ResultConflict]+r.Counts[ResultRolledBack]+r.Counts[ResultNotRestarted] > 0
}

// ErrNotInCluster is returned by Consumers.Refresh when the new values have not reached the
// cluster yet and cannot be made to (no ExternalSecret makes the Secret): the consumers are
// not restarted, and the entry still counts as rotated.
var ErrNotInCluster = errors.New("the new values are not in the cluster yet")

// ErrTestFailed marks a run in which a set or test hook failed and the previous values were put
// back.
var ErrTestFailed = errors.New("the new values failed their set or test hook and were rolled back")

// JobID names the job of entries in store: the same entries in the same store are one job, so
// that a run after a crash finds the earlier run's journal.
func JobID(storeID string, entries []Entry) string {
	h := sha256.New()
	h.Write([]byte("rotate\x00" + storeID + "\x00"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Target.String())
	}
	slices.Sort(names)
	h.Write([]byte(strings.Join(names, "\x00")))
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Run rotates entries one by one, each through the staged steps: read the current values, the
// due check, generate (pending), set hook, test hook, promote (a check-and-set write of the new
// version, read back), and on a failed hook the set hook again with the previous values. The
// store changes only at promotion, so the previous values stay current until the new ones are
// proven; in stores that keep versions they stay recoverable after (Rollback). Every step is an
// audit record, durable before the next one starts.
func Run(ctx context.Context, entries []Entry, opts Options) (*Report, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	p := opts.Provider
	rep := &Report{APIVersion: APIVersion, Kind: ReportKind, Job: JobID(p.StoreID(), entries), RunID: opts.RunID,
		Provider: p.Name(), DryRun: opts.DryRun, Started: opts.Now().UTC(), Counts: map[Result]int{}}
	r := &runner{opts: opts}
	if !opts.DryRun {
		j, err := job.OpenJournal(opts.JournalDir, rep.Job)
		if err != nil {
			return nil, err
		}
		defer j.Close()
		if err := j.Begin(opts.RunID); err != nil {
			return nil, err
		}
		r.journal = j
		if j.Resuming() && opts.Promoted != nil {
			runs, _ := j.Resumed()
			if r.promoted, err = opts.Promoted(runs); err != nil {
				return nil, err
			}
		}
	}
	// Entries are independent: they go through their steps concurrently (the audit log
	// commits concurrent records together), and the report lists them in address order.
	var mu sync.Mutex
	err := job.Each(ctx, entries, opts.Limits, func(ctx context.Context, e Entry) error {
		it, ferr := r.rotate(ctx, e)
		if it != nil {
			mu.Lock()
			rep.Items = append(rep.Items, it)
			rep.Counts[it.Result]++
			mu.Unlock()
		}
		return ferr // the audit log failed: stop before any further change
	})
	if ferr := r.flush(ctx); err == nil {
		err = ferr
	}
	slices.SortFunc(rep.Items, func(a, b *ItemReport) int { return strings.Compare(a.Target.String(), b.Target.String()) })
	rep.Duration = opts.Now().Sub(rep.Started).Round(time.Millisecond).String()
	if r.journal != nil && err == nil && rep.Counts[ResultFailed]+rep.Counts[ResultConflict]+rep.Counts[ResultRolledBack] == 0 {
		// Every entry is rotated (a restart that failed is reported, and not retried by
		// resuming): the next run of this job rotates anew. Until then, a run of the same job
		// resumes this one, and what this one rotated is done.
		err = r.journal.End(opts.RunID)
	}
	if r.journal != nil {
		if cerr := r.journal.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	return rep, err
}

type runner struct {
	opts    Options
	journal *job.Journal
	// promoted is, by address, the version whose promotion earlier runs of the job recorded
	// as done, when this run resumes the job.
	promoted map[string]string
}

// rotate takes one entry through the steps. The returned error is an audit failure, which
// stops the run; everything else is the entry's own outcome in the report.
func (r *runner) rotate(ctx context.Context, e Entry) (*ItemReport, error) {
	p, fp, t := r.opts.Provider, r.opts.Fingerprinter, e.Target
	it := &ItemReport{Target: t, Rule: e.Rule}
	for _, k := range e.Keys {
		it.Keys = append(it.Keys, k.Generator.Keys(k.Name)...)
	}
	fail := func(res Result, err error) (*ItemReport, error) {
		it.Result, it.Error = res, err.Error()
		return it, nil
	}
	cur, err := p.Read(ctx, t)
	if err != nil {
		return fail(ResultFailed, fmt.Errorf("read %s: %w", t, err))
	}
	if e.Filter != nil && cur.Problem == "" && !e.Filter(cur) {
		return nil, nil
	}
	if cur.Problem != "" {
		return fail(ResultFailed, fmt.Errorf("%s: %s", t, cur.Problem))
	}
	if cur.Immutable {
		return fail(ResultFailed, fmt.Errorf("%s: the Secret is immutable, so what makes it in the cluster (ESO, the sealed-secrets controller) cannot update it: make it mutable, or recreate it with the new values", t))
	}
	if cur.Deleted {
		return fail(ResultFailed, fmt.Errorf("%s: its current version is deleted, so no other key could be kept: undelete it (vault kv undelete) or write it again first", t))
	}
	if cur.Data == nil {
		return fail(ResultFailed, fmt.Errorf("%s: the current values cannot be read here (no decryption key), so they could be neither kept nor restored", t))
	}
	typ := cur.Type
	if typ == "" {
		typ = "Opaque"
	}
	it.Previous, it.OldFingerprint = cur.Version, fp.Set(typ, cur.Data)
	k := job.Key{Ref: t.String(), Target: t.String(), Fingerprint: it.OldFingerprint}
	if last, ok := r.journalLast(k); ok && last.State != job.StateVerified && last.State != StateRolledBack {
		it.Resumed = string(last.State)
	}
	last, _ := r.journal.Last(k)
	_, since := r.journal.Resumed()
	verified := last.State == job.StateVerified && last.Version == cur.Version && last.Target == t.String() && !last.Time.Before(since)
	if r.journal.Resuming() && (verified || (r.promoted[t.Address] == cur.Version && cur.Version != "")) {
		// An earlier run of this job, which stopped before the end, rotated the entry, read
		// it back and recorded it (its journal says so, or the audit log does when the crash
		// lost the journal's line): what the store holds is that rotation. Rotating again
		// would make a second version the command did not ask for.
		it.Resumed, it.Result, it.Version, it.NewFingerprint = string(job.StateVerified), ResultRotated, cur.Version, it.OldFingerprint
		it.Reason = "rotated by an earlier run of this job, which stopped before the end"
		return it, nil
	}
	if r.journal != nil {
		// An earlier run of this job promoted the entry and stopped before its outcome was on
		// record (killed while reading it back): what the store holds now is that run's
		// version. Record it, and count the rotation as done rather than rotating again.
		written := last.State == job.StateWritten && last.Version == cur.Version && last.Target == t.String()
		// The journal's "written" may not have reached the disk; then the store's own record
		// of the run that wrote says it, when the journal, for this entry, last speaks of
		// another version (a step taken on the version before, or a rotation verified before
		// that). The store's record counts only when it describes what is stored: Vault's custom
		// metadata is written before the data, so a run killed between the two leaves the
		// record of a rotation that never reached the store.
		byEarlier := cur.Job == providers.JobRotate && cur.RunID != "" && cur.RunID != r.opts.RunID && r.journal.EarlierRun(cur.RunID) &&
			last.Version != cur.Version && cur.Fingerprint == it.OldFingerprint
		if written || byEarlier {
			it.Resumed, it.Result, it.Version, it.NewFingerprint = string(job.StateWritten), ResultRotated, cur.Version, it.OldFingerprint
			it.Reason = "promoted by an earlier run, which stopped before recording it"
			if err := r.record(ctx, r.event(ActionPromote, audit.OutcomeSuccess, t, cur.Version, nil, map[string]string{"fingerprint": it.OldFingerprint, "written_by_earlier_run": "true"}, nil)); err != nil {
				return nil, err
			}
			r.mark(k, job.StateVerified, cur.Version)
			return it, nil
		}
	}

	// Due check.
	age := time.Duration(0)
	if !cur.Updated.IsZero() {
		age = r.opts.Now().Sub(cur.Updated)
		it.Age = age.Round(time.Second).String()
	}
	due, why := true, "one-off rotation"
	switch {
	case r.opts.Due && e.MaxAge > 0 && cur.Updated.IsZero():
		why = "age unknown (the store records no time): rotated"
	case r.opts.Due && e.MaxAge > 0 && age < e.MaxAge:
		due, why = false, fmt.Sprintf("age %s is under maxAge %s", age.Round(time.Second), e.MaxAge)
	case r.opts.Due && e.MaxAge > 0:
		why = fmt.Sprintf("age %s is over maxAge %s", age.Round(time.Second), e.MaxAge)
	}
	it.Reason = why
	if !due {
		it.Result = ResultNotDue
		return it, r.recordLater(ctx, r.event(ActionDue, audit.OutcomeSkipped, t, cur.Version, nil, map[string]string{"reason": why}, nil))
	}
	if e.Restart && r.opts.Consumers != nil && cur.Ref.Name != "" {
		if err := r.opts.Consumers.Check(ctx, cur.Ref); err != nil {
			return fail(ResultFailed, fmt.Errorf("%s: the cluster could not follow a rotation of the Secret %s, so nothing was changed: %w", t, cur.Ref, err))
		}
	}
	if r.opts.DryRun {
		it.Result = ResultWouldRoll
		return it, nil
	}
	if l, ok := p.(providers.Leaser); ok && !r.opts.DryRun && (e.Hooks.has(hookSet) || e.Hooks.has(hookTest)) {
		// One run at a time per entry, also across machines, when hooks act outside the store
		// (without hooks the promotion's check-and-set alone lets one run win and the other
		// report a conflict, with nothing done elsewhere): the lease lasts until the
		// promotion writes the entry, or is released below. It is taken after the due check,
		// so that a schedule's run over entries that are not due writes nothing to the store;
		// what changed since the read above is caught by the promotion's check-and-set.
		release, err := l.Lease(ctx, t, r.opts.RunID, e.Hooks.timeout()*3+5*time.Minute, r.journal.EarlierRun)
		switch {
		case errors.Is(err, providers.ErrBusy):
			return fail(ResultConflict, err)
		case err != nil && !errors.Is(err, providers.ErrNotFound):
			return fail(ResultFailed, err)
		case err == nil:
			defer func() {
				if it.Result == ResultRotated || it.Result == ResultNotRestarted {
					return // the promotion wrote the entry, which ended the lease
				}
				if err := release(context.WithoutCancel(ctx)); err != nil {
					r.opts.Logger.Warn("release lease", "target", t.String(), "error", err)
				}
			}()
			// Read again under the lease: taking it may have changed the entry's version (a
			// Secret's resourceVersion), and another writer may have come first.
			again, err := p.Read(ctx, t)
			if err != nil {
				return fail(ResultFailed, fmt.Errorf("read %s: %w", t, err))
			}
			if again.Data == nil || fp.Set(typ, again.Data) != it.OldFingerprint {
				return fail(ResultConflict, fmt.Errorf("%s: changed in the store while its lease was taken (another run or a person)", t))
			}
			cur.Version, it.Previous = again.Version, again.Version
		}
	}
	if err := r.record(ctx, r.event(ActionDue, audit.OutcomeSuccess, t, cur.Version, nil, map[string]string{"reason": why}, nil)); err != nil {
		return nil, err
	}

	// Pending: the new values, in memory only (see the package documentation).
	next := maps.Clone(cur.Data)
	var generated kube.Data = kube.Data{}
	for _, key := range e.Keys {
		vals, err := key.Generator.Generate(ctx, key.Name)
		if err != nil {
			return fail(ResultFailed, fmt.Errorf("%s: generate %s: %w", t, key.Name, err))
		}
		for name, v := range vals {
			next[name], generated[name] = v, v
		}
	}
	it.NewFingerprint = fp.Set(typ, next)
	if stale := staleCopies(cur.Data, generated); stale != "" {
		it.Reason += "; " + stale
	}
	pl := providers.Payload{Ref: cur.Ref, Type: typ, Data: next, Labels: cur.Labels, Annotations: cur.Annotations, Immutable: cur.Immutable,
		Provenance: map[string]string{providers.ProvenanceJob: providers.JobRotate}, Fingerprint: it.NewFingerprint, FingerprintKeyID: fp.KeyID(), RunID: r.opts.RunID}
	// The store must accept the new values (key names, sizes) before any hook acts on them.
	if err := p.Check(t, pl); err != nil {
		return fail(ResultFailed, fmt.Errorf("%s: the new values do not fit the store: %w", t, err))
	}
	details := map[string]string{"previous_fingerprint": it.OldFingerprint, "fingerprint": it.NewFingerprint}
	if it.Resumed != "" {
		details["resumed_after"] = it.Resumed
	}
	if err := r.record(ctx, r.event(ActionPending, audit.OutcomeSuccess, t, cur.Version, generated, details, nil)); err != nil {
		return nil, err
	}
	if err := r.markBefore(k, StatePending, cur.Version, e.Hooks.has(hookSet) || e.Hooks.has(hookTest)); err != nil {
		return fail(ResultFailed, fmt.Errorf("%s: journal: %w", t, err))
	}

	// Set and test, then promote; a failure puts the previous values back where they are used.
	// rollback runs the set hook again with the previous values after step failed; res is
	// the entry's result when that works (rolled back after a failed hook, failed otherwise).
	rollback := func(step string, cause error, res Result) (*ItemReport, error) {
		rerr := e.Hooks.run(ctx, hookSet, "rollback", t, cur.Data)
		outcome, rd := audit.OutcomeSuccess, map[string]string{"after": step}
		if rerr != nil {
			outcome = audit.OutcomeFailure
		}
		if err := r.record(ctx, r.event(ActionRollback, outcome, t, cur.Version, cur.Data, rd, rerr)); err != nil {
			return nil, err
		}
		r.mark(k, StateRolledBack, cur.Version)
		if rerr != nil {
			return fail(ResultFailed, fmt.Errorf("%s: %s failed (%v), and putting the previous values back with the set hook failed too: %w\nthe store still holds the previous values (version %s)", t, step, cause, rerr, cur.Version))
		}
		return fail(res, fmt.Errorf("%s: %s failed: %w\nthe previous values are back in place; the store was not changed", t, step, cause))
	}
	if e.Hooks.has(hookSet) {
		herr := e.Hooks.run(ctx, hookSet, "set", t, next)
		if err := r.record(ctx, r.event(ActionSet, outcomeOf(herr), t, cur.Version, nil, nil, herr)); err != nil {
			return nil, err
		}
		if herr != nil {
			return rollback("the set hook", herr, ResultRolledBack)
		}
		if err := r.markBefore(k, StateSet, cur.Version, e.Hooks.has(hookTest)); err != nil {
			return fail(ResultFailed, fmt.Errorf("%s: journal: %w", t, err))
		}
	}
	if e.Hooks.has(hookTest) {
		herr := e.Hooks.run(ctx, hookTest, "test", t, next)
		if err := r.record(ctx, r.event(ActionTest, outcomeOf(herr), t, cur.Version, nil, nil, herr)); err != nil {
			return nil, err
		}
		if herr != nil {
			return rollback("the test hook", herr, ResultRolledBack)
		}
		r.mark(k, StateTested, cur.Version)
	}

	if err := r.record(ctx, r.event(ActionPromote, audit.OutcomeAttempt, t, cur.Version, nil, details, nil)); err != nil {
		return nil, err
	}
	version, werr := p.Write(ctx, t, pl, cur.Version)
	if werr != nil {
		if err := r.record(ctx, r.event(ActionPromote, audit.OutcomeFailure, t, cur.Version, nil, details, werr)); err != nil {
			return nil, err
		}
		if errors.Is(werr, providers.ErrConflict) {
			// Another writer changed the entry since it was read: its values, not ours, are
			// current now, and the set hook must not be turned back over them.
			return fail(ResultConflict, fmt.Errorf("%s: changed in the store during the rotation (another run or a person): %w\nthe values set by this run's set hook are not stored; check the entry and its consumers", t, werr))
		}
		return rollback("promotion", werr, ResultFailed)
	}
	r.mark(k, job.StateWritten, version)
	it.Version = version
	back, rerr := p.Read(ctx, t)
	switch {
	case rerr != nil:
		rerr = fmt.Errorf("read back %s: %w", t, rerr)
	case back.Data != nil && fp.Set(typ, back.Data) != it.NewFingerprint:
		rerr = fmt.Errorf("read back %s: the stored values differ from what was written", t)
	case back.Data == nil && back.Fingerprint != it.NewFingerprint:
		rerr = fmt.Errorf("read back %s: the recorded fingerprint differs from what was written", t)
	}
	if err := r.record(ctx, r.event(ActionPromote, outcomeOf(rerr), t, version, nil, details, rerr)); err != nil {
		return nil, err
	}
	if rerr != nil {
		return fail(ResultFailed, rerr)
	}
	r.mark(k, job.StateVerified, version)
	it.Result = ResultRotated
	if e.Restart && r.opts.Consumers != nil {
		return r.restart(ctx, it, cur.Ref, typ, version)
	}
	return it, nil
}

// restart refreshes the cluster's copy of a rotated entry's Secret and restarts its
// consumers. A failure there leaves the new values current in the store: the entry is
// reported rotated-not-restarted, with what is left to do.
func (r *runner) restart(ctx context.Context, it *ItemReport, ref providers.Ref, typ, version string) (*ItemReport, error) {
	t, c := it.Target, r.opts.Consumers
	if ref.Name == "" {
		it.Result, it.Error = ResultNotRestarted, fmt.Sprintf("%s: the store does not record which Secret the entry stands for; restart its consumers yourself", t)
		return it, nil
	}
	did, err := c.Refresh(ctx, ref, typ, it.NewFingerprint)
	if errors.Is(err, ErrNotInCluster) {
		it.Reason += "; " + did
		return it, r.record(ctx, r.event(ActionRefresh, audit.OutcomeSkipped, t, version, nil, map[string]string{"secret": ref.String(), "done": did}, nil))
	}
	if rerr := r.record(ctx, r.event(ActionRefresh, outcomeOf(err), t, version, nil, map[string]string{"secret": ref.String(), "done": did}, err)); rerr != nil {
		return nil, rerr
	}
	if err != nil {
		it.Result, it.Error = ResultNotRestarted, fmt.Sprintf("%s: rotated (version %s), but the Secret %s was not refreshed: %v", t, version, ref, err)
		return it, nil
	}
	did, err = c.Restart(ctx, ref)
	if rerr := r.record(ctx, r.event(ActionRestart, outcomeOf(err), t, version, nil, map[string]string{"secret": ref.String(), "done": did}, err)); rerr != nil {
		return nil, rerr
	}
	if err != nil {
		it.Result, it.Error = ResultNotRestarted, fmt.Sprintf("%s: rotated (version %s), but restarting what reads %s failed: %v", t, version, ref, err)
		return it, nil
	}
	if did != "" {
		it.Reason += "; " + did
	}
	return it, nil
}

func outcomeOf(err error) audit.Outcome {
	if err != nil {
		return audit.OutcomeFailure
	}
	return audit.OutcomeSuccess
}

// minCopyLen is the shortest old value looked for inside the entry's other keys: shorter ones
// (a port, "true") match by chance.
const minCopyLen = 8

// staleCopies says which keys that are not rotated hold a rotated key's old value inside them
// (a DSN or URL with the password in it), so that they keep it after the rotation; "" when none
// do. It names keys only.
func staleCopies(old kube.Data, generated kube.Data) string {
	var found []string
	for _, k := range slices.Sorted(maps.Keys(generated)) {
		v := old[k]
		if len(v) < minCopyLen {
			continue
		}
		for _, other := range slices.Sorted(maps.Keys(old)) {
			if _, rotated := generated[other]; !rotated && bytes.Contains(old[other], v) {
				found = append(found, fmt.Sprintf("the old value of %s is also inside %s, which keeps it: update %s in the set hook or rotate it with a command generator", k, other, other))
			}
		}
	}
	return strings.Join(found, "; ")
}
