package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/internal/atomicfile"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/migrate"
	"github.com/secretshift/secretshift/providers"
	"github.com/secretshift/secretshift/providers/registry"
	"github.com/secretshift/secretshift/templates"
)

// loadedPlan is a plan with the live objects needed to apply it.
type loadedPlan struct {
	*migrate.Plan
	sources  map[string]*kube.Secret
	provider providers.Provider
	fp       *audit.Fingerprinter
	opts     migrate.Options
}

// validate checks every flag that needs no I/O, so that a usage error stops the command
// before it creates anything (keys, folders, logs).
func (o *migrateOptions) validate(f *factory) error {
	if o.Concurrency <= 0 {
		return usageError("--concurrency must be positive")
	}
	if o.Rate < 0 {
		return usageError("--rate must be 0 (no limit) or positive")
	}
	if o.To == "" {
		return usageError("--to is required: one of %s", strings.Join(registry.Names(), ", "))
	}
	if _, err := registry.Lookup(o.To); err != nil {
		return usageError("--to: %v", err)
	}
	if err := o.source.validate(f); err != nil {
		return err
	}
	return o.validateManifestFlags()
}

// openProvider opens the --to provider. Opening checks the settings and may contact the store,
// but writes nothing.
func (o *migrateOptions) openProvider(ctx context.Context, f *factory) (providers.Provider, error) {
	if o.To == "" {
		return nil, usageError("--to is required: one of %s", strings.Join(registry.Names(), ", "))
	}
	if _, err := registry.Lookup(o.To); err != nil {
		return nil, usageError("--to: %v", err)
	}
	p, err := o.providerConfig[o.To].Open(ctx)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", o.To, err)
	}
	if c, ok := p.(io.Closer); ok {
		f.closers = append(f.closers, c) // released when the command ends (a folder lock)
	}
	if l, ok := p.(providers.Logger); ok {
		l.SetLogger(f.logger().With("provider", o.To))
	}
	f.logger().Info("provider opened", "provider", o.To, "store", migrate.StoreText(p))
	return p, nil
}

func (o *migrateOptions) engineOptions(f *factory, p providers.Provider, fp *audit.Fingerprinter) migrate.Options {
	return migrate.Options{
		Provider: p, Fingerprinter: fp, Concurrency: o.Concurrency, Rate: o.Rate,
		Overwrite: o.Overwrite, DryRun: o.DryRun, JournalDir: o.JournalDir, RunID: newRunID(),
		Logger: f.logger(),
	}
}

// outputFolders are the folders p writes into: never read as input of the same run.
func outputFolders(p providers.Provider) []string {
	if fw, ok := p.(providers.FolderWriter); ok && fw.OutputFolder() != "" {
		return []string{fw.OutputFolder()}
	}
	return nil
}

// problemsError is a run that stopped before the first write, with the problems that stopped
// it; machine output still gets a report listing them.
type problemsError struct {
	err      error
	problems []migrate.Problem
}

func (e *problemsError) Error() string { return e.err.Error() }
func (e *problemsError) Unwrap() error { return e.err }

// inputProblems turns objects that could not be read into plan problems.
func inputProblems(r *kube.Discovery) []migrate.Problem {
	out := make([]migrate.Problem, 0, len(r.Errors))
	for _, p := range r.Errors {
		ref := p.Name
		if p.Namespace != "" {
			ref = p.Namespace + "/" + p.Name
		}
		out = append(out, migrate.Problem{Ref: ref, Origin: p.Origin.String(), Error: p.Message})
	}
	return out
}

// renderStopped writes, for -o json/yaml, the document the command would have written had it
// run (a plan or a report) with the problems that stopped it, so that a script always finds
// one document on stdout. It returns err.
func (f *factory) renderStopped(err error, kind, provider string) error {
	if err == nil || !f.machineOutput() {
		return err
	}
	var problems []migrate.Problem
	var pe *problemsError
	var ve *migrate.ValidationError
	switch {
	case errors.As(err, &pe):
		problems = pe.problems
	case errors.As(err, &ve):
		problems = ve.Problems
	default:
		problems = []migrate.Problem{{Error: firstLine(err.Error())}}
	}
	var doc any
	if kind == migrate.PlanKind {
		doc = &migrate.Plan{APIVersion: migrate.PlanAPIVersion, Kind: migrate.PlanKind, Provider: provider, Items: []*migrate.Item{}, Problems: problems}
	} else {
		doc = &migrate.Report{APIVersion: migrate.PlanAPIVersion, Kind: kind, Provider: provider, Started: time.Now().UTC(), Duration: "0s",
			Items: []*migrate.ItemReport{}, Counts: map[migrate.Result]int{}, Problems: problems}
	}
	if rerr := f.render(doc, nil); rerr != nil {
		return errors.Join(err, rerr)
	}
	return err
}

func buildPlan(ctx context.Context, f *factory, o *migrateOptions) (*loadedPlan, error) {
	if err := o.validate(f); err != nil {
		return nil, err
	}
	p, err := o.openProvider(ctx, f)
	if err != nil {
		return nil, err
	}
	fp, err := f.fingerprinter(o.FingerprintKey, o.audit.Log)
	if err != nil {
		return nil, err
	}
	cands, spec, err := f.readCandidates(ctx, o, fp, p)
	if err != nil {
		return nil, err
	}
	if len(cands) == 0 {
		fmt.Fprintln(f.status(), noneFound(spec))
	}
	return planFrom(ctx, f, o, p, fp, cands, spec)
}

// readCandidates reads the Secrets to plan, never from p's output folder. Objects that cannot
// be read stop the command before anything is planned, every one listed.
func (f *factory) readCandidates(ctx context.Context, o *migrateOptions, fp *audit.Fingerprinter, p providers.Provider) ([]migrate.Candidate, migrate.SourceSpec, error) {
	cands, spec, report, err := f.candidates(ctx, &o.source, fp, outputFolders(p))
	if err != nil {
		return nil, spec, interrupted(err, "reading the Secrets")
	}
	if report.Summary.Errors > 0 {
		return nil, spec, &problemsError{
			err:      withCode(ExitError, fmt.Errorf("%d object(s) could not be read (listed above); nothing was planned or written\nfix or leave out those inputs, then run again", report.Summary.Errors)),
			problems: inputProblems(report),
		}
	}
	return cands, spec, nil
}

// noneFound says, like kubectl's "No resources found", that the input held no Secret.
func noneFound(spec migrate.SourceSpec) string {
	switch {
	case len(spec.Files) > 0:
		names := make([]string, len(spec.Files))
		for i, f := range spec.Files {
			names[i] = f
			if f == kube.StdinPath {
				names[i] = "standard input"
			}
		}
		return "No Secrets found in " + strings.Join(names, ", ") + "."
	case spec.Namespace != "":
		return "No Secrets found in the " + spec.Namespace + " namespace."
	}
	return "No Secrets found."
}

// interrupted words a cancellation before anything was written.
func interrupted(err error, during string) error {
	if errors.Is(err, context.Canceled) {
		return withCode(ExitCancelled, fmt.Errorf("interrupted while %s: nothing was written\nrun the same command again", during))
	}
	return err
}

func planFrom(ctx context.Context, f *factory, o *migrateOptions, p providers.Provider, fp *audit.Fingerprinter, cands []migrate.Candidate, spec migrate.SourceSpec) (*loadedPlan, error) {
	opts := o.engineOptions(f, p, fp)
	plan, err := migrate.BuildPlan(ctx, cands, spec, opts)
	if err != nil {
		var ve *migrate.ValidationError
		if errors.As(err, &ve) {
			return nil, withCode(ExitError, err)
		}
		return nil, interrupted(err, "planning")
	}
	f.logger().Info("plan built", "job", plan.ID, "secrets", len(plan.Items), "create", plan.Summary.Create, "update", plan.Summary.Update,
		"unchanged", plan.Summary.Unchanged, "skip", plan.Summary.Skip, "conflict", plan.Summary.Conflict)
	lp := &loadedPlan{Plan: plan, sources: map[string]*kube.Secret{}, provider: p, fp: fp, opts: opts}
	for _, c := range cands {
		lp.sources[c.Secret.Ref()] = c.Secret
	}
	return lp, nil
}

// reloadPlan reads a saved plan's Secrets again and checks that the current settings give the
// same targets.
func reloadPlan(ctx context.Context, f *factory, o *migrateOptions, saved *migrate.Plan) (*loadedPlan, error) {
	if err := o.validateManifestFlags(); err != nil {
		return nil, err
	}
	p, err := o.openProvider(ctx, f)
	if err != nil {
		return nil, err
	}
	fp, err := f.fingerprinter(o.FingerprintKey, o.audit.Log)
	if err != nil {
		return nil, err
	}
	if err := migrate.CheckStore(saved, p, fp); err != nil {
		return nil, err
	}
	src := saved.Source
	o.source.Files = src.Files
	if len(src.Files) == 0 {
		f.Namespace, f.AllNamespaces, f.Selector = src.Namespace, src.AllNamespaces, src.Selector
		if f.Context == "" {
			f.Context = src.Context
		}
		cfg, err := f.restConfig()
		if err != nil {
			return nil, err
		}
		if src.Cluster != "" && cfg.Host != src.Cluster {
			return nil, fmt.Errorf("the plan was made against cluster %s, but the current context points at %s", src.Cluster, cfg.Host)
		}
	} else {
		f.Namespace = src.Namespace
	}
	cands, _, err := f.readCandidates(ctx, o, fp, p)
	if err != nil {
		return nil, err
	}
	byRef, err := migrate.CheckSaved(saved, cands, p)
	if err != nil {
		return nil, err
	}
	opts := o.engineOptions(f, p, fp)
	return &loadedPlan{Plan: saved, sources: byRef, provider: p, fp: fp, opts: opts}, nil
}

func applyPlan(ctx context.Context, f *factory, o *migrateOptions, lp *loadedPlan) error {
	opts := lp.opts
	var manifests *templates.Input
	if o.Manifests != "" {
		in, err := o.manifestInput(lp.provider)
		if err != nil {
			return err
		}
		manifests = in
	}
	if !o.DryRun {
		log, done, err := o.audit.open(f, lp.fp, opts.RunID, lp.provider)
		if err != nil {
			return err
		}
		defer log.Close()
		defer done()
		opts.Recorder = log
		if err := log.Record(ctx, audit.Event{Action: audit.ActionPlanCreate, Outcome: audit.OutcomeSuccess, Details: planDetails(lp.Plan)}); err != nil {
			return withCode(ExitAudit, fmt.Errorf("%w\nno Secret was written; fix the audit log location or permissions and run again", migrate.AuditError(err)))
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
	if err != nil {
		if errors.Is(err, migrate.ErrAudit) {
			return withCode(ExitAudit, auditStopped(f, rep, err))
		}
		if errors.Is(err, context.Canceled) && rep != nil {
			return withCode(ExitCancelled, f.runInterrupted(rep))
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
			hints = append(hints, fmt.Sprintf("%d failed: run the same command again to retry them", n))
		}
		if n := rep.Counts[migrate.ResultConflict]; n > 0 {
			hints = append(hints, fmt.Sprintf("%d in conflict with what the store holds: check them, then pass --overwrite to replace them", n))
		}
		return withCode(ExitPartial, fmt.Errorf("%d Secret(s) not migrated (see the report)\n%s", rep.Counts[migrate.ResultFailed]+rep.Counts[migrate.ResultConflict], strings.Join(hints, "\n")))
	}
	return nil
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

func runVerify(ctx context.Context, f *factory, o *migrateOptions, lp *loadedPlan) error {
	opts := lp.opts
	log, done, err := o.audit.open(f, lp.fp, opts.RunID, lp.provider)
	if err != nil {
		return err
	}
	defer log.Close()
	defer done()
	opts.Recorder = log
	rep, err := migrate.Verify(ctx, lp.Plan, lp.sources, opts)
	if err != nil {
		if errors.Is(err, migrate.ErrAudit) {
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
	return map[string]string{
		"job": p.ID, "provider": p.Provider, "store": p.Store,
		"create": fmt.Sprint(p.Summary.Create), "update": fmt.Sprint(p.Summary.Update),
		"unchanged": fmt.Sprint(p.Summary.Unchanged), "skip": fmt.Sprint(p.Summary.Skip), "conflict": fmt.Sprint(p.Summary.Conflict),
	}
}

// validateManifestFlags checks the ESO flags that need no store, before anything is opened
// or created; the store's adapter checks the rest (manifestInput).
func (o *migrateOptions) validateManifestFlags() error {
	if o.Manifests == "" {
		return nil
	}
	if o.StoreKind != templates.KindSecretStore && o.StoreKind != templates.KindClusterSecretStore {
		return usageError("--store-kind must be %s or %s", templates.KindSecretStore, templates.KindClusterSecretStore)
	}
	return nil
}

// manifestInput is the ESO generator's input for p, checked by p's adapter before anything
// is written.
func (o *migrateOptions) manifestInput(p providers.Provider) (*templates.Input, error) {
	er, ok := p.(providers.ExternalReader)
	if !ok {
		return nil, usageError("--manifests: External Secrets Operator cannot read the %s provider", p.Name())
	}
	in := &templates.Input{
		Reader: er, Provider: p.Name(), StoreKind: o.StoreKind, StoreName: o.StoreName, RefreshInterval: o.ESORefresh,
		Auth: providers.ExternalAuth{Method: o.ESOAuth, ServiceAccount: o.ESOServiceAcct, ServiceAccountNamespace: o.ESOSANamespace},
	}
	if err := templates.Check(*in); err != nil {
		return nil, usageError("--manifests: %v", err)
	}
	return in, nil
}

// writeManifests generates ESO manifests for every Secret that is verified in the store.
func writeManifests(f *factory, o *migrateOptions, lp *loadedPlan, rep *migrate.Report, in *templates.Input) error {
	er := lp.provider.(providers.ExternalReader)
	ok := map[string]bool{}
	for _, r := range rep.Items {
		if r.Verified {
			ok[r.Namespace+"/"+r.Name] = true
		}
	}
	for _, it := range lp.Items {
		s := lp.sources[it.Ref()]
		if !ok[it.Ref()] || s == nil || it.Target == nil {
			continue
		}
		in.Items = append(in.Items, templates.Item{
			Namespace: s.Namespace, Name: s.Name, Type: s.EffectiveType(), Labels: s.Labels, Annotations: s.Annotations,
			Immutable: s.Immutable, Refs: er.ExternalRefs(*it.Target, providers.PayloadOf(s)),
		})
	}
	b, err := templates.Generate(*in)
	if err != nil {
		return err
	}
	if err := b.Write(o.Manifests); err != nil {
		return err
	}
	fmt.Fprintf(f.status(), "wrote %d manifest files for %d Secrets to %s (kubectl apply -k %s)\n", len(b.Files), len(in.Items), o.Manifests, o.Manifests)
	return nil
}

func writePlan(path string, p *migrate.Plan) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	// A plan is reviewed and applied later: never leave half of one.
	return atomicfile.Write(path, append(b, '\n'), 0o600, atomicfile.Options{})
}

func readPlan(path string) (*migrate.Plan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	var p migrate.Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("parse plan %s: %w", path, err)
	}
	if p.APIVersion != migrate.PlanAPIVersion || p.Kind != migrate.PlanKind {
		return nil, fmt.Errorf("%s is not a secretshift plan (apiVersion %q, kind %q)", path, p.APIVersion, p.Kind)
	}
	if len(p.Problems) > 0 {
		return nil, fmt.Errorf("%s is a rejected plan (%d problem(s)); make a new plan", path, len(p.Problems))
	}
	return &p, nil
}

func newRunID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}
