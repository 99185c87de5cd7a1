package azurekv

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/secretshift/secretshift/providers"
)

var _ providers.Leaser = (*Provider)(nil)

// Lease implements providers.Leaser with a tag, secretshift-lease = "<holder> <expiry RFC 3339>",
// on the first secret (by name) of the target's latest generation. Tags have no check-and-set,
// so the lease is written, then read back, like an etag compared by hand: of two runs that
// write it at once, only the one whose value is there afterwards goes on. A write of the
// target makes new versions without the tag, which ends the lease.
func (p *Provider) Lease(ctx context.Context, t providers.Target, holder string, ttl time.Duration, ours func(string) bool) (func(context.Context) error, error) {
	s, err := p.fetch(ctx, t, nil)
	if err != nil {
		return nil, fmt.Errorf("lease key vault %s: %w", t.Address, err)
	}
	hm := s.headMembers()
	if len(hm) == 0 {
		return nil, fmt.Errorf("lease key vault %s: %w", t.Address, providers.ErrNotFound)
	}
	anchor := hm[0]
	for _, c := range hm {
		if !c.overwritten {
			anchor = c // a version secretshift wrote, whose tags hold the lease
			break
		}
	}
	now := time.Now()
	if other, until, ok := parseLease(anchor.tags[tagLease]); ok && other != holder && !ours(other) && now.Before(until) {
		return nil, fmt.Errorf("key vault %s: %w: run %s holds its lease until %s", t.Address, providers.ErrBusy, other, until.UTC().Format(time.RFC3339))
	}
	value := holder + " " + now.Add(ttl).UTC().Format(time.RFC3339)
	tags := maps.Clone(anchor.tags)
	tags[tagLease] = value
	if err := p.setTags(ctx, anchor.name, anchor.version, tags); err != nil {
		return nil, fmt.Errorf("lease key vault %s: %w", t.Address, err)
	}
	got, version, err := p.leaseOf(ctx, anchor.name)
	if err != nil {
		return nil, fmt.Errorf("lease key vault %s: %w", t.Address, err)
	}
	if got != value || version != anchor.version {
		other, until, _ := parseLease(got)
		return nil, fmt.Errorf("key vault %s: %w: run %s took its lease at the same moment (until %s), or the target was written", t.Address, providers.ErrBusy, other, until.UTC().Format(time.RFC3339))
	}
	release := func(ctx context.Context) error {
		got, version, err := p.leaseOf(ctx, anchor.name)
		if err != nil {
			return fmt.Errorf("release the lease of key vault %s: %w", t.Address, err)
		}
		if got != value || version != anchor.version {
			return nil // ended by a write, or taken over after it expired
		}
		delete(tags, tagLease)
		if err := p.setTags(ctx, anchor.name, anchor.version, tags); err != nil {
			return fmt.Errorf("release the lease of key vault %s: %w", t.Address, err)
		}
		return nil
	}
	return release, nil
}

// setTags replaces the tags of one version (Key Vault replaces the whole map).
func (p *Provider) setTags(ctx context.Context, name, version string, tags map[string]string) error {
	_, err := p.client.UpdateSecretProperties(ctx, name, version, azsecrets.UpdateSecretPropertiesParameters{Tags: sdkTags(tags)}, nil)
	if err != nil {
		return fmt.Errorf("update the tags of key vault secret %q: %w", name, classify(err))
	}
	return nil
}

// leaseOf reads the lease tag and the version of name's latest version.
func (p *Provider) leaseOf(ctx context.Context, name string) (lease, version string, err error) {
	resp, err := p.client.GetSecret(ctx, name, "", nil)
	if err != nil {
		return "", "", fmt.Errorf("read key vault secret %q: %w", name, classify(err))
	}
	if resp.ID != nil {
		version = resp.ID.Version()
	}
	return deref(resp.Tags[tagLease]), version, nil
}

// parseLease reads a secretshift-lease value.
func parseLease(s string) (holder string, until time.Time, ok bool) {
	holder, at, found := strings.Cut(s, " ")
	if !found {
		return "", time.Time{}, false
	}
	until, err := time.Parse(time.RFC3339, at)
	return holder, until, err == nil
}
