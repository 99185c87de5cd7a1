package audit

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

// encoderRecords are records of every shape the writer produces: each optional member present
// and absent, nested objects empty and full, strings that need escaping, and characters whose
// UTF-16 order differs from their byte order.
func encoderRecords() []*Record {
	full := &Record{
		Time: time.Date(2026, 11, 27, 17, 0, 0, 123, time.UTC), FormatVersion: RecordFormat, RunID: "run-1", EventID: "e1", Seq: 42,
		Action: ActionMigrateWrite, Outcome: OutcomeFailure, ErrorClass: "conflict",
		Error: "quote \" backslash \\ nl \n tab \t cr \r bs \b ff \f nul \x00 esc \x1b del \x7f <>& \u2028 é 😀",
		Actor: &Actor{OSUser: "ops", Host: "h", KubeUser: "system:admin",
			Stores: map[string]StoreIdentity{
				"vault":   {"display_name": "token-ci", "accessor": "acc"},
				"azurekv": {"object_id": "0b1c", "tenant_id": "t \"q\" é", "display_name": "sp-ci"},
				"\uffff":  {"😀": "x"}, "😀": {"\uffff": "y", "a": "z"}, "a": {},
			},
			CI: &CI{Provider: "github-actions", Actor: "octo", Repository: "o/r", RunID: "7", JobID: "j", URL: "https://x/y"}},
		Source: &Source{Cluster: "https://127.0.0.1:6443", Namespace: "ns", Name: "db", UID: "u-1", Origin: "a.yaml#0"},
		Target: &StoreTarget{Provider: "vault", Address: "secret/ns/db", Version: "3"},
		Keys:   []string{"b", "a", ".env", "app.config.yaml", "ключ"},
		Fingerprints: map[string]string{
			"\uffff": "hmac-sha256:" + strings.Repeat("a", 64), "😀": "hmac-sha256:" + strings.Repeat("b", 64),
			"a": "x", "A": "y", "": "z", "ab": "w",
		},
		Details: map[string]string{"verified": "true", "n": "1"},
		Prev:    GenesisHash,
	}
	cp := &Record{Time: time.Unix(1, 0), RunID: "r", EventID: "e", Seq: 9, Action: ActionCheckpoint, Outcome: OutcomeSuccess,
		Checkpoint: &Checkpoint{Seq: 8, Count: 8, Head: "sha256:00", RunID: "r", EventID: "e", Time: "t", PublicKeyID: "ed25519:1", Signature: "c2ln"},
		Prev:       "sha256:11"}
	cpFP := *cp
	cpFP.Checkpoint = &Checkpoint{Seq: 1, FingerprintKeyID: "hmac:2"}
	return []*Record{
		full,
		{Action: "a.b", Outcome: OutcomeSuccess},
		{Action: "a.b", Outcome: OutcomeSkipped, Actor: &Actor{}, Source: &Source{}, Target: &StoreTarget{}, Keys: []string{}, Fingerprints: map[string]string{}, Details: map[string]string{}},
		{Action: "a.b", Outcome: OutcomeAttempt, Actor: &Actor{CI: &CI{}}, Hash: "sha256:ff", Error: "bad \xff utf-8 \xe2\x82"},
		cp, &cpFP,
	}
}

func TestEncoderMatchesCanonical(t *testing.T) {
	for i, rec := range encoderRecords() {
		line := appendRecord(nil, rec, lineOrder)
		obj, err := parseStrict(line)
		if err != nil {
			t.Fatalf("record %d: the line does not parse strictly: %v\n%s", i, err, line)
		}
		m := obj.(map[string]any)
		want, err := canonicalWithout(m, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := appendRecord(nil, rec, canonicalOrder); !bytes.Equal(got, want) {
			t.Errorf("record %d: canonical form differs from the canonicalised line\n got %s\nwant %s", i, got, want)
		}
		// The line decodes to the same record (strings that were valid UTF-8).
		var back Record
		if err := json.Unmarshal(line, &back); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if i != 3 {
			a := appendRecord(nil, &back, lineOrder)
			if !bytes.Equal(a, line) {
				t.Errorf("record %d: does not round-trip\n got %s\nwant %s", i, a, line)
			}
		}
		if !bytes.HasPrefix(line, []byte(`{"time":"`)) {
			t.Errorf("record %d: the line does not start with time: %s", i, line)
		}
	}
}

// TestWriteHashIsVerifiable checks the writer's encoder against the verifier's computation on
// the written line, for every record shape, twice (the second time from the encoder's caches).
func TestWriteHashIsVerifiable(t *testing.T) {
	var e recordEncoder
	for round := range 2 {
		for i, rec := range encoderRecords() {
			rec.Hash = ""
			line := e.encode(nil, rec)
			obj, err := parseStrict(line)
			if err != nil {
				t.Fatalf("round %d record %d: %v\n%s", round, i, err, line)
			}
			got, err := hashObject(obj.(map[string]any))
			if err != nil {
				t.Fatal(err)
			}
			if got != rec.Hash {
				t.Errorf("round %d record %d: verifier computes %s, writer %s", round, i, got, rec.Hash)
			}
			if want := appendRecord(nil, rec, lineOrder); !bytes.Equal(line, want) {
				t.Errorf("round %d record %d: line differs from appendRecord\n got %s\nwant %s", round, i, line, want)
			}
		}
	}
}

func TestCompareUTF16(t *testing.T) {
	ref := func(a, b string) int {
		return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
	}
	alphabet := []string{"", "a", "b", "A", "é", "\u00ff", "\ue000", "\uffff", "😀", "😁", "𐀀", "\U0010ffff", "ab"}
	r := rand.New(rand.NewPCG(1, 2))
	word := func() string {
		var b strings.Builder
		for range r.IntN(4) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	for range 20000 {
		a, b := word(), word()
		if got, want := sign(compareUTF16(a, b)), sign(ref(a, b)); got != want {
			t.Fatalf("compareUTF16(%q, %q) = %d, want %d", a, b, got, want)
		}
	}
}

func sign(i int) int {
	switch {
	case i < 0:
		return -1
	case i > 0:
		return 1
	}
	return 0
}

func TestValidators(t *testing.T) {
	actionRE := regexp.MustCompile(`^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)+$`)
	fingerprintRE := regexp.MustCompile(`^hmac-sha256:[0-9a-f]{64}$`)
	for _, s := range []string{"", "a", "a.", ".a", "a.b", "a..b", "a.b.c", "A.b", "a.B", "1.a", "a.1", "a-b_c.d-e", "a.b.", "a b.c", "ä.b", "a.-", "a.b\n"} {
		if got, want := validAction(s), actionRE.MatchString(s); got != want {
			t.Errorf("validAction(%q) = %v, want %v", s, got, want)
		}
	}
	hex64 := strings.Repeat("0a", 32)
	for _, s := range []string{"hmac-sha256:" + hex64, "hmac-sha256:" + strings.ToUpper(hex64), "hmac-sha256:" + hex64[1:], "hmac-sha256:" + hex64 + "0",
		"hmac-sha1:" + hex64, "hmac-sha256:" + hex64[:63] + "g", "", "hmac-sha256:"} {
		if got, want := validFingerprint(s), fingerprintRE.MatchString(s); got != want {
			t.Errorf("validFingerprint(%q) = %v, want %v", s, got, want)
		}
	}
}

func BenchmarkEncodeRecord(b *testing.B) {
	rec := encoderRecords()[0]
	var e recordEncoder
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		rec.Hash = ""
		buf = e.encode(buf[:0], rec)
	}
}
