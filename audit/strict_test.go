package audit

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

// parseStrict's fast reading (decode, then count keys) must accept and refuse exactly what
// the token-by-token reading does, and give the same value.
func FuzzParseStrict(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":[true,null,"x"]}`,
		`{"a":1,"a":2}`, `{"a":{"b":1,"b":2}}`, `{"a":1,"\u0061":2}`, `[{"a":1},{"a":1}]`,
		`{"a\"":1,"a":2}`, `{"x":"\":","y":"a:b"}`, `{"k" : 1 , "k":2}`, "{\"k\"\n:1}",
		`{"a":1.5}`, `{"a":1e3}`, `{"a":-0}`, `{"a":9007199254740993}`, `{"a":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]}`,
		`{"a":1} x`, `{"a":1}{}`, `{"a":1}   `, "{\"a\":\"\xff\"}", `{"a":"\ud800"}`, `"s"`, `[]`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, errFast := parseStrict(b)
		if !utf8.Valid(b) {
			if errFast == nil {
				t.Fatalf("%q: invalid UTF-8 accepted", b)
			}
			return
		}
		slow, errSlow := parseTokens(b)
		if (errFast == nil) != (errSlow == nil) {
			t.Fatalf("%q: fast reading says %v, token reading %v", b, errFast, errSlow)
		}
		if errFast != nil {
			if errFast.Error() != errSlow.Error() {
				t.Fatalf("%q: messages differ: %v / %v", b, errFast, errSlow)
			}
			return
		}
		var a, c bytes.Buffer
		errA, errC := canonical(&a, fast), canonical(&c, slow)
		if (errA == nil) != (errC == nil) || a.String() != c.String() {
			t.Fatalf("%q: values differ: %s (%v) / %s (%v)", b, a.String(), errA, c.String(), errC)
		}
	})
}

// A migrate.write record as a migration writes it, ~1 KiB: every run that appends to a log
// reads all of its lines first (verification, earlier runs), so this is per record per run.
var benchLine = []byte(`{"time":"2026-12-07T22:46:16.713337404Z","format_version":2,"run_id":"20261207T224616Z-b9d4f39e9a71","event_id":"855374cc-d7b6-42ca-8e96-4bc1b517092c","seq":2,"action":"migrate.write","outcome":"attempt","actor":{"host":"vm","os_user":"root","stores":{"vault":{"accessor":"mbF8qriLd2S0EVW5","display_name":"root"}}},"source":{"name":"auth-config-0275","namespace":"team-00","origin":"/tmp/corpus5k/team-00/auth-config-0275.yaml#0"},"target":{"address":"secret/team-00/auth-config-0275","provider":"vault"},"keys":["client-secret","smtp-password","token"],"fingerprints":{"client-secret":"hmac-sha256:8191171dc8b6909016c0960e076c215d4cc99f32befefc766efd99bd906178e7","smtp-password":"hmac-sha256:9d0b24de1101a09f30318581b6277f5d089bea0855a51bb871d479b6307c6dff","token":"hmac-sha256:112aad28be1e78a9ee907aa9cc68b2b1c155606503fd8e2c8f62a3c8e5b7f0d1"},"prev":"sha256:29b9ecf93b310235b715233543fd668bffff4969b46ffdcadcd0a587e8f8b98e","hash":"sha256:0b1c6e2f8d8d0d5a3c0d8f4f9b1e6a7c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a"}`)

func BenchmarkParseStrict(b *testing.B) {
	for _, bm := range []struct {
		name  string
		parse func([]byte) (any, error)
	}{{"decode-and-count", parseStrict}, {"tokens", parseTokens}} {
		b.Run(bm.name, func(b *testing.B) {
			b.SetBytes(int64(len(benchLine)))
			for range b.N {
				if _, err := bm.parse(benchLine); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
