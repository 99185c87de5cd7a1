package vault

import (
	"encoding/base64"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/secretshift/secretshift/kube"
)

// encoding decides which keys are stored base64-encoded. JSON strings carry UTF-8 only, so a
// value that is not valid UTF-8 is encoded; text stays text, so people and ESO read it as it
// was. The marker is the comma-separated list of encoded keys, or "*" (every key encoded) when
// that list would not fit one metadata value.
//
// keep lists keys that stay encoded whatever their new value (see Provider.Write); "*" keeps
// every key encoded.
func encoding(d kube.Data, keep string) (marker string, encoded func(key string) bool) {
	if keep == encodingAll {
		return encodingAll, func(string) bool { return true }
	}
	kept := map[string]bool{}
	for _, k := range strings.Split(keep, ",") {
		kept[k] = k != ""
	}
	// A kept key stays in the marker while absent too: it is base64 in the versions that hold it.
	var keys []string
	for k := range kept {
		if kept[k] {
			keys = append(keys, k)
		}
	}
	for k, v := range d {
		if !utf8.Valid(v) && !kept[k] {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return "", func(string) bool { return false }
	}
	sort.Strings(keys)
	marker = strings.Join(keys, ",")
	if len(marker) > maxMetaValue {
		return encodingAll, func(string) bool { return true }
	}
	set := make(map[string]bool, len(keys))
	for _, k := range keys {
		set[k] = true
	}
	return marker, func(k string) bool { return set[k] }
}

// encode turns Secret values into KV data and returns the encoding marker for metadata.
func encode(d kube.Data, keep string) (data map[string]any, marker string) {
	marker, encoded := encoding(d, keep)
	data = make(map[string]any, len(d))
	for k, v := range d {
		if encoded(k) {
			data[k] = base64.StdEncoding.EncodeToString(v)
		} else {
			data[k] = string(v)
		}
	}
	return data, marker
}

// decode reverses encode for the values of version. encoding is the custom metadata marker: a
// comma-separated key list, or "*" for all keys; since is the since marker (parseSince): a key
// turned base64 at that version and is text in the ones before. A value that is not a string
// (someone else's entry) is kept as its JSON text, so it compares unequal to any source instead
// of being lost. A marked value that is not valid base64 is kept as stored for the same reason.
func decode(data map[string]any, encoding string, since map[string]int, version int) kube.Data {
	b64 := map[string]bool{}
	for _, k := range strings.Split(encoding, ",") {
		if k != "" {
			b64[k] = true
		}
	}
	out := make(kube.Data, len(data))
	for k, v := range data {
		s, ok := v.(string)
		if !ok {
			j, _ := json.Marshal(v)
			out[k] = j
			continue
		}
		if (b64[k] || encoding == encodingAll) && version >= since[k] {
			if raw, err := base64.StdEncoding.DecodeString(s); err == nil {
				out[k] = raw
				continue
			}
		}
		out[k] = []byte(s)
	}
	return out
}

// markSince returns since with the keys that marker encodes and keep did not given version:
// the first version that holds them base64. Keys of earlier turns keep theirs.
func markSince(since map[string]int, keep, marker string, d kube.Data, version int) map[string]int {
	if keep == encodingAll {
		return since
	}
	out := make(map[string]int, len(since))
	for k, v := range since {
		out[k] = v
	}
	was := map[string]bool{}
	for _, k := range strings.Split(keep, ",") {
		was[k] = true
	}
	now := strings.Split(marker, ",")
	if marker == encodingAll {
		now = now[:0]
		for k := range d {
			now = append(now, k)
		}
	}
	for _, k := range now {
		if k != "" && !was[k] {
			if _, known := out[k]; !known {
				out[k] = version
			}
		}
	}
	return out
}

// parseSince reads the since marker "key=VERSION,…"; entries it cannot read are left out.
func parseSince(s string) map[string]int {
	out := map[string]int{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if n, err := strconv.Atoi(v); ok && err == nil && k != "" {
			out[k] = n
		}
	}
	return out
}

// formatSince writes since sorted by key. Entries that would not fit Vault's limit for one
// metadata value are left out, newest turns first: those keys' earlier text versions would
// then read as base64 (a rollback past the turn is the only reader).
func formatSince(since map[string]int) string {
	keys := make([]string, 0, len(since))
	for k := range since {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if since[keys[i]] != since[keys[j]] {
			return since[keys[i]] < since[keys[j]]
		}
		return keys[i] < keys[j]
	})
	var parts []string
	n := 0
	for _, k := range keys {
		e := k + "=" + strconv.Itoa(since[k])
		if n+len(e)+1 > maxMetaValue {
			break
		}
		parts, n = append(parts, e), n+len(e)+1
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// entrySize is the size of the KV write body for data.
func entrySize(data map[string]any) int {
	b, _ := json.Marshal(map[string]any{"data": data}) // a map of strings always marshals
	return len(b)
}

// stringMap keeps the string values of Vault's custom metadata.
func stringMap(m map[string]any) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}
