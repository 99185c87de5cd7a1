package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Canary values stand in for secret values: tests fingerprint them and then grep every file and
// output for them.
var canaries = []string{"CANARY-p4ssw0rd-7f3a9c", "CANARY-token-0c91be77d2", "CANARY-tls-key-material-55e1"}

func testSigner(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func testFingerprinter(t testing.TB) *Fingerprinter {
	t.Helper()
	fp, err := NewFingerprinter(bytes.Repeat([]byte{0x42}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

// fakeClock returns increasing times one millisecond apart.
func fakeClock() func() time.Time {
	t := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	return func() time.Time {
		t = t.Add(time.Millisecond)
		return t
	}
}

func testOptions(t testing.TB, runID string) Options {
	return Options{
		Fingerprinter:   testFingerprinter(t),
		Signer:          testSigner(7),
		CheckpointEvery: 4,
		RunID:           runID,
		Actor:           Actor{OSUser: "alice", Host: "build-1", KubeUser: "kubernetes-admin", CI: &CI{Provider: "github-actions", Actor: "octocat", RunID: "42"}},
		Now:             fakeClock(),
	}
}

// sampleEvent builds a realistic migration event whose fingerprints are of canary values.
func sampleEvent(fp *Fingerprinter, i int) Event {
	outcomes := []Outcome{OutcomeSuccess, OutcomeFailure, OutcomeSkipped}
	actions := []string{ActionMigrateWrite, ActionMigrateVerify, ActionMigrateConflict, ActionMigrateSkip, ActionPlanCreate}
	e := Event{
		Action:  actions[i%len(actions)],
		Outcome: outcomes[i%len(outcomes)],
		Source:  &Source{Cluster: "https://127.0.0.1:6443", Namespace: "team-a", Name: fmt.Sprintf("db-creds-%d", i), UID: fmt.Sprintf("uid-%04d", i), Origin: "cluster"},
		Target:  &StoreTarget{Provider: "vault", Address: fmt.Sprintf("secret/data/team-a/db-creds-%d", i), Version: "3"},
		Keys:    []string{"password", "username", "tls.crt"},
		Fingerprints: map[string]string{
			"password": fp.Value([]byte(canaries[0])),
			"username": fp.Value([]byte(canaries[1])),
			"tls.crt":  fp.Value([]byte(canaries[2])),
		},
		Details: map[string]string{"bytes": "1234", "note": `quote " pipe | equals = backslash \ newline` + "\n" + "end"},
	}
	if e.Outcome == OutcomeFailure {
		e.ErrorClass = "conflict"
		e.Error = "write team-a/db-creds to vault path secret/data/team-a/db-creds: check-and-set parameter did not match the current version"
	}
	return e
}

// writeRuns writes runs runs of perRun events each to path and returns the log bytes.
func writeRuns(t testing.TB, path string, runs, perRun int) []byte {
	t.Helper()
	for r := 0; r < runs; r++ {
		opts := testOptions(t, fmt.Sprintf("run-%d", r))
		l, err := Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < perRun; i++ {
			if err := l.Record(context.Background(), sampleEvent(opts.Fingerprinter, r*perRun+i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func splitLines(b []byte) [][]byte {
	lines := bytes.SplitAfter(b, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// assertNoCanary fails if any canary value appears in b.
func assertNoCanary(t testing.TB, what string, b []byte) {
	t.Helper()
	for _, c := range canaries {
		if bytes.Contains(b, []byte(c)) {
			t.Errorf("%s contains a planted secret value", what)
		}
	}
}

// assertNoCanaryInDir greps every file under dir.
func assertNoCanaryInDir(t testing.TB, dir string) {
	t.Helper()
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		assertNoCanary(t, strings.TrimPrefix(p, dir), b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
