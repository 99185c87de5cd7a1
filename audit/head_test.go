package audit

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenRefusesDamagedLogs: a log shorter than its genuine head file was truncated; new
// records would take the removed records' sequence numbers, so Open refuses. (A last record
// that was edited no longer stops Open: see TestOpenWarnsAboutTamperedLogs.)
func TestOpenRefusesDamagedLogs(t *testing.T) {
	tests := []struct {
		name     string
		damage   func(t *testing.T, path string, b []byte)
		tampered bool
	}{
		{"partial last line that the head file covers", func(t *testing.T, path string, b []byte) {
			os.WriteFile(path, b[:len(b)-10], 0o600)
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
		{"another signing key", func(o *Options) { o.Signer = testSigner(8) }, "is signed with key " + PublicKeyID(testSigner(7).Public().(ed25519.PublicKey))},
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
