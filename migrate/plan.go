// Package migrate plans and applies the move of Kubernetes Secrets into a provider: it computes
// and validates every target before the first write, then applies the plan through the shared
// engine of package job (the intent of every write on the audit log first, bounded concurrency
// and a client-side rate limit, a journal so an interrupted run can be repeated), reading every
// write back before counting it done.
//
// Nothing here holds or prints a secret value except on its way to the provider: plans,
// journals and reports carry key names, sizes and keyed fingerprints.
package migrate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/job"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// PlanAPIVersion and PlanKind identify a saved plan file; ReportKind and VerifyReportKind the
// reports of apply and verify.
const (
	PlanAPIVersion   = "secretshift.io/v1alpha1"
	PlanKind         = "Plan"
	ReportKind       = "Report"
	VerifyReportKind = "VerifyReport"
)

// Action is what the plan will do with one Secret.
type Action string

const (
	// ActionCreate: nothing is stored at the target yet.
	ActionCreate Action = "create"
	// ActionUpdate: the target holds an older copy secretshift wrote (or --overwrite).
	ActionUpdate Action = "update"
	// ActionUnchanged: the target already holds exactly these values.
	ActionUnchanged Action = "unchanged"
	// ActionSkip: discover decided the Secret must not move.
	ActionSkip Action = "skip"
	// ActionConflict: the target holds different content secretshift did not write.
	ActionConflict Action = "conflict"
)

// Candidate is a discovered Secret with discover's decision.
type Candidate struct {
	Secret *kube.Secret
	// Skip is true when discover decided the Secret must not move; Reason is the
	// machine-readable reason and Message the human sentence.
	Skip    bool
	Reason  string
	Message string
	// Measured, when set, describes the values of a Secret read without them (Secret.Data
	// is nil): what planning needs of them, taken while they were in memory. Apply then
	// reads them again with Options.LoadValues, for the write only.
	Measured *Measured
}

// Measured is what planning needs of a Secret's values, taken while they were read.
type Measured struct {
	// Keys are the key names, sorted; Size the total of the values' sizes.
	Keys []string
	Size int
	// Fingerprint is the keyed fingerprint of the whole Secret, KeyFingerprints of each value.
	Fingerprint     string
	KeyFingerprints map[string]string
	// Checked is what the provider's Check said of the values at their target (nil: they fit).
	Checked error
}

// SourceSpec records how the plan's Secrets were read, so `apply` can read them again.
type SourceSpec struct {
	Files         []string `json:"files,omitempty"`
	Cluster       string   `json:"cluster,omitempty"`
	Context       string   `json:"context,omitempty"`
	Namespace     string   `json:"namespace,omitempty"`
	AllNamespaces bool     `json:"allNamespaces,omitempty"`
	Selector      string   `json:"selector,omitempty"`
	// Shard is "I/N" when the plan holds only shard I of N of the Secrets read (by a hash of
	// namespace/name; job.Shard.HasSecret): one process of a sharded run. Each shard's plan is
	// validated on its own, before its first write.
	Shard string `json:"shard,omitempty"`
}

// Plan is the reviewed list of what a migration will do. It is saved as JSON and holds no values.
type Plan struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	ID         string    `json:"id"`
	Created    time.Time `json:"created"`
	Provider   string    `json:"provider"`
	// Store describes the target store (address, mount, folder), for review.
	Store string `json:"store,omitempty"`
	// StoreID is the store's stable identity (Provider.StoreID): a saved plan is applied
	// only to the store it was made for, and the job id depends on it.
	StoreID string `json:"storeID,omitempty"`
	// StoreSettings are the provider settings the plan was made with, for providers that
	// pin them (providers.Pinned: SOPS recipients); apply uses them instead of today's.
	StoreSettings map[string]string `json:"storeSettings,omitempty"`
	Source        SourceSpec        `json:"source"`
	// FingerprintKeyID names the key the plan's fingerprints are made under
	// (audit.Fingerprinter.KeyID, as the audit log and the stores record it): apply refuses a
	// plan made under another key.
	FingerprintKeyID string `json:"fingerprintKeyID,omitempty"`
	// LegacyKeyID is how plans of earlier releases named that key (the fingerprint of the empty
	// string); such plans are still accepted.
	LegacyKeyID string  `json:"keyID,omitempty"`
	Items       []*Item `json:"items"`
	Summary     Summary `json:"summary"`
	// Problems lists why the plan was rejected; a plan with problems is never applied.
	Problems []Problem `json:"problems,omitempty"`
}

// Item is one Secret in a plan.
type Item struct {
	Namespace string      `json:"namespace"`
	Name      string      `json:"name"`
	UID       string      `json:"uid,omitempty"`
	Type      string      `json:"type"`
	Origin    kube.Origin `json:"origin"`
	Keys      []string    `json:"keys"`
	Size      int         `json:"size"`
	// Fingerprint is the keyed fingerprint of the whole Secret (type, keys, values).
	Fingerprint string `json:"fingerprint"`
	// KeyFingerprints are keyed fingerprints per key.
	KeyFingerprints map[string]string `json:"keyFingerprints,omitempty"`
	Target          *providers.Target `json:"target,omitempty"`
	Action          Action            `json:"action"`
	Reason          string            `json:"reason,omitempty"`
	Message         string            `json:"message,omitempty"`
	// Version is the target's version when the plan was made ("" when absent).
	Version string `json:"version,omitempty"`

	// stored is what Read returned at plan time, reused by Apply in the same process.
	stored *providers.Stored
	read   bool
	// keySet is Keys and KeyFingerprints checked and encoded for the audit log, held by the
	// worker applying the item while it records (prepareAudit), shared by those records.
	keySet *audit.KeySet
	// audited says Keys and KeyFingerprints were checked for the audit log (checkAudit).
	audited bool
}

// checkAudit checks the item's keys and fingerprints for the audit log, once, keeping nothing
// but that they passed: a large plan does not hold every item's encoded keys until each is
// written.
func (it *Item) checkAudit() error {
	if it.audited {
		return nil
	}
	if _, err := it.encodeKeys(); err != nil {
		return err
	}
	it.audited = true
	return nil
}

// encodeKeys checks and encodes the item's keys and fingerprints for its audit records.
func (it *Item) encodeKeys() (*audit.KeySet, error) {
	return audit.NewKeySet(audit.ActionMigrateWrite, it.Keys, it.KeyFingerprints)
}

// prepareAudit encodes the item's keys and fingerprints for its audit records. Only the
// worker applying the item calls it; the item lets go of them when it is done.
func (it *Item) prepareAudit() {
	if it.keySet == nil {
		it.keySet, _ = it.encodeKeys() // checked: checkAudit
	}
}

// auditable checks that the audit log would take the records about it.
func auditable(it *Item, s *kube.Secret) error {
	if err := it.checkAudit(); err != nil {
		return err
	}
	ev := itemEvent(audit.ActionMigrateWrite, audit.OutcomeAttempt, it, s, "", nil)
	return ev.Validate()
}

// checkAudit checks every item of p for the audit log before anything is written: a saved
// plan was checked when it was made, but its file may have been edited since.
func checkAudit(p *Plan) error {
	var problems []Problem
	for _, it := range p.Items {
		if it.Action == ActionSkip {
			continue // recorded as before: the log checks the keys of a skip record itself
		}
		if err := it.checkAudit(); err != nil {
			problems = append(problems, Problem{Ref: it.Ref(), Error: "cannot be audited: " + err.Error(), err: err})
		}
	}
	if len(problems) > 0 {
		return &ValidationError{Problems: problems}
	}
	return nil
}

// release lets go, once every record of an Apply is durable, of what the plan's items held for
// it: each target as read at plan time (values included, for an update; read again if the
// plan is applied again).
func (p *Plan) release() {
	for _, it := range p.Items {
		it.stored, it.read, it.keySet = nil, false, nil
	}
}

// madeUnder reports whether the plan's fingerprints are made under fp's key.
func (p *Plan) madeUnder(fp *audit.Fingerprinter) bool {
	if p.FingerprintKeyID != "" {
		return p.FingerprintKeyID == fp.KeyID()
	}
	return p.LegacyKeyID != "" && p.LegacyKeyID == fp.Value(nil)
}

// Ref is namespace/name.
func (it *Item) Ref() string { return it.Namespace + "/" + it.Name }

// Summary counts items by action.
type Summary struct {
	Total     int `json:"total"`
	Create    int `json:"create"`
	Update    int `json:"update"`
	Unchanged int `json:"unchanged"`
	Skip      int `json:"skip"`
	Conflict  int `json:"conflict"`
}

// Changes is the number of items that would write.
func (s Summary) Changes() int { return s.Create + s.Update }

func summarize(items []*Item) Summary {
	s := Summary{Total: len(items)}
	for _, it := range items {
		switch it.Action {
		case ActionCreate:
			s.Create++
		case ActionUpdate:
			s.Update++
		case ActionUnchanged:
			s.Unchanged++
		case ActionSkip:
			s.Skip++
		case ActionConflict:
			s.Conflict++
		}
	}
	return s
}

// Options configure planning and applying.
type Options struct {
	Provider      providers.Provider
	Fingerprinter *audit.Fingerprinter
	// Recorder receives audit events; nil disables auditing (tests, dry runs).
	Recorder job.Recorder
	// Concurrency bounds parallel provider calls (default 16).
	Concurrency int
	// Rate limits provider calls per second (0: unlimited).
	Rate float64
	// Overwrite allows replacing target content secretshift did not write.
	Overwrite bool
	// DryRun plans and reports without writing.
	DryRun bool
	// JournalDir holds job journals (default .secretshift/journal).
	JournalDir string
	// Progress is told about finished items; nil for none.
	Progress job.Progress
	// Logger is told what each step does, at debug level (names, never values); nil for none.
	Logger *slog.Logger
	// LoadValues, when set, reads again the values of a Secret planned without them
	// (Candidate.Measured), when Apply writes it; Apply checks them against the plan's
	// fingerprint. It returns an error wrapping providers.ErrNotFound when the Secret is gone.
	LoadValues func(ctx context.Context, s *kube.Secret) (kube.Data, error)
	// RunID identifies this run in provider metadata and the audit log.
	RunID string
	// Earlier, when set, tells what earlier runs of the job (named by its journal) left on
	// record, by Secret: Apply reads it once when it resumes a job, so that a write is named
	// done exactly once however a crash cut the journal (EarlierFromAuditLog).
	Earlier func(runIDs []string) (map[string]EarlierRecord, error)
	// Now is time.Now, replaceable in tests.
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.JournalDir == "" {
		o.JournalDir = ".secretshift/journal"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// progress is opts.Progress as the job sees it: nil stays nil.
func (o *Options) progress() job.Progress {
	if o.Progress == nil {
		return nil
	}
	return o.Progress
}

// BuildPlan validates every candidate against the provider (names, sizes, collisions, and
// that its audit record can be written), then reads each target to decide create, update,
// unchanged or conflict — only the targets that exist, when the provider is a
// providers.Lister. It returns a *ValidationError listing every problem when any candidate
// fails validation; nothing is read or written then.
func BuildPlan(ctx context.Context, cands []Candidate, src SourceSpec, opts Options) (*Plan, error) {
	opts.defaults()
	p := opts.Provider
	plan := &Plan{
		APIVersion: PlanAPIVersion, Kind: PlanKind, Created: opts.Now().UTC(), Provider: p.Name(),
		Source: src, FingerprintKeyID: opts.Fingerprinter.KeyID(),
	}
	plan.Store, plan.StoreID = StoreText(p), p.StoreID()
	if pin, ok := p.(providers.Pinned); ok {
		plan.StoreSettings = pin.Pin()
	}

	var problems []Problem
	addProblem := func(s *kube.Secret, err error) {
		for _, e := range flatten(err) {
			problems = append(problems, Problem{Ref: s.Ref(), Origin: s.Origin.String(), Error: e.Error(), err: e})
		}
	}
	seen := map[string]*kube.Secret{}
	seenSource := map[string]*kube.Secret{}
	fold := func(a string) string { return a }
	if f, ok := p.(providers.AddressFolder); ok {
		fold = f.FoldAddress
	}
	for _, c := range cands {
		s := c.Secret
		it := newItem(s, c.Measured, opts.Fingerprinter)
		plan.Items = append(plan.Items, it)
		if prev, dup := seenSource[s.Ref()]; dup {
			addProblem(s, fmt.Errorf("the same Secret is given twice (also at %s)", prev.Origin))
			continue
		}
		seenSource[s.Ref()] = s
		if c.Skip {
			it.Action, it.Reason, it.Message = ActionSkip, c.Reason, c.Message
			continue
		}
		t, err := p.Target(providers.PayloadOf(s).Ref)
		if err != nil {
			addProblem(s, err)
			continue
		}
		it.Target = &t
		checked := error(nil)
		if c.Measured != nil {
			checked = c.Measured.Checked
		} else {
			checked = p.Check(t, providers.PayloadOf(s))
		}
		if checked != nil {
			addProblem(s, checked)
		}
		// Every write is audited; an event the audit log would refuse must stop the plan now,
		// not the run half-way.
		if err := auditable(it, s); err != nil {
			addProblem(s, fmt.Errorf("cannot be audited: %w", err))
		}
		key := fold(t.Address)
		if other, dup := seen[key]; dup {
			addProblem(s, fmt.Errorf("%w: target %s is also the target of %s", providers.ErrInvalidName, t, other.Ref()))
			continue
		}
		seen[key] = s
	}
	sort.Slice(plan.Items, func(i, j int) bool { return plan.Items[i].Ref() < plan.Items[j].Ref() })
	plan.ID = jobID(plan)
	if len(problems) > 0 {
		return plan, &ValidationError{Problems: problems}
	}

	exists, err := existing(ctx, p, plan.Items)
	if err != nil {
		return plan, err
	}
	err = job.Each(ctx, plan.Items, opts.limits(), func(ctx context.Context, it *Item) error {
		if it.Action == ActionSkip {
			return nil
		}
		if exists != nil && !exists[it.Target.Address] {
			it.Action, it.read = ActionCreate, true
			return nil
		}
		st, err := p.Read(ctx, *it.Target)
		switch {
		case errors.Is(err, providers.ErrNotFound):
			it.Action, it.read = ActionCreate, true
			return nil
		case errors.Is(err, providers.ErrConflict):
			// The adapter can see the target is unusable (e.g. a file edited by hand).
			it.Action, it.Reason, it.Message = ActionConflict, "unreadable-target", err.Error()
			return nil
		case err != nil:
			return fmt.Errorf("read target of %s: %w", it.Ref(), err)
		}
		it.stored, it.read = st, true
		it.Version = st.Version
		it.Action, it.Reason, it.Message = decide(it, st, opts)
		opts.Logger.Debug("planned", "secret", it.Ref(), "target", it.Target.String(), "version", st.Version, "action", it.Action, "reason", it.Reason)
		return nil
	})
	plan.Summary = summarize(plan.Items)
	return plan, err
}

// existing asks a provider that can list which targets exist, so that only those are read. It
// returns nil when every target must be read.
func existing(ctx context.Context, p providers.Provider, items []*Item) (map[string]bool, error) {
	l, ok := p.(providers.Lister)
	if !ok {
		return nil, nil
	}
	var targets []providers.Target
	for _, it := range items {
		if it.Action != ActionSkip {
			targets = append(targets, *it.Target)
		}
	}
	if len(targets) == 0 {
		return nil, nil
	}
	exists, err := l.Existing(ctx, targets)
	if errors.Is(err, providers.ErrPermission) || errors.Is(err, providers.ErrUnsupported) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list targets: %w", err)
	}
	return exists, nil
}

// newItem is the plan item of s, whose values are measured now, or were when it was read (m).
func newItem(s *kube.Secret, m *Measured, f *audit.Fingerprinter) *Item {
	if m != nil {
		return &Item{
			Namespace: s.Namespace, Name: s.Name, UID: s.UID, Type: s.EffectiveType(), Origin: s.Origin,
			Keys: m.Keys, Size: m.Size, Fingerprint: m.Fingerprint, KeyFingerprints: m.KeyFingerprints,
		}
	}
	it := &Item{
		Namespace: s.Namespace, Name: s.Name, UID: s.UID, Type: s.EffectiveType(), Origin: s.Origin,
		Keys: s.Data.Keys(), Size: s.Data.Size(), Fingerprint: f.Set(s.EffectiveType(), s.Data),
		KeyFingerprints: make(map[string]string, len(s.Data)),
	}
	for k, v := range s.Data {
		it.KeyFingerprints[k] = f.Value(v)
	}
	return it
}

// jobID identifies the job a plan describes: the same Secrets going to the same targets give
// the same ID, so a repeated command finds its journal. A shard's plan names its shard too, so
// that shards sharing a journal folder never share a journal (not even two that hold nothing).
func jobID(p *Plan) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", p.Provider, p.StoreID)
	if p.Source.Shard != "" {
		fmt.Fprintf(h, "shard %s\x00", p.Source.Shard)
	}
	for _, it := range p.Items {
		t := ""
		if it.Target != nil {
			t = it.Target.String()
		}
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00", it.Ref(), t, it.Fingerprint)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// StoreText is p's description of its store (providers.Describer), or its name.
func StoreText(p providers.Provider) string {
	if d, ok := p.(providers.Describer); ok {
		return d.Describe()
	}
	return p.Name()
}

// limits are the job limits of opts.
func (o *Options) limits() job.Limits {
	return job.Limits{Concurrency: o.Concurrency, Rate: o.Rate}
}
