//go:build linux

package vault

import (
	"maps"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/secretshift/secretshift/bench/internal/benchkit"
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
