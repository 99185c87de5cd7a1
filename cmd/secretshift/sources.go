package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/secretshift/secretshift/job"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/migrate"
	"github.com/secretshift/secretshift/templates"
)

// sourceOptions are the flags that choose which Secrets a command reads: the same for
// discover, plan, migrate and verify, so an inventory and a migration always agree.
type sourceOptions struct {
	Files             []string
	Types             []string
	ExcludeNamespaces []string
	Include           []string
	QPS               float32
	Burst             int
	PageSize          int64
	// Shard is --shard; shard is what it (or the Indexed Job's variables) name, set by validate
	// for the commands that take --shard (sharded).
	Shard   string
	shard   job.Shard
	sharded bool
}

func (o *sourceOptions) bind(fl *pflag.FlagSet) {
	fl.StringSliceVarP(&o.Files, "filename", "f", nil, "read manifests from a file, a directory (recursive) or - for stdin, instead of the cluster (repeatable)")
	fl.StringSliceVar(&o.Types, "type", nil, "only Secrets of this type, e.g. Opaque or kubernetes.io/tls (repeatable)")
	fl.StringSliceVar(&o.ExcludeNamespaces, "exclude-namespace", nil, "leave this namespace out entirely (repeatable)")
	fl.StringSliceVar(&o.Include, "include", nil, "migrate Secrets skipped for these reasons, e.g. empty,system-namespace (repeatable)")
	fl.Float32Var(&o.QPS, "qps", kube.DefaultQPS, "maximum requests per second to the API server")
	fl.IntVar(&o.Burst, "burst", kube.DefaultBurst, "maximum burst of requests to the API server")
	fl.Int64Var(&o.PageSize, "page-size", 0, fmt.Sprintf("objects per list request (default: %d, growing to at most %d while pages stay under %d MiB)",
		kube.DefaultPageSize, kube.MaxPageSize, kube.PageBytes>>20))
}

// bindShard adds --shard to a command that can run as one of N shards (discover, plan,
// migrate, apply, verify); what says what the shard selects. Only such commands take their
// shard from the Indexed Job's variables.
func (o *sourceOptions) bindShard(fl *pflag.FlagSet, what string) {
	o.sharded = true
	fl.StringVar(&o.Shard, "shard", "", "I/N: "+what+"\n(default: $"+templates.ShardIndexEnv+"/$"+templates.ShardCountEnv+", as in a Kubernetes Indexed Job)")
}

// shardHelp is what --shard selects for the commands that read Secrets.
const shardHelp = "only the Secrets of shard I of N (by a hash of namespace/name), as one of N processes"

// shardOf is the shard a --shard flag names, else the Indexed Job's variables (the Job
// controller sets the index, the Job that generate job writes the count); the zero Shard
// (everything) without either. rotate, discover, plan, migrate, apply and verify all take
// their shard from here.
func (f *factory) shardOf(flag string) (job.Shard, error) {
	if flag != "" {
		s, err := job.ParseShard(flag)
		if err != nil {
			return s, usageError("--shard: %v", err)
		}
		return s, nil
	}
	index, count := f.Getenv(templates.ShardIndexEnv), f.Getenv(templates.ShardCountEnv)
	if index == "" && count == "" {
		return job.Shard{}, nil
	}
	s, err := job.ParseShard(index + "/" + count)
	if err != nil {
		return s, usageError("$%s=%q and $%s=%q do not name a shard: %v\nset both (an Indexed Job sets the first; set the second to its completions), or give --shard I/N",
			templates.ShardIndexEnv, index, templates.ShardCountEnv, count, err)
	}
	return s, nil
}

// shardLine says what a shard took of what was selected: "shard 2/4: 503 of 2000 Secrets".
func shardLine(shard job.Shard, took, of int) string {
	return fmt.Sprintf("shard %s: %d of %d Secrets", shard, took, of)
}

// completeSourceFlags offers skip reasons for --include and the common Secret types for --type.
func completeSourceFlags(cmd *cobra.Command) {
	if cmd.Flags().Lookup("include") == nil {
		return
	}
	reasons := make([]string, 0, len(kube.Reasons()))
	for _, r := range kube.Reasons() {
		reasons = append(reasons, string(r))
	}
	completeWords(cmd, "include", reasons...)
	completeWords(cmd, "type", "Opaque", "kubernetes.io/tls", "kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg",
		"kubernetes.io/basic-auth", "kubernetes.io/ssh-auth", "kubernetes.io/service-account-token", "bootstrap.kubernetes.io/token")
}

// validate checks the source flags without I/O: usage errors first, so that nothing is
// created for a command that cannot run.
func (o *sourceOptions) validate(f *factory) error {
	if o.sharded {
		shard, err := f.shardOf(o.Shard)
		if err != nil {
			return err
		}
		o.shard = shard
	}
	for _, name := range o.Include {
		if _, err := kube.ParseReason(name); err != nil {
			return usageError("--include: %v", err)
		}
	}
	if o.PageSize < 0 {
		return usageError("--page-size cannot be negative (0, the default, lets pages grow)")
	}
	if o.QPS <= 0 || o.Burst <= 0 {
		return usageError("--qps and --burst must be positive")
	}
	if f.AllNamespaces && f.Namespace != "" {
		return usageError("-n and -A cannot be used together")
	}
	if _, err := labels.Parse(f.Selector); err != nil {
		return fmt.Errorf("--selector %q: %w", f.Selector, err)
	}
	return nil
}

// discoverOptions turns the flags into kube.Options, connecting to the cluster unless files
// were given. exclude names folders never read as input (the output folder of the same run).
func (f *factory) discoverOptions(o *sourceOptions, exclude []string) (kube.Options, error) {
	opts := kube.Options{
		Filter:   kube.Filter{Selector: f.Selector, Types: o.Types, ExcludeNamespaces: o.ExcludeNamespaces},
		PageSize: o.PageSize,
	}
	if err := o.validate(f); err != nil {
		return opts, err
	}
	for _, name := range o.Include {
		r, _ := kube.ParseReason(name)
		opts.Classify.Include = append(opts.Classify.Include, r)
	}
	if o.shard.Count > 0 {
		opts.Filter.Shard = o.shard.HasSecret
	}
	if len(o.Files) > 0 {
		opts.ExcludePaths = exclude
		f.logger().Info("reading manifests", "paths", strings.Join(o.Files, ","), "namespace", f.Namespace, "excluded", strings.Join(exclude, ","))
		opts.Files, opts.Stdin, opts.Namespace = o.Files, f.In, f.Namespace
		return opts, nil
	}
	cfg, err := f.restConfig()
	if err != nil {
		return opts, err
	}
	if opts.Namespace, err = f.namespace(); err != nil {
		return opts, err
	}
	if opts.Client, err = kube.NewClient(cfg, kube.ClientOptions{QPS: o.QPS, Burst: o.Burst}); err != nil {
		return opts, err
	}
	opts.Cluster = cfg.Host
	f.logger().Info("reading cluster", "server", cfg.Host, "namespace", opts.Namespace, "pageSize", o.PageSize)
	return opts, nil
}

// whoAmI asks the API server who the credentials belong to (SelfSubjectReview, GA since 1.28),
// for the audit log. It returns "" when the server cannot say.
func whoAmI(ctx context.Context, c kubernetes.Interface) string {
	r, err := c.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return ""
	}
	return r.Status.UserInfo.Username
}

// sourceSpec records the source flags in a plan.
func (f *factory) sourceSpec(o *sourceOptions, opts kube.Options) migrate.SourceSpec {
	return migrate.SourceSpec{
		Files: o.Files, Cluster: opts.Cluster, Context: f.Context, Namespace: opts.Namespace,
		AllNamespaces: len(o.Files) == 0 && opts.Namespace == "", Selector: f.Selector,
		Shard: o.shard.String(),
	}
}

// noteShard says, on stderr, which shard ran and what it took of the Secrets selected.
func (f *factory) noteShard(o *sourceOptions, r *kube.Discovery) {
	if o.shard.Count == 0 {
		return
	}
	r.Source.Shard = o.shard.String()
	fmt.Fprintln(f.status(), shardLine(o.shard, r.Summary.Secrets, r.Summary.Secrets+r.Summary.InOtherShards))
}

// candidates reads the sources with values kept, prints per-object errors to stderr, and
// returns the Secrets with discover's decisions. badInput reports whether any object could
// not be read.
//
// With lean set, values are measured and let go as they are read (leanSource), unless they
// come from standard input.
func (f *factory) candidates(ctx context.Context, o *sourceOptions, fp kube.Fingerprinter, exclude []string, lean *leanSource) (cands []migrate.Candidate, spec migrate.SourceSpec, report *kube.Discovery, err error) {
	opts, err := f.discoverOptions(o, exclude)
	if err != nil {
		return nil, spec, nil, err
	}
	opts.KeepValues = true
	opts.Fingerprinter = fp
	lean.use(&opts)
	report, err = kube.Discover(ctx, opts)
	if err != nil {
		return nil, spec, nil, err
	}
	if opts.Client != nil {
		f.kubeUser = whoAmI(ctx, opts.Client)
	}
	for _, p := range report.Errors {
		fmt.Fprintf(f.ErrOut, "secretshift: %s\n", p.Error())
	}
	f.noteShard(o, report)
	f.logger().Info("read Secrets", "secrets", report.Summary.Secrets, "to_migrate", report.Summary.Migrate, "skipped", report.Summary.Skip, "errors", report.Summary.Errors)
	for i := range report.Items {
		it := &report.Items[i]
		cands = append(cands, migrate.Candidate{
			Secret: it.Secret, Skip: it.Action == kube.ActionSkip, Reason: string(it.Reason), Message: it.Message,
			Measured: lean.measured(it),
		})
	}
	if lean != nil && lean.active {
		f.logger().Info("values in memory", "bytes", lean.kept.Load(), "budget_bytes", lean.budget.Load(), "read_again_when_written", lean.readAgain)
	}
	return cands, f.sourceSpec(o, opts), report, nil
}
