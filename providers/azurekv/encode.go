package azurekv

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"mime"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// MaxValueBytes is Key Vault's limit for one secret value: 25 KB.
const MaxValueBytes = 25 * 1024

// MaxTags is Key Vault's limit for the tags of one secret, maxTagValue for one tag value.
const (
	MaxTags     = 15
	maxTagValue = 512
)

// Content types of the values secretshift writes.
const (
	ContentTypeText   = "text/plain; charset=utf-8"
	ContentTypeBinary = "application/octet-stream; encoding=base64"
	ContentTypeJSON   = "application/json"
)

// Tags written on every secret secretshift manages; the names follow the Vault adapter's
// custom metadata.
const (
	tagManagedBy   = "managed-by"
	tagManagedByV  = "secretshift"
	tagSource      = "secretshift-source"
	tagTarget      = "secretshift-target"
	tagFingerprint = "secretshift-fingerprint"
	tagFPKey       = "secretshift-fingerprint-key"
	tagRun         = "secretshift-run"
	tagGeneration  = "secretshift-generation"
	tagKeys        = "secretshift-keys"
	tagBase64      = "secretshift-base64-keys"
	tagLease       = "secretshift-lease"
	tagUID         = "source-uid"
	tagCluster     = "source-cluster"
	tagType        = "source-type"
	// tagProvenance prefixes the keys of Payload.Provenance.
	tagProvenance = "secretshift-"
	// encodingAll marks that every key of a json-layout value is base64, when the list of
	// binary keys would not fit one tag value.
	encodingAll = "*"
)

// ownTags are the tags secretshift writes itself; provenance never overwrites them.
var ownTags = map[string]bool{tagManagedBy: true, tagSource: true, tagTarget: true, tagFingerprint: true, tagFPKey: true,
	tagRun: true, tagGeneration: true, tagKeys: true, tagBase64: true, tagLease: true, tagUID: true, tagCluster: true, tagType: true}

// provenanceKey is what a Payload.Provenance key may look like.
var provenanceKey = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)

// member is one Key Vault secret of a target, as secretshift writes it.
type member struct {
	name string
	// key is the Kubernetes key ("" in the json layout).
	key string
	// value is what is stored: text, base64 or a JSON object. It is a secret.
	value       string
	contentType string
	// base64Keys is the json layout's marker of the keys stored base64.
	base64Keys string
}

// isBase64 reports whether a content type says the value is base64 of the original bytes.
func isBase64(contentType string) bool {
	_, params, err := mime.ParseMediaType(contentType)
	return err == nil && params["encoding"] == "base64"
}

// encodeKey stores one value: as text when it is valid UTF-8, base64 otherwise, or when the
// key was stored base64 before (keep) — ESO's decodingStrategy is written into manifests once,
// and earlier versions must read back as they were.
func encodeKey(v []byte, keep bool) (value, contentType string) {
	if keep || !utf8.Valid(v) {
		return base64.StdEncoding.EncodeToString(v), ContentTypeBinary
	}
	return string(v), ContentTypeText
}

// decodeKey reverses encodeKey. A value marked base64 that does not decode is kept as stored,
// so it compares unequal to any source instead of being lost.
func decodeKey(value, contentType string) []byte {
	if isBase64(contentType) {
		if raw, err := base64.StdEncoding.DecodeString(value); err == nil {
			return raw
		}
	}
	return []byte(value)
}

// encodeJSON stores all keys as one JSON object of strings, binary values (and the keys in
// keep) base64-encoded and listed in the returned marker, "*" when every key is.
func encodeJSON(d kube.Data, keep string) (value, marker string) {
	kept := map[string]bool{}
	for _, k := range strings.Split(keep, ",") {
		kept[k] = k != ""
	}
	var encoded []string
	for k, v := range d {
		if keep == encodingAll || kept[k] || !utf8.Valid(v) {
			encoded = append(encoded, k)
		}
	}
	sort.Strings(encoded)
	marker = strings.Join(encoded, ",")
	all := keep == encodingAll || len(marker) > maxTagValue
	if all {
		marker = encodingAll
	}
	is := map[string]bool{}
	for _, k := range encoded {
		is[k] = true
	}
	obj := make(map[string]string, len(d))
	for k, v := range d {
		if all || is[k] {
			obj[k] = base64.StdEncoding.EncodeToString(v)
		} else {
			obj[k] = string(v)
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(obj) // a map of strings always encodes
	return strings.TrimSuffix(b.String(), "\n"), marker
}

// decodeJSON reverses encodeJSON. A value that is not a JSON object is returned as nil; a
// field that is not a string (someone else's content) is kept as its JSON text.
func decodeJSON(value, marker string) kube.Data {
	var obj map[string]any
	if err := json.Unmarshal([]byte(value), &obj); err != nil || obj == nil {
		return nil
	}
	b64 := map[string]bool{}
	for _, k := range strings.Split(marker, ",") {
		b64[k] = k != ""
	}
	out := make(kube.Data, len(obj))
	for k, v := range obj {
		s, ok := v.(string)
		if !ok {
			j, _ := json.Marshal(v)
			out[k] = j
			continue
		}
		if marker == encodingAll || b64[k] {
			if raw, err := base64.StdEncoding.DecodeString(s); err == nil {
				out[k] = raw
				continue
			}
		}
		out[k] = []byte(s)
	}
	return out
}

// encodedKeys says which keys of d ESO must decode: the json marker or the binary values.
func encodedKeys(d kube.Data, layout string) func(string) bool {
	if layout == LayoutJSON {
		_, marker := encodeJSON(d, "")
		set := map[string]bool{}
		for _, k := range strings.Split(marker, ",") {
			set[k] = true
		}
		return func(k string) bool { return marker == encodingAll || set[k] }
	}
	return func(k string) bool { return !utf8.Valid(d[k]) }
}

// tagsFor are the tags of one member written in generation gen of count members.
func tagsFor(t providers.Target, pl providers.Payload, m member, gen, count int) map[string]string {
	source := pl.Ref.Namespace + "/" + pl.Ref.Name
	if m.key != "" {
		source += "/" + m.key
	}
	tags := map[string]string{
		tagManagedBy: tagManagedByV, tagSource: source, tagTarget: t.Address, tagType: pl.EffectiveType(),
		tagGeneration: strconv.Itoa(gen), tagKeys: strconv.Itoa(count),
	}
	set := func(k, v string) {
		if v != "" {
			tags[k] = truncate(v)
		}
	}
	set(tagFingerprint, pl.Fingerprint)
	set(tagFPKey, pl.FingerprintKeyID)
	set(tagRun, pl.RunID)
	set(tagUID, pl.Ref.UID)
	set(tagCluster, pl.Ref.Cluster)
	set(tagBase64, m.base64Keys)
	for k, v := range pl.Provenance {
		set(tagProvenance+k, v)
	}
	return tags
}

func truncate(v string) string {
	if len(v) > maxTagValue {
		v = v[:maxTagValue]
		for !utf8.ValidString(v) {
			v = v[:len(v)-1]
		}
	}
	return v
}

// sdkTags turns tags into the SDK's form, and back.
func sdkTags(m map[string]string) map[string]*string {
	out := make(map[string]*string, len(m))
	for k, v := range m {
		out[k] = &v
	}
	return out
}

func plainTags(m map[string]*string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

// parseSource splits a secretshift-source tag: namespace/name, then the key for per-key.
func parseSource(v string) (ref providers.Ref, key string) {
	parts := strings.SplitN(v, "/", 3)
	if len(parts) >= 2 {
		ref.Namespace, ref.Name = parts[0], parts[1]
	}
	if len(parts) == 3 {
		key = parts[2]
	}
	return ref, key
}
