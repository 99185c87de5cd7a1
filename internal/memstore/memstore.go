// Package memstore is a store that lives in memory, for tests: it shows that a store is one
// folder plus one registry row, with no change anywhere else. It keeps versions and
// check-and-set like a real store; its content lasts as long as the process.
package memstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// Name is the registry name of this store.
const Name = "mem"

// Entry is the store's row for the registry table.
var Entry = providers.Entry{Name: Name, Summary: "an in-memory store (tests)", NewConfig: func() providers.Config { return &Config{Bucket: "default"} }}

// Config selects a bucket; buckets of one process share their content across Opens.
type Config struct{ Bucket string }

// Flags implements providers.Config.
func (c *Config) Flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Bucket, "mem-bucket", c.Bucket, "in-memory bucket to write to")
}

// Open implements providers.Config.
func (c *Config) Open(context.Context) (providers.Provider, error) {
	if c.Bucket == "" {
		return nil, errors.New("mem: --mem-bucket is empty")
	}
	mu.Lock()
	defer mu.Unlock()
	s, ok := buckets[c.Bucket]
	if !ok {
		s = &Store{bucket: c.Bucket, entries: map[string][]providers.Stored{}, pending: map[string]*providers.Stored{}}
		buckets[c.Bucket] = s
	}
	return s, nil
}

var (
	mu      sync.Mutex
	buckets = map[string]*Store{}
)

// Bucket returns the store of a bucket, for tests to look inside.
func Bucket(name string) *Store {
	mu.Lock()
	defer mu.Unlock()
	return buckets[name]
}

// Store is one bucket: every version of every entry.
type Store struct {
	bucket  string
	mu      sync.Mutex
	entries map[string][]providers.Stored
	pending map[string]*providers.Stored
}

var (
	_ providers.Provider       = (*Store)(nil)
	_ providers.Describer      = (*Store)(nil)
	_ providers.ExternalReader = (*Store)(nil)
	_ providers.Versioned      = (*Store)(nil)
	_ providers.Stager         = (*Store)(nil)
)

// Name implements providers.Provider.
func (s *Store) Name() string { return Name }

// StoreID implements providers.Provider.
func (s *Store) StoreID() string { return "mem|" + s.bucket }

// Describe implements providers.Describer.
func (s *Store) Describe() string { return "in-memory bucket " + s.bucket }

// Target implements providers.Provider.
func (s *Store) Target(ref providers.Ref) (providers.Target, error) {
	if strings.Contains(ref.Name, "_") {
		return providers.Target{}, fmt.Errorf("%s: %w: no underscores here", ref, providers.ErrInvalidName)
	}
	return providers.Target{Provider: Name, Address: ref.Namespace + "/" + ref.Name}, nil
}

// Check implements providers.Provider.
func (s *Store) Check(providers.Target, providers.Payload) error { return nil }

// Read implements providers.Provider.
func (s *Store) Read(_ context.Context, t providers.Target) (*providers.Stored, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	vs := s.entries[t.Address]
	if len(vs) == 0 {
		return nil, fmt.Errorf("%s: %w", t, providers.ErrNotFound)
	}
	st := vs[len(vs)-1]
	st.Data = copyData(st.Data)
	return &st, nil
}

// Write implements providers.Provider.
func (s *Store) Write(_ context.Context, t providers.Target, p providers.Payload, expect string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	vs := s.entries[t.Address]
	cur := ""
	if len(vs) > 0 {
		cur = strconv.Itoa(len(vs))
	}
	if cur != expect {
		return "", fmt.Errorf("write %s: %w: version %q, expected %q", t, providers.ErrConflict, cur, expect)
	}
	v := strconv.Itoa(len(vs) + 1)
	s.entries[t.Address] = append(vs, providers.Stored{Data: copyData(p.Data), Type: p.EffectiveType(), Fingerprint: p.Fingerprint,
		FingerprintKeyID: p.FingerprintKeyID, Version: v, Managed: true, SourceUID: p.Ref.UID, RunID: p.RunID, Ref: p.Ref, Updated: time.Now()})
	return v, nil
}

// Entries implements providers.Enumerator.
func (s *Store) Entries(_ context.Context, prefix string) ([]providers.Target, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []providers.Target
	for a := range s.entries {
		if strings.HasPrefix(a, prefix) {
			out = append(out, providers.Target{Provider: Name, Address: a})
		}
	}
	slices.SortFunc(out, func(a, b providers.Target) int { return strings.Compare(a.Address, b.Address) })
	return out, nil
}

// Count counts the versions of an entry.
func (s *Store) Count(address string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries[address])
}

// Versions implements providers.Versioned.
func (s *Store) Versions(_ context.Context, t providers.Target) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, st := range s.entries[t.Address] {
		out = append(out, st.Version)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", t, providers.ErrNotFound)
	}
	return out, nil
}

// ReadVersion implements providers.Versioned.
func (s *Store) ReadVersion(_ context.Context, t providers.Target, version string) (*providers.Stored, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.entries[t.Address] {
		if st.Version == version {
			st.Data = copyData(st.Data)
			return &st, nil
		}
	}
	return nil, fmt.Errorf("%s version %s: %w", t, version, providers.ErrNotFound)
}

// Rollback implements providers.Versioned: version becomes current as a new version.
func (s *Store) Rollback(ctx context.Context, t providers.Target, version string) (string, error) {
	old, err := s.ReadVersion(ctx, t, version)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	vs := s.entries[t.Address]
	old.Version = strconv.Itoa(len(vs) + 1)
	s.entries[t.Address] = append(vs, *old)
	return old.Version, nil
}

// Stage implements providers.Stager: the pending value waits beside the versions.
func (s *Store) Stage(_ context.Context, t providers.Target, p providers.Payload, expect string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := strconv.Itoa(len(s.entries[t.Address])); cur != expect && !(expect == "" && cur == "0") {
		return "", fmt.Errorf("stage %s: %w: version %q, expected %q", t, providers.ErrConflict, cur, expect)
	}
	s.pending[t.Address] = &providers.Stored{Data: copyData(p.Data), Type: p.EffectiveType(), Fingerprint: p.Fingerprint,
		FingerprintKeyID: p.FingerprintKeyID, Managed: true, SourceUID: p.Ref.UID, RunID: p.RunID, Ref: p.Ref}
	return "pending", nil
}

// Promote implements providers.Stager.
func (s *Store) Promote(_ context.Context, t providers.Target, pending string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.pending[t.Address]
	if st == nil || pending != "pending" {
		return "", fmt.Errorf("promote %s: %w: nothing pending", t, providers.ErrNotFound)
	}
	delete(s.pending, t.Address)
	st.Version, st.Updated = strconv.Itoa(len(s.entries[t.Address])+1), time.Now()
	s.entries[t.Address] = append(s.entries[t.Address], *st)
	return st.Version, nil
}

// Discard implements providers.Stager.
func (s *Store) Discard(_ context.Context, t providers.Target, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pending, t.Address)
	return nil
}

// ExternalRefs implements providers.ExternalReader: one remote key per Secret key.
func (s *Store) ExternalRefs(t providers.Target, p providers.Payload) []providers.ExternalRef {
	var out []providers.ExternalRef
	for _, k := range p.Data.Keys() {
		out = append(out, providers.ExternalRef{SecretKey: k, Key: t.Address, Property: k})
	}
	return out
}

// ExternalStores implements providers.ExternalReader with ESO's fake provider block.
func (s *Store) ExternalStores(req providers.StoreRequest) (*providers.StoreSet, error) {
	set := &providers.StoreSet{Providers: map[string]map[string]any{}, Files: map[string][]byte{}}
	for ns := range req.Refs {
		if req.Cluster {
			ns = ""
		}
		set.Providers[ns] = map[string]any{"fake": map[string]any{"data": []any{}}}
	}
	set.Files["mem/bucket.txt"] = []byte(s.bucket + "\n")
	return set, nil
}

func copyData(d kube.Data) kube.Data {
	if d == nil {
		return nil
	}
	out := make(kube.Data, len(d))
	for k, v := range d {
		out[k] = append([]byte(nil), v...)
	}
	return out
}
