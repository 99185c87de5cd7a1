package audit

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEveryRunEndsWithItsOwnCheckpoint(t *testing.T) {
	ctx := context.Background()
	fp := testFingerprinter(t)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	open := func(run string) *Log {
		opts := testOptions(t, run)
		opts.CheckpointEvery = 0
		l, err := Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	a, b, idle := open("run-a"), open("run-b"), open("run-idle")
	for i, l := range []*Log{a, b, a, b} {
		if err := l.Record(ctx, sampleEvent(fp, i)); err != nil {
			t.Fatal(err)
		}
	}
	// a seals first; b's records are covered by a's checkpoint, but b's run still ends with
	// one of its own, so an auditor sees both runs finished. A run that recorded nothing adds
	// nothing.
	for _, l := range []*Log{a, b, idle} {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	verifyFile(t, path, 4)
	data, _ := os.ReadFile(path)
	var sealed []string
	for _, line := range splitLines(data) {
		var r Record
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		if r.Action == ActionCheckpoint {
			sealed = append(sealed, r.RunID)
		}
	}
	if strings.Join(sealed, ",") != "run-a,run-b" {
		t.Errorf("checkpoints by run: %v, want run-a then run-b", sealed)
	}
}
