package azurekv

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/secretshift/secretshift/providers"
)

// catalog is one listing of the vault: which names exist, which are soft-deleted, and which
// secrets secretshift wrote for which target (from their tags — listing returns tags, never
// values). A per-key target's secrets are found through it. It is made once per provider and
// kept up to date with the provider's own writes; a secret another program adds to a target
// later is not seen until the next run.
type catalog struct {
	// names maps each folded name to the name as listed.
	names map[string]string
	// targets maps a folded address to the names of its secrets, deleted ones included.
	targets map[string][]string
	// addresses maps a folded address to the address as tagged.
	addresses map[string]string
	deleted   map[string]bool
	// deletedKnown is false when the deleted secrets could not be listed (no permission).
	deletedKnown bool
	// untagged are the folded names whose latest version carries no secretshift tags, in
	// order: someone else's secrets, or secretshift's overwritten by someone else.
	untagged []string
	tagged   map[string]bool
}

// untaggedLike returns the untagged names that fit the per-key address: its text before and
// after {key}, with something between.
func (c *catalog) untaggedLike(address string) []string {
	before, after, ok := strings.Cut(strings.ToLower(address), keyPlaceholder)
	if !ok {
		return nil
	}
	var out []string
	i := sort.SearchStrings(c.untagged, before)
	for ; i < len(c.untagged) && strings.HasPrefix(c.untagged[i], before); i++ {
		n := c.untagged[i]
		if !c.tagged[n] && len(n) > len(before)+len(after) && strings.HasSuffix(n, after) {
			out = append(out, c.names[n])
		}
	}
	return out
}

func (c *catalog) isDeleted(name string) bool { return c.deleted[strings.ToLower(name)] }

func (c *catalog) exists(name string) bool { return c.names[strings.ToLower(name)] != "" }

// members are the names tagged with the target at address.
func (c *catalog) members(address string) []string {
	return c.targets[strings.ToLower(address)]
}

func (c *catalog) add(name, address string) {
	fold := strings.ToLower(name)
	delete(c.deleted, fold)
	c.names[fold] = name
	c.tagged[fold] = true
	a := strings.ToLower(address)
	for _, n := range c.targets[a] {
		if strings.EqualFold(n, name) {
			return
		}
	}
	c.targets[a] = append(c.targets[a], name)
	c.addresses[a] = address
}

// loadedCatalog returns the catalog if it was made, nil otherwise.
func (p *Provider) loadedCatalog() *catalog {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cat
}

// catalogue returns the catalog, listing the vault the first time.
func (p *Provider) catalogue(ctx context.Context) (*catalog, error) {
	p.catMu.Lock()
	defer p.catMu.Unlock()
	if c := p.loadedCatalog(); c != nil {
		return c, nil
	}
	c := &catalog{names: map[string]string{}, targets: map[string][]string{}, addresses: map[string]string{}, deleted: map[string]bool{}, tagged: map[string]bool{}}
	tagged := func(name string, tags map[string]*string) bool {
		t := plainTags(tags)
		if t[tagManagedBy] == tagManagedByV && t[tagTarget] != "" {
			a := strings.ToLower(t[tagTarget])
			c.targets[a] = append(c.targets[a], name)
			c.addresses[a] = t[tagTarget]
			return true
		}
		return false
	}
	pager := p.client.NewListSecretPropertiesPager(nil)
	pages := 0
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the secrets of key vault %s: %w", p.vaultURL, classify(err))
		}
		pages++
		for _, it := range page.Value {
			if it == nil || it.ID == nil || deref(it.Managed) {
				continue // certificate-backed secrets belong to their certificate
			}
			name := it.ID.Name()
			c.names[strings.ToLower(name)] = name
			if !tagged(name, it.Tags) && plainTags(it.Tags)[tagManagedBy] == "" {
				c.untagged = append(c.untagged, strings.ToLower(name))
			}
		}
	}
	sort.Strings(c.untagged)
	dpager := p.client.NewListDeletedSecretPropertiesPager(nil)
	c.deletedKnown = true
	for dpager.More() {
		page, err := dpager.NextPage(ctx)
		if statusOf(err) == http.StatusForbidden {
			p.debug("cannot list deleted secrets; soft-deleted names are found one by one", "error", serviceMessage(err))
			c.deletedKnown = false
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list the deleted secrets of key vault %s: %w", p.vaultURL, classify(err))
		}
		for _, it := range page.Value {
			if it == nil || it.ID == nil {
				continue
			}
			name := it.ID.Name()
			c.deleted[strings.ToLower(name)] = true
			tagged(name, it.Tags)
		}
	}
	p.debug("listed the vault", "secrets", len(c.names), "deleted", len(c.deleted), "pages", pages)
	p.mu.Lock()
	p.cat = c
	p.mu.Unlock()
	return c, nil
}

// Existing implements providers.Lister from one listing of the vault: a target exists when a
// secret is tagged with it, or when a name the plan maps to it is taken (also by soft delete,
// so that the plan reports it).
func (p *Provider) Existing(ctx context.Context, targets []providers.Target) (map[string]bool, error) {
	cat, err := p.catalogue(ctx)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]bool{}
	for _, t := range targets {
		if len(cat.members(t.Address)) > 0 || cat.exists(t.Address) || cat.isDeleted(t.Address) {
			out[t.Address] = true
			continue
		}
		for n := range p.expected[strings.ToLower(t.Address)] {
			if cat.exists(n) || cat.isDeleted(n) {
				out[t.Address] = true
				break
			}
		}
	}
	return out, nil
}

// Entries implements providers.Enumerator: the targets secretshift wrote (found by their tags),
// of both layouts, in address order. Secrets written by anything else have no target and are
// not listed.
func (p *Provider) Entries(ctx context.Context, prefix string) ([]providers.Target, error) {
	cat, err := p.catalogue(ctx)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []providers.Target
	for fold, names := range cat.targets {
		addr := cat.addresses[fold]
		if !strings.HasPrefix(addr, prefix) {
			continue
		}
		active := false
		for _, n := range names {
			active = active || cat.exists(n)
		}
		if active {
			out = append(out, providers.Target{Provider: Name, Address: addr})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out, nil
}
