package audit

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// EachRecordOfRuns hands over the records of the runs asked for, in order, and passes over
// the other runs' lines without decoding them: a garbled line of another run in the middle
// does not end the reading, while a cut line of a run asked for still does.
func TestEachRecordOfRuns(t *testing.T) {
	ctx := context.Background()
	fp := testFingerprinter(t)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	record := func(run string, from, n int) {
		opts := testOptions(t, run)
		opts.CheckpointEvery = 0
		l, err := Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < from+n; i++ {
			if err := l.Record(ctx, sampleEvent(fp, i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	record("run-a", 0, 3)
	record("run-b", 3, 4)
	record("run-a1", 7, 2) // "run-a" is part of this id: its lines are read, and left out
	record("run-a", 9, 2)

	names := func(runs ...string) []string {
		var got []string
		if err := EachRecordOfRuns(path, runs, func(rec *Record) {
			if rec.Source != nil {
				got = append(got, rec.RunID+":"+rec.Source.Name)
			}
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	wantA := []string{"run-a:db-creds-0", "run-a:db-creds-1", "run-a:db-creds-2", "run-a:db-creds-9", "run-a:db-creds-10"}
	if got := names("run-a"); !slices.Equal(got, wantA) {
		t.Fatalf("run-a: %q, want %q", got, wantA)
	}
	if got := names("run-b", "run-a1"); len(got) != 6 {
		t.Fatalf("run-b and run-a1: %q, want 6 records", got)
	}

	// A garbled line of run-b between them: run-a's records after it still come.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	var garbled []byte
	for _, l := range lines {
		garbled = append(garbled, l...)
		if bytes.Contains(l, []byte(`"run_id":"run-b"`)) && bytes.Contains(l, []byte("db-creds-4")) {
			garbled = append(garbled, []byte(`{"run_id":"run-b","seq":`+"\n")...)
		}
	}
	if err := os.WriteFile(path, garbled, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := names("run-a"); !slices.Equal(got, wantA) {
		t.Fatalf("run-a past another run's garbled line: %q, want %q", got, wantA)
	}
	// A cut line that may be run-a's ends the reading there, as before.
	if err := os.WriteFile(path, append(garbled[:bytes.Index(garbled, []byte("db-creds-9"))], '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, want := names("run-a"), wantA[:3]; !slices.Equal(got, want) {
		t.Fatalf("run-a before a cut line: %q, want %q", got, want)
	}
}
