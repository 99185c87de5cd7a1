package generate

import (
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"testing"
)

func TestBytes(t *testing.T) {
	for _, tc := range []struct {
		spec    string
		n       int // bytes before encoding
		decode  func(string) ([]byte, error)
		charset *regexp.Regexp
	}{
		{"bytes", 32, base64.StdEncoding.DecodeString, regexp.MustCompile(`^[A-Za-z0-9+/]+=*$`)},
		{"bytes:length=16,encoding=hex", 16, hex.DecodeString, regexp.MustCompile(`^[0-9a-f]+$`)},
		{"bytes:length=31,encoding=base64url", 31, base64.RawURLEncoding.DecodeString, regexp.MustCompile(`^[A-Za-z0-9_-]+$`)},
		{"bytes:length=64,encoding=raw", 64, func(s string) ([]byte, error) { return []byte(s), nil }, nil},
		{"bytes:length=1,encoding=base64", 1, base64.StdEncoding.DecodeString, nil},
	} {
		g := mustNew(t, tc.spec)
		seen := map[string]bool{}
		for range 1000 {
			v := string(generate(t, g, "k")["k"])
			if tc.charset != nil && !tc.charset.MatchString(v) {
				t.Fatalf("%s: a value is not in the encoding's alphabet", tc.spec)
			}
			raw, err := tc.decode(v)
			if err != nil || len(raw) != tc.n {
				t.Fatalf("%s: a value decodes to %d bytes (%v), want %d", tc.spec, len(raw), err, tc.n)
			}
			if seen[v] && tc.n >= 16 {
				t.Fatalf("%s: a value was drawn twice", tc.spec)
			}
			seen[v] = true
		}
	}
}

// uuidV4 is the text form of a version 4, variant 10 UUID (RFC 9562).
var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestUUID(t *testing.T) {
	g := mustNew(t, "uuid")
	seen := make(map[string]bool, draws)
	for range draws {
		u := string(generate(t, g, "id")["id"])
		if !uuidV4.MatchString(u) {
			t.Fatalf("a UUID is not in the version 4 text form (%d characters)", len(u))
		}
		if seen[u] {
			t.Fatal("a UUID was drawn twice")
		}
		seen[u] = true
	}
}
