package vault

import (
	"encoding/base64"
	"encoding/json"
	"sort"
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
	var keys []string
	for k, v := range d {
		if !utf8.Valid(v) || kept[k] {
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

// decode reverses encode. encoding is the custom metadata marker: a comma-separated key list,
// or "*" for all keys. A value that is not a string (someone else's entry) is kept as its JSON
// text, so it compares unequal to any source instead of being lost. A marked value that is not
// valid base64 is kept as stored for the same reason.
func decode(data map[string]any, encoding string) kube.Data {
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
		if b64[k] || encoding == encodingAll {
			if raw, err := base64.StdEncoding.DecodeString(s); err == nil {
				out[k] = raw
				continue
			}
		}
		out[k] = []byte(s)
	}
	return out
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
