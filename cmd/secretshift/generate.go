package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
	"github.com/secretshift/secretshift/providers/registry"
	"github.com/secretshift/secretshift/rotate/generate"
	"github.com/secretshift/secretshift/rotate/policy"
	"github.com/secretshift/secretshift/templates"
)

func newGenerateCmd(f *factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Write what runs secretshift unattended: a CronJob or an Indexed Job in the cluster, a CI workflow",
		Long: `generate writes the manifests or workflow files that run secretshift on a schedule. External
Secrets Operator manifests come from migrate --manifests.

Output: YAML on stdout, or with -o DIR one file per object and a kustomization.yaml in DIR.

Exit status: 0, 1 when the policy or a store's settings are not usable, 2 bad flags.`,
		Example: `  secretshift generate cronjob --policy rotation.yaml -n secretshift -o deploy/rotation/
  secretshift generate ci --provider github --vault-addr https://vault.example:8200 --vault-role secretshift-ci -o .`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageError("name what to generate: cronjob, job or ci")
		},
		// -o is a folder here, or yaml for stdout.
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if f.Output == outputJSON || f.Output == "" {
				return usageError("generate writes YAML: -o yaml (stdout, the default) or -o DIR")
			}
			return nil
		},
	}
	cmd.AddCommand(newGenerateCronJobCmd(f), newGenerateJobCmd(f), newGenerateCICmd(f))
	return cmd
}

// generateToStdout reports whether -o asks for stdout rather than a folder.
func (f *factory) generateToStdout() bool {
	return f.Output == outputTable || f.Output == outputYAML
}

// scheduleOptions are the flags of generate cronjob.
type scheduleOptions struct {
	stores            map[string]providers.Config
	Policy            string
	Name, Namespace   string
	Image             string
	Schedule          string
	TimeZone          string
	StartingDeadline  time.Duration
	ActiveDeadline    time.Duration
	CredentialsSecret string
	KeysSecret        string
	SAAnnotations     []string
	PodLabels         []string
	StorageSize       string
	StorageClass      string
	// Requests and Limits name container resources as kubectl set resources does.
	Requests, Limits map[string]string
	// Shards > 0 makes an Indexed Job of that many pods instead of a CronJob.
	Shards int
	Due    bool
}

func newScheduleOptions() *scheduleOptions {
	o := &scheduleOptions{stores: map[string]providers.Config{}}
	for _, e := range registry.Providers {
		o.stores[e.Name] = e.NewConfig()
	}
	return o
}

func newGenerateCronJobCmd(f *factory) *cobra.Command {
	o := newScheduleOptions()
	o.Due = true
	cmd := &cobra.Command{
		Use:   "cronjob --policy rotation.yaml [--schedule CRON] [-n NAMESPACE] [-o DIR]",
		Short: "A CronJob running rotate --due in the cluster, with the least RBAC its policy needs",
		Long: `cronjob writes a CronJob that runs

  secretshift rotate --policy ` + templates.PolicyDir + "/" + templates.PolicyFile + ` --due -o json

on a schedule (concurrencyPolicy Forbid, so two runs never overlap), with:
  - the policy in a ConfigMap made from --policy (checked first, as rotate checks it);
  - the audit log and journal on a PersistentVolumeClaim mounted at ` + templates.StateDir + `;
  - the audit keys from the Secret --keys-secret (keys ` + templates.HMACKeyFile + ` and ` + templates.SigningKeyFile + `,
    as "secretshift audit keygen" writes them);
  - store credentials from the Secret --credentials-secret (each key an environment variable,
    such as VAULT_TOKEN), or the Pod's own identity: the store's flags as for rotate (for
    Vault's Kubernetes auth --vault-auth kubernetes --vault-role ROLE), or a workload
    identity through --service-account-annotation and --pod-label;
  - a ServiceAccount and the least RBAC the policy needs: a Role and RoleBinding in each
    namespace the policy names (a ClusterRole only when it names none), for the Secrets of the
    kubernetes store and, with restart: consumers, the workloads and ExternalSecrets;
  - a non-root Pod with a read-only root filesystem, no privilege escalation, no
    capabilities, the runtime's default seccomp profile, and resource requests and limits.

Exit status: 0; 1 the policy or a store's settings cannot be used in a scheduled run; 2 bad
flags.`,
		Example: `  secretshift generate cronjob --policy rotation.yaml -n secretshift > cronjob.yaml
  secretshift generate cronjob --policy rotation.yaml --vault-addr https://vault:8200 \
      --vault-auth kubernetes --vault-role secretshift -o deploy/rotation/
  secretshift generate cronjob --policy rotation.yaml --credentials-secret vault-token --schedule '0 3 * * *'
  secretshift generate cronjob --policy rotation.yaml --azure-vault-url https://v.vault.azure.net \
      --service-account-annotation azure.workload.identity/client-id=<client-id> \
      --pod-label azure.workload.identity/use=true`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error { return runGenerateInCluster(f, o) },
	}
	fl := cmd.Flags()
	o.bind(fl, "CronJob", "secretshift-rotate")
	fl.StringVar(&o.Schedule, "schedule", "17 * * * *", "when to run, in cron syntax (rotate --due changes only what is due, so run often)")
	fl.StringVar(&o.TimeZone, "time-zone", "", "IANA time zone of --schedule (default: the controller's)")
	fl.DurationVar(&o.StartingDeadline, "starting-deadline", 10*time.Minute, "skip a run that could not start within this time")
	return cmd
}

func newGenerateJobCmd(f *factory) *cobra.Command {
	o := newScheduleOptions()
	m := &migrateJobOptions{}
	cmd := &cobra.Command{
		Use:   "job (--policy rotation.yaml | --migrate-to STORE) --shards N [-n NAMESPACE] [-o DIR]",
		Short: "An Indexed Job running rotate, or migrate, as N shards at once, with the least RBAC it needs",
		Long: `job writes a Kubernetes Indexed Job of --shards pods that run

  secretshift rotate --policy ` + templates.PolicyDir + "/" + templates.PolicyFile + ` [--due] -o json

each on its shard of the entries: pod I of N rotates the entries whose address hashes to I
(rotate --shard, which defaults from the JOB_COMPLETION_INDEX the Job controller sets and the
JOB_COMPLETIONS the Job sets). The split depends on each address alone, so every entry is
rotated by exactly one pod. Each pod writes its own audit log and journal
(audit/audit-I.jsonl, journal-I) on a ReadWriteMany claim; a failed pod is retried once and
resumes from its journal. Everything else is as for generate cronjob: the ConfigMap, the keys
and credentials, the locked-down Pod, the ServiceAccount and the least RBAC.

With --migrate-to STORE instead of --policy, each pod runs

  secretshift migrate --to STORE -A -o json   (-n NS with --source-namespace, -l with --source-selector)

on its shard of the Secrets (by a hash of namespace/name), with its own audit log and journal on
the claim, and RBAC to read the Secrets and list their consumers (get and list on Secrets, list
on the workload kinds discover reports) in that namespace or cluster-wide, nothing more. Once
every pod has succeeded, run migrate once without --shard, with --manifests DIR, for the ESO
manifests.

Exit status: 0; 1 the policy or a store's settings cannot be used in the cluster; 2 bad flags.`,
		Example: `  secretshift generate job --policy rotation.yaml --shards 4 -n secretshift -o deploy/rotate-now/
  secretshift generate job --policy rotation.yaml --shards 8 --due=false --credentials-secret vault-token
  secretshift generate job --migrate-to vault --shards 8 --vault-addr https://vault:8200 \
      --vault-auth kubernetes --vault-role secretshift --limits memory=1Gi -o deploy/migrate/`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if m.To != "" {
				return runGenerateMigrateJob(f, o, m, cmd.Flags().Changed("name"), cmd.Flags().Changed("due"))
			}
			if m.Namespace != "" || m.Selector != "" {
				return usageError("--source-namespace and --source-selector choose the Secrets of a --migrate-to Job; a rotation's policy chooses its own")
			}
			if o.Shards < 1 {
				return usageError("--shards must be at least 1")
			}
			return runGenerateInCluster(f, o)
		},
	}
	fl := cmd.Flags()
	o.bind(fl, "Job", "secretshift-rotate-shards")
	fl.IntVar(&o.Shards, "shards", 4, "pods running at once, each on its shard of the entries")
	fl.BoolVar(&o.Due, "due", true, "rotate only what is due (--due=false: every entry the policy matches)")
	m.bind(fl)
	return cmd
}

// bind registers the flags every generated run in the cluster has.
func (o *scheduleOptions) bind(fl *pflag.FlagSet, kind, name string) {
	fl.StringVar(&o.Policy, "policy", "", "rotation.yaml the run follows (required)")
	fl.StringVar(&o.Name, "name", name, "name of the "+kind+" and of every object with it")
	fl.StringVarP(&o.Namespace, "namespace", "n", "secretshift", "namespace of the "+kind+", its ServiceAccount, ConfigMap and claim")
	fl.StringVar(&o.Image, "image", "", "the secretshift image (default "+defaultImage()+")")
	fl.DurationVar(&o.ActiveDeadline, "active-deadline", time.Hour, "stop a run that takes longer (0: no limit)")
	fl.StringVar(&o.CredentialsSecret, "credentials-secret", "", "Secret in --namespace whose keys are the store's credential variables (VAULT_TOKEN, AZURE_CLIENT_SECRET, ...)")
	fl.StringVar(&o.KeysSecret, "keys-secret", "secretshift-audit-keys", "Secret in --namespace holding the audit keys ("+templates.HMACKeyFile+", "+templates.SigningKeyFile+")")
	fl.StringArrayVar(&o.SAAnnotations, "service-account-annotation", nil, "KEY=VALUE annotation of the ServiceAccount, for a workload identity (repeatable)")
	fl.StringArrayVar(&o.PodLabels, "pod-label", nil, "KEY=VALUE label of the Pod, for a workload identity (repeatable)")
	fl.StringVar(&o.StorageSize, "storage-size", "1Gi", "size of the claim holding the audit log and journal")
	fl.StringVar(&o.StorageClass, "storage-class", "", "storage class of the claim (default: the cluster's)")
	fl.StringToStringVar(&o.Requests, "requests", nil, "resource requests of the container, as kubectl set resources takes them: cpu=100m,memory=128Mi\n(default cpu=50m,memory=64Mi; a resource not named keeps its default)")
	fl.StringToStringVar(&o.Limits, "limits", nil, "resource limits of the container: cpu=2,memory=1Gi (default cpu=1,memory=256Mi, about 15,000 Secrets a run;\nsecretshift keeps its heap under 90 % of the memory limit)")
	for _, e := range registry.Providers {
		o.stores[e.Name].Flags(fl)
	}
}

// defaultImage is the released image of this build's version.
func defaultImage() string {
	v := currentVersion().Version
	if !regexp.MustCompile(`^v[0-9][0-9A-Za-z._-]{0,126}$`).MatchString(v) {
		v = "latest"
	}
	return "ghcr.io/secretshift/secretshift:" + v
}

// podSettings are what the flags say of the Pod: its image, its ServiceAccount's annotations,
// its labels, its resource requests and limits.
type podSettings struct {
	image               string
	annotations, labels map[string]string
	requests, limits    corev1.ResourceList
}

func (o *scheduleOptions) podSettings() (p podSettings, err error) {
	if p.image = o.Image; p.image == "" {
		p.image = defaultImage()
	}
	if p.annotations, err = keyValues("service-account-annotation", o.SAAnnotations); err != nil {
		return p, err
	}
	if p.labels, err = keyValues("pod-label", o.PodLabels); err != nil {
		return p, err
	}
	if p.requests, err = resourceList("requests", o.Requests); err != nil {
		return p, err
	}
	p.limits, err = resourceList("limits", o.Limits)
	return p, err
}

// resourceList parses --requests or --limits (NAME=QUANTITY,...) as kubectl set resources does.
func resourceList(flag string, m map[string]string) (corev1.ResourceList, error) {
	out := corev1.ResourceList{}
	for _, name := range slices.Sorted(maps.Keys(m)) {
		switch corev1.ResourceName(name) {
		case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
		default:
			return nil, usageError("--%s %s: want cpu, memory or ephemeral-storage", flag, name)
		}
		q, err := resource.ParseQuantity(m[name])
		if err != nil || q.Sign() <= 0 {
			return nil, usageError("--%s %s=%s: want a positive quantity, such as 500m or 512Mi", flag, name, m[name])
		}
		out[corev1.ResourceName(name)] = q
	}
	return out, nil
}

// keyValues parses repeated KEY=VALUE flags.
func keyValues(flag string, vals []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range vals {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageError("--%s %q: want KEY=VALUE", flag, kv)
		}
		out[k] = v
	}
	return out, nil
}

func runGenerateInCluster(f *factory, o *scheduleOptions) error {
	if o.Policy == "" {
		return usageError("--policy is required: the rotation.yaml the scheduled run follows")
	}
	pod, err := o.podSettings()
	if err != nil {
		return err
	}
	checkGen := func(typ string, params map[string]string) error {
		_, err := generate.New(generate.Spec{Type: typ, Params: params})
		return err
	}
	text, err := os.ReadFile(o.Policy)
	if err != nil {
		return err
	}
	if len(text) > policy.MaxFileSize {
		return fmt.Errorf("%s: larger than %d bytes", o.Policy, policy.MaxFileSize)
	}
	pol, err := policy.Parse(o.Policy, text, policy.Options{Stores: registry.Names(), Generators: generate.Types(), CheckGenerator: checkGen})
	if err != nil {
		return err
	}
	for _, r := range pol.Rotations {
		if hooks := append(slices.Clone(r.Hooks.Set), r.Hooks.Test...); len(hooks) > 0 {
			printWarning(f.ErrOut, fmt.Errorf("%s: rotation %q runs hooks: the image must hold their programs, at %s or on its PATH", r.Pos, r.Name, templates.PolicyDir))
		}
	}
	in := templates.ScheduleInput{
		Name: o.Name, Namespace: o.Namespace, Image: pod.image, Schedule: o.Schedule, TimeZone: o.TimeZone,
		StartingDeadlineSeconds: int64(o.StartingDeadline / time.Second), ActiveDeadlineSeconds: int64(o.ActiveDeadline / time.Second),
		Policy: text, Env: map[string]string{}, CredentialsSecret: o.CredentialsSecret, KeysSecret: o.KeysSecret,
		ServiceAccountAnnotations: pod.annotations, PodLabels: pod.labels, StorageSize: o.StorageSize, StorageClass: o.StorageClass,
		Requests: pod.requests, Limits: pod.limits,
		Args: []string{"rotate", "--policy", templates.PolicyDir + "/" + templates.PolicyFile},
	}
	if o.Due {
		in.Args = append(in.Args, "--due")
	}
	in.Args = append(in.Args, "-o", "json")
	if o.Shards > 0 {
		shard := "$(" + templates.ShardIndexEnv + ")"
		in.Args = append(in.Args, "--audit-log", templates.StateDir+"/audit/audit-"+shard+".jsonl", "--journal-dir", templates.StateDir+"/journal-"+shard)
	} else {
		in.Args = append(in.Args, "--audit-log", templates.StateDir+"/audit/audit.jsonl", "--journal-dir", templates.StateDir+"/journal")
	}
	var notes []string
	grants, err := scheduleGrants(pol, func(store string) (providers.Scheduled, error) {
		sc, ok := o.stores[store].(providers.ScheduledConfig)
		if !ok {
			return providers.Scheduled{}, fmt.Errorf("the %s store cannot be reached from a scheduled run in the cluster", store)
		}
		return sc.Scheduled()
	}, func(s providers.Scheduled) {
		in.Args = append(in.Args, s.Args...)
		for k, v := range s.Env {
			in.Env[k] = v
		}
		in.ServiceAccountToken = in.ServiceAccountToken || s.ServiceAccountToken
		notes = append(notes, s.Notes...)
	})
	if err != nil {
		return err
	}
	in.Grants = grants
	build := templates.CronJob
	if o.Shards > 0 {
		build = func(in templates.ScheduleInput) (*templates.Scheduled, error) {
			return templates.IndexedJob(in, o.Shards)
		}
	}
	sched, err := build(in)
	if err != nil {
		return usageError("%v", err)
	}
	return writeScheduled(f, o, sched, notes)
}

// writeScheduled prints or writes a generated run in the cluster, then what to do before it
// first runs.
func writeScheduled(f *factory, o *scheduleOptions, sched *templates.Scheduled, notes []string) error {
	if f.generateToStdout() {
		out, err := sched.YAML()
		if err != nil {
			return err
		}
		if _, err := f.Out.Write(out); err != nil {
			return err
		}
	} else {
		b, err := sched.Bundle()
		if err != nil {
			return err
		}
		if err := b.Write(f.Output); err != nil {
			return err
		}
		fmt.Fprintf(f.status(), "wrote %d files to %s (kubectl apply -k %s)\n", len(b.Files), f.Output, f.Output)
	}
	st := f.status()
	fmt.Fprintf(st, "before the first run, put the audit keys into the Secret %s/%s:\n  secretshift audit keygen && kubectl create secret generic %s -n %s --from-file=%s/%s --from-file=%s/%s\n",
		o.Namespace, o.KeysSecret, o.KeysSecret, o.Namespace, audit.DefaultKeyDir, templates.HMACKeyFile, audit.DefaultKeyDir, templates.SigningKeyFile)
	for _, n := range slices.Compact(notes) {
		fmt.Fprintln(st, n)
	}
	return nil
}

// scheduleGrants derives the Kubernetes API access a scheduled run of pol needs: for each
// rotation, its store's rules (the kubernetes store: its Secrets) and, with restart:
// consumers, what refreshes and restarts the consumers, in the namespaces the rotation names
// (every namespace when it names none). access returns a store's needs; use is called once per
// store the policy names.
func scheduleGrants(pol *policy.Policy, access func(store string) (providers.Scheduled, error), use func(providers.Scheduled)) ([]templates.Grant, error) {
	stores := map[string]providers.Scheduled{}
	var errs []error
	for _, r := range pol.Rotations {
		if _, ok := stores[r.Store]; ok {
			continue
		}
		s, err := access(r.Store)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: rotation %q: %w", r.Pos, r.Name, err))
			continue
		}
		stores[r.Store] = s
		use(s)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var grants []templates.Grant
	for _, r := range pol.Rotations {
		s := stores[r.Store]
		ns := slices.Clone(r.Match.Namespaces)
		if s.NamespacedAddresses && len(r.Match.Paths) > 0 {
			// The paths are listed (rotate lists the folder of each glob), so their
			// namespaces are those the run reads; all of them when one is a pattern.
			ns = nil
			for _, p := range r.Match.Paths {
				n, _, ok := strings.Cut(p, "/")
				if !ok || strings.ContainsAny(n, "*?[\\") {
					ns = nil
					break
				}
				ns = append(ns, n)
			}
		}
		slices.Sort(ns)
		ns = slices.Compact(ns)
		if len(s.Rules) > 0 {
			grants = append(grants, templates.Grant{Namespaces: ns, Rules: s.Rules})
		}
		if r.Restart == policy.RestartConsumers {
			grants = append(grants, templates.Grant{Namespaces: ns, Rules: kube.RestartRules()})
		}
	}
	return grants, nil
}
