package azurekv

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// current is the latest version of one Key Vault secret of a target, as read now.
type current struct {
	name string
	// key is the Kubernetes key it holds: from its tags, or the one the plan maps to the name.
	key string
	// managed: secretshift wrote it for this target.
	managed     bool
	gen, count  int
	tags        map[string]string
	contentType string
	// value is the stored value. It is a secret.
	value   string
	version string
	created time.Time
	// disabled: its latest version is disabled, so its value cannot be read.
	disabled bool
	// overwritten: its latest version was written by someone else, over one secretshift wrote
	// for this target; tags, gen and key are those of secretshift's last version.
	overwritten bool
}

func currentOf(name string, s azsecrets.Secret, address string) *current {
	c := &current{name: name, tags: plainTags(s.Tags), value: deref(s.Value), contentType: deref(s.ContentType)}
	if s.ID != nil {
		c.version = s.ID.Version()
	}
	if s.Attributes != nil {
		c.created = deref(s.Attributes.Created)
	}
	c.gen, _ = strconv.Atoi(c.tags[tagGeneration])
	c.count, _ = strconv.Atoi(c.tags[tagKeys])
	c.managed = c.tags[tagManagedBy] == tagManagedByV && strings.EqualFold(c.tags[tagTarget], address) && c.gen > 0
	if c.managed {
		_, c.key = parseSource(c.tags[tagSource])
	}
	return c
}

// state is what a target holds now: the latest version of each of its secrets.
type state struct {
	address string
	members map[string]*current
	// deleted are names held by soft delete.
	deleted []string
}

// fetch reads the target's secrets: those the catalog lists for it, those the plan maps to it,
// and names (name → key), each with one GET of its latest version.
func (p *Provider) fetch(ctx context.Context, t providers.Target, names map[string]string) (*state, error) {
	// Names are compared without case, as Key Vault does; secretshift's own are lowercase.
	want := map[string]string{}
	guessed := map[string]bool{}
	if layoutOf(t.Address) == LayoutJSON {
		want[strings.ToLower(t.Address)] = ""
	} else {
		cat, err := p.catalogue(ctx)
		if err != nil {
			return nil, err
		}
		p.mu.Lock()
		for _, n := range cat.members(t.Address) {
			want[strings.ToLower(n)] = ""
		}
		// A member someone else wrote a new version of has lost its tags: found by its name.
		for _, n := range cat.untaggedLike(t.Address) {
			want[strings.ToLower(n)], guessed[strings.ToLower(n)] = "", true
		}
		p.mu.Unlock()
	}
	for n, k := range p.expectedNames(t.Address) {
		want[strings.ToLower(n)] = k
		delete(guessed, strings.ToLower(n))
	}
	for n, k := range names {
		want[strings.ToLower(n)] = k
		delete(guessed, strings.ToLower(n))
	}
	s := &state{address: t.Address, members: map[string]*current{}}
	for _, name := range sortedNames(want) {
		resp, err := p.client.GetSecret(ctx, name, "", nil)
		switch _, inner := codes(err); {
		case err == nil:
			c := currentOf(name, resp.Secret, t.Address)
			if c.tags[tagManagedBy] == "" {
				if err := p.adopt(ctx, c, t.Address); err != nil {
					return nil, err
				}
			}
			if !c.managed {
				if guessed[name] {
					continue // a name like the target's that was never its
				}
				c.key = want[name]
			}
			s.members[name] = c
		case statusOf(err) == http.StatusNotFound:
			deleted, derr := p.isDeleted(ctx, name)
			if derr != nil {
				return nil, derr
			}
			if deleted && !guessed[name] {
				s.deleted = append(s.deleted, name)
			}
		case statusOf(err) == http.StatusForbidden && inner == codeSecretDisabled:
			s.members[name] = &current{name: name, key: want[name], disabled: true}
		default:
			return nil, fmt.Errorf("read key vault secret %q of %s: %w", name, t.Address, classify(err))
		}
	}
	return s, nil
}

// adopt looks, for a secret whose latest version carries no tags, for the last version
// secretshift wrote there for the target at address: if there is one, the value was changed in
// the vault behind secretshift's back, and c stands for that version's generation with the
// changed value (so that the engine sees a change in the store, not foreign content).
func (p *Provider) adopt(ctx context.Context, c *current, address string) error {
	var best *azsecrets.SecretProperties
	pager := p.client.NewListSecretPropertiesVersionsPager(c.name, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list the versions of key vault secret %q: %w", c.name, classify(err))
		}
		for _, v := range page.Value {
			if v != nil && generationOf(v.Tags, address) > 0 && (best == nil || createdOf(v).After(createdOf(best))) {
				best = v
			}
		}
	}
	if best == nil {
		return nil
	}
	c.tags, c.overwritten, c.managed = plainTags(best.Tags), true, true
	c.gen, _ = strconv.Atoi(c.tags[tagGeneration])
	c.count, _ = strconv.Atoi(c.tags[tagKeys])
	_, c.key = parseSource(c.tags[tagSource])
	return nil
}

// head is the latest generation secretshift wrote, 0 if none.
func (s *state) head() int {
	h := 0
	for _, c := range s.members {
		if c.managed && c.gen > h {
			h = c.gen
		}
	}
	return h
}

// headMembers are the secrets of the latest generation, by name.
func (s *state) headMembers() []*current {
	h := s.head()
	var out []*current
	for _, n := range sortedNames(s.members) {
		if c := s.members[n]; c.managed && c.gen == h && !c.disabled {
			out = append(out, c)
		}
	}
	return out
}

// foreign are the secrets at the target's names that secretshift did not write for it.
func (s *state) foreign() []*current {
	var out []*current
	for _, n := range sortedNames(s.members) {
		if c := s.members[n]; !c.managed {
			out = append(out, c)
		}
	}
	return out
}

// complete reports whether the latest generation holds every secret it was written with, all
// of one content: an interrupted write leaves fewer.
func (s *state) complete() bool {
	hm := s.headMembers()
	if len(hm) == 0 {
		return false
	}
	for _, c := range hm {
		if c.count != len(hm) || c.tags[tagFingerprint] != hm[0].tags[tagFingerprint] {
			return false
		}
	}
	return true
}

// version is the target's version: its latest generation; "0" when it holds only content
// secretshift did not write; "" when it holds nothing.
func (s *state) version() string {
	if h := s.head(); h > 0 {
		return strconv.Itoa(h)
	}
	if len(s.members) > 0 {
		return "0"
	}
	return ""
}

// stored is s as the engine sees it.
func (s *state) stored(layout string) *providers.Stored {
	st := &providers.Stored{Version: s.version()}
	data := kube.Data{}
	var problems []string
	hm := s.headMembers()
	if len(hm) > 0 {
		latest := hm[0]
		for _, c := range hm {
			if c.created.After(latest.created) {
				latest = c
			}
			if c.created.After(st.Updated) {
				st.Updated = c.created
			}
		}
		tags := latest.tags
		st.Ref, _ = parseSource(tags[tagSource])
		st.Ref.UID, st.Ref.Cluster = tags[tagUID], tags[tagCluster]
		st.Managed, st.SourceUID, st.RunID, st.Type = true, tags[tagUID], tags[tagRun], tags[tagType]
		st.FingerprintKeyID, st.Job = tags[tagFPKey], tags[tagProvenance+providers.ProvenanceJob]
		if s.complete() {
			st.Fingerprint = tags[tagFingerprint]
		}
	}
	add := func(c *current) {
		if layout == LayoutJSON {
			d := decodeJSON(c.value, c.tags[tagBase64])
			if d == nil {
				problems = append(problems, fmt.Sprintf("key vault secret %q does not hold a JSON object", c.name))
			}
			for k, v := range d {
				data[k] = v
			}
			return
		}
		data[c.key] = decodeKey(c.value, c.contentType)
	}
	for _, c := range hm {
		add(c)
	}
	for _, c := range s.foreign() {
		st.Managed = false
		if c.disabled {
			problems = append(problems, fmt.Sprintf("key vault secret %q is disabled, so its value cannot be read", c.name))
			continue
		}
		add(c)
	}
	if len(problems) > 0 {
		st.Problem = strings.Join(problems, "; ")
		return st
	}
	st.Data = data
	return st
}

// holds reports whether name already holds m as generation gen of the content fp: written by
// an interrupted write of the same content, so it is not written again.
func (s *state) holds(m member, gen int, fp string) bool {
	c := s.members[m.name]
	return c != nil && c.managed && c.gen == gen && fp != "" && c.tags[tagFingerprint] == fp &&
		c.value == m.value && c.contentType == m.contentType && c.key == m.key
}

// isDeletedName reports whether name is held by soft delete.
func (s *state) isDeletedName(name string) bool { return slices.Contains(s.deleted, name) }

// keepBase64 says which keys stay base64 because they are stored so now (see encodeKey).
func (s *state) keepBase64() (perKey map[string]bool, jsonMarker string) {
	perKey = map[string]bool{}
	for _, c := range s.headMembers() {
		if isBase64(c.contentType) {
			perKey[c.key] = true
		}
		if c.tags[tagBase64] != "" {
			jsonMarker = c.tags[tagBase64]
		}
	}
	return perKey, jsonMarker
}

// isDeleted reports whether name is soft-deleted: from the catalog when it listed the deleted
// secrets, else by asking.
func (p *Provider) isDeleted(ctx context.Context, name string) (bool, error) {
	p.mu.Lock()
	known := p.cat != nil && p.cat.deletedKnown
	deleted := known && p.cat.isDeleted(name)
	p.mu.Unlock()
	if known {
		return deleted, nil
	}
	_, err := p.client.GetDeletedSecret(ctx, name, nil)
	switch statusOf(err) {
	case 0:
		if err != nil {
			return false, fmt.Errorf("check whether key vault secret %q is soft-deleted: %w", name, err)
		}
		return true, nil
	case http.StatusNotFound, http.StatusForbidden:
		// Without the permission to see deleted secrets, the write will tell.
		return false, nil
	}
	return false, fmt.Errorf("check whether key vault secret %q is soft-deleted: %w", name, classify(err))
}
