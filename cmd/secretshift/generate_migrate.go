package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
	"github.com/secretshift/secretshift/providers/registry"
	"github.com/secretshift/secretshift/templates"
)

// migrateJobOptions are the flags of generate job --migrate-to: a sharded migration run by
// the Job controller instead of a rotation.
type migrateJobOptions struct {
	To        string
	Namespace string
	Selector  string
}

// defaultMigrateJobName names a migration Job and its objects unless --name does.
const defaultMigrateJobName = "secretshift-migrate"

func (m *migrateJobOptions) bind(fl *pflag.FlagSet) {
	fl.StringVar(&m.To, "migrate-to", "", "the Job migrates Secrets into this store instead of rotating: "+strings.Join(registry.Names(), ", ")+"\n(no --policy; each pod runs migrate --to STORE on its shard)")
	fl.StringVar(&m.Namespace, "source-namespace", "", "with --migrate-to: the namespace whose Secrets migrate (default: every namespace)")
	fl.StringVar(&m.Selector, "source-selector", "", "with --migrate-to: a label selector for the Secrets that migrate (e.g. app=web)")
}

// runGenerateMigrateJob writes an Indexed Job whose pods each migrate their shard of the
// Secrets: migrate --to STORE -A (or -n) with the shard from the Job controller's index, each
// pod's audit log and journal on the claim, and the least RBAC reading the Secrets needs.
func runGenerateMigrateJob(f *factory, o *scheduleOptions, m *migrateJobOptions, nameSet, dueSet bool) error {
	switch {
	case o.Policy != "":
		return usageError("--policy names a rotation; a --migrate-to Job follows no policy: it migrates the Secrets of --source-namespace (every namespace by default)")
	case dueSet:
		return usageError("--due is for rotation Jobs, not --migrate-to")
	case o.Shards < 1:
		return usageError("--shards must be at least 1")
	}
	if _, err := registry.Lookup(m.To); err != nil {
		return usageError("--migrate-to: %v", err)
	}
	if m.Namespace != "" {
		if msgs := validation.IsDNS1123Label(m.Namespace); len(msgs) > 0 {
			return usageError("--source-namespace %q: %s", m.Namespace, msgs[0])
		}
	}
	if _, err := labels.Parse(m.Selector); err != nil {
		return usageError("--source-selector: %v", err)
	}
	if !nameSet {
		o.Name = defaultMigrateJobName
	}
	pod, err := o.podSettings()
	if err != nil {
		return err
	}
	sc, ok := o.stores[m.To].(providers.ScheduledConfig)
	if !ok {
		return fmt.Errorf("the %s store cannot be reached from a Job in the cluster", m.To)
	}
	store, err := sc.Scheduled()
	if err != nil {
		return err
	}

	shard := "$(" + templates.ShardIndexEnv + ")"
	args := []string{"migrate", "--to", m.To}
	var namespaces []string
	if m.Namespace != "" {
		args = append(args, "-n", m.Namespace)
		namespaces = []string{m.Namespace}
	} else {
		args = append(args, "-A")
	}
	if m.Selector != "" {
		args = append(args, "-l", m.Selector)
	}
	// The shard comes from JOB_COMPLETION_INDEX and JOB_COMPLETIONS, as migrate reads them.
	args = append(args, "-o", "json", "--audit-log", templates.StateDir+"/audit/audit-"+shard+".jsonl", "--journal-dir", templates.StateDir+"/journal-"+shard)
	args = append(args, store.Args...)
	grants := []templates.Grant{{Namespaces: namespaces, Rules: kube.ReadRules()}}
	if len(store.Rules) > 0 {
		// A store in the cluster itself writes where the Secrets are.
		grants = append(grants, templates.Grant{Namespaces: namespaces, Rules: store.Rules})
	}
	in := templates.ScheduleInput{
		Name: o.Name, Namespace: o.Namespace, Image: pod.image, ActiveDeadlineSeconds: int64(o.ActiveDeadline.Seconds()),
		Args: args, Env: store.Env, CredentialsSecret: o.CredentialsSecret, KeysSecret: o.KeysSecret,
		ServiceAccountAnnotations: pod.annotations, PodLabels: pod.labels, ServiceAccountToken: store.ServiceAccountToken,
		StorageSize: o.StorageSize, StorageClass: o.StorageClass, Requests: pod.requests, Limits: pod.limits, Grants: grants,
	}
	sched, err := templates.IndexedJob(in, o.Shards)
	if err != nil {
		return usageError("%v", err)
	}
	notes := slices.Clone(store.Notes)
	notes = append(notes, fmt.Sprintf("each of the %d pods migrates its shard and writes audit/audit-I.jsonl on the claim; check them together with `secretshift audit verify DIR`.\n"+
		"once every pod has succeeded, run `secretshift migrate --to %s ... --manifests DIR` once without --shard: it finds every Secret unchanged and writes the ESO manifests for all of them", o.Shards, m.To))
	return writeScheduled(f, o, sched, notes)
}
