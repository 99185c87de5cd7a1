package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/job"
	"github.com/secretshift/secretshift/migrate"
	"github.com/secretshift/secretshift/providers"
	"github.com/secretshift/secretshift/templates"
)

func applyPlan(ctx context.Context, f *factory, o *migrateOptions, lp *loadedPlan) error {
	opts := lp.opts
	var manifests *templates.Input
	if o.Manifests != "" && lp.Source.Shard != "" {
		// The folder's kustomization.yaml and store policies cover every Secret written there:
		// N shards writing into it would each leave their own part only.
		return usageError("--manifests cannot be used in a sharded run (this is shard %s): each shard would rewrite the folder's kustomization.yaml and store policies with its own Secrets only; nothing was written\n"+
			"once every shard has finished, run the same command without --shard, with --manifests %s: it finds every Secret unchanged, writes nothing to the store, and writes the manifests for all of them", lp.Source.Shard, o.Manifests)
	}
	if o.Manifests != "" {
		in, err := o.manifestInput(lp.provider)
		if err != nil {
			return err
		}
		manifests = in
	}
	if !o.DryRun {
		log, closeLog, err := o.audit.openFor(f, lp, &opts)
		if err != nil {
			return err
		}
		defer closeLog()
		if err := log.Record(ctx, audit.Event{Action: audit.ActionPlanCreate, Outcome: audit.OutcomeSuccess, Details: planDetails(lp.Plan)}); err != nil {
			return withCode(ExitAudit, fmt.Errorf("%w\nno Secret was written; fix the audit log location or permissions and run again", job.AuditError(err)))
		}
	}
	f.logger().Info("applying", "job", lp.ID, "run", opts.RunID, "journal", o.JournalDir, "audit_log", o.audit.Log, "dry_run", o.DryRun)
	bar := f.progress(len(lp.Items), "migrating")
	if bar != nil {
		opts.Progress = bar
	}
	rep, err := migrate.Apply(ctx, lp.Plan, lp.sources, opts)
	if bar != nil {
		bar.Finish()
	}
	if rep != nil {
		f.logger().Info("applied", "job", lp.ID, "secrets", len(rep.Items), "took", rep.Duration)
	}
	if err != nil {
		if errors.Is(err, job.ErrAudit) {
			return withCode(ExitAudit, auditStopped(f, rep, err))
		}
		if errors.Is(err, context.Canceled) && rep != nil {
			return withCode(ExitCancelled, f.runInterrupted(rep))
		}
		if errors.Is(err, providers.ErrBusy) && !strings.Contains(err.Error(), "run the same command again") {
			// The store refused every further write the same way (throttled past the
			// retries, unavailable, held by another run): the run stopped part-way.
			return fmt.Errorf("%w\nthe run stopped part-way: %s; what was written is on record, so run the same command again later to finish (nothing is written twice)", err, doneSoFar(rep, len(lp.Items)))
		}
		return err
	}
	if rep.Resumed > 0 {
		fmt.Fprintf(f.status(), "resumed job %s: %d of %d Secrets were done by an earlier run\n", rep.Job, rep.Resumed, len(rep.Items))
	}
	if err := f.render(rep, func() error { return writeReportTable(f.Out, rep) }); err != nil {
		return err
	}
	fmt.Fprintln(f.status(), reportSummary(rep))
	if n := rep.Checked(migrate.CheckFingerprint); n > 0 {
		fmt.Fprintf(f.status(), "%d verified by their recorded fingerprint only: the store could not be read back with the available keys\n", n)
	}
	if n, ok := lp.provider.(providers.Noter); ok {
		for _, note := range n.Notes() {
			fmt.Fprintln(f.status(), note)
		}
	}
	if manifests != nil && !o.DryRun {
		if err := writeManifests(f, o, lp, rep, manifests); err != nil {
			return err
		}
		f.logger().Info("manifests written", "folder", o.Manifests)
	}
	if h, ok := lp.provider.(providers.Hinter); ok && !o.DryRun {
		// How to use what was written, once something was written in this run.
		if example := writtenExample(rep); example != "" {
			fmt.Fprintln(f.status(), h.HintFor(example))
		}
	}
	if rep.Failed() {
		var hints []string
		if n := rep.Counts[migrate.ResultFailed]; n > 0 {
			hints = append(hints, fmt.Sprintf("%d failed: fix what the report says, then run the same command again to retry them", n))
		}
		if n := rep.Counts[migrate.ResultConflict]; n > 0 {
			hints = append(hints, fmt.Sprintf("%d in conflict with what the store holds: check them, then pass --overwrite to replace them", n))
		}
		return withCode(ExitPartial, fmt.Errorf("%d Secret(s) not migrated (see the report)\n%s", rep.Counts[migrate.ResultFailed]+rep.Counts[migrate.ResultConflict], strings.Join(hints, "\n")))
	}
	return nil
}

// doneSoFar says how many of the plan's total Secrets a run that stopped had done, as far as its
// report knows.
func doneSoFar(rep *migrate.Report, total int) string {
	if rep == nil {
		return "the Secrets done before it are in the audit log and the journal"
	}
	done := 0
	for _, it := range rep.Items {
		if it.Result != "" && it.Result != migrate.ResultFailed && it.Result != migrate.ResultConflict {
			done++
		}
	}
	return fmt.Sprintf("%d of %d Secrets were done before it", done, max(total, len(rep.Items)))
}

// writtenExample returns the address of one target this run wrote, or "".
func writtenExample(rep *migrate.Report) string {
	for _, it := range rep.Items {
		if it.Verified && it.Target != nil && (it.Result == migrate.ResultCreated || it.Result == migrate.ResultUpdated) {
			return it.Target.Address
		}
	}
	return ""
}

// runInterrupted reports a run stopped by Ctrl-C or SIGTERM: what was done, and how to finish.
func (f *factory) runInterrupted(rep *migrate.Report) error {
	if err := f.render(rep, func() error { return writeReportTable(f.Out, rep) }); err != nil {
		return err
	}
	fmt.Fprintln(f.status(), reportSummary(rep))
	return fmt.Errorf("interrupted: %d Secret(s) done and on record, the rest not done\nrun the same command again to resume: the journal and the store finish the job without duplicates", len(rep.Items))
}

// auditStopped reports a run the audit log stopped: what was done and recorded, how many
// writes reached the store without their outcome on record, and how to finish.
func auditStopped(f *factory, rep *migrate.Report, err error) error {
	if rep == nil {
		return err
	}
	if len(rep.Items) > 0 || f.machineOutput() {
		if rerr := f.render(rep, func() error { return writeReportTable(f.Out, rep) }); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
	listed := ""
	if len(rep.Items) > 0 {
		listed = " (listed above)"
	}
	return fmt.Errorf("%w\nthe run stopped: %d Secret(s) done and on record%s; %d written to the store without their outcome on record; the rest not written\n"+
		"fix the audit log and run the same command again: it records the writes this run made and finishes the rest", err, len(rep.Items), listed, rep.Unrecorded)
}

// openFor opens the audit log for a run of lp and makes it the run's recorder. closeLog
// reports what the background check of the log found and closes it.
func (a *auditFlags) openFor(f *factory, lp *loadedPlan, opts *migrate.Options) (log *audit.Log, closeLog func(), err error) {
	log, done, err := a.open(f, lp.fp, opts.RunID, lp.provider)
	if err != nil {
		return nil, nil, err
	}
	opts.Recorder = log
	opts.Earlier = migrate.EarlierFromAuditLog(a.Log)
	return log, func() { done(); log.Close() }, nil
}

func runVerify(ctx context.Context, f *factory, o *migrateOptions, lp *loadedPlan) error {
	if sw, ok := lp.provider.(providers.StdoutWriter); ok && sw.WritesStdout() {
		return usageError("verify reads what the store holds, and a stream on standard output holds nothing afterwards: name the store's folder instead of -")
	}
	opts := lp.opts
	_, closeLog, err := o.audit.openFor(f, lp, &opts)
	if err != nil {
		return err
	}
	defer closeLog()
	rep, err := migrate.Verify(ctx, lp.Plan, lp.sources, opts)
	if err != nil {
		if errors.Is(err, job.ErrAudit) {
			return withCode(ExitAudit, err)
		}
		if errors.Is(err, context.Canceled) && rep != nil {
			if rerr := f.render(rep, func() error { return writeReportTable(f.Out, rep) }); rerr != nil {
				return rerr
			}
			return withCode(ExitCancelled, errors.New("interrupted: the report above is incomplete\nrun the same command again"))
		}
		return err
	}
	if err := f.render(rep, func() error { return writeReportTable(f.Out, rep) }); err != nil {
		return err
	}
	fmt.Fprintln(f.status(), reportSummary(rep))
	if n := rep.Checked(migrate.CheckFingerprint); n > 0 {
		fmt.Fprintf(f.status(), "%d compared by their recorded fingerprint only: the store could not be read back with the available keys\n", n)
	}
	if rep.Failed() {
		return withCode(ExitVerify, fmt.Errorf("%d target(s) missing or different", rep.Counts[migrate.ResultMismatch]+rep.Counts[migrate.ResultMissing]+rep.Counts[migrate.ResultFailed]))
	}
	return nil
}

func planDetails(p *migrate.Plan) map[string]string {
	d := map[string]string{
		"job": p.ID, "provider": p.Provider, "store": p.Store,
		"create": fmt.Sprint(p.Summary.Create), "update": fmt.Sprint(p.Summary.Update),
		"unchanged": fmt.Sprint(p.Summary.Unchanged), "skip": fmt.Sprint(p.Summary.Skip), "conflict": fmt.Sprint(p.Summary.Conflict),
	}
	if p.Source.Shard != "" {
		// What `audit verify` checks a set of shard logs by: one log per shard, one job.
		d[audit.DetailShard], d[audit.DetailShardSet] = p.Source.Shard, p.ShardSetID()
	}
	return d
}
