package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestRecordWritesChainedRecords(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nested", "audit.jsonl")
	b := writeRuns(t, path, 1, 5)

	lines := splitLines(b)
	// 5 events, a checkpoint after the 4th, and the final checkpoint at Close.
	if len(lines) != 7 {
		t.Fatalf("got %d lines, want 7", len(lines))
	}
	prev := GenesisHash
	for i, line := range lines {
		var rec Record
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if rec.Seq != uint64(i+1) || rec.Prev != prev || rec.RunID != "run-0" || rec.EventID == "" {
			t.Errorf("line %d: seq %d prev %s run %s", i+1, rec.Seq, rec.Prev, rec.RunID)
		}
		if !strings.HasPrefix(string(line), `{"time":"2025-03-01T12:00:00.`) {
			t.Errorf("line %d does not start with a sub-second UTC time: %.40s", i+1, line)
		}
		prev = rec.Hash
	}
	for _, p := range []struct {
		path string
		mode os.FileMode
	}{{filepath.Dir(path), 0o700}, {path, 0o600}, {HeadPath(path), 0o600}} {
		info, err := os.Stat(p.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != p.mode {
			t.Errorf("%s has mode %o, want %o", filepath.Base(p.path), got, p.mode)
		}
	}
	head, err := ReadHead(HeadPath(path))
	if err != nil {
		t.Fatal(err)
	}
	if head.Seq != 6 || head.Count != 6 || head.PublicKeyID != PublicKeyID(testSigner(7).Public().(ed25519.PublicKey)) {
		t.Errorf("head file = %+v, want the checkpoint of seq 6", head)
	}
	if rep := Verify(bytes.NewReader(b), testSigner(7).Public().(ed25519.PublicKey), head); !rep.OK {
		t.Errorf("fresh log does not verify: %v", rep.Problem)
	}
	assertNoCanaryInDir(t, dir)
}

func TestRecordRefusesInvalidEvents(t *testing.T) {
	fp := testFingerprinter(t)
	tests := []struct {
		name string
		edit func(e *Event)
	}{
		{"empty action", func(e *Event) { e.Action = "" }},
		{"action with spaces", func(e *Event) { e.Action = "migrate write" }},
		{"reserved checkpoint action", func(e *Event) { e.Action = ActionCheckpoint }},
		{"reserved rotate action", func(e *Event) { e.Action = ActionRotate }},
		{"unknown outcome", func(e *Event) { e.Outcome = "ok" }},
		{"raw value as fingerprint", func(e *Event) { e.Fingerprints["password"] = canaries[0] }},
		{"bare sha256 as fingerprint", func(e *Event) { e.Fingerprints["password"] = "sha256:" + strings.Repeat("ab", 32) }},
		{"PEM block in details", func(e *Event) { e.Details["cert"] = "-----BEGIN PRIVATE KEY-----\nMC4CAQAw\n-----END PRIVATE KEY-----" }},
		{"PEM block in error", func(e *Event) { e.Error = "parse: -----BEGIN CERTIFICATE-----" }},
		{"binary in details", func(e *Event) { e.Details["blob"] = "\xff\xfe\x00binary" }},
		{"NUL in error", func(e *Event) { e.Error = "a\x00b" }},
		{"over-long error", func(e *Event) { e.Error = strings.Repeat("x", maxTextLen+1) }},
		{"empty key name", func(e *Event) { e.Keys = append(e.Keys, "") }},
	}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := Open(path, testOptions(t, "run-invalid"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := sampleEvent(fp, 0)
			tt.edit(&e)
			err := l.Record(context.Background(), e)
			if !errors.Is(err, ErrInvalidEvent) {
				t.Fatalf("Record = %v, want ErrInvalidEvent", err)
			}
			if errors.Is(err, ErrUnavailable) {
				t.Errorf("an invalid event must not make the log unavailable")
			}
			assertNoCanary(t, "error", []byte(err.Error()))
		})
	}
	// The log stays usable and empty.
	if err := l.Record(context.Background(), sampleEvent(fp, 0)); err != nil {
		t.Fatalf("valid event after invalid ones: %v", err)
	}
	if info, _ := os.Stat(path); info.Size() == 0 {
		t.Error("valid event was not written")
	}
}

// makeReadOnly makes dir unwritable, also for root (which ignores mode bits) by setting the
// immutable attribute. It skips the test when neither works.
func makeReadOnly(t *testing.T, dir string) {
	t.Helper()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	probe := filepath.Join(dir, ".probe")
	if f, err := os.Create(probe); err != nil {
		return
	} else {
		f.Close()
		os.Remove(probe)
	}
	if err := exec.Command("chattr", "+i", dir).Run(); err != nil {
		t.Skip("cannot make a directory read-only for this user (root without chattr)")
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", dir).Run() })
}

func TestFailClosed(t *testing.T) {
	ctx := context.Background()
	fp := testFingerprinter(t)

	t.Run("open in a read-only directory", func(t *testing.T) {
		dir := t.TempDir()
		makeReadOnly(t, dir)
		_, err := Open(filepath.Join(dir, "audit.jsonl"), testOptions(t, "run-ro"))
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Open = %v, want ErrUnavailable", err)
		}
	})
	t.Run("open a log whose directory cannot be created", func(t *testing.T) {
		dir := t.TempDir()
		makeReadOnly(t, dir)
		_, err := Open(filepath.Join(dir, "sub", "audit.jsonl"), testOptions(t, "run-ro"))
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Open = %v, want ErrUnavailable", err)
		}
	})
	t.Run("open an existing log in a read-only directory", func(t *testing.T) {
		// The log file exists and is writable, but the lock file cannot be created.
		dir := t.TempDir()
		path := filepath.Join(dir, "audit.jsonl")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		makeReadOnly(t, dir)
		_, err := Open(path, testOptions(t, "run-ro"))
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Open = %v, want ErrUnavailable", err)
		}
	})
	t.Run("open below a regular file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		os.WriteFile(file, nil, 0o600)
		_, err := Open(filepath.Join(file, "audit.jsonl"), testOptions(t, "run-notdir"))
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Open = %v, want ErrUnavailable", err)
		}
	})
	t.Run("open without a signing key", func(t *testing.T) {
		opts := testOptions(t, "run-nokey")
		opts.Signer = nil
		_, err := Open(filepath.Join(t.TempDir(), "audit.jsonl"), opts)
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrNoKey) {
			t.Fatalf("Open = %v, want ErrUnavailable and ErrNoKey", err)
		}
	})
	t.Run("record when the disk is full", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		if err := os.Symlink("/dev/full", path); err != nil {
			t.Skip(err)
		}
		l, err := Open(path, testOptions(t, "run-full"))
		if err != nil {
			t.Fatal(err)
		}
		err = l.Record(ctx, sampleEvent(fp, 0))
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Record = %v, want ErrUnavailable", err)
		}
		// Sticky: later calls fail too, and Close reports it.
		if err := l.Record(ctx, sampleEvent(fp, 1)); !errors.Is(err, ErrUnavailable) {
			t.Errorf("second Record = %v, want ErrUnavailable", err)
		}
		if err := l.Close(); !errors.Is(err, ErrUnavailable) {
			t.Errorf("Close = %v, want ErrUnavailable", err)
		}
	})
	t.Run("record after the log was removed", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		l, err := Open(path, testOptions(t, "run-rm"))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		os.Remove(path)
		if err := l.Record(ctx, sampleEvent(fp, 0)); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Record = %v, want ErrUnavailable", err)
		}
	})
	t.Run("record after close", func(t *testing.T) {
		l, err := Open(filepath.Join(t.TempDir(), "audit.jsonl"), testOptions(t, "run-closed"))
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		if err := l.Record(ctx, sampleEvent(fp, 0)); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Record = %v, want ErrUnavailable", err)
		}
	})
}

// verifyFile verifies the log at path with its head file and checks it holds want non-checkpoint records.
func verifyFile(t *testing.T, path string, want int) VerifyReport {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	head, err := ReadHead(HeadPath(path))
	if err != nil {
		t.Fatal(err)
	}
	rep := Verify(bytes.NewReader(b), testSigner(7).Public().(ed25519.PublicKey), head)
	if !rep.OK {
		t.Fatalf("log does not verify: %v", rep.Problem)
	}
	if got := rep.Records - rep.Checkpoints; got != want {
		t.Errorf("log holds %d event records, want %d", got, want)
	}
	return rep
}
