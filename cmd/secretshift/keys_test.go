package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFingerprintKey(t *testing.T) {
	hexKey := hex.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	rawKey := "raw-key-bytes-that-are-long-enough-for-hmac"
	tests := []struct {
		name    string
		file    string // content of the --fingerprint-key file; "" for no flag
		env     string
		want    string // expected key, as bytes
		wantErr string
	}{
		{"hex file", hexKey + "\n", "", "0123456789abcdef0123456789abcdef", ""},
		{"base64 file", base64.StdEncoding.EncodeToString([]byte(rawKey)), "", rawKey, ""},
		{"short file", "abcd", "", "", "need at least 32"},
		{"file wins over env", hexKey, "ff", "0123456789abcdef0123456789abcdef", ""},
		{"env hex", "", hexKey, "0123456789abcdef0123456789abcdef", ""},
		{"env neither hex nor base64", "", "zz!" + hexKey, "", "hmac key from $SECRETSHIFT_AUDIT_HMAC_KEY"},
		{"env too short", "", "abcd", "", "need at least 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			path := ""
			if tt.file != "" {
				path = "key"
				if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			getenv := func(k string) string {
				if k == fingerprintKeyEnv {
					return tt.env
				}
				return ""
			}
			var errOut bytes.Buffer
			key, err := fingerprintKey(path, "", getenv, &errOut, &errOut)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), tt.env) && tt.env != "" {
					t.Errorf("error repeats the key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(key) != tt.want {
				t.Errorf("wrong key (%d bytes)", len(key))
			}
			if _, err := os.Stat(defaultFingerprintKeyFile); err == nil {
				t.Error("a key was generated although one was given")
			}
		})
	}
}

func TestFingerprintKeyGenerated(t *testing.T) {
	t.Chdir(t.TempDir())
	noEnv := func(string) string { return "" }
	var errOut bytes.Buffer
	first, err := fingerprintKey("", "", noEnv, &errOut, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(defaultFingerprintKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %o, want 600", info.Mode().Perm())
	}
	if dir, _ := os.Stat(filepath.Dir(defaultFingerprintKeyFile)); dir.Mode().Perm() != 0o700 {
		t.Errorf("key directory mode %o, want 700", dir.Mode().Perm())
	}
	if !strings.Contains(errOut.String(), "generated fingerprint key") || strings.Contains(errOut.String(), hex.EncodeToString(first)) {
		t.Errorf("notice: %q", errOut.String())
	}
	second, err := fingerprintKey("", "", noEnv, &errOut, &errOut)
	if err != nil || !bytes.Equal(first, second) || len(first) != 32 {
		t.Errorf("second run read a different key (err %v)", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(defaultFingerprintKeyFile), ".hmac-*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestFingerprintKeyLooseModeWarns(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k")
	if err := os.WriteFile(p, []byte(hex.EncodeToString(make([]byte, 32))), 0o644); err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	if _, err := fingerprintKey(p, "", func(string) string { return "" }, &errOut, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut.String(), "readable by other users") {
		t.Errorf("no warning: %q", errOut.String())
	}
}
