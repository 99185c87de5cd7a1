package azurekv

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/secretshift/secretshift/providers"
)

var _ providers.Versioned = (*Provider)(nil)

// history lists every version of the target's secrets that secretshift wrote for it, by name.
func (p *Provider) history(ctx context.Context, t providers.Target) (map[string][]*azsecrets.SecretProperties, error) {
	s, err := p.fetch(ctx, t, nil)
	if err != nil {
		return nil, err
	}
	out := map[string][]*azsecrets.SecretProperties{}
	for _, name := range sortedNames(s.members) {
		if !s.members[name].managed {
			continue
		}
		pager := p.client.NewListSecretPropertiesVersionsPager(name, nil)
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("list the versions of key vault secret %q: %w", name, classify(err))
			}
			for _, v := range page.Value {
				if v != nil && v.ID != nil && generationOf(v.Tags, t.Address) > 0 {
					out[name] = append(out[name], v)
				}
			}
		}
	}
	return out, nil
}

// generationOf is the generation a version was written in for the target at address, 0 when
// secretshift did not write it there.
func generationOf(tags map[string]*string, address string) int {
	t := plainTags(tags)
	if t[tagManagedBy] != tagManagedByV || !strings.EqualFold(t[tagTarget], address) {
		return 0
	}
	g, _ := strconv.Atoi(t[tagGeneration])
	return g
}

func createdOf(v *azsecrets.SecretProperties) time.Time {
	if v.Attributes == nil {
		return time.Time{}
	}
	return deref(v.Attributes.Created)
}

// Versions implements providers.Versioned: the target's generations, oldest first.
func (p *Provider) Versions(ctx context.Context, t providers.Target) ([]string, error) {
	h, err := p.history(ctx, t)
	if err != nil {
		return nil, err
	}
	gens := map[int]bool{}
	for _, vs := range h {
		for _, v := range vs {
			gens[generationOf(v.Tags, t.Address)] = true
		}
	}
	if len(gens) == 0 {
		return nil, fmt.Errorf("list versions of key vault %s: %w", t.Address, providers.ErrNotFound)
	}
	nums := make([]int, 0, len(gens))
	for g := range gens {
		nums = append(nums, g)
	}
	sort.Ints(nums)
	out := make([]string, len(nums))
	for i, g := range nums {
		out[i] = strconv.Itoa(g)
	}
	return out, nil
}

// ReadVersion implements providers.Versioned: for each secret of the target, the last version
// written in that generation.
func (p *Provider) ReadVersion(ctx context.Context, t providers.Target, version string) (*providers.Stored, error) {
	gen, err := strconv.Atoi(version)
	if err != nil || gen <= 0 {
		return nil, fmt.Errorf("read key vault %s: %w: bad version %q", t.Address, providers.ErrNotFound, version)
	}
	h, err := p.history(ctx, t)
	if err != nil {
		return nil, err
	}
	s := &state{address: t.Address, members: map[string]*current{}}
	for name, vs := range h {
		var pick *azsecrets.SecretProperties
		for _, v := range vs {
			if generationOf(v.Tags, t.Address) == gen && (pick == nil || createdOf(v).After(createdOf(pick))) {
				pick = v
			}
		}
		if pick == nil {
			continue
		}
		resp, err := p.client.GetSecret(ctx, name, pick.ID.Version(), nil)
		if _, inner := codes(err); inner == codeSecretDisabled {
			s.members[name] = &current{name: name, managed: true, gen: gen, disabled: true}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read key vault secret %q version %s: %w", name, pick.ID.Version(), classify(err))
		}
		s.members[name] = currentOf(name, resp.Secret, t.Address)
	}
	if len(s.members) == 0 {
		return nil, fmt.Errorf("read key vault %s version %s: %w", t.Address, version, providers.ErrNotFound)
	}
	st := s.stored(layoutOf(t.Address))
	for _, c := range s.members {
		if c.disabled {
			st.Data, st.Problem = nil, fmt.Sprintf("key vault secret %q is disabled in version %s", c.name, version)
		}
	}
	st.Version = version
	return st, nil
}

// Rollback implements providers.Versioned: the values of that generation are written again as
// a new one, with the provenance they were written with.
func (p *Provider) Rollback(ctx context.Context, t providers.Target, version string) (string, error) {
	old, err := p.ReadVersion(ctx, t, version)
	if err != nil {
		return "", fmt.Errorf("rollback key vault %s: %w", t.Address, err)
	}
	if old.Data == nil {
		return "", fmt.Errorf("rollback key vault %s to version %s: %s", t.Address, version, old.Problem)
	}
	cur, err := p.Read(ctx, t)
	if err != nil {
		return "", fmt.Errorf("rollback key vault %s: %w", t.Address, err)
	}
	pl := providers.Payload{Ref: old.Ref, Type: old.Type, Data: old.Data, Fingerprint: old.Fingerprint, FingerprintKeyID: old.FingerprintKeyID, RunID: old.RunID}
	if old.Job != "" {
		pl.Provenance = map[string]string{providers.ProvenanceJob: old.Job}
	}
	return p.Write(ctx, t, pl, cur.Version)
}
