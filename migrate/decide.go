package migrate

import (
	"fmt"
	"slices"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/providers"
)

// decide compares a source with what is stored.
func decide(it *Item, st *providers.Stored, opts Options) (Action, string, string) {
	if st.Problem != "" {
		// The adapter cannot use what is there (a file edited by hand): only an explicit
		// --overwrite replaces it.
		if opts.Overwrite {
			return ActionUpdate, "overwrite", st.Problem + "; --overwrite replaces it"
		}
		return ActionConflict, "unreadable-target", st.Problem + "; --overwrite replaces it"
	}
	if sameContent(it, st, opts.Fingerprinter) {
		if st.Rewrite != "" {
			return ActionUpdate, "rewrite", st.Rewrite
		}
		return ActionUnchanged, "", ""
	}
	if changedInStore(st, it, opts.Fingerprinter) {
		// Someone wrote a newer version (a password rotated in the store itself): the source is
		// what is stale, and overwriting would roll the credential back.
		if opts.Overwrite {
			return ActionUpdate, "overwrite", "target was changed in the store after secretshift wrote it; --overwrite replaces it"
		}
		return ActionConflict, "changed-in-store", "target was changed in the store after secretshift wrote it (a newer version, or the latest one deleted); --overwrite replaces it"
	}
	if st.Job == providers.JobRotate {
		// The store's values were rotated after the migration: the source Secret is what is
		// stale, and writing it would roll the rotation back.
		if opts.Overwrite {
			return ActionUpdate, "overwrite", "the entry was rotated in the store after the migration; --overwrite puts the source's older values back"
		}
		return ActionConflict, "rotated-in-store", "the entry was rotated in the store (secretshift rotate) after the migration, so the source Secret is stale; --overwrite puts its older values back"
	}
	if st.Managed && (st.SourceUID == "" || it.UID == "" || st.SourceUID == it.UID) {
		return ActionUpdate, "", ""
	}
	if opts.Overwrite {
		return ActionUpdate, "overwrite", "target content was not written by secretshift; --overwrite replaces it"
	}
	if st.Managed {
		return ActionConflict, "other-source", fmt.Sprintf("target was written by secretshift for another Secret (uid %s); --overwrite replaces it", st.SourceUID)
	}
	return ActionConflict, "foreign-content", "target holds different content that secretshift did not write; --overwrite replaces it"
}

// changedInStore reports whether secretshift wrote st but its content is no longer what was
// written: the fingerprint recorded at write time, under the same key, does not match it.
func changedInStore(st *providers.Stored, it *Item, f *audit.Fingerprinter) bool {
	if !st.Managed || st.Data == nil || st.Fingerprint == "" || st.FingerprintKeyID != f.KeyID() {
		return false
	}
	typ := st.Type
	if typ == "" {
		typ = it.Type
	}
	return f.Set(typ, st.Data) != st.Fingerprint
}

// sameContent reports whether st holds exactly the item's type, keys and values, comparing
// the keyed fingerprint of what is stored with the item's (so the source's values need not be
// in memory); when the adapter cannot read values, the fingerprint recorded at write time.
func sameContent(it *Item, st *providers.Stored, f *audit.Fingerprinter) bool {
	if st.Problem != "" {
		return false
	}
	if st.Type != "" && st.Type != it.Type {
		return false
	}
	if st.Data == nil {
		if st.Keys != nil && !slices.Equal(st.Keys, it.Keys) {
			return false
		}
		return st.Fingerprint != "" && st.Fingerprint == it.Fingerprint
	}
	return len(st.Data) == len(it.Keys) && f.Set(it.Type, st.Data) == it.Fingerprint
}
