package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestRotate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	archive := filepath.Join(dir, "archive", "audit-1.jsonl")
	writeRuns(t, path, 1, 3)

	if _, err := Rotate(path, archive, testOptions(t, "run-rotate")); err != nil {
		t.Fatal(err)
	}
	writeRuns(t, path, 1, 2)

	pub := testSigner(7).Public().(ed25519.PublicKey)
	var reps []VerifyReport
	for _, p := range []string{archive, path} {
		b, _ := os.ReadFile(p)
		head, err := ReadHead(HeadPath(p))
		if err != nil {
			t.Fatal(err)
		}
		rep := Verify(bytes.NewReader(b), pub, head)
		if !rep.OK {
			t.Fatalf("%s: %v", filepath.Base(p), rep.Problem)
		}
		reps = append(reps, rep)
	}
	if err := VerifyLink(reps[0], reps[1]); err != nil {
		t.Errorf("VerifyLink: %v", err)
	}
	if reps[1].Genesis == GenesisHash {
		t.Error("the new file does not link to the archived one")
	}
	// A fresh, unrelated log does not link.
	other := filepath.Join(dir, "other.jsonl")
	writeRuns(t, other, 1, 1)
	b, _ := os.ReadFile(other)
	if err := VerifyLink(reps[0], Verify(bytes.NewReader(b), pub, nil)); err == nil {
		t.Error("VerifyLink accepted an unrelated log")
	}
}

// TestRotateToNewKeys: new keys start a new file; the archived one stays signed by the old key
// alone, and a log that does not end sealed cannot be sealed by a new key.
func TestRotateToNewKeys(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	archive := filepath.Join(dir, "audit-1.jsonl")
	writeRuns(t, path, 2, 3)
	newKeys := testOptions(t, "run-rotate")
	newKeys.Signer = testSigner(8)

	// A run that did not finish: its last record is not a checkpoint.
	unfinished, err := Open(path, testOptions(t, "run-unfinished"))
	if err != nil {
		t.Fatal(err)
	}
	if err := unfinished.Record(ctx, sampleEvent(testFingerprinter(t), 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := Rotate(path, archive, newKeys); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("Rotate of an unsealed log under new keys = %v, want ErrKeyMismatch", err)
	}
	if err := unfinished.Close(); err != nil {
		t.Fatal(err)
	}

	if _, err := Rotate(path, archive, newKeys); err != nil {
		t.Fatal(err)
	}
	newOpts := testOptions(t, "run-new-key")
	newOpts.Signer = testSigner(8)
	l, err := Open(path, newOpts)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Record(ctx, sampleEvent(testFingerprinter(t), 1)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var reps []VerifyReport
	for i, p := range []string{archive, path} {
		b, _ := os.ReadFile(p)
		head, err := ReadHead(HeadPath(p))
		if err != nil {
			t.Fatal(err)
		}
		rep := Verify(bytes.NewReader(b), testSigner(byte(7+i)).Public().(ed25519.PublicKey), head)
		if !rep.OK {
			t.Fatalf("%s: %v", filepath.Base(p), rep.Problem)
		}
		reps = append(reps, rep)
	}
	if err := VerifyLink(reps[0], reps[1]); err != nil {
		t.Errorf("VerifyLink: %v", err)
	}
	// The new file names the key that signed the archive.
	if b, _ := os.ReadFile(path); !bytes.Contains(b, []byte(`"previous_key_id":"`+PublicKeyID(testSigner(7).Public().(ed25519.PublicKey))+`"`)) {
		t.Error("the audit.rotate record does not name the archive's key")
	}
	// The new file now refuses the old key.
	if _, err := Open(path, testOptions(t, "run-old-key")); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("Open of the new file with the old key = %v, want ErrKeyMismatch", err)
	}
}

// TestRotation: what Rotate reports, which `audit rotate` prints.
func TestRotation(t *testing.T) {
	tests := []struct {
		name       string
		seed       byte
		archive    string // "" for the default name
		want       string // the archive's name
		keyChanged bool
	}{
		{"same keys", 7, "audit-1.jsonl", "audit-1.jsonl", false},
		{"new keys", 8, "audit-1.jsonl", "audit-1.jsonl", true},
		{"default archive name", 7, "", "audit-20250301T120000Z.jsonl", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "audit.jsonl")
			writeRuns(t, path, 1, 2)
			archive := tt.archive
			if archive != "" {
				archive = filepath.Join(dir, archive)
			}
			opts := testOptions(t, "run-rotate")
			opts.Signer = testSigner(tt.seed)
			rot, err := Rotate(path, archive, opts)
			if err != nil {
				t.Fatal(err)
			}
			want := Rotation{
				Archived:            filepath.Join(dir, tt.want),
				Log:                 path,
				PublicKeyID:         PublicKeyID(testSigner(tt.seed).Public().(ed25519.PublicKey)),
				KeyChanged:          tt.keyChanged,
				PreviousPublicKeyID: PublicKeyID(testSigner(7).Public().(ed25519.PublicKey)),
			}
			if rot != want {
				t.Errorf("Rotate = %+v, want %+v", rot, want)
			}
			if _, err := os.Stat(rot.Archived); err != nil {
				t.Errorf("archive: %v", err)
			}
			// -o json of audit rotate keeps its members.
			b, _ := json.Marshal(rot)
			var m map[string]any
			json.Unmarshal(b, &m)
			wantKeys := 3
			if tt.keyChanged {
				wantKeys = 4
			}
			if len(m) != wantKeys || m["archived"] == nil || m["log"] == nil || m["publicKeyID"] == nil {
				t.Errorf("Rotation JSON %s", b)
			}
		})
	}
	// A failed rotation reports nothing.
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	os.WriteFile(path, nil, 0o600)
	if rot, err := Rotate(path, "", testOptions(t, "run-rotate")); err == nil || rot != (Rotation{}) {
		t.Errorf("Rotate of an empty log = %+v, %v; want an error only", rot, err)
	}
}
