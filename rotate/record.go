package rotate

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/job"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// recordLater queues e, a record that precedes no change (an entry not due), without waiting
// for the disk when the log can do that; flush makes every such record durable before the run
// reports.
func (r *runner) recordLater(ctx context.Context, e audit.Event) error {
	r.logStep(e)
	if r.opts.Recorder == nil || r.opts.DryRun {
		return nil
	}
	a, ok := r.opts.Recorder.(job.AsyncRecorder)
	if !ok {
		return r.record(ctx, e)
	}
	if err := a.RecordAsync(e, func(error) {}); err != nil {
		return job.AuditError(err)
	}
	return nil
}

func (r *runner) flush(ctx context.Context) error {
	if a, ok := r.opts.Recorder.(job.AsyncRecorder); ok && !r.opts.DryRun {
		return job.AuditError(a.Flush(ctx))
	}
	return nil
}

// record makes e durable in the audit log; an error stops the run (fail-closed).
func (r *runner) record(ctx context.Context, e audit.Event) error {
	r.logStep(e)
	if r.opts.Recorder == nil || r.opts.DryRun {
		return nil
	}
	if err := r.opts.Recorder.Record(ctx, e); err != nil {
		return job.AuditError(err)
	}
	return nil
}

// logStep tells the logger (-vv) about a step as its audit record says it: the action, outcome,
// entry and version, the fingerprints' key names and the details (never a value).
func (r *runner) logStep(e audit.Event) {
	if !r.opts.Logger.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	attrs := []any{"outcome", string(e.Outcome)}
	if e.Target != nil {
		attrs = append(attrs, "target", e.Target.Provider+":"+e.Target.Address, "version", e.Target.Version)
	}
	if len(e.Keys) > 0 {
		attrs = append(attrs, "keys", strings.Join(e.Keys, ","))
	}
	for _, k := range slices.Sorted(maps.Keys(e.Details)) {
		attrs = append(attrs, k, e.Details[k])
	}
	if e.Error != "" {
		attrs = append(attrs, "error_class", e.ErrorClass, "error", e.Error)
	}
	r.opts.Logger.Debug(e.Action, attrs...)
}

// markBefore marks a step; when a hook is about to act outside the store (hook), the mark is
// made durable first, so that a run after a crash knows the step was reached.
func (r *runner) markBefore(k job.Key, s job.State, version string, hook bool) error {
	r.mark(k, s, version)
	if hook && r.journal != nil {
		return r.journal.Flush()
	}
	return nil
}

func (r *runner) mark(k job.Key, s job.State, version string) {
	if r.journal != nil {
		r.journal.Mark(k, s, version)
	}
}

// event is an audit event about e's entry with the fingerprints of data.
func (r *runner) event(action string, outcome audit.Outcome, t providers.Target, version string, data kube.Data, details map[string]string, cause error) audit.Event {
	ev := audit.Event{Action: action, Outcome: outcome, Target: &audit.StoreTarget{Provider: t.Provider, Address: t.Address, Version: version}, Details: details}
	if data != nil {
		ev.Keys = data.Keys()
		ev.Fingerprints = map[string]string{}
		for k, v := range data {
			ev.Fingerprints[k] = r.opts.Fingerprinter.Value(v)
		}
	}
	if cause != nil {
		ev.ErrorClass, ev.Error = job.Class(cause), cause.Error()
	}
	return ev
}

func (r *runner) journalLast(k job.Key) (job.JournalEntry, bool) {
	if r.journal == nil {
		return job.JournalEntry{}, false
	}
	// Last says ok only for a verified entry; any step of this entry counts here, as long as
	// it started from the same current values.
	e, _ := r.journal.Last(k)
	return e, e.State != "" && e.Fingerprint == k.Fingerprint
}
