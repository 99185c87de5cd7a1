package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// abandon drops l without sealing it, as a run that was killed does.
func abandon(l *Log) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.f.Close()
}

// writeUnsignedTail appends n records of a run that never reached Close.
func writeUnsignedTail(t *testing.T, path string, n int) {
	t.Helper()
	opts := testOptions(t, "run-unfinished")
	opts.CheckpointEvery = -1
	l, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := l.Record(context.Background(), sampleEvent(opts.Fingerprinter, 100+i)); err != nil {
			t.Fatal(err)
		}
	}
	abandon(l)
}

// TestOpenWarnsAboutTamperedLogs: a run appends to a log that no longer verifies, Integrity says
// so, nothing that was in the file is lost, the head file stays as it was found, and Verify still
// reports the tampering afterwards.
func TestOpenWarnsAboutTamperedLogs(t *testing.T) {
	pub := testSigner(7).Public().(ed25519.PublicKey)
	// The log: run-0 is seqs 1-7 (checkpoints at 5 and 7), run-1 seqs 8-14 (checkpoints at 12
	// and 14, the head file's), then, where a case asks for it, three unsigned records 15-17.
	tests := []struct {
		name   string
		tail   bool
		damage func(t *testing.T, path string, lines [][]byte)
		kind   Kind
		seq    uint64
	}{
		{"last record edited", false, func(t *testing.T, path string, lines [][]byte) {
			lines[13] = bytes.Replace(lines[13], []byte(`"run_id":"run-1"`), []byte(`"run_id":"run-X"`), 1)
			os.WriteFile(path, join(lines), 0o600)
		}, KindEdited, 14},
		{"unsigned record edited, hash recomputed", true, func(t *testing.T, path string, lines [][]byte) {
			os.WriteFile(path, join(replaceLine(lines, 14, editLine(t, lines[14], true))), 0o600)
		}, KindChainBroken, 16},
		{"unsigned record deleted", true, func(t *testing.T, path string, lines [][]byte) {
			os.WriteFile(path, join(without(lines, 15)), 0o600)
		}, KindDeleted, 17},
		{"sealed record edited, chain re-hashed to the end", false, func(t *testing.T, path string, lines [][]byte) {
			os.WriteFile(path, join(rechain(t, replaceLine(lines, 8, editLine(t, lines[8], true)), 9)), 0o600)
		}, KindEdited, 14},
		{"last run replaced by forged records", false, func(t *testing.T, path string, lines [][]byte) {
			forged := append([][]byte{}, lines[:7]...)
			for len(forged) < len(lines) {
				forged = append(forged, forgeAfter(t, forged[len(forged)-1]))
			}
			os.WriteFile(path, join(forged), 0o600)
		}, KindEdited, 14},
		{"last checkpoint's signature replaced", false, func(t *testing.T, path string, lines [][]byte) {
			var m map[string]any
			json.Unmarshal(lines[13], &m)
			m["checkpoint"].(map[string]any)["signature"] = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, ed25519.SignatureSize))
			delete(m, "hash")
			m["hash"], _ = hashObject(toGeneric(t, m))
			os.WriteFile(path, join(replaceLine(lines, 13, marshalLine(t, m))), 0o600)
		}, KindBadSignature, 14},
		{"a line that is not a record appended", false, func(t *testing.T, path string, lines [][]byte) {
			os.WriteFile(path, append(join(lines), "not a record\n"...), 0o600)
		}, KindMalformed, 0},
		{"head file forged to claim more records", false, func(t *testing.T, path string, lines [][]byte) {
			head, err := ReadHead(HeadPath(path))
			if err != nil {
				t.Fatal(err)
			}
			head.Seq, head.Count = 99, 99
			os.WriteFile(HeadPath(path), marshalLine(t, head), 0o600)
		}, KindBadSignature, 100},
		{"head file replaced by text", false, func(t *testing.T, path string, lines [][]byte) {
			os.WriteFile(HeadPath(path), []byte("not a checkpoint\n"), 0o600)
		}, KindMalformed, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			writeRuns(t, path, 2, 5)
			if tt.tail {
				writeUnsignedTail(t, path, 3)
			}
			b, _ := os.ReadFile(path)
			tt.damage(t, path, splitLines(b))
			tampered, _ := os.ReadFile(path)
			headBefore, _ := os.ReadFile(HeadPath(path))

			opts := testOptions(t, "run-after-tampering")
			l, err := Open(path, opts)
			if err != nil {
				t.Fatalf("Open of a tampered log = %v, want it to append and warn", err)
			}
			var ie *IntegrityError
			if err := l.Integrity(); !errors.Is(err, ErrTampered) || !errors.As(err, &ie) {
				t.Fatalf("Integrity = %v, want an IntegrityError wrapping ErrTampered", err)
			}
			if ie.Kind != tt.kind || ie.Seq != tt.seq || ie.Log != path {
				t.Errorf("Integrity = %s at seq %d in %s, want %s at seq %d: %v", ie.Kind, ie.Seq, ie.Log, tt.kind, tt.seq, ie)
			}
			assertNoCanary(t, "integrity error", []byte(ie.Error()))
			if err := l.Record(context.Background(), sampleEvent(opts.Fingerprinter, 0)); err != nil {
				t.Fatalf("Record to a tampered log: %v", err)
			}
			if err := l.Close(); err != nil {
				t.Fatalf("Close of a tampered log: %v", err)
			}

			after, _ := os.ReadFile(path)
			if !bytes.HasPrefix(after, tampered) || len(after) == len(tampered) {
				t.Error("the run did not append after the tampered log, keeping it as it was")
			}
			if headAfter, _ := os.ReadFile(HeadPath(path)); !bytes.Equal(headAfter, headBefore) {
				t.Error("the head file was replaced: it is the evidence of how far the log reached")
			}
			if head, err := ReadHead(HeadPath(path)); err == nil {
				if rep := Verify(bytes.NewReader(after), pub, head); rep.OK {
					t.Error("Verify does not report the tampering after the run appended")
				}
			}
			// The next run is warned too.
			l, err = Open(path, testOptions(t, "run-next"))
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Integrity(); !errors.Is(err, ErrTampered) {
				t.Errorf("the next run's Integrity = %v, want ErrTampered", err)
			}
			l.Close()
		})
	}
}

func TestIntegrityOfAnIntactLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	writeRuns(t, path, 2, 5)
	writeUnsignedTail(t, path, 3) // a run that crashed is no tampering
	headBefore, _ := os.ReadFile(HeadPath(path))
	l, err := Open(path, testOptions(t, "run-intact"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Integrity(); err != nil {
		t.Fatalf("Integrity of an intact log = %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if headAfter, _ := os.ReadFile(HeadPath(path)); bytes.Equal(headAfter, headBefore) {
		t.Error("the head file was not moved to the run's checkpoint")
	}
	verifyFile(t, path, 2*5+3)

	// Open checks from the head file's checkpoint on, not the whole file: an edit before it is
	// left to Verify.
	b, _ := os.ReadFile(path)
	lines := splitLines(b)
	os.WriteFile(path, join(replaceLine(lines, 1, editLine(t, lines[1], false))), 0o600)
	l, err = Open(path, testOptions(t, "run-cheap"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Integrity(); err != nil {
		t.Errorf("Integrity = %v; an edit before the head file's checkpoint is Verify's to find", err)
	}
	l.Close()
}

// TestTamperedWhileAppending: a last record changed between two appends of a run is noticed
// when the run next reads the end of the file, and the run goes on.
func TestTamperedWhileAppending(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	writeRuns(t, path, 1, 3)
	headBefore, _ := os.ReadFile(HeadPath(path))
	opts := testOptions(t, "run-during")
	opts.CheckpointEvery = -1
	l, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // Integrity is safe to call while records are written
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				_ = l.Integrity()
			}
		}
	}()
	if err := l.Record(ctx, sampleEvent(opts.Fingerprinter, 0)); err != nil {
		t.Fatal(err)
	}
	// The writer reads the end of the file again when its size changed (another process
	// appended, or this edit).
	b, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(b, []byte(`"run_id":"run-during"`), []byte(`"run_id":"run-during-edited"`), 1), 0o600)
	if err := l.Record(ctx, sampleEvent(opts.Fingerprinter, 1)); err != nil {
		t.Fatalf("Record after the last record was edited: %v", err)
	}
	close(stop)
	wg.Wait()
	if err := l.Integrity(); !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), "does not match its hash") {
		t.Errorf("Integrity = %v, want the edited last record", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if headAfter, _ := os.ReadFile(HeadPath(path)); !bytes.Equal(headAfter, headBefore) {
		t.Error("the head file was replaced after the log was found tampered")
	}
	after, _ := os.ReadFile(path)
	head, _ := ReadHead(HeadPath(path))
	if rep := Verify(bytes.NewReader(after), testSigner(7).Public().(ed25519.PublicKey), head); rep.OK || rep.Problem.Kind != KindEdited {
		t.Errorf("Verify = %+v, want the edited record", rep.Problem)
	}
}

// BenchmarkOpenLargeLog measures the integrity check of Open on a log of 20,000 records: it
// reads from the head file's checkpoint on, so it costs the same on a log of any length.
func BenchmarkOpenLargeLog(b *testing.B) {
	path := filepath.Join(b.TempDir(), "audit.jsonl")
	opts := testOptions(b, "run-open")
	opts.CheckpointEvery = 0 // the default
	l, err := Open(path, opts)
	if err != nil {
		b.Fatal(err)
	}
	events := make([]Event, 20000)
	for i := range events {
		events[i] = sampleEvent(opts.Fingerprinter, i)
	}
	if err := l.RecordBatch(context.Background(), events); err != nil {
		b.Fatal(err)
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		l, err := Open(path, opts)
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Integrity(); err != nil {
			b.Fatal(err)
		}
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestVerifyEarlierFindsEditsBeforeTheLastCheckpoint(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	b := writeRuns(t, path, 2, 5)
	opts := testOptions(t, "run-check")
	l, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.VerifyEarlier()(); err != nil {
		t.Errorf("an intact log: %v", err)
	}
	l.Close()
	// An edit in the first run, sealed by checkpoints since: Open's cheap check does not read it.
	edited := bytes.Replace(b, []byte(`"outcome":"success"`), []byte(`"outcome":"failure"`), 1)
	if bytes.Equal(edited, b) {
		t.Fatal("nothing to edit")
	}
	if err := os.WriteFile(path, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err = Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	wait := l.VerifyEarlier()
	if err := l.Record(context.Background(), Event{Action: ActionPlanCreate, Outcome: OutcomeSuccess}); err != nil {
		t.Fatal(err)
	}
	if err := wait(); !errors.Is(err, ErrTampered) {
		t.Errorf("VerifyEarlier: %v, want ErrTampered", err)
	}
}
