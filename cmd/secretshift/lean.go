package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"k8s.io/client-go/kubernetes"

	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/migrate"
	"github.com/secretshift/secretshift/providers"
)

// leanSource is how migrate, plan, apply and verify hold the Secrets they read: values are kept
// in memory up to a budget (valuesBudget); past it, each Secret's values are measured as it is
// decoded (keyed fingerprints, the store's checks, the references ESO manifests need) and let
// go, so that memory holds names, sizes and fingerprints, not every value of a large fleet at
// once. A Secret without its values in memory has them read again when it is written, from
// where they came from — its manifest file, or its namespace in the cluster, a file or
// namespace at a time — and migrate.Apply checks them against the plan's fingerprint before
// writing. Standard input cannot be read twice: a run that reads it keeps every value.
type leanSource struct {
	p providers.Provider
	// external, when set (--manifests), is asked for each Secret's ESO references while its
	// values are in memory.
	external providers.ExternalReader

	// budget is how many bytes of values may stay in memory; kept how many do.
	budget, kept atomic.Int64

	mu      sync.Mutex
	checked map[string]error
	refs    map[string][]providers.ExternalRef
	// active says values past the budget are let go; readAgain counts the Secrets whose
	// values were.
	active    bool
	readAgain int

	// Where values are read again: manifests with this -n, or the cluster.
	namespace string
	client    kubernetes.Interface
	cluster   string
	pageSize  int64
	// wanted are the Secrets the plan writes (nil: any); groups the files or namespaces read
	// again whose wanted Secrets have not all been taken yet.
	wanted map[string]bool
	groups map[string]*valueGroup
}

// valueGroup is one file, or one namespace, read again: its wanted Secrets, by namespace/name,
// until each is taken.
type valueGroup struct {
	once    sync.Once
	secrets map[string]*kube.Secret
	err     error
}

// valuesBudgetEnv sets, in MiB, how much of the values read stays in memory (default
// defaultValuesBudget, or a quarter of the memory limit when that is less; 0 keeps none).
const (
	valuesBudgetEnv     = "SECRETSHIFT_VALUES_IN_MEMORY_MB"
	defaultValuesBudget = 64
)

func newLeanSource(p providers.Provider, manifests bool) (*leanSource, error) {
	l := &leanSource{p: p, checked: map[string]error{}, refs: map[string][]providers.ExternalRef{}, groups: map[string]*valueGroup{}}
	if er, ok := p.(providers.ExternalReader); ok && manifests {
		l.external = er
	}
	budget, err := valuesBudget()
	if err != nil {
		return nil, err
	}
	l.budget.Store(budget)
	return l, nil
}

// valuesBudget is how many bytes of values may stay in memory: $SECRETSHIFT_VALUES_IN_MEMORY_MB,
// else the default under the memory limit in force (valuesBudgetFor).
func valuesBudget() (int64, error) {
	v := os.Getenv(valuesBudgetEnv)
	if v == "" {
		return valuesBudgetFor(memoryLimit()), nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, usageError("$%s must be a number of MiB (0 or more), not %q", valuesBudgetEnv, v)
	}
	return n << 20, nil
}

// use fits l to a discovery's options: lean unless standard input is read.
func (l *leanSource) use(opts *kube.Options) {
	if l == nil || slices.Contains(opts.Files, kube.StdinPath) {
		return
	}
	l.active = true
	opts.KeepValues, opts.Inspect = false, l.inspect
	l.namespace, l.client, l.cluster, l.pageSize = opts.Namespace, opts.Client, opts.Cluster, opts.PageSize
}

// inspect keeps the values of s while the budget allows; otherwise it takes what planning and
// the manifests need of them, and lets them go (kube.Options.Inspect).
func (l *leanSource) inspect(s *kube.Secret) bool {
	size := int64(s.Data.Size())
	if l.kept.Add(size) <= l.budget.Load() {
		return true
	}
	l.kept.Add(-size)
	pl := providers.PayloadOf(s)
	t, err := l.p.Target(pl.Ref)
	if err != nil {
		return false // planning names the problem; it needs no values for that
	}
	checked := l.p.Check(t, pl)
	var refs []providers.ExternalRef
	if l.external != nil {
		refs = l.external.ExternalRefs(t, pl)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.checked[s.Ref()] = checked
	if refs != nil {
		l.refs[s.Ref()] = refs
	}
	return false
}

// measured is what planning needs of the values of it, a Secret read without them; nil when
// its values are in memory or it has none to measure (encrypted manifests).
func (l *leanSource) measured(it *kube.Item) *migrate.Measured {
	if l == nil || !l.active || it.Secret == nil || it.Secret.Encrypted != nil || it.Secret.MeasuredFingerprint() == "" {
		return nil // values in memory, or none to measure
	}
	m := &migrate.Measured{Keys: make([]string, len(it.Keys)), Size: it.Size, Fingerprint: it.Fingerprint,
		KeyFingerprints: make(map[string]string, len(it.Keys))}
	for i, k := range it.Keys {
		m.Keys[i] = k.Name
		m.KeyFingerprints[k.Name] = k.Fingerprint
	}
	l.mu.Lock()
	m.Checked = l.checked[it.Ref()]
	delete(l.checked, it.Ref())
	l.readAgain++
	l.mu.Unlock()
	return m
}

// want narrows the Secrets read again to those the plan writes.
func (l *leanSource) want(plan *migrate.Plan) {
	if l == nil || !l.active {
		return
	}
	l.wanted = map[string]bool{}
	for _, it := range plan.Items {
		if it.Action == migrate.ActionCreate || it.Action == migrate.ActionUpdate {
			l.wanted[it.Ref()] = true
		}
	}
}

// externalRefs are the ESO references of s taken while its values were in memory.
func (l *leanSource) externalRefs(s *kube.Secret) ([]providers.ExternalRef, bool) {
	if l == nil || !l.active || s.Data != nil {
		return nil, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	refs, ok := l.refs[s.Ref()]
	return refs, ok
}

// load reads the values of s again (migrate.Options.LoadValues): its whole file, or its whole
// namespace, once, keeping the wanted Secrets of it until each is taken.
func (l *leanSource) load(ctx context.Context, s *kube.Secret) (kube.Data, error) {
	key := "file " + s.Origin.File
	if s.Origin.File == "" {
		key = "namespace " + s.Namespace
	}
	l.mu.Lock()
	g := l.groups[key]
	if g == nil {
		g = &valueGroup{}
		l.groups[key] = g
	}
	l.mu.Unlock()
	g.once.Do(func() { g.secrets, g.err = l.read(ctx, s) })
	l.mu.Lock()
	defer l.mu.Unlock()
	if g.err != nil {
		delete(l.groups, key) // the next Secret of the group tries again
		return nil, g.err
	}
	got := g.secrets[s.Ref()]
	delete(g.secrets, s.Ref())
	if len(g.secrets) == 0 && l.groups[key] == g {
		delete(l.groups, key)
	}
	if got == nil {
		return nil, fmt.Errorf("%s: %w", s.Ref(), providers.ErrNotFound)
	}
	return got.Data, nil
}

// read reads the file or namespace of s again, keeping the wanted Secrets and s.
func (l *leanSource) read(ctx context.Context, s *kube.Secret) (map[string]*kube.Secret, error) {
	keep := func(o *kube.Secret) bool { return o.Ref() == s.Ref() || l.wanted == nil || l.wanted[o.Ref()] }
	out := map[string]*kube.Secret{}
	if s.Origin.File == "" {
		byName, err := kube.NamespaceSecrets(ctx, l.client, s.Namespace, l.cluster, l.pageSize, keep)
		if err != nil {
			return nil, err
		}
		for _, o := range byName {
			out[o.Ref()] = o
		}
		return out, nil
	}
	inv, err := kube.ReadManifests([]string{s.Origin.File}, kube.ReadOptions{Namespace: l.namespace})
	if err != nil {
		return nil, err
	}
	for _, o := range inv.Secrets {
		if o.Encrypted == nil && keep(o) {
			out[o.Ref()] = o
		}
	}
	return out, nil
}
