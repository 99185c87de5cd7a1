package cutover

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/job"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
	"github.com/secretshift/secretshift/templates"
)

// Options configure a cut-over run.
type Options struct {
	// Provider is the store the Secrets were migrated into: one ESO can read
	// (providers.ExternalReader), or one holding SealedSecrets (providers.ClusterObjecter).
	Provider providers.Provider
	// Fingerprinter makes the keyed fingerprints compared and recorded.
	Fingerprinter *audit.Fingerprinter
	// Cluster is where the Secrets live and ESO runs.
	Cluster *kube.Cluster
	// Recorder is the audit log; nil records nothing (dry runs, tests).
	Recorder job.Recorder
	// Given, when set, are the user's own ESO objects (the folder "migrate --manifests" wrote,
	// perhaps edited since): applied as written instead of made anew, once each ExternalSecret
	// is shown to read the verified copy. Secrets no ExternalSecret of them makes are skipped.
	Given *templates.Manifests
	// Manifests says how the SecretStore and ExternalSecrets look (store kind and name, how ESO
	// authenticates, refresh interval); Reader and Items are filled in by Run.
	Manifests templates.Input
	// JournalDir keeps the job's journal; "" keeps none.
	JournalDir string
	// RunID identifies this run in the audit log, the journal and the provenance annotations.
	RunID string
	// DryRun applies and patches with the server's dry run: validated, nothing stored.
	DryRun bool
	// Timeout bounds how long one Secret (or one SecretStore) may take to be Ready and owned.
	Timeout time.Duration
	// SkipControllerCheck leaves out the check for an Available controller Deployment (a
	// controller run outside the cluster, as in tests).
	SkipControllerCheck bool
	// Limits bound the Secrets handed over at once.
	Limits job.Limits
	// Progress, when set, is told about each namespace's Secrets as they finish.
	Progress func(namespace string) job.Progress
	// Logger says what each step does (names only).
	Logger *slog.Logger

	byTarget map[string]templates.Read[templates.ExternalSecret] // Given's ExternalSecrets by the Secret each makes
}

// DefaultTimeout is how long a Secret may take to be adopted when Options.Timeout is zero.
const DefaultTimeout = 2 * time.Minute

// Audit actions of a cut-over.
const (
	ActionCheck    = "cutover.check"
	ActionMark     = "cutover.mark"
	ActionStore    = "cutover.store"
	ActionApply    = "cutover.apply"
	ActionAdopt    = "cutover.adopt"
	ActionVerify   = "cutover.verify"
	ActionAnnotate = "cutover.annotate"
	ActionRollback = "cutover.rollback"
)

// item is one Secret of a run with what the checks found.
type item struct {
	src     *kube.Secret
	target  providers.Target
	fp      string // keyed fingerprint of the source's type and data
	report  *ItemReport
	started time.Time
}

// ownerName is the name of the object that comes to own s: its ExternalSecret in Given, else
// (made by the run) the Secret's own name.
func (o *Options) ownerName(s *kube.Secret) string {
	if g, ok := o.byTarget[s.Ref()]; ok {
		return g.Typed.Metadata.Name
	}
	return s.Name
}

func (o *Options) defaults() error {
	if o.Provider == nil || o.Fingerprinter == nil || o.Cluster == nil {
		return errors.New("cutover: provider, fingerprinter and cluster are required")
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Run hands secrets (read from the cluster, values kept) to ESO. It returns the report, and an
// error for a run that stopped: a *PreconditionError when nothing was changed, an error
// wrapping job.ErrAudit when the audit log failed (fail-closed), or the context's error.
func Run(ctx context.Context, secrets []*kube.Secret, opts Options) (*Report, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	h, err := handlerFor(opts.Provider)
	if err != nil {
		return nil, err
	}
	rep := &Report{APIVersion: APIVersion, Kind: ReportKind, Provider: opts.Provider.Name(), RunID: opts.RunID, DryRun: opts.DryRun, Started: time.Now().UTC()}
	var givenProblems []string
	if opts.Given != nil {
		opts.byTarget, givenProblems = givenIndex(opts.Given)
	}
	items, problems := check(ctx, secrets, h, &opts)
	problems = append(givenProblems, problems...)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if len(problems) > 0 {
		rep.Problems = problems
		rep.finish(reports(items))
		if err := record(ctx, opts.Recorder, audit.Event{Action: ActionCheck, Outcome: audit.OutcomeFailure, ErrorClass: "precondition",
			Error: truncate(strings.Join(problems, "; "), 2000), Details: map[string]string{"secrets": fmt.Sprint(len(secrets))}}); err != nil {
			return rep, err
		}
		return rep, &PreconditionError{Problems: problems}
	}
	var todo []*item
	for _, it := range items {
		if it != nil && it.report.Result == "" {
			todo = append(todo, it)
		}
	}
	objs, todo, problems, err := build(ctx, todo, h, &opts)
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		rep.Problems = problems
		rep.finish(reports(items))
		return rep, &PreconditionError{Problems: problems}
	}
	if len(objs.serviceAccounts) > 0 {
		// The stores authenticate as ServiceAccounts the run creates: still before any change.
		var want []kube.Access
		for _, sa := range objs.serviceAccounts {
			want = append(want, kube.Access{Namespace: sa.typed.Namespace, Resource: "serviceaccounts", Verb: "create"},
				kube.Access{Namespace: sa.typed.Namespace, Resource: "serviceaccounts", Verb: "patch"})
		}
		denied, err := opts.Cluster.Denied(ctx, want)
		if err != nil {
			denied = append(denied, err.Error())
		}
		if len(denied) > 0 {
			rep.Problems = denied
			rep.finish(reports(items))
			return rep, &PreconditionError{Problems: denied}
		}
	}
	for _, s := range objs.stores {
		rep.Applied = append(rep.Applied, s.obj)
	}
	for _, it := range todo {
		rep.Applied = append(rep.Applied, objs.owners[it.src.Ref()].obj)
	}
	var journal *job.Journal
	if opts.JournalDir != "" && !opts.DryRun && len(todo) > 0 {
		if journal, err = job.OpenJournal(opts.JournalDir, JobID(opts.Provider, opts.Cluster.Server)); err != nil {
			return nil, err
		}
		defer journal.Close()
		if err := journal.Begin(opts.RunID); err != nil {
			return nil, err
		}
	}
	r := &runner{opts: &opts, journal: journal, h: h, objs: objs}
	err = r.handOver(ctx, todo)
	rep.finish(reports(items))
	return rep, err
}

// JobID names the journal of cut-overs from p's store in the cluster at server.
func JobID(p providers.Provider, server string) string {
	sum := sha256.Sum256([]byte("cutover\x00" + p.Name() + "\x00" + p.StoreID() + "\x00" + server))
	return "cutover-" + hex.EncodeToString(sum[:8])
}

func reports(items []*item) []*ItemReport {
	out := make([]*ItemReport, 0, len(items))
	for _, it := range items {
		if it != nil { // not checked: the run was cancelled
			out = append(out, it.report)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref() < out[j].Ref() })
	return out
}

// check runs every precondition, for the whole selection, before anything changes. Problems
// of the whole run are returned; a Secret's own problem (refused, skipped, already managed)
// is set in its report.
func check(ctx context.Context, secrets []*kube.Secret, h *handler, o *Options) ([]*item, []string) {
	var problems []string
	cluster := h == esoHandler && o.Manifests.StoreKind == templates.KindClusterSecretStore
	if err := h.installed(ctx, o.Cluster, cluster); err != nil {
		problems = append(problems, err.Error())
	}
	if !o.SkipControllerCheck {
		if err := o.Cluster.ControllerAvailable(ctx, h.what, h.selector); err != nil {
			problems = append(problems, err.Error()+" (--skip-controller-check if it runs elsewhere)")
		}
	}
	namespaces := map[string]bool{}
	for _, s := range secrets {
		namespaces[s.Namespace] = true
	}
	var want []kube.Access
	for _, ns := range slices.Sorted(maps.Keys(namespaces)) {
		want = append(want,
			kube.Access{Namespace: ns, Resource: "secrets", Verb: "get"},
			kube.Access{Namespace: ns, Resource: "secrets", Verb: "patch"},
			kube.Access{Namespace: ns, Group: h.group, Resource: h.resource.Resource, Verb: "create"},
			kube.Access{Namespace: ns, Group: h.group, Resource: h.resource.Resource, Verb: "patch"})
		if h == esoHandler && !cluster {
			want = append(want, kube.Access{Namespace: ns, Group: "external-secrets.io", Resource: "secretstores", Verb: "create"},
				kube.Access{Namespace: ns, Group: "external-secrets.io", Resource: "secretstores", Verb: "patch"})
		}
	}
	if cluster {
		want = append(want, kube.Access{Group: "external-secrets.io", Resource: "clustersecretstores", Verb: "create"},
			kube.Access{Group: "external-secrets.io", Resource: "clustersecretstores", Verb: "patch"})
	}
	denied, err := o.Cluster.Denied(ctx, want)
	if err != nil {
		problems = append(problems, err.Error())
	}
	problems = append(problems, denied...)

	items := make([]*item, len(secrets))
	var mu sync.Mutex
	unreachable := map[string]bool{}
	idx := make([]int, len(secrets))
	for i := range idx {
		idx[i] = i
	}
	_ = job.Each(ctx, idx, o.Limits, func(ctx context.Context, i int) error {
		it, storeErr := checkSecret(ctx, secrets[i], h, o)
		mu.Lock()
		defer mu.Unlock()
		items[i] = it
		if storeErr != "" && len(unreachable) < 5 {
			unreachable[storeErr] = true
		}
		return nil
	})
	problems = append(problems, slices.Sorted(maps.Keys(unreachable))...)
	return items, problems
}

// checkSecret compares the store's copy of s with s. storeErr is set when the store could not
// be asked (a problem of the whole run).
func checkSecret(ctx context.Context, s *kube.Secret, h *handler, o *Options) (it *item, storeErr string) {
	fp := o.Fingerprinter.Set(s.EffectiveType(), s.Data)
	it = &item{src: s, fp: fp, report: &ItemReport{Namespace: s.Namespace, Name: s.Name, Type: s.EffectiveType(), Keys: s.Data.Keys(), UID: s.UID, Fingerprint: fp}}
	refuse := func(format string, a ...any) (*item, string) {
		it.report.Result, it.report.Reason = ResultRefused, fmt.Sprintf(format, a...)
		return it, ""
	}
	ref := providers.Ref{Namespace: s.Namespace, Name: s.Name, UID: s.UID, Cluster: s.Origin.Cluster}
	t, err := o.Provider.Target(ref)
	if err != nil {
		return refuse("no store address: %v", err)
	}
	it.target = t
	it.report.Target = t.String()
	for _, ow := range s.Owners {
		if !ow.Controller {
			continue
		}
		if h.owns(ow.APIVersion, ow.Kind) && ow.Name == o.ownerName(s) {
			if s.Annotations[AnnotationFingerprint] == fp && s.Annotations[AnnotationCutover] == h.controller {
				it.report.Result, it.report.Owner = ResultAlreadyManaged, h.kind+"/"+s.Name
				return it, ""
			}
			continue // adopted by an earlier run that stopped before the end: go on from there
		}
		return refuse("owned by another controller (%s %s); hand-over would fight it", ow.Kind, ow.Name)
	}
	stored, err := o.Provider.Read(ctx, t)
	switch {
	case errors.Is(err, providers.ErrNotFound):
		it.report.Result, it.report.Reason = ResultSkipped, "the store holds no copy at "+t.String()+" (not migrated)"
		return it, ""
	case err != nil:
		it.report.Result, it.report.Reason = ResultRefused, "store not reachable: "+err.Error()
		return it, fmt.Sprintf("the %s store cannot be read: %v", o.Provider.Name(), err)
	}
	if why := differs(stored, s, fp, o.Fingerprinter); why != "" {
		return refuse("the store copy at %s differs from the live Secret (%s): was the Secret changed after the migration? migrate it again first", t, why)
	}
	return it, ""
}

// differs says how the stored copy differs from s, by key names and keyed fingerprints only;
// "" when they are equal.
func differs(stored *providers.Stored, s *kube.Secret, fp string, f *audit.Fingerprinter) string {
	if stored.Deleted {
		return "its current version is deleted"
	}
	if stored.Data == nil {
		if stored.Fingerprint != "" && stored.FingerprintKeyID == f.KeyID() {
			if stored.Fingerprint == fp {
				return ""
			}
			return "fingerprints differ"
		}
		return "its values cannot be read to compare"
	}
	typ := stored.Type
	if typ == "" {
		typ = s.EffectiveType()
	}
	if f.Set(typ, stored.Data) == fp {
		return ""
	}
	if typ != s.EffectiveType() {
		return "type " + typ + " in the store, " + s.EffectiveType() + " live"
	}
	var missing, extra, changed []string
	for k, v := range s.Data {
		sv, ok := stored.Data[k]
		switch {
		case !ok:
			missing = append(missing, k)
		case f.Value(sv) != f.Value(v):
			changed = append(changed, k)
		}
	}
	for k := range stored.Data {
		if _, ok := s.Data[k]; !ok {
			extra = append(extra, k)
		}
	}
	var parts []string
	for _, p := range []struct {
		what string
		keys []string
	}{{"not in the store", missing}, {"only in the store", extra}, {"other bytes", changed}} {
		if len(p.keys) > 0 {
			sort.Strings(p.keys)
			parts = append(parts, "keys "+p.what+": "+strings.Join(p.keys, ","))
		}
	}
	return strings.Join(parts, "; ")
}

// objects are what a run applies: the stores (ESO), their ServiceAccounts, and per Secret the
// object that comes to own it (an ExternalSecret, a SealedSecret). Each object is applied as
// obj, to the resource of its own API version.
type objects struct {
	stores          []object[templates.SecretStore]
	serviceAccounts []object[templates.ObjectMeta]
	owners          map[string]object[string] // namespace/name of the Secret → its owning object, typed as its name
}

// object is one object to apply with what the run reads of it.
type object[T any] struct {
	typed T
	obj   any
	gvr   schema.GroupVersionResource
}

// build makes the objects of the Secrets to hand over. Items refused on the way (an
// ExternalSecret of the user's that would not read the verified copy) get their report set and
// are dropped from todo; problems of the whole run are returned.
func build(ctx context.Context, todo []*item, h *handler, o *Options) (*objects, []*item, []string, error) {
	objs := &objects{owners: map[string]object[string]{}}
	if h == sealedHandler {
		co := o.Provider.(providers.ClusterObjecter)
		for _, it := range todo {
			obj, err := co.ClusterObject(ctx, it.target)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("read the SealedSecret of %s: %w", it.src.Ref(), err)
			}
			objs.owners[it.src.Ref()] = object[string]{typed: it.src.Name, obj: obj, gvr: h.resource}
		}
		return objs, todo, nil, nil
	}
	er := o.Provider.(providers.ExternalReader)
	in := o.Manifests
	in.Reader, in.Provider, in.Items = er, o.Provider.Name(), nil
	for _, it := range todo {
		s := it.src
		in.Items = append(in.Items, templates.Item{Namespace: s.Namespace, Name: s.Name, Type: s.EffectiveType(), Labels: s.Labels,
			Annotations: s.Annotations, Immutable: s.Immutable, Refs: er.ExternalRefs(it.target, providers.PayloadOf(s))})
	}
	if len(in.Items) == 0 {
		return objs, todo, nil, nil
	}
	built, err := templates.Build(in)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("build the ESO objects: %w", err)
	}
	if o.Given != nil {
		return given(ctx, todo, built, o)
	}
	for _, s := range built.Stores {
		objs.stores = append(objs.stores, object[templates.SecretStore]{typed: s, obj: s, gvr: storeResource(s.Kind)})
	}
	for _, sa := range built.ServiceAccounts {
		objs.serviceAccounts = append(objs.serviceAccounts, object[templates.ObjectMeta]{typed: sa.Metadata, obj: sa, gvr: serviceAccountResource})
	}
	for _, es := range built.ExternalSecrets {
		objs.owners[es.Metadata.Namespace+"/"+es.Metadata.Name] = object[string]{typed: es.Metadata.Name, obj: es, gvr: kube.ExternalSecretResource}
	}
	return objs, todo, nil, nil
}

var serviceAccountResource = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}

func storeResource(kind string) schema.GroupVersionResource {
	if kind == templates.KindClusterSecretStore {
		return kube.ClusterSecretStoreResource
	}
	return kube.SecretStoreResource
}

func record(ctx context.Context, rec job.Recorder, e audit.Event) error {
	if rec == nil {
		return nil
	}
	if err := rec.Record(ctx, e); err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // interrupted, not an audit failure
		}
		return job.AuditError(err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
