package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

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
	ESOServiceAcct string
	ESOSANamespace string
	ESORefresh     string

	audit auditFlags

	// withCutover (verify) compares the Secrets cutover handed to ESO instead of skipping them.
	withCutover bool

	// lean holds the Secrets read without their values, once read.
	lean *leanSource
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

// completeMigrateFlags offers the values of the flags that take one of a few words.
func completeMigrateFlags(cmd *cobra.Command) {
	completeWords(cmd, "to", registry.Names()...)
	completeSourceFlags(cmd)
	if cmd.Flags().Lookup("store-kind") != nil {
		completeWords(cmd, "store-kind", templates.KindSecretStore, templates.KindClusterSecretStore)
	}
}

func (o *migrateOptions) bindApply(fl *pflag.FlagSet) {
	for _, e := range registry.Providers {
		if ec, ok := o.providerConfig[e.Name].(providers.ExternalConfig); ok {
			ec.ExternalFlags(fl)
		}
	}
	fl.BoolVar(&o.Overwrite, "overwrite", false, "replace target content that secretshift did not write (refused by default)")
	fl.BoolVar(&o.DryRun, "dry-run", false, "show what would be written, write nothing")
	fl.StringVar(&o.JournalDir, "journal-dir", ".secretshift/journal", "where job journals are kept (resume state; no values)")
	fl.StringVar(&o.Manifests, "manifests", "", "write External Secrets Operator manifests for the migrated Secrets into this folder")
	fl.StringVar(&o.StoreKind, "store-kind", templates.KindSecretStore, "SecretStore (one per namespace) or ClusterSecretStore")
	fl.StringVar(&o.StoreName, "store-name", "", "name of the generated SecretStore/ClusterSecretStore (default secretshift-<provider>)")
	fl.StringVar(&o.ESOAuth, "eso-auth", "", "how ESO authenticates to the store (default: the store's usual method; its --<provider>-eso-* flags and help say which exist)")
	fl.StringVar(&o.ESOServiceAcct, "eso-service-account", templates.DefaultServiceAccount, "ServiceAccount ESO authenticates as, for methods that use one")
	fl.StringVar(&o.ESOSANamespace, "eso-service-account-namespace", templates.DefaultServiceAccountNamespace, "namespace of that ServiceAccount for a ClusterSecretStore")
	fl.StringVar(&o.ESORefresh, "refresh-interval", templates.DefaultRefreshInterval, "how often ESO re-reads the store")
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

With --shard I/N the plan holds shard I of N of the Secrets (by a hash of namespace/name) and
records it; apply then runs it only as that shard. A plan made without --shard can be applied by
N shards at once: each applies its part. A shard's plan is validated on its own: to check that
no two Secrets of different shards map to one target, make one plan without --shard first.

Exit status: 0 planned; 1 an input could not be read or the plan was rejected (every problem is
listed; with -o json/yaml the plan with its problems is still printed on stdout); 2 bad flags;
3 with --detailed-exitcode when there are changes to apply; 4 some targets are in conflict.`,
		Example: `  secretshift plan --to vault -A --out plan.json
  secretshift plan --to sops -f manifests/ --sops-out secrets/ --detailed-exitcode
  secretshift plan --to vault -n shop -o json | jq '.items[] | select(.action != "unchanged")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			plan, err := buildPlan(cmd.Context(), f, o)
			if err != nil {
				return f.renderStopped(err, migrate.PlanKind, o.To)
			}
			if o.PlanOut != "" {
				if err := writePlan(o.PlanOut, plan.Plan); err != nil {
					return err
				}
				fmt.Fprintf(f.status(), "plan saved to %s (job %s)\n", o.PlanOut, plan.ID)
			}
			if err := f.render(plan.Plan, func() error { return writePlanTable(f.Out, plan.Plan) }); err != nil {
				return err
			}
			fmt.Fprintln(f.status(), "into "+plan.Store)
			fmt.Fprintln(f.status(), planSummary(plan.Summary))
			if plan.Summary.Conflict > 0 {
				return withCode(ExitPartial, fmt.Errorf("%d conflict(s): targets hold content secretshift did not write\nreview them, then re-run with --overwrite to replace", plan.Summary.Conflict))
			}
			if o.DetailedExit && plan.Summary.Changes() > 0 {
				return withCode(ExitChanges, nil)
			}
			return nil
		},
	}
	f.bindCluster(cmd.Flags())
	o.source.bind(cmd.Flags())
	o.source.bindShard(cmd.Flags(), shardHelp)
	o.bindTarget(cmd.Flags(), true)
	cmd.Flags().BoolVar(&o.Overwrite, "overwrite", false, "plan to replace target content that secretshift did not write")
	cmd.Flags().StringVar(&o.PlanOut, "out", "", "save the plan as JSON to this file")
	cmd.Flags().BoolVar(&o.DetailedExit, "detailed-exitcode", false, "exit 3 when the plan has changes")
	completeMigrateFlags(cmd)
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

With --shard I/N (default: $JOB_COMPLETION_INDEX/$JOB_COMPLETIONS, as a Kubernetes Indexed Job
sets them), it migrates only shard I of N of the Secrets, by a hash of namespace/name, so that N
processes at once migrate every Secret exactly once. Give each shard its own --audit-log (and
--journal-dir if you like: the job id names the shard); each shard validates its own part before
its first write; check the logs together with "secretshift audit verify DIR". --manifests is
refused in a sharded run: once every shard has finished, run the command once without --shard,
with --manifests DIR; it finds every Secret unchanged and writes the manifests for all of them.

With --manifests DIR (Vault), it also writes ExternalSecrets that recreate every migrated Secret
under its old name, the SecretStore(s), ServiceAccount(s), a Vault policy granting read on exactly
the migrated paths and the Vault role commands.

Exit status: 0 every Secret migrated (or already there); 1 nothing was written (an input could not
be read, the plan was rejected, the store could not be opened); 2 bad flags; 4 partial: some
Secrets failed or are in conflict, the rest was done (run again to retry); 6 the audit log could not
be written; 130 interrupted (run the same command again to resume). With -o json/yaml the report
always goes to stdout, with its problems.`,
		Example: `  export VAULT_ADDR=https://vault.example.com VAULT_TOKEN=...
  secretshift migrate --to vault -n shop --manifests eso/
  secretshift migrate --to sops -f testdata/demo --sops-out demo-out
  secretshift migrate --to sops -f manifests/ --sops-out secrets/ --age-recipient age1... -o json > report.json
  secretshift migrate --to sealed -A --sealed-out sealed/          # certificate fetched from the controller
  secretshift migrate --to sealed -f manifests/ --sealed-cert cert.pem --sealed-out - > sealed.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			plan, err := buildPlan(cmd.Context(), f, o)
			if err != nil {
				return f.renderStopped(err, migrate.ReportKind, o.To)
			}
			return applyPlan(cmd.Context(), f, o, plan)
		},
	}
	f.bindCluster(cmd.Flags())
	o.source.bind(cmd.Flags())
	o.source.bindShard(cmd.Flags(), shardHelp)
	o.bindTarget(cmd.Flags(), true)
	o.bindApply(cmd.Flags())
	completeMigrateFlags(cmd)
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
environment as for migrate; targets must come out the same as in the plan, and settings the plan
recorded (SOPS recipients) are used as recorded.

Exit status: as for migrate: 0 done; 1 nothing was written (the plan no longer fits its source or
store); 2 bad flags; 4 partial; 6 audit log unavailable; 130 interrupted (run it again to resume).`,
		Example: `  secretshift plan --to vault -A --out plan.json
  secretshift apply plan.json --manifests eso/
  secretshift apply plan.json --dry-run`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			saved, err := readPlan(args[0])
			if err != nil {
				return err
			}
			o.To = saved.Provider
			plan, err := reloadPlan(cmd.Context(), f, o, saved)
			if err != nil {
				return f.renderStopped(err, migrate.ReportKind, o.To)
			}
			return applyPlan(cmd.Context(), f, o, plan)
		},
	}
	o.source.QPS, o.source.Burst = kube.DefaultQPS, kube.DefaultBurst
	o.source.bindShard(cmd.Flags(), "apply the part of shard I of N of a plan made without --shard; a shard's plan only as that shard")
	f.bindKubeconfig(cmd.Flags())
	o.bindTarget(cmd.Flags(), false)
	o.bindApply(cmd.Flags())
	completeMigrateFlags(cmd)
	return cmd
}

func newVerifyCmd(f *factory) *cobra.Command {
	o := newMigrateOptions()
	o.withCutover = true
	var planFile string
	cmd := &cobra.Command{
		Use:   "verify --to PROVIDER | verify --plan PLAN.json",
		Short: "Re-check a finished migration: every target still holds exactly its source",
		Long: `verify reads every target and compares it with its source Secret by keyed fingerprint. It
writes nothing to the store (only its audit record). The VERIFIED column says how each row compared:
"content" (values read back byte by byte) or "recorded-fingerprint" (the store could not be read,
e.g. SOPS files without a decryption key, so the fingerprint recorded at write time was compared).

After "secretshift cutover", the Secrets it handed to ESO are compared like any other; a Secret
without a copy in the store that was not cut over is skipped as not part of the migration.

Exit status: 0 every target matches; 1 an input could not be read; 2 bad flags; 5 some target is
missing or differs; 6 the audit log could not be written.`,
		Example: `  secretshift verify --to vault -n shop
  secretshift verify --plan plan.json
  SOPS_AGE_KEY_FILE=age.key secretshift verify --to sops -f manifests/ --sops-out secrets/
  secretshift verify --to sealed -A --sealed-out sealed/ --sealed-private-key main.key`,
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
				return f.renderStopped(err, migrate.VerifyReportKind, o.To)
			}
			return runVerify(cmd.Context(), f, o, plan)
		},
	}
	f.bindCluster(cmd.Flags())
	o.source.bind(cmd.Flags())
	o.source.bindShard(cmd.Flags(), shardHelp)
	o.bindTarget(cmd.Flags(), true)
	cmd.Flags().StringVar(&planFile, "plan", "", "verify the Secrets and targets of this saved plan")
	completeMigrateFlags(cmd)
	return cmd
}
