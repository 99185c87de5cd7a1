package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/internal/outdir"
	"github.com/secretshift/secretshift/job"
	"github.com/secretshift/secretshift/providers"
	"github.com/secretshift/secretshift/providers/registry"
	"github.com/secretshift/secretshift/rotate"
	"github.com/secretshift/secretshift/rotate/generate"
	"github.com/secretshift/secretshift/rotate/policy"
)

// rotateOptions are the flags of rotate.
type rotateOptions struct {
	store      *migrateOptions // --to, the store's flags, keys, audit log, journal
	Keys       []string
	Generators []string
	SetHook    []string
	TestHook   []string
	Timeout    time.Duration
	MaxAge     time.Duration
	Due        bool
	DryRun     bool
	ToVersion  string
	Policy     string
	Restart    bool
	Rollout    time.Duration
	Shard      string

	rendered bool // the report was printed
}

func newRotateCmd(f *factory) *cobra.Command {
	o := &rotateOptions{store: newMigrateOptions()}
	cmd := &cobra.Command{
		Use:   "rotate --to PROVIDER ENTRY... --key KEY --generator SPEC",
		Short: "Give stored Secrets new values, staged: set and test them before they become current",
		Long: `rotate gives each ENTRY (a store address, as plan and migrate print it in TARGET) new values
for the keys named with --key, each made by the --generator of the same position; the entry's
other keys keep their values.

Each entry goes through the same steps, each an audit record with the keyed fingerprints of the
old and new values (never the values):
  due      with --due, only entries older than --max-age are rotated
  pending  the new values are generated (crypto/rand), in memory only
  set      --set-hook puts them where they are used (a database user, an API token)
  test     --test-hook proves that they work
  promote  a check-and-set write makes them the store's current version, read back
A failed set or test hook runs the set hook again with the previous values and leaves the store
unchanged: the previous values stay current. In stores that keep versions (Vault) the previous
version stays readable after promotion, and "rotate rollback" makes it current again.

A hook is a program, run without a shell, that reads {"entry", "stage", "values"} as JSON on
stdin (values base64; stage set, test or rollback) and exits 0 on success.

Generators (` + strings.Join(generate.Types(), ", ") + `) take their parameters as
TYPE:name=value,...; for example password:length=32,symbols=4 or bytes:length=32,encoding=hex.

Exit status: 0 rotated, or nothing due; 1 bad input or every entry failed, nothing changed; 2
bad flags; 4 some entries failed, conflicted or were not restarted; 5 a set or test hook failed
and the previous values were put back.`,
		Example: `  secretshift rotate --policy rotation.yaml --due            # what a schedule runs
  secretshift rotate --to vault secret/shop/db --key password --generator password:length=32
  secretshift rotate --to vault secret/shop/db secret/shop/api --key token --generator bytes:length=32,encoding=hex \
      --set-hook ./hooks/set-token --test-hook ./hooks/test-token
  secretshift rotate --to vault secret/shop/db --key password --generator password --due --max-age 720h -o json
  secretshift rotate --to sops shop/db.yaml --sops-out secrets/ --key password --generator password --dry-run`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			err := runRotate(cmd.Context(), f, o, args)
			if err != nil && !o.rendered && exitCodeFor(err) != ExitUsage && f.Output != "" && f.Output != outputTable {
				// Machine output still gets a report, with what stopped the run.
				rep := &rotate.Report{APIVersion: rotate.APIVersion, Kind: rotate.ReportKind, Provider: o.store.To, Started: time.Now().UTC(), Duration: "0s",
					Items: []*rotate.ItemReport{}, Counts: map[rotate.Result]int{}, Problems: strings.Split(err.Error(), "\n")}
				if rerr := f.render(rep, nil); rerr != nil {
					return errors.Join(err, rerr)
				}
			}
			return err
		},
	}
	fl := cmd.Flags()
	o.store.bindTarget(fl, true)
	fl.StringVar(&o.store.JournalDir, "journal-dir", ".secretshift/journal", "where job journals are kept (resume state; no values)")
	fl.StringArrayVar(&o.Keys, "key", nil, "a key to give a new value (repeatable; pairs with --generator by position)")
	fl.StringArrayVar(&o.Generators, "generator", nil, "how the new value of the --key at the same position is made, TYPE[:name=value,...] (repeatable)")
	fl.StringArrayVar(&o.SetHook, "set-hook", nil, "program (and its arguments, one per repetition) that puts the new values where they are used")
	fl.StringArrayVar(&o.TestHook, "test-hook", nil, "program (and its arguments, one per repetition) that proves the new values work")
	fl.DurationVar(&o.Timeout, "hook-timeout", rotate.DefaultHookTimeout, "how long a hook may run")
	fl.DurationVar(&o.MaxAge, "max-age", 0, "with --due: rotate only entries whose current version is older than this")
	fl.BoolVar(&o.Due, "due", false, "rotate only entries older than --max-age")
	fl.BoolVar(&o.DryRun, "dry-run", false, "say what is due and why; change nothing")
	fl.BoolVar(&o.Restart, "restart", false, "after promotion, force-sync the ExternalSecrets that make each Secret, wait for the new values, and restart the workloads that read it (a policy sets this per rotation: restart: consumers)")
	fl.DurationVar(&o.Rollout, "rollout-timeout", 5*time.Minute, "how long restarted workloads may take to roll out (0: do not wait)")
	fl.StringVar(&o.Shard, "shard", "", "I/N: rotate only the entries of shard I of N (by a hash of each address), as one of N processes\n(default: $JOB_COMPLETION_INDEX/$JOB_COMPLETIONS, as in a Kubernetes Indexed Job)")
	fl.StringVar(&o.Policy, "policy", "", "rotation.yaml: rotate what its rotations match, each with its keys, generators, maxAge and hooks (instead of ENTRY and --key)")
	f.bindKubeconfig(fl)
	completeWords(cmd, "to", registry.Names()...)
	cmd.AddCommand(newRotateRollbackCmd(f))
	return cmd
}

// limits are --concurrency and --rate: entries in flight at once (hooks of several entries
// run side by side; --concurrency 1 runs them one after another) and begun per second.
func (o *rotateOptions) limits() job.Limits {
	return job.Limits{Concurrency: o.store.Concurrency, Rate: o.store.Rate}
}

// entries builds the rotation entries of the command line, checking everything before any
// change: the key/generator pairs, every generator's parameters, the hooks.
func (o *rotateOptions) entries(p providers.Provider, args []string) ([]rotate.Entry, error) {
	if len(args) == 0 {
		return nil, usageError("name at least one ENTRY (a store address, as plan prints it in TARGET)")
	}
	if len(o.Keys) == 0 || len(o.Keys) != len(o.Generators) {
		return nil, usageError("give --key and --generator in pairs (%d --key, %d --generator)", len(o.Keys), len(o.Generators))
	}
	if o.Due && o.MaxAge <= 0 {
		return nil, usageError("--due needs --max-age")
	}
	if o.MaxAge > 0 && !o.Due {
		return nil, usageError("--max-age only counts with --due (without it every entry is rotated)")
	}
	var keys []rotate.Key
	seen := map[string]bool{}
	for i, k := range o.Keys {
		if err := outdir.CheckKey(k); err != nil {
			return nil, usageError("--key %q: %v", k, err)
		}
		if seen[k] {
			return nil, usageError("--key %s given twice", k)
		}
		seen[k] = true
		spec, err := generate.ParseSpec(o.Generators[i])
		if err != nil {
			return nil, usageError("--generator %s: %v", o.Generators[i], err)
		}
		g, err := generate.New(spec)
		if err != nil {
			return nil, usageError("--generator for %s: %v", k, err)
		}
		keys = append(keys, rotate.Key{Name: k, Spec: spec, Generator: g})
	}
	hooks := rotate.Hooks{Set: o.SetHook, Test: o.TestHook, Timeout: o.Timeout}
	if err := hooks.Check(); err != nil {
		return nil, err
	}
	var out []rotate.Entry
	seenEntry := map[string]bool{}
	for _, a := range args {
		if seenEntry[a] {
			continue // once is enough: the set hook must not run twice for one entry
		}
		seenEntry[a] = true
		out = append(out, rotate.Entry{Target: providers.Target{Provider: p.Name(), Address: a}, Keys: keys, MaxAge: o.MaxAge, Hooks: hooks, Restart: o.Restart})
	}
	return out, nil
}

func runRotate(ctx context.Context, f *factory, o *rotateOptions, args []string) error {
	if o.Policy != "" {
		return runRotatePolicy(ctx, f, o, args)
	}
	if o.store.To == "" {
		return usageError("--to is required: one of %s", strings.Join(registry.Names(), ", "))
	}
	// Flags first: nothing is opened or created for a command line that cannot run.
	if len(o.Keys) != len(o.Generators) || len(args) == 0 {
		_, err := o.entries(nil, args)
		return err
	}
	if _, err := o.shard(f); err != nil {
		return err
	}
	p, fp, err := o.store.openStore(ctx, f)
	if err != nil {
		return err
	}
	entries, err := o.entries(p, args)
	if err != nil {
		return err
	}
	shard, err := o.shard(f)
	if err != nil {
		return err
	}
	entries = inShard(f, shard, entries)
	opts := rotate.Options{Provider: p, Fingerprinter: fp, JournalDir: o.store.JournalDir, RunID: newRunID(),
		Due: o.Due, DryRun: o.DryRun, Logger: f.logger(), Limits: o.limits()}
	opts.Promoted = rotate.PromotedFromAuditLog(o.store.audit.Log)
	if o.Restart { // a dry run checks that the cluster can follow (Consumers.Check)
		if opts.Consumers, err = newClusterConsumers(f, fp, o.Rollout); err != nil {
			return err
		}
	}
	if !o.DryRun {
		log, done, err := o.store.audit.open(f, fp, opts.RunID, p)
		if err != nil {
			return err
		}
		defer func() { done(); log.Close() }()
		opts.Recorder = log
	}
	rep, err := rotate.Run(ctx, entries, opts)
	if rep != nil {
		rep.Shard = shard.String()
	}
	return o.finishRotate(f, rep, err)
}

// finishRotate prints a rotation report and maps it to the exit status.
func (o *rotateOptions) finishRotate(f *factory, rep *rotate.Report, err error) error {
	if rep != nil {
		o.rendered = true
		if rerr := f.render(rep, func() error { return writeRotateTable(f.Out, rep) }); rerr != nil {
			return rerr
		}
		fmt.Fprintln(f.status(), rotateSummary(rep))
	}
	if err != nil {
		return withCode(ExitAudit, fmt.Errorf("%w\nthe run stopped before any further change", err))
	}
	switch {
	case rep.Counts[rotate.ResultFailed] == len(rep.Items) && len(rep.Items) > 0:
		return withCode(ExitError, fmt.Errorf("no entry rotated: every one failed, and nothing was changed in its store (see the report)"))
	case rep.Counts[rotate.ResultFailed]+rep.Counts[rotate.ResultConflict] > 0:
		return withCode(ExitPartial, fmt.Errorf("%d entr(ies) not rotated (see the report)", rep.Counts[rotate.ResultFailed]+rep.Counts[rotate.ResultConflict]))
	case rep.Counts[rotate.ResultNotRestarted] > 0:
		return withCode(ExitPartial, fmt.Errorf("%d entr(ies) rotated, but their Secret was not refreshed or their consumers not restarted (see the report)", rep.Counts[rotate.ResultNotRestarted]))
	case rep.Counts[rotate.ResultRolledBack] > 0:
		return withCode(ExitVerify, fmt.Errorf("%w: %d entr(ies); their previous values are current", rotate.ErrTestFailed, rep.Counts[rotate.ResultRolledBack]))
	}
	return nil
}

func writeRotateTable(out io.Writer, r *rotate.Report) error {
	tw := newTable(out)
	fmt.Fprintln(tw, "TARGET\tRESULT\tKEYS\tVERSION\tAGE\tDETAIL")
	for _, it := range r.Items {
		version := dash(it.Version)
		if it.Previous != "" && it.Version != "" {
			version = it.Previous + "→" + it.Version
		}
		detail := it.Error
		if detail == "" {
			detail = it.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", it.Target.Address, it.Result, strings.Join(it.Keys, ","), version, dash(it.Age), dash(firstLine(detail)))
	}
	return tw.Flush()
}

func rotateSummary(r *rotate.Report) string {
	var parts []string
	for _, res := range []rotate.Result{rotate.ResultRotated, rotate.ResultNotRestarted, rotate.ResultWouldRoll, rotate.ResultNotDue, rotate.ResultRolledBack, rotate.ResultConflict, rotate.ResultFailed} {
		if n := r.Counts[res]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, res))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "nothing to do")
	}
	return fmt.Sprintf("rotate in %s in %s: %s", r.Provider, r.Duration, strings.Join(parts, ", "))
}

func newRotateRollbackCmd(f *factory) *cobra.Command {
	o := &rotateOptions{store: newMigrateOptions()}
	cmd := &cobra.Command{
		Use:   "rollback --to PROVIDER ENTRY [--to-version N]",
		Short: "Make an earlier version of a rotated entry current again",
		Long: `rollback writes an earlier version of ENTRY (by default the one before the current) as its
new current version, as "vault kv rollback" does, and records it in the audit log. It needs a
store that keeps versions (Vault); for files in Git, revert the commit instead.

Exit status: 0 rolled back; 1 the store keeps no versions, or the version does not exist; 2 bad
flags.`,
		Example: `  secretshift rotate rollback --to vault secret/shop/db
  secretshift rotate rollback --to vault secret/shop/db --to-version 3`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, fp, err := o.store.openStore(ctx, f)
			if err != nil {
				return err
			}
			log, done, err := o.store.audit.open(f, fp, newRunID(), p)
			if err != nil {
				return err
			}
			defer func() { done(); log.Close() }()
			t := providers.Target{Provider: p.Name(), Address: args[0]}
			from, to, err := rotate.Rollback(ctx, p, log, t, o.ToVersion)
			if err != nil {
				if errors.Is(err, job.ErrAudit) {
					return withCode(ExitAudit, err)
				}
				return err // nothing was rolled back
			}
			fmt.Fprintf(f.status(), "%s: version %s is current again (as version %s)\n", t.Address, from, to)
			return f.render(map[string]string{"target": t.String(), "rolledBackTo": from, "version": to}, func() error { return nil })
		},
	}
	o.store.bindTarget(cmd.Flags(), true)
	cmd.Flags().StringVar(&o.ToVersion, "to-version", "", "the version to make current (default: the one before the current)")
	f.bindKubeconfig(cmd.Flags())
	return cmd
}

// runRotatePolicy rotates what a policy file's rotations match. The whole policy is checked
// (every problem at file:line:column), every generator built and every glob resolved against
// its store before anything changes.
func runRotatePolicy(ctx context.Context, f *factory, o *rotateOptions, args []string) error {
	if len(args) > 0 || len(o.Keys) > 0 || len(o.Generators) > 0 || o.store.To != "" {
		return usageError("--policy names the entries, keys and store itself: give no ENTRY, --key, --generator or --to")
	}
	checkGen := func(typ string, params map[string]string) error {
		_, err := generate.New(generate.Spec{Type: typ, Params: params})
		return err
	}
	if _, err := o.shard(f); err != nil {
		return err
	}
	pol, err := policy.Load(o.Policy, policy.Options{Stores: registry.Names(), Generators: generate.Types(), CheckGenerator: checkGen})
	if err != nil {
		return err
	}
	// The stores the policy names, each opened once with its flags.
	stores := map[string]providers.Provider{}
	var fp *audit.Fingerprinter
	var names []string
	for _, r := range pol.Rotations {
		if _, ok := stores[r.Store]; ok {
			continue
		}
		o.store.To = r.Store
		p, kfp, err := o.store.openStore(ctx, f)
		if err != nil {
			return err
		}
		stores[r.Store], fp = p, kfp
		names = append(names, r.Store)
	}
	byStore := map[string][]rotate.Entry{}
	var errs []error
	restart := false
	for _, r := range pol.Rotations {
		entries, err := policyEntries(ctx, stores[r.Store], r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		byStore[r.Store] = append(byStore[r.Store], entries...)
		restart = restart || r.Restart == policy.RestartConsumers
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	shard, err := o.shard(f)
	if err != nil {
		return err
	}
	for _, name := range names {
		byStore[name] = inShard(f, shard, byStore[name])
	}
	var consumers rotate.Consumers
	if restart { // a dry run checks that the cluster can follow (Consumers.Check)
		c, err := newClusterConsumers(f, fp, o.Rollout)
		if err != nil {
			return fmt.Errorf("%w\nor set restart: none in the policy", err)
		}
		consumers = c
	}
	runID := newRunID()
	var recorder job.Recorder
	if !o.DryRun {
		log, done, err := o.store.audit.open(f, fp, runID, stores[names[0]])
		if err != nil {
			return err
		}
		defer func() { done(); log.Close() }()
		recorder = log
	}
	total := &rotate.Report{APIVersion: rotate.APIVersion, Kind: rotate.ReportKind, RunID: runID, Provider: strings.Join(names, ","), DryRun: o.DryRun, Shard: shard.String(), Started: time.Now().UTC(), Counts: map[rotate.Result]int{}}
	var runErr error
	for _, name := range names {
		opts := rotate.Options{Provider: stores[name], Fingerprinter: fp, Recorder: recorder, JournalDir: o.store.JournalDir, RunID: runID,
			Due: o.Due, DryRun: o.DryRun, Logger: f.logger(), Consumers: consumers, Limits: o.limits()}
		opts.Promoted = rotate.PromotedFromAuditLog(o.store.audit.Log)
		rep, err := rotate.Run(ctx, byStore[name], opts)
		if rep != nil {
			total.Job = rep.Job
			total.Items = append(total.Items, rep.Items...)
			for k, v := range rep.Counts {
				total.Counts[k] += v
			}
		}
		if err != nil {
			runErr = err
			break
		}
	}
	total.Duration = time.Since(total.Started).Round(time.Millisecond).String()
	return o.finishRotate(f, total, runErr)
}

// policyEntries resolves one rotation of a policy: its generators, and the entries its
// paths match in p (every entry of the store when it names none).
func policyEntries(ctx context.Context, p providers.Provider, r policy.Rotation) ([]rotate.Entry, error) {
	var keys []rotate.Key
	var errs []error
	for _, k := range r.Keys {
		spec := generate.Spec{Type: k.Generator, Params: k.Params}
		g, err := generate.New(spec)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: rotation %q, key %s: %w", k.Pos, r.Name, k.Key, err))
			continue
		}
		keys = append(keys, rotate.Key{Name: k.Key, Spec: spec, Generator: g})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	en, ok := p.(providers.Enumerator)
	if !ok {
		return nil, fmt.Errorf("%s: rotation %q: the %s store cannot list its entries", r.Pos, r.Name, p.Name())
	}
	globs := r.Match.Paths
	byNamespace := false
	if ne, ok := p.(providers.NamespacedEnumerator); ok && len(globs) == 0 && len(r.Match.Namespaces) > 0 {
		// List only the namespaces named: all a scheduled run's Roles allow.
		byNamespace = true
		for _, ns := range r.Match.Namespaces {
			globs = append(globs, ne.NamespacePrefix(ns)+"*")
		}
	}
	if len(globs) == 0 {
		globs = []string{"*"}
	}
	total := 0
	seen := map[string]bool{}
	var out []rotate.Entry
	hooks := rotate.Hooks{Set: r.Hooks.Set, Test: r.Hooks.Test, Timeout: r.Hooks.Timeout}
	// Paths chose the entries; namespaces, names and labels are checked on what each holds.
	rest := r.Match
	rest.Paths = nil
	var filter func(*providers.Stored) bool
	if len(rest.Namespaces)+len(rest.Names)+len(rest.Labels) > 0 {
		filter = func(st *providers.Stored) bool { return rest.Matches("", st.Ref.Namespace, st.Ref.Name, st.Labels) }
	}
	for _, glob := range globs {
		targets, err := en.Entries(ctx, globPrefix(glob))
		if err != nil {
			return nil, fmt.Errorf("%s: rotation %q: %w", r.Pos, r.Name, err)
		}
		n := 0
		for _, t := range targets {
			if ok, _ := path.Match(glob, t.Address); !ok && glob != "*" {
				continue
			}
			n++
			if seen[t.Address] {
				continue
			}
			seen[t.Address] = true
			out = append(out, rotate.Entry{Target: t, Keys: keys, MaxAge: r.MaxAge, Hooks: hooks, Filter: filter, Rule: r.Name, Restart: r.Restart == policy.RestartConsumers})
		}
		total += n
		if n == 0 && !byNamespace {
			errs = append(errs, fmt.Errorf("%s: rotation %q: path %q matches no entry of the %s store", r.Pos, r.Name, glob, p.Name()))
		}
	}
	if byNamespace && total == 0 {
		errs = append(errs, fmt.Errorf("%s: rotation %q: the %s store has no entry in namespace %s", r.Pos, r.Name, p.Name(), strings.Join(r.Match.Namespaces, ", ")))
	}
	return out, errors.Join(errs...)
}

// globPrefix is the part of a glob before its first pattern character, cut back to a folder:
// the prefix to list.
func globPrefix(glob string) string {
	i := strings.IndexAny(glob, "*?[\\")
	if i < 0 {
		return glob
	}
	return glob[:strings.LastIndex(glob[:i], "/")+1]
}

// shard is --shard, else the Indexed Job's variables (see shardOf).
func (o *rotateOptions) shard(f *factory) (job.Shard, error) { return f.shardOf(o.Shard) }

// inShard keeps the entries of shard, by their address.
func inShard(f *factory, shard job.Shard, entries []rotate.Entry) []rotate.Entry {
	if shard.Count <= 1 {
		return entries
	}
	out := entries[:0:0]
	for _, e := range entries {
		if shard.Has(e.Target.Address) {
			out = append(out, e)
		}
	}
	fmt.Fprintf(f.status(), "shard %s: %d of %d entries\n", shard, len(out), len(entries))
	return out
}
