package benchkit

import (
	"maps"
	"slices"
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
				"PUT /v1/secret/data/bench/team-01/a 200 400µs\n" +
				// Writes count whatever their answer.
				"GET /v1/secret/data/bench/team-01/c 404 50µs\n" +
				"PATCH /v1/secret/metadata/bench/team-01/c 404 60µs\n" +
				"PUT /v1/secret/metadata/bench/team-01/c 204 70µs\n",
			want: RequestTally{
				"GET metadata 200":   {3, 590 * time.Microsecond},
				"GET data 200":       {2, 200 * time.Microsecond},
				"PATCH metadata 204": {1, 300 * time.Microsecond},
				"PUT data 200":       {1, 400 * time.Microsecond},
				"GET data 404":       {1, 50 * time.Microsecond},
				"PATCH metadata 404": {1, 60 * time.Microsecond},
				"PUT metadata 204":   {1, 70 * time.Microsecond},
			},
			wantWrites: 4,
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

func TestRequestTallyLines(t *testing.T) {
	tally := RequestTally{
		"GET data 200":     {1, 100 * time.Microsecond},
		"PUT data 200":     {3, 900 * time.Microsecond},
		"PUT metadata 204": {1, 300 * time.Microsecond},
	}
	if got, want := tally.Count("PUT data 200", "GET data 200", "POST data 200"), 4; got != want {
		t.Errorf("Count = %d, want %d", got, want)
	}
	if got, want := tally.Total(), 5; got != want {
		t.Errorf("Total = %d, want %d", got, want)
	}
	wantCounts := []string{
		"      3  PUT data 200",
		"      1  GET data 200",
		"      1  PUT metadata 204",
	}
	if got := tally.CountLines(); !slices.Equal(got, wantCounts) {
		t.Errorf("CountLines =\n%q\nwant\n%q", got, wantCounts)
	}
	lines := tally.Lines()
	if len(lines) != len(wantCounts) {
		t.Fatalf("Lines = %q, want %d lines", lines, len(wantCounts))
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, wantCounts[i]+" ") || !strings.Contains(l, " server ") {
			t.Errorf("Lines[%d] = %q, want %q followed by the server's time", i, l, wantCounts[i])
		}
	}
}
