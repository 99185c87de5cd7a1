package sops

import (
	"encoding/base64"
	"fmt"
	"sort"

	"github.com/getsops/sops/v3"

	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// Annotations secretshift adds to the manifests it writes (see providers.ManifestAnnotations).
// The sops MAC covers them like every other value, so they cannot be changed without the file
// failing verification.
const (
	AnnotationManagedBy      = providers.AnnotationManagedBy
	AnnotationFingerprint    = providers.AnnotationFingerprint
	AnnotationSourceUID      = providers.AnnotationSourceUID
	AnnotationFingerprintKey = providers.AnnotationFingerprintKey
	ManagedByValue           = providers.ManagedByValue
)

// encryptedRegex selects what sops encrypts: the values, not the metadata reviewers need.
const encryptedRegex = `^(data|stringData)$`

// secretTree renders s as the plaintext sops tree of a v1 Secret manifest. Values go to data,
// base64-encoded, so any byte sequence survives YAML unchanged. Server-set fields (uid,
// resourceVersion, creationTimestamp, ownerReferences, managedFields) are left out: they belong
// to the source cluster and would be rejected or misleading when Flux applies the manifest. The
// run ID and source cluster are not recorded either: they would change the file on every run.
func secretTree(s providers.Payload) sops.TreeBranch {
	meta := sops.TreeBranch{
		{Key: "name", Value: s.Ref.Name},
		{Key: "namespace", Value: s.Ref.Namespace},
	}
	if len(s.Labels) > 0 {
		meta = append(meta, sops.TreeItem{Key: "labels", Value: stringBranch(s.Labels)})
	}
	ann := providers.ManifestAnnotations(s)
	meta = append(meta, sops.TreeItem{Key: "annotations", Value: stringBranch(ann)})

	data := make(sops.TreeBranch, 0, len(s.Data))
	for _, k := range s.Data.Keys() {
		data = append(data, sops.TreeItem{Key: k, Value: base64.StdEncoding.EncodeToString(s.Data[k])})
	}
	tree := sops.TreeBranch{
		{Key: "apiVersion", Value: "v1"},
		{Key: "kind", Value: "Secret"},
		{Key: "metadata", Value: meta},
		{Key: "type", Value: s.EffectiveType()},
	}
	if s.Immutable {
		tree = append(tree, sops.TreeItem{Key: "immutable", Value: true})
	}
	return append(tree, sops.TreeItem{Key: "data", Value: data})
}

func stringBranch(m map[string]string) sops.TreeBranch {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := make(sops.TreeBranch, 0, len(keys))
	for _, k := range keys {
		b = append(b, sops.TreeItem{Key: k, Value: m[k]})
	}
	return b
}

// lookup returns the value under key in b.
func lookup(b sops.TreeBranch, key string) (any, bool) {
	for _, it := range b {
		if k, ok := it.Key.(string); ok && k == key {
			return it.Value, true
		}
	}
	return nil, false
}

// str returns the string under key in b, or "".
func str(b sops.TreeBranch, key string) string {
	v, _ := lookup(b, key)
	s, _ := v.(string)
	return s
}

// annotations returns metadata.annotations of a manifest tree. They are never encrypted by the
// rule secretshift writes, so they are readable without an identity.
func annotations(b sops.TreeBranch) map[string]string { return metadataMap(b, "annotations") }

// labels returns metadata.labels of a manifest tree.
func labels(b sops.TreeBranch) map[string]string { return metadataMap(b, "labels") }

// metadataMap returns the string map metadata.<field> of a manifest tree.
func metadataMap(b sops.TreeBranch, field string) map[string]string {
	meta, _ := lookup(b, "metadata")
	mb, _ := meta.(sops.TreeBranch)
	ann, _ := lookup(mb, field)
	ab, _ := ann.(sops.TreeBranch)
	out := make(map[string]string, len(ab))
	for _, it := range ab {
		k, ok1 := it.Key.(string)
		v, ok2 := it.Value.(string)
		if ok1 && ok2 {
			out[k] = v
		}
	}
	return out
}

// values extracts the Secret values of a decrypted manifest tree: data (base64) with stringData
// merged over it, as the API server does. Errors name keys, never values.
func values(b sops.TreeBranch) (kube.Data, error) {
	out := kube.Data{}
	if v, ok := lookup(b, "data"); ok && v != nil {
		db, ok := v.(sops.TreeBranch)
		if !ok {
			return nil, fmt.Errorf("data is not a mapping")
		}
		for _, it := range db {
			k, ok := it.Key.(string)
			if !ok {
				continue // a comment
			}
			switch v := it.Value.(type) {
			case nil:
				out[k] = []byte{}
			case string:
				raw, err := base64.StdEncoding.DecodeString(v)
				if err != nil {
					return nil, fmt.Errorf("data key %q is not valid base64", k)
				}
				out[k] = raw
			default:
				return nil, fmt.Errorf("data key %q is a %T, not a base64 string", k, v)
			}
		}
	}
	if v, ok := lookup(b, "stringData"); ok && v != nil {
		sb, ok := v.(sops.TreeBranch)
		if !ok {
			return nil, fmt.Errorf("stringData is not a mapping")
		}
		for _, it := range sb {
			k, ok := it.Key.(string)
			if !ok {
				continue
			}
			switch v := it.Value.(type) {
			case nil:
				out[k] = []byte{}
			case string:
				out[k] = []byte(v)
			default:
				return nil, fmt.Errorf("stringData key %q is a %T, not a string", k, v)
			}
		}
	}
	return out, nil
}

// redacted copies a manifest tree with every value below data and stringData replaced by nil,
// keeping the key names: what can be compared between a new manifest and a file that cannot be
// decrypted. The keyed fingerprint annotation stands in for the values.
func redacted(b sops.TreeBranch) sops.TreeBranch {
	out := make(sops.TreeBranch, len(b))
	copy(out, b)
	for i, it := range out {
		k, _ := it.Key.(string)
		if k != "data" && k != "stringData" {
			continue
		}
		vb, ok := it.Value.(sops.TreeBranch)
		if !ok {
			continue
		}
		keys := make(sops.TreeBranch, 0, len(vb))
		for _, v := range vb {
			keys = append(keys, sops.TreeItem{Key: v.Key})
		}
		out[i] = sops.TreeItem{Key: k, Value: keys}
	}
	return out
}
