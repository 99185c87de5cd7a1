package benchkit

import (
	"maps"
	"strings"
	"testing"
	"time"
)

func TestTallyRequests(t *testing.T) {
	tests := []struct {
		name       string
		log        string
		isFolder   func(string) bool
		want       RequestTally
		wantWrites int
	}{
		{
			name: "kv data and metadata",
			log: "GET /v1/secret/metadata/bench 200 300µs\n" +
				"GET /v1/secret/metadata/bench/team-01 200 200µs\n" +
				"GET /v1/secret/data/bench/team-01/a 200 120µs\n" +
				"GET /v1/secret/data/bench/team-01/b 200 80µs\n" +
				"GET /v1/secret/metadata/bench/team-01/a 200 90µs\n" +
				"PATCH /v1/secret/metadata/bench/team-01/a 204 300µs\n" +
				"PUT /v1/secret/data/bench/team-01/a 200 400µs\n",
			want: RequestTally{
				"GET metadata 200":   {3, 590 * time.Microsecond},
				"GET data 200":       {2, 200 * time.Microsecond},
				"PATCH metadata 204": {1, 300 * time.Microsecond},
				"PUT data 200":       {1, 400 * time.Microsecond},
			},
			wantWrites: 2,
		},
		{
			name: "lists told apart when the folders are known",
			log: "GET /v1/secret/metadata/bench 200 300µs\n" +
				"GET /v1/secret/metadata/bench/team-01 200 200µs\n" +
				"GET /v1/secret/metadata/bench/team-01/a 200 90µs\n",
			isFolder: func(p string) bool { return strings.Count(p, "/") < 2 },
			want: RequestTally{
				"GET metadata (LIST) 200": {2, 500 * time.Microsecond},
				"GET metadata 200":        {1, 90 * time.Microsecond},
			},
		},
		{
			name: "system paths keep their path",
			log:  "GET /v1/sys/internal/ui/mounts/secret 200 50µs\nGET /v1/auth/token/lookup-self 200 40µs\n",
			want: RequestTally{"GET sys/internal/ui/mounts/secret 200": {1, 50 * time.Microsecond},
				"GET auth/token/lookup-self 200": {1, 40 * time.Microsecond}},
		},
		{
			name: "start-up lines are not requests",
			log:  "vault-testserver: listening on http://127.0.0.1:1 (kv v2: secret; kv v1: none)\nVAULT_ADDR=http://127.0.0.1:1\n",
			want: RequestTally{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := TallyRequests(strings.NewReader(tc.log), tc.isFolder)
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
