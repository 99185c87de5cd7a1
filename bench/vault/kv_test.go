//go:build linux

package vault

import (
	"encoding/base64"
	"unicode/utf8"

	"github.com/secretshift/secretshift/bench/internal/benchkit"
)

// kvPath is the Secret's path below the KV mount, as secretshift's default --vault-path makes
// it: <namespace>/<name>.
func kvPath(s *benchkit.Secret) string { return s.Ref() }

// kvData is the body a KV v2 write carries for s: text values as they are, values that are not
// UTF-8 base64-encoded, as secretshift's Vault adapter stores them.
func kvData(s *benchkit.Secret) map[string]any {
	out := make(map[string]any, len(s.Data))
	for k, v := range s.Data {
		if utf8.Valid(v) {
			out[k] = string(v)
		} else {
			out[k] = base64.StdEncoding.EncodeToString(v)
		}
	}
	return out
}
