//go:build linux

package vault

import (
	"testing"
	"unicode/utf8"

	"github.com/secretshift/secretshift/bench/internal/benchkit"
)

// kvData leaves text values as they are and base64-encodes binary ones, over the whole corpus.
func TestKVData(t *testing.T) {
	ss := benchkit.Generate(1000, benchkit.Seed)
	if st := benchkit.StatsOf(ss); st.Binary == 0 {
		t.Fatalf("the corpus holds no binary value to check: %+v", st)
	}
	if !binaryEncoded(ss) {
		t.Error("a value does not go to KV as it should: text as it is, binary base64-encoded")
	}
}

func binaryEncoded(ss []*benchkit.Secret) bool {
	for _, s := range ss {
		for k, v := range kvData(s) {
			str, ok := v.(string)
			if !ok || (utf8.Valid(s.Data[k]) && str != string(s.Data[k])) {
				return false
			}
		}
	}
	return true
}
