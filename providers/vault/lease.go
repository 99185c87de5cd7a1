package vault

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/secretshift/secretshift/providers"
)

var _ providers.Leaser = (*Provider)(nil)

// Lease implements providers.Leaser with a custom metadata key, secretshift-lease =
// "<holder> <expiry RFC 3339>". KV v2 has no check-and-set on metadata, so the lease is
// written, then read back: of two runs that write it at once, only the one whose value is
// there afterwards goes on. Any write of the entry ends the lease.
func (p *Provider) Lease(ctx context.Context, t providers.Target, holder string, ttl time.Duration, ours func(string) bool) (func(context.Context) error, error) {
	kv := p.client.KVv2(p.mount)
	path := p.relPath(t)
	now := time.Now()
	md, err := kv.GetMetadata(ctx, path)
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("lease vault %s: %w", t.Address, providers.ErrNotFound)
		}
		return nil, fmt.Errorf("lease vault %s: %w", t.Address, classify(err))
	}
	if other, until, ok := parseLease(md.CustomMetadata[metaLease]); ok && other != holder && !ours(other) && now.Before(until) {
		return nil, fmt.Errorf("vault %s: %w: run %s holds its lease until %s", t.Address, providers.ErrBusy, other, until.UTC().Format(time.RFC3339))
	}
	value := holder + " " + now.Add(ttl).UTC().Format(time.RFC3339)
	if err := kv.PatchMetadata(ctx, path, api.KVMetadataPatchInput{CustomMetadata: map[string]any{metaLease: value}}); err != nil {
		return nil, fmt.Errorf("lease vault %s: %w", t.Address, classify(err))
	}
	md, err = kv.GetMetadata(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("lease vault %s: %w", t.Address, classify(err))
	}
	if got, _ := md.CustomMetadata[metaLease].(string); got != value {
		other, until, _ := parseLease(got)
		return nil, fmt.Errorf("vault %s: %w: run %s took its lease at the same moment (until %s)", t.Address, providers.ErrBusy, other, until.UTC().Format(time.RFC3339))
	}
	release := func(ctx context.Context) error {
		md, err := kv.GetMetadata(ctx, path)
		if err != nil {
			return fmt.Errorf("release the lease of vault %s: %w", t.Address, classify(err))
		}
		if got, _ := md.CustomMetadata[metaLease].(string); got != value {
			return nil // ended by a write, or taken over after it expired
		}
		if err := kv.PatchMetadata(ctx, path, api.KVMetadataPatchInput{CustomMetadata: map[string]any{metaLease: nil}}); err != nil {
			return fmt.Errorf("release the lease of vault %s: %w", t.Address, classify(err))
		}
		return nil
	}
	return release, nil
}

// parseLease reads a secretshift-lease value.
func parseLease(v any) (holder string, until time.Time, ok bool) {
	s, _ := v.(string)
	holder, at, found := strings.Cut(s, " ")
	if !found {
		return "", time.Time{}, false
	}
	until, err := time.Parse(time.RFC3339, at)
	return holder, until, err == nil
}
