package akv

import (
	"crypto/rand"
	"encoding/hex"
	"maps"
	"slices"
	"strings"
	"time"
)

// version is one version of a secret.
type version struct {
	id          string // 32 lower-case hex characters
	value       string
	contentType string
	tags        map[string]string // nil when the version has no tags
	enabled     bool
	nbf, exp    *int64
	created     int64
	updated     int64
}

// secret is a name with its versions, active or soft-deleted.
type secret struct {
	name     string     // the spelling first used; names are case-insensitive
	versions []*version // in creation order: the last one is the latest

	deleted            bool
	deletedDate, purge int64

	// Propagation (Options.Propagation): how many more requests for this name still see it as
	// it was before the last delete or recover.
	deleting, recovering int
}

func (s *secret) latest() *version { return s.versions[len(s.versions)-1] }

// find returns the version with id v, or nil.
func (s *secret) find(v string) *version {
	for _, x := range s.versions {
		if strings.EqualFold(x.id, v) {
			return x
		}
	}
	return nil
}

// store holds a vault's secrets. The Server's mutex guards it.
type store struct {
	byKey map[string]*secret // by fold(name)
	// purging counts, per folded name, the restores that still conflict after a purge.
	purging map[string]int
}

func newStore() *store {
	return &store{byKey: map[string]*secret{}, purging: map[string]int{}}
}

// fold is the key a name is stored, compared and sorted under: Key Vault names are
// case-insensitive, and its list markers carry names upper-cased.
func fold(name string) string { return strings.ToUpper(name) }

func newVersionID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// active returns the secret name if it exists and is not deleted. A secret still recovering
// (Propagation) answers 404 and uses up one of its lagging requests.
func (st *store) active(name string) (*secret, *apiError) {
	sec := st.byKey[fold(name)]
	if sec == nil || sec.deleted {
		return nil, errSecretNotFound(name)
	}
	if sec.recovering > 0 {
		sec.recovering--
		return nil, errSecretNotFound(name)
	}
	return sec, nil
}

// activeVersion returns version v of name, the latest when v is "".
func (st *store) activeVersion(name, v string) (*secret, *version, *apiError) {
	sec, e := st.active(name)
	if e != nil {
		return nil, nil, e
	}
	if v == "" {
		return sec, sec.latest(), nil
	}
	ver := sec.find(v)
	if ver == nil {
		// The wording for an unknown version of a known name is not on record.
		return nil, nil, errSecretNotFound(name + "/" + v)
	}
	return sec, ver, nil
}

// set adds a version to name, creating the secret when needed.
func (st *store) set(name string, in setIn, now time.Time) (*secret, *version, *apiError) {
	key := fold(name)
	sec := st.byKey[key]
	switch {
	case sec != nil && sec.deleted && sec.deleting > 0:
		sec.deleting--
		return nil, nil, errBeingDeleted(name)
	case sec != nil && sec.deleted:
		return nil, nil, errDeletedButRecoverable(name)
	case sec != nil && sec.recovering > 0:
		sec.recovering--
		return nil, nil, errBeingRecovered(name)
	case sec == nil:
		sec = &secret{name: name}
		st.byKey[key] = sec
		delete(st.purging, key)
	}
	t := now.Unix()
	ver := &version{id: newVersionID(), value: *in.Value, enabled: true, created: t, updated: t}
	if in.ContentType != nil {
		ver.contentType = *in.ContentType
	}
	if in.Tags != nil && *in.Tags != nil {
		ver.tags = maps.Clone(*in.Tags)
	}
	if a := in.Attributes; a != nil {
		if a.Enabled != nil {
			ver.enabled = *a.Enabled
		}
		ver.nbf, ver.exp = a.NotBefore, a.Expires
	}
	sec.versions = append(sec.versions, ver)
	return sec, ver, nil
}

// update changes the properties of version v of name (the latest when v is ""). Omitted
// fields are kept; tags, when sent, replace the tag map wholesale.
func (st *store) update(name, v string, in updateIn, now time.Time) (*secret, *version, *apiError) {
	sec, ver, e := st.activeVersion(name, v)
	if e != nil {
		return nil, nil, e
	}
	if in.ContentType != nil {
		ver.contentType = *in.ContentType
	}
	if in.Tags != nil && *in.Tags != nil {
		ver.tags = maps.Clone(*in.Tags)
	}
	if a := in.Attributes; a != nil {
		if a.Enabled != nil {
			ver.enabled = *a.Enabled
		}
		if a.NotBefore != nil {
			ver.nbf = a.NotBefore
		}
		if a.Expires != nil {
			ver.exp = a.Expires
		}
	}
	ver.updated = now.Unix()
	return sec, ver, nil
}

// remove deletes name with all its versions: soft-deleted when soft delete is on, gone
// otherwise. lag is Options.Propagation.
func (st *store) remove(name string, softDelete bool, days, lag int, now time.Time) (*secret, *apiError) {
	sec, e := st.active(name)
	if e != nil {
		return nil, e
	}
	if !softDelete {
		delete(st.byKey, fold(name))
		return sec, nil
	}
	sec.deleted = true
	sec.deletedDate = now.Unix()
	sec.purge = sec.deletedDate + int64(days)*86400
	sec.deleting, sec.recovering = lag, 0
	return sec, nil
}

// deleted returns the soft-deleted secret name. While the delete propagates it answers 404.
func (st *store) deleted(name string) (*secret, *apiError) {
	sec := st.byKey[fold(name)]
	if sec == nil || !sec.deleted {
		return nil, errDeletedNotFound(name)
	}
	if sec.deleting > 0 {
		sec.deleting--
		return nil, errDeletedNotFound(name)
	}
	return sec, nil
}

// recover makes the soft-deleted name active again, with all its versions.
func (st *store) recover(name string, lag int) (*secret, *apiError) {
	sec := st.byKey[fold(name)]
	if sec == nil || !sec.deleted {
		return nil, errSecretNotFound(name)
	}
	sec.deleted, sec.deleting, sec.recovering = false, 0, lag
	return sec, nil
}

// purgeDeleted removes the soft-deleted name for good. The purge answers before the name is
// free for restores (Propagation).
func (st *store) purgeDeleted(name string, lag int) *apiError {
	key := fold(name)
	sec := st.byKey[key]
	if sec == nil || !sec.deleted {
		// Purging an unknown or active name is not on record.
		return errDeletedNotFound(name)
	}
	delete(st.byKey, key)
	if lag > 0 {
		st.purging[key] = lag
	}
	return nil
}

// restore adds a secret read from a backup, under its original name, version ids and
// timestamps. id is the id the conflict message names.
func (st *store) restore(sec *secret, id func(*secret) string) *apiError {
	key := fold(sec.name)
	if st.byKey[key] != nil {
		return errRestoreConflict(id(sec))
	}
	if n := st.purging[key]; n > 0 {
		st.purging[key] = n - 1
		return errRestoreConflict(id(sec))
	}
	delete(st.purging, key)
	st.byKey[key] = sec
	return nil
}

// sorted returns the secrets that pass keep, ordered by folded name.
func (st *store) sorted(keep func(*secret) bool) []*secret {
	var out []*secret
	for _, sec := range st.byKey {
		if keep(sec) {
			out = append(out, sec)
		}
	}
	slices.SortFunc(out, func(a, b *secret) int { return strings.Compare(fold(a.name), fold(b.name)) })
	return out
}
