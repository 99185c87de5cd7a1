//go:build linux

package vault

import (
	"maps"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTallyRequests(t *testing.T) {
	tests := []struct {
		name       string
		log        string
		want       requestTally
		wantWrites int
	}{
		{
			name: "kv data and metadata",
			log: "GET /v1/secret/data/team-01/a 404 120µs\n" +
				"PATCH /v1/secret/metadata/team-01/a 404 90µs\n" +
				"PUT /v1/secret/metadata/team-01/a 204 300µs\n" +
				"PUT /v1/secret/data/team-01/a 200 400µs\n" +
				"GET /v1/secret/data/team-01/a 200 100µs\n",
			want:       requestTally{"GET data 404": 1, "PATCH metadata 404": 1, "PUT metadata 204": 1, "PUT data 200": 1, "GET data 200": 1},
			wantWrites: 3,
		},
		{
			name:       "system paths keep their path",
			log:        "GET /v1/sys/internal/ui/mounts/secret 200 50µs\nGET /v1/auth/token/lookup-self 200 40µs\n",
			want:       requestTally{"GET sys/internal/ui/mounts/secret 200": 1, "GET auth/token/lookup-self 200": 1},
			wantWrites: 0,
		},
		{
			name:       "start-up lines are not requests",
			log:        "vault-testserver: listening on http://127.0.0.1:1 (kv v2: secret; kv v1: none)\nVAULT_ADDR=http://127.0.0.1:1\n",
			want:       requestTally{},
			wantWrites: 0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tallyRequests(strings.NewReader(tc.log))
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("tally = %v, want %v", got, tc.want)
			}
			if got.Writes() != tc.wantWrites {
				t.Errorf("writes = %d, want %d", got.Writes(), tc.wantWrites)
			}
		})
	}
}

func TestGenerate(t *testing.T) {
	const n = 1000
	ss := generate(n, corpusSeed)
	st := statsOf(ss)
	tests := []struct {
		name string
		ok   bool
	}{
		{"every Secret has 2-6 keys", st.MinKeys >= 2 && st.MaxKeys <= 6},
		{"some Secrets hold binary values", st.Binary >= n/20 && st.Binary <= n/5},
		{"a few Secrets hold a value of 10-50 KB", st.Large >= n/200 && st.Large <= n/50},
		{"names are unique", uniqueRefs(ss) == n},
		{"the same seed gives the same corpus", statsOf(generate(n, corpusSeed)) == st},
		{"binary values go to KV base64-encoded", binaryEncoded(ss)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.ok {
				t.Errorf("corpus stats: %+v", st)
			}
		})
	}
}

func uniqueRefs(ss []*benchSecret) int {
	seen := map[string]bool{}
	for _, s := range ss {
		seen[s.path()] = true
	}
	return len(seen)
}

func binaryEncoded(ss []*benchSecret) bool {
	for _, s := range ss {
		for k, v := range s.kvData() {
			str, ok := v.(string)
			if !ok || (utf8.Valid(s.Data[k]) && str != string(s.Data[k])) {
				return false
			}
		}
	}
	return true
}
