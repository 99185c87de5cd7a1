package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestOpenRecoversFromACrashMidWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	writeRuns(t, path, 2, 5)
	// A writer killed in the middle of an append leaves part of a line after the last
	// checkpoint; nothing it reported durable is in that part.
	fragment := `{"time":"2025-03-01T12:00:09.000000000Z","run_id":"run-crashed","event_id":"e","seq":13,"act`
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(fragment)
	f.Close()

	opts := testOptions(t, "run-after-crash")
	l, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open after a crash mid-write: %v", err)
	}
	if n := l.Recovered(); n != len(fragment) {
		t.Errorf("Recovered = %d, want the %d bytes cut", n, len(fragment))
	}
	if err := l.Record(context.Background(), sampleEvent(opts.Fingerprinter, 0)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if bytes.Contains(b, []byte(fragment)) {
		t.Error("the incomplete record is still in the log")
	}
	var rec Record
	found := false
	for _, line := range splitLines(b) {
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Action == ActionRecover {
			found = true
			if rec.Details["truncated_bytes"] != strconv.Itoa(len(fragment)) || rec.Details["truncated_sha256"] != sha256Hex([]byte(fragment)) {
				t.Errorf("recover record details %v, want the fragment's length %d and SHA-256", rec.Details, len(fragment))
			}
		}
	}
	if !found {
		t.Fatal("no audit.recover record")
	}
	verifyFile(t, path, 2*5+2) // both runs, the recover record and the new record
}
