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
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/migrate"
	"github.com/secretshift/secretshift/providers"
	"github.com/secretshift/secretshift/providers/registry"
	"github.com/secretshift/secretshift/templates"
)

// migrateOptions are the flags shared by plan, apply, migrate and verify.
type migrateOptions struct {
	source         sourceOptions
	To             string
	providerConfig map[string]providers.Config

	FingerprintKey string
	Concurrency    int
	Rate           float64
	Overwrite      bool
	DryRun         bool
	JournalDir     string
	PlanOut        string
	DetailedExit   bool

	Manifests      string
	StoreKind      string
	StoreName      string
	ESOAuth        string
	ESOTokenSecret string
	ESOServiceAcct string
	ESOSANamespace string
	ESOK8sMount    string
	ESOAudience    string
	ESORefresh     string

	audit auditFlags
}

func newMigrateOptions() *migrateOptions {
	o := &migrateOptions{providerConfig: map[string]providers.Config{}}
	for _, e := range registry.Providers {
		o.providerConfig[e.Name] = e.NewConfig()
	}
	return o
}

func (o *migrateOptions) bindTarget(fl *pflag.FlagSet, withTo bool) {
	if withTo {
		fl.StringVar(&o.To, "to", "", "provider to migrate into: "+strings.Join(registry.Names(), ", "))
	}
	for _, e := range registry.Providers {
		o.providerConfig[e.Name].Flags(fl)
	}
	fl.StringVar(&o.FingerprintKey, "fingerprint-key", "", "file holding the fingerprint (audit HMAC) key\n(default: $"+fingerprintKeyEnv+", else .secretshift/keys/hmac.key, generated on first use)")
	fl.IntVar(&o.Concurrency, "concurrency", 16, "provider requests in flight at once")
	fl.Float64Var(&o.Rate, "rate", 0, "maximum Secrets processed per second (0: no limit)")
	o.audit.bind(fl)
}

func (o *migrateOptions) bindApply(fl *pflag.FlagSet) {
	fl.BoolVar(&o.Overwrite, "overwrite", false, "replace target content that secretshift did not write (refused by default)")
	fl.BoolVar(&o.DryRun, "dry-run", false, "show what would be written, write nothing")
	fl.StringVar(&o.JournalDir, "journal-dir", ".secretshift/journal", "where job journals are kept (resume state; no values)")
	fl.StringVar(&o.Manifests, "manifests", "", "write External Secrets Operator manifests for the migrated Secrets into this folder")
	fl.StringVar(&o.StoreKind, "store-kind", templates.KindSecretStore, "SecretStore (one per namespace) or ClusterSecretStore")
	fl.StringVar(&o.StoreName, "store-name", "secretshift-vault", "name of the generated SecretStore/ClusterSecretStore")
	fl.StringVar(&o.ESOAuth, "eso-auth", templates.AuthKubernetes, "how ESO authenticates to the store: kubernetes or token")
	fl.StringVar(&o.ESOTokenSecret, "eso-token-secret", "", "with --eso-auth token: [namespace/]name/key of the Secret holding the token")
	fl.StringVar(&o.ESOServiceAcct, "eso-service-account", "secretshift-eso", "ServiceAccount ESO uses for Kubernetes auth")
	fl.StringVar(&o.ESOSANamespace, "eso-service-account-namespace", "external-secrets", "namespace of that ServiceAccount for a ClusterSecretStore")
	fl.StringVar(&o.ESOK8sMount, "eso-kubernetes-mount", "kubernetes", "Vault auth mount for Kubernetes auth")
	fl.StringVar(&o.ESOAudience, "eso-audience", "vault", "token audience the Vault role requires")
	fl.StringVar(&o.ESORefresh, "refresh-interval", "1h", "how often ESO re-reads the store")
}

func newPlanCmd(f *factory) *cobra.Command {
	o := newMigrateOptions()
	cmd := &cobra.Command{
		Use:   "plan --to PROVIDER",
		Short: "Show what a migration would do, per Secret, without writing",
		Long: `plan reads the Secrets (like discover), computes and validates every target, reads what each
target holds now, and prints create / update / unchanged / skip / conflict per Secret with keyed
fingerprints. With --out it saves the plan (no values) for review and "secretshift apply".

The whole plan is validated first: illegal names, two Secrets mapped to one target, values over the
target's limits. Any problem rejects the plan with every problem listed.

Exit status: 0, or 3 with --detailed-exitcode when there are changes to apply.`,
		Example: `  secretshift plan --to vault -A --out plan.json
  secretshift plan --to sops -f manifests/ --sops-out secrets/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			plan, err := buildPlan(cmd.Context(), f, o)
			if err != nil {
				return err
			}
			if o.PlanOut != "" {
				if err := writePlan(o.PlanOut, plan.Plan); err != nil {
					return err
				}
				fmt.Fprintf(f.ErrOut, "plan saved to %s (job %s)\n", o.PlanOut, plan.ID)
			}
			if err := f.render(plan.Plan, func() error { return writePlanTable(f.Out, plan.Plan) }); err != nil {
				return err
			}
			fmt.Fprintln(f.ErrOut, planSummary(plan.Summary))
			if plan.Summary.Conflict > 0 {
				return withCode(ExitPartial, fmt.Errorf("%d conflict(s): targets hold content secretshift did not write\nreview them, then re-run with --overwrite to replace", plan.Summary.Conflict))
			}
			if o.DetailedExit && plan.Summary.Changes() > 0 {
				return withCode(ExitChanges, nil)
			}
			return nil
		},
	}
	o.source.bind(cmd.Flags())
	o.bindTarget(cmd.Flags(), true)
	cmd.Flags().BoolVar(&o.Overwrite, "overwrite", false, "plan to replace target content that secretshift did not write")
	cmd.Flags().StringVar(&o.PlanOut, "out", "", "save the plan as JSON to this file")
	cmd.Flags().BoolVar(&o.DetailedExit, "detailed-exitcode", false, "exit 3 when the plan has changes")
	return cmd
}

func newMigrateCmd(f *factory) *cobra.Command {
	o := newMigrateOptions()
	cmd := &cobra.Command{
		Use:   "migrate --to PROVIDER",
		Short: "Plan and apply a migration in one go: write, read back, verify, record",
		Long: `migrate is plan followed by apply. Every write is read back and compared by keyed fingerprint
before it counts as done; each step is recorded in the audit log first (the command stops if the log
cannot be written). A journal under --journal-dir records progress: after Ctrl-C, a crash or a
failed item, run the same command again and it completes the job without duplicate writes.
Entries that already hold the same values are never rewritten.

With --manifests DIR (Vault), it also writes ExternalSecrets that recreate every migrated Secret
under its old name, the SecretStore(s), ServiceAccount(s), a Vault policy granting read on exactly
the migrated paths and the Vault role commands.`,
		Example: `  export VAULT_ADDR=https://vault.example.com VAULT_TOKEN=...
  secretshift migrate --to vault -n shop --manifests eso/
  secretshift migrate --to sops -f testdata/demo --sops-out demo-out`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			plan, err := buildPlan(cmd.Context(), f, o)
			if err != nil {
				return err
			}
			return applyPlan(cmd.Context(), f, o, plan)
		},
	}
	o.source.bind(cmd.Flags())
	o.bindTarget(cmd.Flags(), true)
	o.bindApply(cmd.Flags())
	return cmd
}

func newApplyCmd(f *factory) *cobra.Command {
	o := newMigrateOptions()
	cmd := &cobra.Command{
		Use:   "apply PLAN.json",
		Short: "Execute a saved plan exactly: the same Secrets to the same targets",
		Long: `apply executes a plan saved by "plan --out". It reads the Secrets again from the plan's source
(the same files, or the same cluster, namespace and selector) and refuses any Secret whose values
changed since the plan was made. Provider settings (addresses, credentials) come from flags and
environment as for migrate; targets must come out the same as in the plan.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			saved, err := readPlan(args[0])
			if err != nil {
				return err
			}
			o.To = saved.Provider
			plan, err := reloadPlan(cmd.Context(), f, o, saved)
			if err != nil {
				return err
			}
			return applyPlan(cmd.Context(), f, o, plan)
		},
	}
	o.source.QPS, o.source.Burst, o.source.PageSize = kube.DefaultQPS, kube.DefaultBurst, kube.DefaultPageSize
	o.bindTarget(cmd.Flags(), false)
	o.bindApply(cmd.Flags())
	return cmd
}

func newVerifyCmd(f *factory) *cobra.Command {
	o := newMigrateOptions()
	var planFile string
	cmd := &cobra.Command{
		Use:   "verify --to PROVIDER | verify --plan PLAN.json",
		Short: "Re-check a finished migration: every target still holds exactly its source",
		Long: `verify reads every target and compares it with its source Secret by keyed fingerprint. It
writes nothing to the store. Exit status 5 when any target is missing or differs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var plan *loadedPlan
			var err error
			if planFile != "" {
				saved, rerr := readPlan(planFile)
				if rerr != nil {
					return rerr
				}
				o.To = saved.Provider
				plan, err = reloadPlan(cmd.Context(), f, o, saved)
			} else {
				plan, err = buildPlan(cmd.Context(), f, o)
			}
			if err != nil {
				return err
			}
			return runVerify(cmd.Context(), f, o, plan)
		},
	}
	o.source.bind(cmd.Flags())
	o.bindTarget(cmd.Flags(), true)
	cmd.Flags().StringVar(&planFile, "plan", "", "verify the Secrets and targets of this saved plan")
	return cmd
}

// loadedPlan is a plan with the live objects needed to apply it.
type loadedPlan struct {
	*migrate.Plan
	sources  map[string]*kube.Secret
	provider providers.Provider
	fp       *audit.Fingerprinter
	opts     migrate.Options
}

func (o *migrateOptions) openProvider(ctx context.Context) (providers.Provider, error) {
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
	return p, nil
}

func (o *migrateOptions) engineOptions(f *factory, p providers.Provider, fp *audit.Fingerprinter) migrate.Options {
	return migrate.Options{
		Provider: p, Fingerprinter: fp, Concurrency: o.Concurrency, Rate: o.Rate,
		Overwrite: o.Overwrite, DryRun: o.DryRun, JournalDir: o.JournalDir, RunID: newRunID(),
	}
}

func buildPlan(ctx context.Context, f *factory, o *migrateOptions) (*loadedPlan, error) {
	if o.Concurrency <= 0 {
		return nil, usageError("--concurrency must be positive")
	}
	fp, err := f.fingerprinter(o.FingerprintKey, o.audit.Log)
	if err != nil {
		return nil, err
	}
	p, err := o.openProvider(ctx)
	if err != nil {
		return nil, err
	}
	cands, spec, report, err := f.candidates(ctx, &o.source, fp)
	if err != nil {
		return nil, err
	}
	if report.Summary.Errors > 0 {
		return nil, withCode(ExitPartial, fmt.Errorf("%d object(s) could not be read (listed above); nothing was planned\nfix or leave out those inputs, then run again", report.Summary.Errors))
	}
	return planFrom(ctx, f, o, p, fp, cands, spec)
}

func planFrom(ctx context.Context, f *factory, o *migrateOptions, p providers.Provider, fp *audit.Fingerprinter, cands []migrate.Candidate, spec migrate.SourceSpec) (*loadedPlan, error) {
	opts := o.engineOptions(f, p, fp)
	plan, err := migrate.BuildPlan(ctx, cands, spec, opts)
	if err != nil {
		var ve *migrate.ValidationError
		if errors.As(err, &ve) {
			return nil, withCode(ExitError, err)
		}
		return nil, err
	}
	lp := &loadedPlan{Plan: plan, sources: map[string]*kube.Secret{}, provider: p, fp: fp, opts: opts}
	for _, c := range cands {
		lp.sources[c.Secret.Ref()] = c.Secret
	}
	return lp, nil
}

// reloadPlan reads a saved plan's Secrets again and checks that the current settings give the
// same targets.
func reloadPlan(ctx context.Context, f *factory, o *migrateOptions, saved *migrate.Plan) (*loadedPlan, error) {
	fp, err := f.fingerprinter(o.FingerprintKey, o.audit.Log)
	if err != nil {
		return nil, err
	}
	if saved.KeyID != fp.Value(nil) {
		return nil, errors.New("the plan was made under another fingerprint key\nuse the same --fingerprint-key, or make a new plan")
	}
	p, err := o.openProvider(ctx)
	if err != nil {
		return nil, err
	}
	if d, ok := p.(interface{ Describe() string }); ok && saved.Store != "" && d.Describe() != saved.Store {
		return nil, fmt.Errorf("the plan was made for %s, but the current settings give %s\nuse the provider settings the plan was made with", saved.Store, d.Describe())
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
	}
	cands, _, report, err := f.candidates(ctx, &o.source, fp)
	if err != nil {
		return nil, err
	}
	if report.Summary.Errors > 0 {
		return nil, withCode(ExitPartial, fmt.Errorf("%d object(s) could not be read (listed above)", report.Summary.Errors))
	}
	byRef := map[string]*kube.Secret{}
	skipped := map[string]string{}
	for _, c := range cands {
		byRef[c.Secret.Ref()] = c.Secret
		if c.Skip {
			skipped[c.Secret.Ref()] = c.Reason
		}
	}
	for _, it := range saved.Items {
		switch it.Action {
		case migrate.ActionCreate, migrate.ActionUpdate, migrate.ActionUnchanged, migrate.ActionSkip, migrate.ActionConflict:
		default:
			return nil, fmt.Errorf("%s: the plan says %q, which is not an action secretshift plans; make a new plan", it.Ref(), it.Action)
		}
		// What discover skips (service-account tokens, Helm releases, ...) never moves, whatever
		// a plan file says.
		if reason, skip := skipped[it.Ref()]; skip && it.Action != migrate.ActionSkip {
			return nil, fmt.Errorf("%s: the plan says %s, but it is skipped now (%s); make a new plan", it.Ref(), it.Action, reason)
		}
		s := byRef[it.Ref()]
		if it.Target == nil || s == nil {
			continue
		}
		t, err := p.Target(s)
		if err != nil {
			return nil, err
		}
		if t != *it.Target {
			return nil, fmt.Errorf("%s: the current settings map it to %s, the plan to %s\nuse the provider settings the plan was made with", it.Ref(), t, it.Target)
		}
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
		log, err := o.audit.open(f, lp.fp, opts.RunID, lp.provider)
		if err != nil {
			return err
		}
		defer log.Close()
		opts.Recorder = log
		if err := log.Record(ctx, audit.Event{Action: audit.ActionPlanCreate, Outcome: audit.OutcomeSuccess, Details: planDetails(lp.Plan)}); err != nil {
			return withCode(ExitAudit, fmt.Errorf("%w\nno Secret was written; fix the audit log location or permissions and run again", migrate.AuditError(err)))
		}
	}
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
		return err
	}
	if rep.Resumed > 0 {
		fmt.Fprintf(f.ErrOut, "resumed job %s: %d of %d Secrets were done by an earlier run\n", rep.Job, rep.Resumed, len(rep.Items))
	}
	if err := f.render(rep, func() error { return writeReportTable(f.Out, rep) }); err != nil {
		return err
	}
	fmt.Fprintln(f.ErrOut, reportSummary(rep))
	if n, ok := lp.provider.(interface{ Notes() []string }); ok {
		for _, note := range n.Notes() {
			fmt.Fprintln(f.ErrOut, note)
		}
	}
	if manifests != nil && !o.DryRun {
		if err := writeManifests(f, o, lp, rep, manifests); err != nil {
			return err
		}
	}
	if h, ok := lp.provider.(interface{ HintFor(string) string }); ok && !o.DryRun {
		example := ""
		for _, it := range rep.Items {
			if it.Verified && it.Target != nil {
				example = it.Target.Address
				break
			}
		}
		// How to use what was written, once something was.
		if example != "" {
			fmt.Fprintln(f.ErrOut, h.HintFor(example))
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

// auditStopped reports a run the audit log stopped: what was done and recorded, how many
// writes reached the store without their outcome on record, and how to finish.
func auditStopped(f *factory, rep *migrate.Report, err error) error {
	if rep == nil {
		return err
	}
	if len(rep.Items) > 0 {
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
	log, err := o.audit.open(f, lp.fp, opts.RunID, lp.provider)
	if err != nil {
		return err
	}
	defer log.Close()
	opts.Recorder = log
	rep, err := migrate.Verify(ctx, lp.Plan, lp.sources, opts)
	if err != nil {
		if errors.Is(err, migrate.ErrAudit) {
			return withCode(ExitAudit, err)
		}
		return err
	}
	if err := f.render(rep, func() error { return writeReportTable(f.Out, rep) }); err != nil {
		return err
	}
	fmt.Fprintln(f.ErrOut, reportSummary(rep))
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

func (o *migrateOptions) manifestInput(p providers.Provider) (*templates.Input, error) {
	er, ok := p.(providers.ExternalReader)
	if !ok {
		return nil, usageError("--manifests: External Secrets Operator cannot read the %s provider", p.Name())
	}
	in := &templates.Input{
		Store: er.ExternalStore(), StoreKind: o.StoreKind, StoreName: o.StoreName, RefreshInterval: o.ESORefresh,
		Auth: templates.Auth{Method: o.ESOAuth, KubernetesMount: o.ESOK8sMount, ServiceAccount: o.ESOServiceAcct, ServiceAccountNamespace: o.ESOSANamespace, Audience: o.ESOAudience},
	}
	if o.ESOAuth == templates.AuthToken {
		parts := strings.Split(o.ESOTokenSecret, "/")
		switch len(parts) {
		case 2:
			in.Auth.TokenSecret = templates.SecretKeySelector{Name: parts[0], Key: parts[1]}
		case 3:
			in.Auth.TokenSecret = templates.SecretKeySelector{Namespace: parts[0], Name: parts[1], Key: parts[2]}
		default:
			return nil, usageError("--eso-token-secret must be [namespace/]name/key")
		}
	}
	// Validate now, before anything is written.
	if _, err := templates.Generate(*in); err != nil {
		return nil, usageError("%v", err)
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
			Immutable: s.Immutable, Refs: er.ExternalRefs(*it.Target, s),
		})
	}
	b, err := templates.Generate(*in)
	if err != nil {
		return err
	}
	if err := b.Write(o.Manifests); err != nil {
		return err
	}
	fmt.Fprintf(f.ErrOut, "wrote %d manifest files for %d Secrets to %s (kubectl apply -k %s)\n", len(b.Files), len(in.Items), o.Manifests, o.Manifests)
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
	return os.WriteFile(path, append(b, '\n'), 0o600)
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
	return &p, nil
}

func newRunID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

func short(fp string) string {
	fp = strings.TrimPrefix(fp, audit.FingerprintPrefix)
	if len(fp) > 12 {
		return fp[:12]
	}
	return fp
}

func writePlanTable(out io.Writer, p *migrate.Plan) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tACTION\tTARGET\tKEYS\tFINGERPRINT\tREASON")
	for _, it := range p.Items {
		reason := it.Reason
		if it.Message != "" && it.Action == migrate.ActionConflict {
			reason = it.Message
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", it.Namespace, it.Name, it.Action, targetAddress(it.Target), len(it.Keys), short(it.Fingerprint), dash(reason))
	}
	return tw.Flush()
}

func writeReportTable(out io.Writer, r *migrate.Report) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tRESULT\tTARGET\tVERSION\tVERIFIED\tDETAIL")
	for _, it := range r.Items {
		detail := it.Error
		if detail == "" {
			detail = it.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%t\t%s\n", it.Namespace, it.Name, it.Result, targetAddress(it.Target), dash(it.Version), it.Verified, dash(firstLine(detail)))
	}
	return tw.Flush()
}

func targetAddress(t *providers.Target) string {
	if t == nil {
		return "-"
	}
	return t.Address
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

func planSummary(s migrate.Summary) string {
	return fmt.Sprintf("plan: %d to create, %d to update, %d unchanged, %d skipped, %d conflicts", s.Create, s.Update, s.Unchanged, s.Skip, s.Conflict)
}

func reportSummary(r *migrate.Report) string {
	var parts []string
	for _, res := range []migrate.Result{migrate.ResultCreated, migrate.ResultUpdated, migrate.ResultUnchanged, migrate.ResultDone,
		migrate.ResultWouldCreate, migrate.ResultWouldUpdate, migrate.ResultVerified, migrate.ResultSkipped,
		migrate.ResultConflict, migrate.ResultMismatch, migrate.ResultMissing, migrate.ResultFailed} {
		if n := r.Counts[res]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, res))
		}
	}
	if len(parts) == 0 {
		parts = []string{"nothing to do"}
	}
	verb := "migrate to"
	if r.Kind == "VerifyReport" {
		verb = "verify against"
	}
	if r.DryRun {
		verb = "dry run of migrate to"
	}
	return fmt.Sprintf("%s %s in %s: %s", verb, r.Provider, r.Duration, strings.Join(parts, ", "))
}

// progressBar adapts a terminal progress bar to migrate.Progress.
type progressBar struct{ bar *progressbar.ProgressBar }

func (p *progressBar) Start(total int) { p.bar.ChangeMax(total) }
func (p *progressBar) Done()           { _ = p.bar.Add(1) }
func (p *progressBar) Finish()         { _ = p.bar.Finish(); _ = p.bar.Clear() }

// progress returns a bar on stderr when it is a terminal and stdout is not for machines.
func (f *factory) progress(total int, what string) *progressBar {
	if !isTerminal(f.ErrOut) || f.machineOutput() {
		return nil
	}
	return &progressBar{bar: progressbar.NewOptions(total, progressbar.OptionSetWriter(f.ErrOut), progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100*time.Millisecond))}
}
