package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

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

func TestCreateHMACKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	path := filepath.Join(dir, HMACKeyFile)
	key, created, err := CreateHMACKeyFile(path)
	if err != nil || !created || len(key) != MinKeyLen {
		t.Fatalf("CreateHMACKeyFile = %d bytes, created %v, %v", len(key), created, err)
	}
	for _, p := range []struct {
		path string
		mode os.FileMode
	}{{dir, 0o700}, {path, 0o600}} {
		info, err := os.Stat(p.path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != p.mode {
			t.Errorf("%s mode %o, want %o", p.path, info.Mode().Perm(), p.mode)
		}
	}
	if b, _ := os.ReadFile(path); string(b) != hex.EncodeToString(key)+"\n" {
		t.Error("the key file is not the key as hex and a newline")
	}
	if loaded, err := LoadHMACKey(path, func(string) string { return "" }); err != nil || !bytes.Equal(loaded, key) {
		t.Errorf("LoadHMACKey of the new file: %v", err)
	}
	// An existing file is never replaced; its key is returned.
	again, created, err := CreateHMACKeyFile(path)
	if err != nil || created || !bytes.Equal(again, key) {
		t.Errorf("second CreateHMACKeyFile = created %v, same key %v, %v", created, bytes.Equal(again, key), err)
	}

	// Concurrent creators: one wins, every one returns the winner's key.
	path = filepath.Join(t.TempDir(), "race", HMACKeyFile)
	var wg sync.WaitGroup
	keys := make([][]byte, 8)
	made := make([]bool, 8)
	errs := make([]error, 8)
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], made[i], errs[i] = CreateHMACKeyFile(path)
		}()
	}
	wg.Wait()
	winners := 0
	for i := range keys {
		if errs[i] != nil {
			t.Fatalf("creator %d: %v", i, errs[i])
		}
		if made[i] {
			winners++
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Errorf("creator %d holds another key than creator 0", i)
		}
	}
	if winners != 1 {
		t.Errorf("%d creators say they made the file, want 1", winners)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".key-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// A file that is not a key is reported, not replaced, and its text is not echoed.
	bad := filepath.Join(t.TempDir(), HMACKeyFile)
	os.WriteFile(bad, []byte("CANARY-not-a-key\n"), 0o600)
	if _, _, err := CreateHMACKeyFile(bad); err == nil || strings.Contains(err.Error(), "CANARY") {
		t.Errorf("CreateHMACKeyFile over a file that is not a key = %v", err)
	}
	if b, _ := os.ReadFile(bad); string(b) != "CANARY-not-a-key\n" {
		t.Error("a file that is not a key was replaced")
	}
}

func TestLoadVerifiers(t *testing.T) {
	dir := t.TempDir()
	oldFiles, _, err := Keygen(filepath.Join(dir, "old"))
	if err != nil {
		t.Fatal(err)
	}
	newFiles, _, err := Keygen(filepath.Join(dir, "new"))
	if err != nil {
		t.Fatal(err)
	}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	id := func(f KeyFiles) string {
		pub, err := LoadVerifier(f.PublicKey, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		return PublicKeyID(pub)
	}
	oldID, newID := id(oldFiles), id(newFiles)
	tests := []struct {
		name    string
		files   []string
		signing string
		env     map[string]string
		want    []string // key ids
		is      error    // when an error is wanted
	}{
		{"one file per key", []string{oldFiles.PublicKey, newFiles.PublicKey}, "", nil, []string{oldID, newID}, nil},
		{"files win over the environment", []string{newFiles.PublicKey}, "", map[string]string{EnvPublicKey: read(oldFiles.PublicKey)}, []string{newID}, nil},
		{"public key from the environment", nil, "", map[string]string{EnvPublicKey: read(oldFiles.PublicKey)}, []string{oldID}, nil},
		{"public half of the signing key file", nil, newFiles.SigningKey, nil, []string{newID}, nil},
		{"public half of the signing key in the environment", nil, "", map[string]string{EnvSigningKey: read(oldFiles.SigningKey)}, []string{oldID}, nil},
		{"a public key that does not parse is not passed over", nil, newFiles.SigningKey, map[string]string{EnvPublicKey: "not a key"}, nil, nil},
		{"no key at all", nil, "", nil, nil, ErrNoKey},
		{"no key, and the signing key file is missing", nil, filepath.Join(dir, "none.key"), nil, nil, ErrNoKey},
		{"a missing file", []string{oldFiles.PublicKey, filepath.Join(dir, "none.pub")}, "", nil, nil, os.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir()) // no default key files
			keys, err := LoadVerifiers(tt.files, tt.signing, func(k string) string { return tt.env[k] })
			if tt.want == nil {
				if err == nil || (tt.is != nil && !errors.Is(err, tt.is)) {
					t.Fatalf("LoadVerifiers = %d keys, %v; want an error (%v)", len(keys), err, tt.is)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, k := range keys {
				got = append(got, PublicKeyID(k))
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("LoadVerifiers = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRecordKeygen(t *testing.T) {
	tests := []struct {
		name    string
		before  func(t *testing.T, path string)
		started bool
	}{
		{"no log yet", func(*testing.T, string) {}, true},
		{"an empty log", func(t *testing.T, path string) { os.WriteFile(path, nil, 0o600) }, true},
		{"a log with records", func(t *testing.T, path string) { writeRuns(t, path, 1, 1) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			tt.before(t, path)
			before, _ := os.ReadFile(path)
			opts := testOptions(t, "run-keygen")
			started, err := RecordKeygen(t.Context(), path, opts, "keys")
			if err != nil || started != tt.started {
				t.Fatalf("RecordKeygen = %v, %v; want %v", started, err, tt.started)
			}
			after, _ := os.ReadFile(path)
			if !started {
				if !bytes.Equal(after, before) {
					t.Error("RecordKeygen changed a log that had records")
				}
				return
			}
			verifyFile(t, path, 1)
			rec, _, err := NewReader(bytes.NewReader(after)).Next()
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{
				"public_key_id":      PublicKeyID(opts.Signer.Public().(ed25519.PublicKey)),
				"fingerprint_key_id": opts.Fingerprinter.KeyID(),
				"key_dir":            "keys",
			}
			if rec.Action != ActionKeygen || rec.Outcome != OutcomeSuccess || len(rec.Details) != len(want) {
				t.Fatalf("first record %s %s %v", rec.Action, rec.Outcome, rec.Details)
			}
			for k, v := range want {
				if rec.Details[k] != v {
					t.Errorf("details[%s] = %q, want %q", k, rec.Details[k], v)
				}
			}
		})
	}
	// Without a signing key nothing is written, and the error says the log is unavailable.
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	if _, err := RecordKeygen(t.Context(), path, Options{}, "keys"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("RecordKeygen without a signing key = %v, want ErrUnavailable", err)
	}
}
