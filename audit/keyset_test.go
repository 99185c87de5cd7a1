package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestKeySet(t *testing.T) {
	fp := testFingerprinter(t)
	ev := sampleEvent(fp, 0)

	if _, err := NewKeySet(ActionMigrateWrite, []string{"-----BEGIN"}, nil); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("NewKeySet with a PEM-like key name = %v, want ErrInvalidEvent", err)
	}
	if _, err := NewKeySet(ActionMigrateWrite, []string{"k"}, map[string]string{"k": "a bare value"}); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("NewKeySet with a non-fingerprint = %v, want ErrInvalidEvent", err)
	}
	ks, err := NewKeySet(ActionMigrateWrite, ev.Keys, ev.Fingerprints)
	if err != nil {
		t.Fatal(err)
	}
	both := ev
	both.KeySet = ks
	if err := both.Validate(); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("an event with KeySet and Keys = %v, want ErrInvalidEvent", err)
	}

	// The same event written with a KeySet and with Keys/Fingerprints gives the same members,
	// and the KeySet keeps its own copy.
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	opts := testOptions(t, "run-keyset")
	l, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	viaSet := ev
	viaSet.Keys, viaSet.Fingerprints, viaSet.KeySet = nil, nil, ks
	if err := l.Record(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	ev.Fingerprints["password"] = fp.Value([]byte("changed after NewKeySet"))
	if err := l.Record(context.Background(), viaSet); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	verifyFile(t, path, 2)
	b, _ := os.ReadFile(path)
	lines := splitLines(b)
	var r1, r2 Record
	if err := json.Unmarshal(lines[0], &r1); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(lines[1], &r2); err != nil {
		t.Fatal(err)
	}
	k1, _ := json.Marshal([]any{r1.Keys, r1.Fingerprints})
	k2, _ := json.Marshal([]any{r2.Keys, r2.Fingerprints})
	if !bytes.Equal(k1, k2) {
		t.Errorf("keys and fingerprints differ:\n%s\n%s", k1, k2)
	}
}
