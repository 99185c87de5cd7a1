package migrate

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// decide compares a source with what is stored.
func decide(s *kube.Secret, it *Item, st *providers.Stored, opts Options) (Action, string, string) {
	if st.Problem != "" {
		// The adapter cannot use what is there (a file edited by hand): only an explicit
		// --overwrite replaces it.
		if opts.Overwrite {
			return ActionUpdate, "overwrite", st.Problem + "; --overwrite replaces it"
		}
		return ActionConflict, "unreadable-target", st.Problem + "; --overwrite replaces it"
	}
	if sameContent(it.Fingerprint, s, st) {
		if st.Rewrite != "" {
			return ActionUpdate, "rewrite", st.Rewrite
		}
		return ActionUnchanged, "", ""
	}
	if changedInStore(st, s, opts.Fingerprinter) {
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
	if st.Managed && (st.SourceUID == "" || s.UID == "" || st.SourceUID == s.UID) {
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
func changedInStore(st *providers.Stored, s *kube.Secret, f *audit.Fingerprinter) bool {
	if !st.Managed || st.Data == nil || st.Fingerprint == "" || st.FingerprintKeyID != f.KeyID() {
		return false
	}
	typ := st.Type
	if typ == "" {
		typ = s.EffectiveType()
	}
	return f.Set(typ, st.Data) != st.Fingerprint
}

// sameContent reports whether st holds exactly s's type, keys and values; fp is s's set
// fingerprint. When the adapter cannot read values it compares the keyed fingerprint recorded at
// write time instead.
func sameContent(fp string, s *kube.Secret, st *providers.Stored) bool {
	if st.Problem != "" {
		return false
	}
	if st.Type != "" && st.Type != s.EffectiveType() {
		return false
	}
	if st.Data == nil {
		if st.Keys != nil && !slices.Equal(st.Keys, s.Data.Keys()) {
			return false
		}
		return st.Fingerprint != "" && st.Fingerprint == fp
	}
	if len(st.Data) != len(s.Data) {
		return false
	}
	for k, v := range s.Data {
		if w, ok := st.Data[k]; !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}
