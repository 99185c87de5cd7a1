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

	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/migrate"
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
}

func (o *sourceOptions) bind(fl *pflag.FlagSet) {
	fl.StringSliceVarP(&o.Files, "filename", "f", nil, "read manifests from a file, a directory (recursive) or - for stdin, instead of the cluster (repeatable)")
	fl.StringSliceVar(&o.Types, "type", nil, "only Secrets of this type, e.g. Opaque or kubernetes.io/tls (repeatable)")
	fl.StringSliceVar(&o.ExcludeNamespaces, "exclude-namespace", nil, "leave this namespace out entirely (repeatable)")
	fl.StringSliceVar(&o.Include, "include", nil, "migrate Secrets skipped for these reasons, e.g. empty,system-namespace (repeatable)")
	fl.Float32Var(&o.QPS, "qps", kube.DefaultQPS, "maximum requests per second to the API server")
	fl.IntVar(&o.Burst, "burst", kube.DefaultBurst, "maximum burst of requests to the API server")
	fl.Int64Var(&o.PageSize, "page-size", kube.DefaultPageSize, "objects per list request")
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
	for _, name := range o.Include {
		if _, err := kube.ParseReason(name); err != nil {
			return usageError("--include: %v", err)
		}
	}
	if o.PageSize <= 0 {
		return usageError("--page-size must be positive")
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
	}
}

// candidates reads the sources with values kept, prints per-object errors to stderr, and
// returns the Secrets with discover's decisions. badInput reports whether any object could
// not be read.
func (f *factory) candidates(ctx context.Context, o *sourceOptions, fp kube.Fingerprinter, exclude []string) (cands []migrate.Candidate, spec migrate.SourceSpec, report *kube.Discovery, err error) {
	opts, err := f.discoverOptions(o, exclude)
	if err != nil {
		return nil, spec, nil, err
	}
	opts.KeepValues = true
	opts.Fingerprinter = fp
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
	f.logger().Info("read Secrets", "secrets", report.Summary.Secrets, "to_migrate", report.Summary.Migrate, "skipped", report.Summary.Skip, "errors", report.Summary.Errors)
	for i := range report.Items {
		it := &report.Items[i]
		cands = append(cands, migrate.Candidate{
			Secret: it.Secret, Skip: it.Action == kube.ActionSkip, Reason: string(it.Reason), Message: it.Message,
		})
	}
	return cands, f.sourceSpec(o, opts), report, nil
}
