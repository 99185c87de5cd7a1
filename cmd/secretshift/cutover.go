package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/cutover"
	"github.com/secretshift/secretshift/job"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
	"github.com/secretshift/secretshift/providers/registry"
	"github.com/secretshift/secretshift/templates"
)

// cutoverOptions are the flags of cutover.
type cutoverOptions struct {
	store               *migrateOptions // --to, the store's and ESO's flags, keys, audit log, journal
	Timeout             time.Duration
	SkipControllerCheck bool
	Plan                string // a plan saved by "plan --out"
}

// esoFlags are the flags that shape the ESO objects cutover makes; with --manifests the user's
// own objects are applied instead.
var esoFlags = []string{"store-kind", "store-name", "eso-auth", "eso-service-account", "eso-service-account-namespace", "refresh-interval"}

func newCutoverCmd(f *factory) *cobra.Command {
	o := &cutoverOptions{store: newMigrateOptions()}
	cmd := &cobra.Command{
		Use:   "cutover --to PROVIDER",
		Short: "Hand migrated Secrets to the External Secrets Operator (or the sealed-secrets controller) in place",
		Long: `cutover makes each selected Secret managed by an ExternalSecret that reads the store it was
migrated into (for a store whose copies are cluster objects, by that object), without deleting
it: the Secret keeps its UID and bytes throughout, so a pod that starts meanwhile always finds it.

Before anything changes, for the whole selection: ESO's CRDs are served, its controller Deployment
is Available (--skip-controller-check when it runs elsewhere), the store answers, and you may patch
Secrets and create ExternalSecrets and SecretStores. Any failure is listed and nothing changes.
Each Secret's store copy is read now and compared with the live Secret by keyed fingerprint (type,
key names, every byte): a copy that differs, or a Secret owned by another controller, is refused
and left untouched; a Secret the store does not hold is skipped.

Then, namespace by namespace: the SecretStore is applied (server-side apply, field manager
secretshift) and must be Ready; each Secret gets an ExternalSecret with creationPolicy Owner, which
ESO uses to adopt the existing Secret in place; once the ExternalSecret is Ready and owns the
Secret, the Secret is compared with the source again and annotated with its provenance
(secretshift.io/cutover, fingerprint, store address, run id). Every step is in the audit log.

With --manifests DIR, the ESO objects of DIR (the folder "migrate --manifests" wrote, reviewed and
perhaps edited since, or one file of them) are applied as written instead, for the Secrets its
ExternalSecrets make: each ExternalSecret must make its Secret from exactly the verified copy
(creationPolicy Owner, the same keys and remote references, the same type, no dataFrom or
template.data), else that Secret is refused; its stores must be in DIR or in the cluster.

For a store whose copies are cluster objects (sealed secrets), each Secret is first annotated
sealedsecrets.bitnami.com/managed=true (that controller takes over only such Secrets), then its
object from the store's folder is applied and must become Synced and own the Secret.

Deleting the object that owns a Secret (its ExternalSecret) deletes the Secret: use
"cutover rollback".

Exit status: 0 every Secret adopted or already managed (or skipped: not in the store); 1 a
precondition failed, nothing changed; 2 bad flags; 4 some Secrets were refused or failed; 5 a
Secret ESO now owns differs from its source; 6 the audit log could not be written; 130
interrupted (run the same command again to finish).`,
		Example: `  secretshift cutover --to vault -n shop --vault-eso-token-secret vault-token/token --eso-auth token
  secretshift cutover --to vault -A -l tier=backend --dry-run -o yaml
  secretshift cutover --plan plan.json
  secretshift cutover --manifests eso/ --vault-addr https://vault.example.com
  secretshift cutover --to sealed -n shop --sealed-out sealed/
  secretshift cutover rollback -n shop db api`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCutover(cmd.Context(), f, o, cmd.Flags())
		},
	}
	fl := cmd.Flags()
	f.bindCluster(fl)
	o.store.source.bind(fl)
	o.store.bindTarget(fl, true)
	o.store.bindApply(fl) // --dry-run, --journal-dir and the ESO flags of --manifests
	fl.DurationVar(&o.Timeout, "timeout", cutover.DefaultTimeout, "how long each SecretStore and each Secret may take to be Ready and owned")
	fl.BoolVar(&o.SkipControllerCheck, "skip-controller-check", false, "do not require an Available ESO controller Deployment (it runs outside the cluster)")
	fl.StringVar(&o.Plan, "plan", "", "cut over the Secrets a plan saved by \"plan --out\" moved, into its store (--to may be left out)")
	_ = fl.MarkHidden("overwrite")
	fl.VisitAll(func(fl *pflag.Flag) {
		// The stores' ESO flags shape the objects cutover makes, so they apply without --manifests.
		if strings.Contains(fl.Name, "-eso-") {
			fl.Usage = strings.Replace(strings.Replace(fl.Usage, "with --manifests --eso-auth", "with --eso-auth", 1), "with --manifests", "without --manifests", 1)
		}
	})
	fl.Lookup("manifests").Usage = "apply the ESO objects of this folder (written by \"migrate --manifests\", maybe edited since) or file,\ninstead of making them; it selects the Secrets its ExternalSecrets make (--to may be left out)"
	completeMigrateFlags(cmd)
	cmd.AddCommand(newCutoverRollbackCmd(f))
	return cmd
}

func runCutover(ctx context.Context, f *factory, o *cutoverOptions, flags *pflag.FlagSet) error {
	so := o.store
	var plan *cutoverPlan
	var err error
	switch {
	case o.Plan != "" && so.Manifests != "":
		return usageError("give --plan or --manifests, not both")
	case o.Plan != "":
		if plan, err = loadCutoverPlan(f, so, o.Plan); err != nil {
			return err
		}
	case so.Manifests != "":
		var given error
		flags.Visit(func(fl *pflag.Flag) {
			if given == nil && (slices.Contains(esoFlags, fl.Name) || strings.Contains(fl.Name, "-eso-")) {
				given = usageError("--%s: with --manifests the stores and ExternalSecrets are applied as written in %s", fl.Name, so.Manifests)
			}
		})
		if given != nil {
			return given
		}
		if plan, err = loadCutoverManifests(f, so, so.Manifests); err != nil {
			return err
		}
	}
	if err := so.validate(f); err != nil {
		return err
	}
	if len(so.source.Files) > 0 {
		return usageError("cutover works on a cluster: -f is not supported")
	}
	if o.Timeout <= 0 {
		return usageError("--timeout must be positive")
	}
	p, fp, err := so.openStore(ctx, f)
	if err != nil {
		return err
	}
	var manifests templates.Input
	if _, ok := p.(providers.ExternalReader); ok {
		in, err := so.manifestInput(p)
		if err != nil {
			return err
		}
		manifests = *in
	}
	cfg, err := f.restConfig()
	if err != nil {
		return err
	}
	if plan != nil {
		if err := plan.check(p, fp, cfg.Host); err != nil {
			return err
		}
	}
	// Each Secret in flight polls its ExternalSecret and Secret while it waits.
	cfg.QPS, cfg.Burst = max(so.source.QPS, float32(4*so.Concurrency)), max(so.source.Burst, 8*so.Concurrency)
	cluster, err := kube.NewCluster(cfg)
	if err != nil {
		return err
	}
	secrets, err := cutoverSelection(ctx, f, so, fp)
	if err != nil {
		return err
	}
	if plan != nil {
		var absent []string
		if secrets, absent = plan.filter(secrets); len(absent) > 0 {
			fmt.Fprintln(f.status(), plan.absentLine(absent))
		}
	}
	opts := cutover.Options{Provider: p, Fingerprinter: fp, Cluster: cluster, Manifests: manifests, JournalDir: so.JournalDir, RunID: newRunID(),
		DryRun: so.DryRun, Timeout: o.Timeout, SkipControllerCheck: o.SkipControllerCheck, Logger: f.logger(),
		Limits: job.Limits{Concurrency: so.Concurrency, Rate: so.Rate}}
	if plan != nil {
		opts.Given = plan.given
	}
	opts.Progress = func(ns string) job.Progress {
		if bar := f.progress(0, ns); bar != nil {
			return &namespaceProgress{progressBar: bar, f: f, ns: ns}
		}
		return nil
	}
	if !so.DryRun {
		log, done, err := so.audit.open(f, fp, opts.RunID, p)
		if err != nil {
			return err
		}
		defer func() { done(); log.Close() }()
		opts.Recorder = log
	}
	rep, err := cutover.Run(ctx, secrets, opts)
	return finishCutover(f, rep, err)
}

// cutoverSelection reads the selected Secrets with their values: those discover would migrate,
// and those it leaves out because a controller owns them (already handed over, or owned by
// another controller: the engine says which).
func cutoverSelection(ctx context.Context, f *factory, so *migrateOptions, fp *audit.Fingerprinter) ([]*kube.Secret, error) {
	cands, spec, report, err := f.candidates(ctx, &so.source, fp, nil, nil)
	if err != nil {
		return nil, interrupted(err, "reading the Secrets")
	}
	if report.Summary.Errors > 0 {
		return nil, withCode(ExitError, fmt.Errorf("%d object(s) could not be read (listed above); nothing was changed", report.Summary.Errors))
	}
	var out []*kube.Secret
	for _, c := range cands {
		if c.Skip && !kube.Reason(c.Reason).ControllerOwned() {
			continue
		}
		out = append(out, c.Secret)
	}
	if len(out) == 0 {
		fmt.Fprintln(f.status(), noneFound(spec))
	}
	return out, nil
}

// finishCutover prints the report (also for a run that stopped) and maps it to the exit status.
func finishCutover(f *factory, rep *cutover.Report, err error) error {
	if rep != nil {
		if rerr := f.render(rep, func() error { return writeCutoverTable(f, rep) }); rerr != nil {
			return errors.Join(err, rerr)
		}
		fmt.Fprintln(f.status(), cutoverSummary(rep))
	}
	var pe *cutover.PreconditionError
	switch {
	case errors.As(err, &pe):
		return withCode(ExitError, err)
	case errors.Is(err, job.ErrAudit):
		return withCode(ExitAudit, fmt.Errorf("%w\nthe run stopped before any further change; run it again once the audit log can be written", err))
	case errors.Is(err, context.Canceled):
		return withCode(ExitCancelled, errors.New("interrupted: every Secret still exists; run the same command again to finish"))
	case err != nil:
		return err
	}
	switch {
	case rep.Counts[cutover.ResultVerifyFailed] > 0:
		return withCode(ExitVerify, fmt.Errorf("%w: %d Secret(s) owned by ESO differ from their source (see the report)", job.ErrVerify, rep.Counts[cutover.ResultVerifyFailed]))
	case rep.Counts[cutover.ResultRefused]+rep.Counts[cutover.ResultFailed] > 0:
		return withCode(ExitPartial, fmt.Errorf("%d Secret(s) refused, %d failed; they still exist as they were (see the report)",
			rep.Counts[cutover.ResultRefused], rep.Counts[cutover.ResultFailed]))
	}
	return nil
}

func writeCutoverTable(f *factory, r *cutover.Report) error {
	if r.DryRun && len(r.Applied) > 0 {
		// What would be applied, as the server accepted it in its dry run.
		for _, obj := range r.Applied {
			b, err := yaml.Marshal(obj)
			if err != nil {
				return err
			}
			fmt.Fprintf(f.Out, "---\n%s", b)
		}
		fmt.Fprintln(f.Out, "---")
	}
	return writeCutoverItems(f.Out, r)
}

func writeCutoverItems(out io.Writer, r *cutover.Report) error {
	tw := newTable(out)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tRESULT\tTARGET\tFINGERPRINT\tDETAIL")
	for _, it := range r.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", it.Namespace, it.Name, it.Result, dash(it.Target), audit.ShortFingerprint(it.Fingerprint), dash(firstLine(it.Reason)))
	}
	return tw.Flush()
}

func cutoverSummary(r *cutover.Report) string {
	var parts []string
	for _, res := range []cutover.Result{cutover.ResultAdopted, cutover.ResultWouldAdopt, cutover.ResultAlreadyManaged, cutover.ResultReleased,
		cutover.ResultWouldRelease, cutover.ResultSkipped, cutover.ResultRefused, cutover.ResultFailed, cutover.ResultVerifyFailed} {
		if n := r.Counts[res]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, res))
		}
	}
	if len(parts) == 0 {
		parts = []string{"nothing to do"}
	}
	verb := "cutover"
	if r.Kind == cutover.RollbackReportKind {
		verb = "cutover rollback"
	}
	if r.DryRun {
		verb = "dry run of " + verb
	}
	to := ""
	if r.Provider != "" {
		to = " to " + r.Provider
	}
	return fmt.Sprintf("%s%s in %s: %s", verb, to, r.Duration, strings.Join(parts, ", "))
}

func newCutoverRollbackCmd(f *factory) *cobra.Command {
	var (
		dryRun  bool
		timeout time.Duration
		fpKey   string
		au      auditFlags
	)
	cmd := &cobra.Command{
		Use:   "rollback -n NAMESPACE [NAME...]",
		Short: "Return Secrets handed to ESO to plain Secrets, in place",
		Long: `rollback returns each named Secret (default: every Secret of the namespace that cutover handed
over) to a plain Secret: its ExternalSecret is deleted with propagationPolicy Orphan, which has the
garbage collector release the Secret's ownerReference instead of deleting the Secret; once the
ExternalSecret is gone, ESO's labels and annotation and the provenance annotations are removed. The
Secret keeps its UID and bytes. A plain "kubectl delete externalsecret" would delete the Secret.

Exit status: 0 every Secret released; 1 a precondition failed (rights), nothing changed; 2 bad
flags; 4 some Secrets were refused (not handed over by secretshift) or failed; 6 the audit log
could not be written.`,
		Example: `  secretshift cutover rollback -n shop
  secretshift cutover rollback -n shop db api --dry-run`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if f.AllNamespaces {
				return usageError("rollback works on one namespace at a time: use -n")
			}
			ns, err := f.namespace()
			if err != nil {
				return err
			}
			cfg, err := f.restConfig()
			if err != nil {
				return err
			}
			cluster, err := kube.NewCluster(cfg)
			if err != nil {
				return err
			}
			fp, err := f.fingerprinter(fpKey, au.Log)
			if err != nil {
				return err
			}
			opts := cutover.RollbackOptions{Cluster: cluster, Fingerprinter: fp, RunID: newRunID(), DryRun: dryRun, Timeout: timeout}
			if !dryRun {
				log, done, err := au.open(f, fp, opts.RunID, nil) // no store: a rollback changes only the cluster
				if err != nil {
					return err
				}
				defer func() { done(); log.Close() }()
				opts.Recorder = log
			}
			rep, err := cutover.Rollback(ctx, ns, args, opts)
			return finishCutover(f, rep, err)
		},
	}
	fl := cmd.Flags()
	f.bindCluster(fl)
	fl.BoolVar(&dryRun, "dry-run", false, "send every delete and patch as a server-side dry run; change nothing")
	fl.DurationVar(&timeout, "timeout", cutover.DefaultTimeout, "how long the garbage collector may take to release each Secret")
	fl.StringVar(&fpKey, "fingerprint-key", "", "file holding the fingerprint (audit HMAC) key\n(default: $"+fingerprintKeyEnv+", else .secretshift/keys/hmac.key)")
	au.bind(fl)
	completeWords(cmd, "to", registry.Names()...)
	return cmd
}

// namespaceProgress is a bar while a namespace's Secrets are handed over, and one line once
// they are (on a terminal only).
type namespaceProgress struct {
	*progressBar
	f     *factory
	ns    string
	total int
}

func (p *namespaceProgress) Start(total int) { p.total = total; p.progressBar.Start(total) }

func (p *namespaceProgress) Finish() {
	p.progressBar.Finish()
	fmt.Fprintf(p.f.status(), "%s: %d Secret(s) done\n", p.ns, p.total)
}
