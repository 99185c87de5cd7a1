package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/secretshift/secretshift/audit"
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
	cfg := o.providerConfig[o.To]
	if cc, ok := cfg.(providers.ClusterConfig); ok {
		cc.UseCluster(f.restConfig)
	}
	if sc, ok := cfg.(providers.Streams); ok {
		sc.UseStdout(f.Out)
	}
	p, err := cfg.Open(ctx)
	if err != nil {
		return nil, beforeWrite(fmt.Errorf("open %s: %w", o.To, err))
	}
	if sw, ok := p.(providers.StdoutWriter); ok && sw.WritesStdout() {
		// The store is standard output: the report goes to standard error.
		f.Out = f.ErrOut
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
	opts := migrate.Options{
		Provider: p, Fingerprinter: fp, Concurrency: o.Concurrency, Rate: o.Rate,
		Overwrite: o.Overwrite, DryRun: o.DryRun, JournalDir: o.JournalDir, RunID: newRunID(),
		Logger: f.logger(),
	}
	if o.lean != nil && o.lean.active {
		opts.LoadValues = o.lean.load
	}
	return opts
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

// openStore opens the provider, then the fingerprint key (created on first use): in that
// order, so that settings the provider refuses create nothing.
func (o *migrateOptions) openStore(ctx context.Context, f *factory) (providers.Provider, *audit.Fingerprinter, error) {
	p, err := o.openProvider(ctx, f)
	if err != nil {
		return nil, nil, err
	}
	fp, err := f.fingerprinter(o.FingerprintKey, o.audit.Log)
	if err != nil {
		return nil, nil, err
	}
	return p, fp, nil
}

func buildPlan(ctx context.Context, f *factory, o *migrateOptions) (*loadedPlan, error) {
	if err := o.validate(f); err != nil {
		return nil, err
	}
	p, fp, err := o.openStore(ctx, f)
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
	lean, err := newLeanSource(p, o.Manifests != "")
	if err != nil {
		return nil, migrate.SourceSpec{}, err
	}
	o.lean = lean
	cands, spec, report, err := f.candidates(ctx, &o.source, fp, outputFolders(p), o.lean)
	if err != nil {
		return nil, spec, interrupted(beforeWrite(err), "reading the Secrets")
	}
	if report.Summary.Errors > 0 {
		hint := "fix or leave out those inputs, then run again"
		if listsOnly(report) {
			hint = "the cluster did not answer every list; run the same command again once it does"
		}
		return nil, spec, &problemsError{
			err:      withCode(ExitError, fmt.Errorf("%d object(s) could not be read (listed above); nothing was planned or written\n%s", report.Summary.Errors, hint)),
			problems: inputProblems(report),
		}
	}
	if o.withCutover {
		// Secrets cutover handed to ESO hold what the store holds: verify compares them.
		for i := range cands {
			c := &cands[i]
			if c.Skip && c.Reason == string(kube.ReasonExternalSecrets) && c.Secret.Annotations[providers.AnnotationCutover] != "" {
				c.Skip, c.Reason, c.Message = false, "", ""
			}
		}
	}
	return cands, spec, nil
}

// listsOnly reports whether every problem of a cluster read is a list the cluster did not
// answer (no object named): nothing to fix in the input, only to run again.
func listsOnly(r *kube.Discovery) bool {
	for _, p := range r.Errors {
		if p.Origin.Cluster == "" || p.Name != "" {
			return false
		}
	}
	return len(r.Errors) > 0
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
		return nil, interrupted(beforeWrite(err), "planning")
	}
	f.logger().Info("plan built", "job", plan.ID, "secrets", len(plan.Items), "create", plan.Summary.Create, "update", plan.Summary.Update,
		"unchanged", plan.Summary.Unchanged, "skip", plan.Summary.Skip, "conflict", plan.Summary.Conflict)
	o.lean.want(plan)
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
	p, fp, err := o.openStore(ctx, f)
	if err != nil {
		return nil, err
	}
	if err := migrate.CheckStore(saved, p, fp); err != nil {
		return nil, err
	}
	if saved, err = o.planShard(f, saved); err != nil {
		return nil, err
	}
	src := saved.Source
	o.source.Files, o.source.Shard = src.Files, src.Shard
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
	o.lean.want(saved)
	opts := o.engineOptions(f, p, fp)
	return &loadedPlan{Plan: saved, sources: byRef, provider: p, fp: fp, opts: opts}, nil
}

// planShard fits a saved plan to this process's shard (--shard, else the Indexed Job's
// variables): a shard's plan is applied as it is, by that shard or by a process that names
// none; a plan made whole is cut to this shard's part (migrate.Plan.Part), so N processes can
// apply one reviewed plan; a plan of another shard is refused before anything is read.
func (o *migrateOptions) planShard(f *factory, saved *migrate.Plan) (*migrate.Plan, error) {
	proc, err := f.shardOf(o.source.Shard)
	if err != nil {
		return nil, err
	}
	switch {
	case proc.Count == 0 || proc.String() == saved.Source.Shard:
		return saved, nil
	case saved.Source.Shard == "":
		return saved.Part(proc)
	}
	from := "--shard"
	if o.source.Shard == "" {
		from = "$" + templates.ShardIndexEnv + "/$" + templates.ShardCountEnv
	}
	return nil, fmt.Errorf("the plan is the plan of shard %s, but this process is shard %s (from %s); nothing was written\n"+
		"give each shard its own plan (plan --shard I/N --out plan-I.json), or a plan made without --shard, which each shard cuts to its part",
		saved.Source.Shard, proc, from)
}

// beforeWrite words an error that stopped a run before its first write when the store could
// not be reached or its answer was cut off: nothing was written, and the same command run
// again starts over. Other errors (refusals, settings) are left as they are.
func beforeWrite(err error) error {
	// No answer (providers.NoAnswer: reset, cut, refused, timed out; never a certificate the
	// client does not trust, which running again does not change), or a server that said to
	// come back later.
	transient := providers.NoAnswer(err) || errors.Is(err, providers.ErrBusy) || apierrors.IsServiceUnavailable(err) ||
		apierrors.IsTooManyRequests(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err)
	if !transient {
		return err
	}
	return fmt.Errorf("%w\nnothing was written (0 Secrets); run the same command again once the server answers", err)
}
