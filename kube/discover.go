package kube

import (
	"cmp"
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
)

// Schema identifiers of a Report. Consumers of `discover -o json` should check both.
const (
	ReportAPIVersion = "secretshift.io/v1alpha1"
	ReportKind       = "Inventory"
)

// Fingerprinter computes keyed fingerprints; *audit.Fingerprinter is the implementation.
// Declared here so that kube needs no other package of the module.
type Fingerprinter interface {
	// Value fingerprints one value.
	Value(v []byte) string
	// Set fingerprints a whole Secret: type, key names and values.
	Set(typ string, data map[string][]byte) string
}

// Options say what Discover reads and how it judges it.
type Options struct {
	// Files are manifest paths (files, directories, "-" for Stdin). When set, the cluster is
	// not read.
	Files []string
	Stdin io.Reader
	// ExcludePaths are files and folders never read as manifests, such as the output folder of
	// the same run (see ReadOptions.ExcludePaths).
	ExcludePaths []string

	// Client reads a live cluster when Files is empty; Cluster names it (server URL).
	Client  kubernetes.Interface
	Cluster string

	// Namespace limits the Secrets and workloads read to one namespace; empty reads all.
	// For a cluster it is the namespace listed (the command passes -n, else the kubeconfig
	// context's namespace, unless -A). For manifests, objects of other namespaces are left
	// out the same way, and objects that name none are placed in it, as `kubectl apply -n`
	// would; when empty they go to "default". The command passes only -n for manifests, so a
	// context's namespace never filters files.
	Namespace string
	Filter
	// PageSize is the size of every list page for clusters; zero lets pages grow from
	// DefaultPageSize (see PageBytes).
	PageSize int64

	Classify ClassifyOptions
	// Fingerprinter, when set, adds keyed fingerprints per key and per Secret.
	Fingerprinter Fingerprinter
	// KeepValues keeps Item.Secret.Data for a caller that migrates; otherwise values are
	// dropped once sizes and fingerprints are taken.
	KeepValues bool
	// Inspect, when set and KeepValues is not, is shown each Secret with its values once, as
	// soon as it is decoded, and says whether to keep them. When it does not, they are
	// dropped right then and Item.Secret is kept without Data (MeasuredFingerprint says what
	// they were). A caller that migrates takes there what it needs of the values it lets go
	// (the store's checks), so that memory never holds every value at once, and reads them
	// again when it writes. It may be called from several goroutines at once, and for Secrets
	// later left out (by the filter, or as a second definition).
	Inspect func(*Secret) (keep bool)
}

// Discovery is the result of discovery and the documented schema of `discover -o json|yaml`.
// Within one apiVersion fields are only ever added, never renamed or removed. Values never
// appear: only key names, sizes and keyed fingerprints.
//
//	apiVersion: secretshift.io/v1alpha1
//	kind: Inventory
//	source: {cluster, namespace, shard} | {files, namespace, shard}   # shard: "I/N" of a sharded run
//	items:                          # one per Secret read, sorted by namespace and name; a
//	                                # SOPS-encrypted Secret or a SealedSecret read from files is
//	                                # one too, always skipped (reason sops-encrypted or
//	                                # sealed-manifest): its keys have size 0 and no fingerprint
//	- namespace, name, type, uid, labels, owners, immutable, created
//	  origin: {cluster} | {file, index}         # index: 0-based object position, omitted when 0
//	  keys: [{name, size, fingerprint}]          # fingerprint only with --fingerprints
//	  size, fingerprint                          # totals for the whole Secret
//	  action: migrate | skip
//	  reason: <Reason>                           # only for skip; see Reasons()
//	  message                                    # one sentence for people
//	  consumers: [{kind, name, uses: [{via, container, volume, env, serviceAccount, key, optional}]}]
//	missingReferences:
//	- {namespace, secret, problem: secret-not-found | key-not-found,
//	   consumer: {kind, name}, via, container, volume, env, serviceAccount, key, optional}
//	errors: [{origin, kind, namespace, name, key, message}]   # objects that could not be read
//	summary: {secrets, migrate, skip, errors, unused, missingReferences, skipped: {<reason>: n},
//	          inOtherShards}          # selected Secrets left to the other shards of a sharded run
type Discovery struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Source     Source `json:"source"`
	// Items are the Secrets read, sorted by namespace and name.
	Items []Item `json:"items"`
	// MissingReferences are references from workloads to Secrets or keys that do not exist.
	MissingReferences []MissingRef `json:"missingReferences"`
	// Errors are objects that could not be read; each names where it is and what is wrong.
	Errors  []ObjectError `json:"errors"`
	Summary Summary       `json:"summary"`
}

// Source says what was read.
type Source struct {
	Cluster   string   `json:"cluster,omitempty"`
	Namespace string   `json:"namespace,omitempty"`
	Files     []string `json:"files,omitempty"`
	// Shard is "I/N" when only shard I of N was read (Filter.Shard; the caller names it).
	Shard string `json:"shard,omitempty"`
}

// Item is one Secret as reported: identity, key names and sizes, decision and consumers.
// It never holds a value.
type Item struct {
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	Type      string            `json:"type"`
	UID       string            `json:"uid,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	Owners    []Owner           `json:"owners,omitempty"`
	Immutable bool              `json:"immutable,omitempty"`
	Created   time.Time         `json:"created,omitzero"`
	Origin    Origin            `json:"origin"`
	Keys      []KeyInfo         `json:"keys"`
	// Size is the total of the value sizes in bytes, as the API server counts it.
	Size int `json:"size"`
	// Fingerprint is the keyed fingerprint of the whole Secret (type, keys, values).
	Fingerprint string `json:"fingerprint,omitempty"`
	Decision
	// Consumers are the top-level workloads referencing the Secret; empty means unused.
	Consumers []Consumer `json:"consumers"`

	// Secret is the Secret read, values included, when Options.KeepValues was set; nil
	// otherwise.
	Secret *Secret `json:"-"`
}

// Ref is namespace/name.
func (it *Item) Ref() string { return it.Namespace + "/" + it.Name }

// KeyInfo describes one key without its value.
type KeyInfo struct {
	Name        string `json:"name"`
	Size        int    `json:"size"`
	Fingerprint string `json:"fingerprint,omitempty"`
}

// Summary counts the Report.
type Summary struct {
	// Secrets is the number of Items: Migrate + Skip.
	Secrets int `json:"secrets"`
	Migrate int `json:"migrate"`
	Skip    int `json:"skip"`
	// Errors is the number of objects that could not be read (listed in Report.Errors).
	Errors int `json:"errors"`
	// Unused is the number of Items no workload references.
	Unused            int `json:"unused"`
	MissingReferences int `json:"missingReferences"`
	// Skipped counts skips per reason.
	Skipped map[Reason]int `json:"skipped,omitempty"`
	// InOtherShards counts the Secrets selected but left to the other shards (Filter.Shard):
	// the shard read Secrets of the Secrets + InOtherShards selected.
	InOtherShards int `json:"inOtherShards,omitempty"`
}

// ToMigrate returns the Secrets whose decision is ActionMigrate, in report order. It needs a
// report made with Options.KeepValues.
func (r *Discovery) ToMigrate() []*Secret {
	var out []*Secret
	for i := range r.Items {
		if r.Items[i].Action == ActionMigrate {
			out = append(out, r.Items[i].Secret)
		}
	}
	return out
}

// errNoSource is returned by Discover when neither files nor a client are given.
var errNoSource = errors.New("nothing to discover: give manifest files or a cluster client")

// Discover reads Secrets and workloads from manifests or a cluster, classifies every Secret
// and finds its consumers. Per-object failures are in Report.Errors; the error return is for
// failures that leave nothing to report (unreadable path, Secrets not listable, bad selector).
//
// From a cluster, each Secret becomes an Item as its page arrives; without KeepValues its
// values are dropped right then, so memory holds key names and sizes, not the cluster's data.
func Discover(ctx context.Context, opts Options) (*Discovery, error) {
	b := &reportBuilder{opts: opts}
	switch {
	case len(opts.Files) > 0:
		ro := ReadOptions{Stdin: opts.Stdin, Namespace: opts.Namespace, ExcludePaths: opts.ExcludePaths}
		if b.lean() {
			// Measured and let go in the decoding goroutines, before every file's Secrets meet.
			ro.Decoded = b.premeasure
		}
		if opts.Filter.Selector == "" && len(opts.Filter.Types) == 0 {
			// Nothing but the shard and namespaces selects: the other shards' Secrets need no decoding.
			ro.Shard = opts.Filter.Shard
		}
		inv, err := ReadManifests(opts.Files, ro)
		if err != nil {
			return nil, err
		}
		if inv, err = inv.Apply(opts.Filter); err != nil {
			return nil, err
		}
		for _, s := range inv.Secrets {
			b.add(s)
		}
		return b.report(inv, Source{Files: opts.Files, Namespace: opts.Namespace}), nil
	case opts.Client != nil:
		lo := ListOptions{Filter: opts.Filter, Namespace: opts.Namespace, PageSize: opts.PageSize, Cluster: opts.Cluster}
		inv, err := listCluster(ctx, opts.Client, lo, b)
		if err != nil {
			return nil, err
		}
		return b.report(inv, Source{Cluster: opts.Cluster, Namespace: opts.Namespace}), nil
	}
	return nil, errNoSource
}

// reportBuilder turns Secrets into Items one at a time; it is the secretSink of a listing.
type reportBuilder struct {
	opts  Options
	items []Item
	index map[string]bool
	// measured holds the Items of Secrets measured as they were decoded (premeasure), by
	// Secret, until add takes them.
	measured sync.Map
}

func (b *reportBuilder) reset() { b.items, b.index = nil, nil }

func (b *reportBuilder) has(ref string) bool {
	if b.index == nil {
		b.index = make(map[string]bool, len(b.items))
		for i := range b.items {
			b.index[b.items[i].Ref()] = true
		}
	}
	return b.index[ref]
}

// lean reports whether values are shown to Options.Inspect and let go as Secrets are read.
func (b *reportBuilder) lean() bool { return b.opts.Inspect != nil && !b.opts.KeepValues }

// premeasure measures s as it is decoded (ReadOptions.Decoded), for add.
func (b *reportBuilder) premeasure(s *Secret) { b.measured.Store(s, b.measure(s)) }

// add keeps the Item of s, measured now or when it was decoded.
func (b *reportBuilder) add(s *Secret) {
	if it, ok := b.measured.LoadAndDelete(s); ok {
		b.items = append(b.items, it.(Item))
		return
	}
	b.items = append(b.items, b.measure(s))
}

// measure classifies s, takes its key sizes and fingerprints, shows it to Options.Inspect,
// and drops its values unless the caller keeps them. An encrypted Secret has key names only:
// no values to size or fingerprint.
func (b *reportBuilder) measure(s *Secret) Item {
	names := s.KeyNames()
	it := Item{
		Namespace: s.Namespace, Name: s.Name, Type: s.EffectiveType(), UID: s.UID, Labels: s.Labels,
		Owners: s.Owners, Immutable: s.Immutable, Created: s.Created, Origin: s.Origin,
		Keys: make([]KeyInfo, 0, len(names)), Size: s.Data.Size(),
		Decision: Classify(s, b.opts.Classify), Secret: s,
	}
	fp := b.opts.Fingerprinter
	if s.Encrypted != nil {
		fp = nil
	}
	for _, k := range names {
		ki := KeyInfo{Name: k, Size: len(s.Data[k])}
		if fp != nil {
			ki.Fingerprint = fp.Value(s.Data[k])
		}
		it.Keys = append(it.Keys, ki)
	}
	if fp != nil {
		it.Fingerprint = fp.Set(s.EffectiveType(), s.Data)
	}
	switch {
	case b.lean():
		if !b.opts.Inspect(s) {
			s.Data, s.measured = nil, it.Fingerprint // the Secret stays, without its values
		}
	case !b.opts.KeepValues:
		// Nothing downstream needs the values or the rest of the object: let them go now.
		s.Data = nil
		it.Secret = nil
	}
	return it
}

// report attaches consumers and missing references, sorts and counts.
func (b *reportBuilder) report(inv *Inventory, src Source) *Discovery {
	ix := newSecretIndex(inv)
	for i := range b.items {
		it := &b.items[i]
		keys := make([]string, len(it.Keys))
		for j, k := range it.Keys {
			keys[j] = k.Name
		}
		ix.add(it.Namespace, it.Name, keys)
	}
	consumers, missing := findConsumers(inv.Workloads, ix)
	if shard := b.opts.Filter.Shard; shard != nil {
		missing = slices.DeleteFunc(missing, func(m MissingRef) bool { return !shard(m.Namespace, m.Secret) })
	}
	r := &Discovery{
		APIVersion:        ReportAPIVersion,
		Kind:              ReportKind,
		Source:            src,
		Items:             b.items,
		MissingReferences: missing,
		Errors:            inv.Problems,
	}
	if r.Items == nil {
		r.Items = []Item{}
	}
	if r.MissingReferences == nil {
		r.MissingReferences = []MissingRef{}
	}
	if r.Errors == nil {
		r.Errors = []ObjectError{}
	}
	for i := range r.Items {
		it := &r.Items[i]
		if it.Consumers = consumers[it.Ref()]; it.Consumers == nil {
			it.Consumers = []Consumer{}
		}
	}
	slices.SortStableFunc(r.Items, func(a, b Item) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name),
			cmp.Compare(a.Origin.File, b.Origin.File), cmp.Compare(a.Origin.Index, b.Origin.Index))
	})
	slices.SortStableFunc(r.Errors, func(a, b ObjectError) int {
		return cmp.Or(cmp.Compare(a.Origin.File, b.Origin.File), cmp.Compare(a.Origin.Index, b.Origin.Index))
	})
	r.Summary = summarize(r)
	r.Summary.InOtherShards = inv.InOtherShards
	return r
}

func summarize(r *Discovery) Summary {
	s := Summary{Secrets: len(r.Items), MissingReferences: len(r.MissingReferences)}
	for _, it := range r.Items {
		switch it.Action {
		case ActionMigrate:
			s.Migrate++
		case ActionSkip:
			s.Skip++
			if s.Skipped == nil {
				s.Skipped = map[Reason]int{}
			}
			s.Skipped[it.Reason]++
		}
		if len(it.Consumers) == 0 {
			s.Unused++
		}
	}
	objects := map[ObjectError]bool{}
	for _, p := range r.Errors {
		objects[ObjectError{Origin: p.Origin, Kind: p.Kind, Namespace: p.Namespace, Name: p.Name}] = true
	}
	s.Errors = len(objects)
	return s
}
