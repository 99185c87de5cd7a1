package migrate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// memProvider is an in-memory store with versions and check-and-set, enough to exercise the
// engine's decisions. Adapters are tested against their real servers in their own packages.
type memProvider struct {
	mu      sync.Mutex
	entries map[string]*memEntry
	writes  int
	failOn  string // Write to this address fails once
	badRead bool   // Read returns altered data (verification must catch it)
	noRunID bool   // the store records no run, as a file store does not
	// lateRun, when set, makes the first write to each address find the same content already
	// written by that run (a request of a dead run that landed late) and conflict.
	lateRun  string
	maxBytes int
}

type memEntry struct {
	stored  providers.Stored
	version int
}

func newMem() *memProvider { return &memProvider{entries: map[string]*memEntry{}, maxBytes: 1 << 20} }

func (m *memProvider) Name() string { return "mem" }

func (m *memProvider) StoreID() string { return "mem|test" }

func (m *memProvider) Target(ref providers.Ref) (providers.Target, error) {
	if strings.Contains(ref.Name, "_") {
		return providers.Target{}, fmt.Errorf("%s: %w: underscore", ref, providers.ErrInvalidName)
	}
	// Upper case folds onto lower case, to exercise collision detection.
	return providers.Target{Provider: "mem", Address: strings.ToLower(ref.Namespace + "/" + ref.Name)}, nil
}

func (m *memProvider) Check(t providers.Target, p providers.Payload) error {
	var errs []error
	for _, k := range p.Data.Keys() {
		if len(p.Data[k]) > m.maxBytes {
			errs = append(errs, fmt.Errorf("%s key %s: %w", p.Ref, k, providers.ErrTooLarge))
		}
	}
	return errors.Join(errs...)
}

func (m *memProvider) Read(_ context.Context, t providers.Target) (*providers.Stored, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[t.Address]
	if !ok {
		return nil, providers.ErrNotFound
	}
	st := e.stored
	st.Data = kube.Data{}
	for k, v := range e.stored.Data {
		st.Data[k] = append([]byte(nil), v...)
	}
	if m.badRead {
		for k := range st.Data {
			st.Data[k] = append(st.Data[k], 'x')
		}
	}
	st.Version = fmt.Sprint(e.version)
	return &st, nil
}

func (m *memProvider) Write(_ context.Context, t providers.Target, p providers.Payload, expect string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failOn == t.Address {
		m.failOn = ""
		return "", errors.New("store unavailable")
	}
	e, ok := m.entries[t.Address]
	if m.lateRun != "" && !ok {
		late := p
		late.RunID = m.lateRun
		m.entries[t.Address] = &memEntry{version: 1, stored: providers.Stored{Data: p.Data, Type: p.EffectiveType(), Fingerprint: p.Fingerprint,
			FingerprintKeyID: p.FingerprintKeyID, Managed: true, SourceUID: p.Ref.UID, RunID: late.RunID}}
		return "", fmt.Errorf("write %s: %w: version %q, expected %q", t.Address, providers.ErrConflict, "1", expect)
	}
	cur := ""
	if ok {
		cur = fmt.Sprint(e.version)
	}
	if cur != expect {
		return "", fmt.Errorf("write %s: %w: version %q, expected %q", t.Address, providers.ErrConflict, cur, expect)
	}
	if !ok {
		e = &memEntry{}
		m.entries[t.Address] = e
	}
	e.version++
	m.writes++
	data := kube.Data{}
	for k, v := range p.Data {
		data[k] = append([]byte(nil), v...)
	}
	e.stored = providers.Stored{Data: data, Type: p.EffectiveType(), Fingerprint: p.Fingerprint, FingerprintKeyID: p.FingerprintKeyID,
		Managed: true, SourceUID: p.Ref.UID, RunID: p.RunID}
	if m.noRunID {
		e.stored.RunID = ""
	}
	return fmt.Sprint(e.version), nil
}

func testFingerprinter(t *testing.T) *audit.Fingerprinter {
	t.Helper()
	f, err := audit.NewFingerprinter(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func secret(ns, name string, kv ...string) *kube.Secret {
	s := &kube.Secret{Namespace: ns, Name: name, UID: "uid-" + ns + "-" + name, Type: "Opaque", Data: kube.Data{}}
	for i := 0; i+1 < len(kv); i += 2 {
		s.Data[kv[i]] = []byte(kv[i+1])
	}
	return s
}

// numbered makes n Secrets ns/<format of i> with one key k = i.
func numbered(n int, format string) []*kube.Secret {
	ss := make([]*kube.Secret, n)
	for i := range ss {
		ss[i] = secret("ns", fmt.Sprintf(format, i), "k", fmt.Sprint(i))
	}
	return ss
}

func cands(ss ...*kube.Secret) []Candidate {
	out := make([]Candidate, len(ss))
	for i, s := range ss {
		out[i] = Candidate{Secret: s}
	}
	return out
}

func sources(ss ...*kube.Secret) map[string]*kube.Secret {
	m := map[string]*kube.Secret{}
	for _, s := range ss {
		m[s.Ref()] = s
	}
	return m
}

func testOpts(t *testing.T, p providers.Provider) Options {
	return Options{Provider: p, Fingerprinter: testFingerprinter(t), Concurrency: 4, JournalDir: filepath.Join(t.TempDir(), "journal"), RunID: "run-1"}
}

func run(t *testing.T, ctx context.Context, cs []Candidate, src map[string]*kube.Secret, opts Options) (*Plan, *Report) {
	t.Helper()
	plan, err := BuildPlan(ctx, cs, SourceSpec{}, opts)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	rep, err := Apply(ctx, plan, src, opts)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return plan, rep
}
