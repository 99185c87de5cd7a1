package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
	if head.Seq != 6 || head.Count != 6 || head.KeyID != KeyID(testSigner(7).Public().(ed25519.PublicKey)) {
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

func TestOpenRefusesDamagedLogs(t *testing.T) {
	tests := []struct {
		name     string
		damage   func(t *testing.T, path string, b []byte)
		tampered bool
	}{
		{"partial last line that the head file covers", func(t *testing.T, path string, b []byte) {
			os.WriteFile(path, b[:len(b)-10], 0o600)
		}, true},
		{"last record edited", func(t *testing.T, path string, b []byte) {
			os.WriteFile(path, bytes.Replace(b, []byte(`"run_id":"run-1"`), []byte(`"run_id":"run-X"`), -1), 0o600)
		}, true},
		{"whole last run removed", func(t *testing.T, path string, b []byte) {
			lines := splitLines(b)
			os.WriteFile(path, bytes.Join(lines[:7], nil), 0o600)
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			b := writeRuns(t, path, 2, 5)
			tt.damage(t, path, b)
			_, err := Open(path, testOptions(t, "run-next"))
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Open = %v, want ErrUnavailable", err)
			}
			if tt.tampered && !errors.Is(err, ErrTampered) {
				t.Errorf("Open = %v, want ErrTampered too", err)
			}
		})
	}
}

func TestOpenRefusesOtherKeys(t *testing.T) {
	otherFP, err := NewFingerprinter(bytes.Repeat([]byte{0x43}, 32))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"another signing key", func(o *Options) { o.Signer = testSigner(8) }, "is signed with key " + KeyID(testSigner(7).Public().(ed25519.PublicKey))},
		{"another fingerprint key", func(o *Options) { o.Fingerprinter = otherFP }, "holds fingerprints under HMAC key " + testFingerprinter(t).KeyID()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			before := writeRuns(t, path, 1, 3)
			opts := testOptions(t, "run-other-key")
			tt.change(&opts)
			_, err := Open(path, opts)
			if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrKeyMismatch) {
				t.Fatalf("Open = %v, want ErrUnavailable and ErrKeyMismatch", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open = %v, want it to name the log's key: %q", err, tt.want)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
				t.Error("the refused Open changed the log")
			}
			// The keys the log was started with still append.
			l, err := Open(path, testOptions(t, "run-same-key"))
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

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

func TestConcurrentGoroutines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	opts := testOptions(t, "run-goroutines")
	opts.CheckpointEvery = 7
	l, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				if err := l.Record(context.Background(), sampleEvent(opts.Fingerprinter, g*100+i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	verifyFile(t, path, 200)
}

// verifyFile verifies the log at path with its head file and checks it holds want non-checkpoint records.
func verifyFile(t *testing.T, path string, want int) Report {
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

const childEnv = "SECRETSHIFT_AUDIT_TEST_CHILD"

// TestChildAppend is the body of the child processes of TestConcurrentProcesses; it does
// nothing in a normal test run.
func TestChildAppend(t *testing.T) {
	spec := os.Getenv(childEnv)
	if spec == "" {
		t.Skip("only runs as a child of TestConcurrentProcesses")
	}
	path, nStr, _ := strings.Cut(spec, "|")
	n, _ := strconv.Atoi(nStr)
	opts := testOptions(t, fmt.Sprintf("run-pid-%d", os.Getpid()))
	opts.CheckpointEvery = 10
	opts.Now = nil
	l, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Every third record is queued without waiting, as the engine queues outcomes.
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		if i%3 == 2 {
			wg.Add(1)
			if err := l.RecordAsync(sampleEvent(opts.Fingerprinter, i), func(err error) {
				defer wg.Done()
				if err != nil {
					t.Error(err)
				}
			}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := l.Record(context.Background(), sampleEvent(opts.Fingerprinter, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}

func TestConcurrentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	const procs, each = 3, 60
	var wg sync.WaitGroup
	outs := make([]bytes.Buffer, procs)
	for p := 0; p < procs; p++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestChildAppend$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+path+"|"+strconv.Itoa(each))
		cmd.Stdout, cmd.Stderr = &outs[p], &outs[p]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cmd.Wait(); err != nil {
				t.Errorf("child %d: %v\n%s", p, err, outs[p].String())
			}
		}()
	}
	wg.Wait()
	rep := verifyFile(t, path, procs*each)
	if rep.Runs != procs {
		t.Errorf("log holds %d runs, want %d", rep.Runs, procs)
	}
	// The runs interleave rather than run one after another, or the test proves little.
	b, _ := os.ReadFile(path)
	switches, last := 0, ""
	for _, line := range splitLines(b) {
		var r Record
		json.Unmarshal(line, &r)
		if r.RunID != last {
			switches++
			last = r.RunID
		}
	}
	t.Logf("%d records, %d checkpoints, %d run switches", rep.Records, rep.Checkpoints, switches)
}

func TestRotate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	archive := filepath.Join(dir, "archive", "audit-1.jsonl")
	writeRuns(t, path, 1, 3)

	if err := Rotate(path, archive, testOptions(t, "run-rotate")); err != nil {
		t.Fatal(err)
	}
	writeRuns(t, path, 1, 2)

	pub := testSigner(7).Public().(ed25519.PublicKey)
	var reps []Report
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
	if err := Rotate(path, archive, newKeys); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("Rotate of an unsealed log under new keys = %v, want ErrKeyMismatch", err)
	}
	if err := unfinished.Close(); err != nil {
		t.Fatal(err)
	}

	if err := Rotate(path, archive, newKeys); err != nil {
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
	var reps []Report
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
	if b, _ := os.ReadFile(path); !bytes.Contains(b, []byte(`"previous_key_id":"`+KeyID(testSigner(7).Public().(ed25519.PublicKey))+`"`)) {
		t.Error("the audit.rotate record does not name the archive's key")
	}
	// The new file now refuses the old key.
	if _, err := Open(path, testOptions(t, "run-old-key")); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("Open of the new file with the old key = %v, want ErrKeyMismatch", err)
	}
}

func TestKeygenAndLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	// An HMAC key made earlier (by plan, on first use) is kept.
	os.MkdirAll(dir, 0o700)
	earlier := strings.Repeat("cd", 32) + "\n"
	os.WriteFile(filepath.Join(dir, HMACKeyFile), []byte(earlier), 0o600)
	files, created, err := Keygen(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(created) != 2 {
		t.Errorf("created %v, want the signing key pair only", created)
	}
	if b, _ := os.ReadFile(files.HMACKey); string(b) != earlier {
		t.Error("Keygen replaced an existing HMAC key")
	}
	signingBefore, _ := os.ReadFile(files.SigningKey)
	if _, _, err := Keygen(dir); !errors.Is(err, os.ErrExist) {
		t.Errorf("second Keygen = %v, want ErrExist (keys must not be replaced)", err)
	}
	// A lost public key is derived again from the signing key.
	os.Remove(files.PublicKey)
	if _, created, err := Keygen(dir); err != nil || len(created) != 1 || created[0] != files.PublicKey {
		t.Errorf("Keygen after losing the public key = %v, %v", created, err)
	}
	if b, _ := os.ReadFile(files.SigningKey); !bytes.Equal(b, signingBefore) {
		t.Error("Keygen replaced an existing signing key")
	}
	for _, p := range []struct {
		path string
		mode os.FileMode
	}{{dir, 0o700}, {files.HMACKey, 0o600}, {files.SigningKey, 0o600}, {files.PublicKey, 0o644}} {
		info, err := os.Stat(p.path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != p.mode {
			t.Errorf("%s mode %o, want %o", p.path, info.Mode().Perm(), p.mode)
		}
	}
	noEnv := func(string) string { return "" }
	hk, err := LoadHMACKey(files.HMACKey, noEnv)
	if err != nil || len(hk) != 32 || hk[0] != 0xcd {
		t.Fatalf("LoadHMACKey = %d bytes, %v", len(hk), err)
	}
	priv, pub := checkKeyPair(t, files, noEnv)

	// Environment variables carry file contents and win over default files, not over flags.
	privPEM, _ := os.ReadFile(files.SigningKey)
	env := map[string]string{
		EnvHMACKey:    strings.Repeat("ab", 32),
		EnvSigningKey: string(privPEM),
		EnvPublicKey:  hex.EncodeToString(pub),
	}
	getenv := func(k string) string { return env[k] }
	if k, err := LoadHMACKey("", getenv); err != nil || k[0] != 0xab {
		t.Errorf("LoadHMACKey from env = %x, %v", k, err)
	}
	if k, err := LoadSigner("", getenv); err != nil || !k.Equal(priv) {
		t.Errorf("LoadSigner from env: %v", err)
	}
	if k, err := LoadVerifier("", getenv); err != nil || !k.Equal(pub) {
		t.Errorf("LoadVerifier from env: %v", err)
	}
	if k, err := LoadHMACKey(files.HMACKey, getenv); err != nil || !bytes.Equal(k, hk) {
		t.Errorf("an explicit file must win over the environment")
	}

	// A hex key with a digit lost in copying is refused, not read as base64 (another key).
	short := strings.Repeat("ab", 32)[:63]
	if k, err := LoadHMACKey("", func(k string) string { return map[string]string{EnvHMACKey: short}[k] }); err == nil ||
		!strings.Contains(err.Error(), "63 hex digits") || strings.Contains(err.Error(), short) {
		t.Errorf("LoadHMACKey of 63 hex digits = %x, %v; want a refusal that does not echo the key", k, err)
	}

	// A variable holding the key file's name instead of its text gets a hint.
	if _, err := LoadHMACKey("", func(k string) string { return map[string]string{EnvHMACKey: files.HMACKey}[k] }); err == nil ||
		!strings.Contains(err.Error(), "$"+EnvHMACKey+" holds a file name") {
		t.Errorf("LoadHMACKey with a path in the variable: %v; want a hint", err)
	}
	// An auditor without the public key is not told to make new keys.
	if _, err := LoadVerifier("", noEnv); err == nil || strings.Contains(err.Error(), "keygen") || !strings.Contains(err.Error(), "audit-signing.pub") {
		t.Errorf("LoadVerifier without a key: %v", err)
	}

	// Bad key text is refused without echoing it.
	bad := map[string]string{EnvHMACKey: "CANARY-not-a-key-but-a-secret", EnvSigningKey: "CANARY-not-a-key-but-a-secret"}
	for _, load := range []func() error{
		func() error { _, err := LoadHMACKey("", func(k string) string { return bad[k] }); return err },
		func() error { _, err := LoadSigner("", func(k string) string { return bad[k] }); return err },
	} {
		err := load()
		if err == nil || strings.Contains(err.Error(), "CANARY") {
			t.Errorf("bad key text: err = %v", err)
		}
	}
	shortKey := map[string]string{EnvHMACKey: "abcd"}
	if _, err := LoadHMACKey("", func(k string) string { return shortKey[k] }); err == nil {
		t.Error("a 2-byte HMAC key was accepted")
	}
	t.Chdir(t.TempDir())
	if _, err := LoadSigner("", noEnv); !errors.Is(err, ErrNoKey) {
		t.Errorf("LoadSigner without any key = %v, want ErrNoKey", err)
	}
}

// benchLog opens a log as the commands do, for the Record benchmarks.
func benchLog(b *testing.B) (*Log, Options, Event) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "audit.jsonl")
	opts := testOptions(b, "run-bench")
	opts.CheckpointEvery = 0 // the default
	opts.Now = nil
	l, err := Open(path, opts)
	if err != nil {
		b.Fatal(err)
	}
	return l, opts, sampleEvent(opts.Fingerprinter, 0)
}

func BenchmarkRecord(b *testing.B) {
	l, _, e := benchLog(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := l.Record(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
}

func TestKeygenConcurrentFirstUse(t *testing.T) {
	// Commands create keys on first use; parallel first runs must end with one matching pair.
	dir := filepath.Join(t.TempDir(), "keys")
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = Keygen(dir)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil && !errors.Is(err, os.ErrExist) {
			t.Errorf("Keygen %d: %v", i, err)
		}
	}
	files := DefaultKeyFiles(dir)
	noEnv := func(string) string { return "" }
	checkKeyPair(t, files, noEnv)
	if _, err := LoadHMACKey(files.HMACKey, noEnv); err != nil {
		t.Error(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".key-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// BenchmarkRecordParallel measures Record with 16 writers in flight, as the migration engine
// runs it: group commit shares one fsync among the records queued meanwhile.
func BenchmarkRecordParallel(b *testing.B) {
	l, opts, e := benchLog(b)
	path := l.Path()
	ctx := context.Background()
	b.SetParallelism(8) // 8 × GOMAXPROCS goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Record(ctx, e); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if rep := Verify(f, opts.Signer.Public().(ed25519.PublicKey), nil); !rep.OK {
		b.Fatalf("log written in parallel does not verify: %+v", rep)
	}
}

func TestRecordBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	opts := testOptions(t, "run-batch")
	l, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	var events []Event
	for i := range 250 {
		events = append(events, sampleEvent(opts.Fingerprinter, i))
	}
	if err := l.RecordBatch(context.Background(), events); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep := Verify(f, opts.Signer.Public().(ed25519.PublicKey), nil)
	if !rep.OK || rep.Records < 250 {
		t.Fatalf("batch log: %+v", rep)
	}
}

// checkKeyPair loads the signing and public key files and checks that they belong together.
func checkKeyPair(t *testing.T, files KeyFiles, getenv func(string) string) (ed25519.PrivateKey, ed25519.PublicKey) {
	t.Helper()
	priv, err := LoadSigner(files.SigningKey, getenv)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := LoadVerifier(files.PublicKey, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(priv.Public()) {
		t.Error("public key does not match the signing key")
	}
	return priv, pub
}

func TestRecordAsync(t *testing.T) {
	ctx := context.Background()
	fp := testFingerprinter(t)

	t.Run("done is called once the record is on disk", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		l, err := Open(path, testOptions(t, "run-async"))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		if err := l.RecordAsync(sampleEvent(fp, 0), func(err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
		// Nobody waits and nothing else is recorded: the delay commits it.
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("an async record was not committed after its delay")
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(splitLines(b)); n != 1 {
			t.Fatalf("log holds %d lines when done was called, want 1", n)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		verifyFile(t, path, 1)
	})

	t.Run("a synchronous record commits queued ones first", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		l, err := Open(path, testOptions(t, "run-async-order"))
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var order []int
		for i := range 5 {
			if err := l.RecordAsync(sampleEvent(fp, i), func(err error) {
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
			}); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Record(ctx, sampleEvent(fp, 5)); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		if len(order) != 5 {
			t.Errorf("after Record returned, %d of 5 queued records were reported durable", len(order))
		}
		mu.Unlock()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		verifyFile(t, path, 6)
		b, _ := os.ReadFile(path)
		i := 0
		for _, line := range splitLines(b) {
			var r Record
			if err := json.Unmarshal(line, &r); err != nil {
				t.Fatal(err)
			}
			if r.Action == ActionCheckpoint {
				continue
			}
			i++
			if want := sampleEvent(fp, i-1).Source.Name; r.Source.Name != want {
				t.Errorf("line %d is %s, want %s: records out of order", i+1, r.Source.Name, want)
			}
		}
	})

	t.Run("flush and close write what is queued", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		l, err := Open(path, testOptions(t, "run-async-flush"))
		if err != nil {
			t.Fatal(err)
		}
		var durable atomic.Int32
		for i := range 3 * AsyncBatch / 2 {
			if err := l.RecordAsync(sampleEvent(fp, i), func(err error) {
				if err == nil {
					durable.Add(1)
				}
			}); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if got := durable.Load(); got != 3*AsyncBatch/2 {
			t.Errorf("after Flush, %d of %d records were reported durable", got, 3*AsyncBatch/2)
		}
		if err := l.RecordAsync(sampleEvent(fp, 0), func(error) {}); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		verifyFile(t, path, 3*AsyncBatch/2+1)
	})

	t.Run("records arriving during a commit wait for the delay, not another flush", func(t *testing.T) {
		// Outcomes trickle in while intents are committed: each commit must not be followed at
		// once by another for the few records that arrived during its flush, or the log flushes
		// the disk hundreds of times a second.
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		opts := testOptions(t, "run-async-trickle")
		opts.CheckpointEvery = 1 << 20 // only the final one
		l, err := Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		// Outcomes arrive one every 100µs, faster than most disks flush (paced by spinning:
		// a sleep that short lasts a millisecond or more), and an intent every 50ms.
		const n, every, syncEvery = 3000, 100 * time.Microsecond, 50 * time.Millisecond
		var wg sync.WaitGroup
		wg.Add(n)
		stop, stopped := make(chan struct{}), make(chan struct{})
		intents := 0
		go func() {
			defer close(stopped)
			tick := time.NewTicker(syncEvery)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if err := l.Record(ctx, sampleEvent(fp, intents)); err != nil {
						t.Error(err)
					}
					intents++
				}
			}
		}()
		start := time.Now()
		for i := range n {
			for time.Since(start) < time.Duration(i)*every {
			}
			if err := l.RecordAsync(sampleEvent(fp, i), func(err error) {
				if err != nil {
					t.Error(err)
				}
				wg.Done()
			}); err != nil {
				t.Fatal(err)
			}
		}
		close(stop)
		<-stopped
		if err := l.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		elapsed := time.Since(start)
		l.mu.Lock()
		syncs := l.syncs
		l.mu.Unlock()
		// One flush per synchronous record, per AsyncBatch records, per AsyncDelay of the
		// run, the final Flush's and checkpoint's, and as much again for slack.
		limit := 2 * (intents + n/AsyncBatch + int(elapsed/AsyncDelay) + 2)
		t.Logf("%d async and %d sync records over %s: %d flushes of the log (at most %d)", n, intents, elapsed.Round(time.Millisecond), syncs, limit)
		if syncs > limit {
			t.Errorf("%d async and %d sync records over %s took %d flushes of the log, want at most %d", n, intents, elapsed.Round(time.Millisecond), syncs, limit)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		verifyFile(t, path, n+intents)
	})

	t.Run("invalid events are refused at once", func(t *testing.T) {
		l, err := Open(filepath.Join(t.TempDir(), "audit.jsonl"), testOptions(t, "run-async-invalid"))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		called := false
		err = l.RecordAsync(Event{Action: "Not An Action", Outcome: OutcomeSuccess}, func(error) { called = true })
		if !errors.Is(err, ErrInvalidEvent) || called {
			t.Fatalf("RecordAsync = %v (done called: %v), want ErrInvalidEvent and no call", err, called)
		}
	})

	t.Run("a failed write is reported to done, Flush and Close", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		if err := os.Symlink("/dev/full", path); err != nil {
			t.Skip(err)
		}
		l, err := Open(path, testOptions(t, "run-async-full"))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		if err := l.RecordAsync(sampleEvent(fp, 0), func(err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
		if err := l.Flush(ctx); !errors.Is(err, ErrUnavailable) {
			t.Errorf("Flush = %v, want ErrUnavailable", err)
		}
		if err := <-done; !errors.Is(err, ErrUnavailable) {
			t.Errorf("done got %v, want ErrUnavailable", err)
		}
		if err := l.Close(); !errors.Is(err, ErrUnavailable) {
			t.Errorf("Close = %v, want ErrUnavailable", err)
		}
	})
}

func BenchmarkRecordAsync(b *testing.B) {
	l, _, e := benchLog(b)
	var wg sync.WaitGroup
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		wg.Add(1)
		if err := l.RecordAsync(e, func(error) { wg.Done() }); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	wg.Wait()
	b.StopTimer()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
}

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
