package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Default locations, relative to the working directory. Every command takes flags to override them.
const (
	DefaultDir     = ".secretshift/audit"
	DefaultLogPath = DefaultDir + "/audit.jsonl"
	DefaultKeyDir  = ".secretshift/keys"
)

// Environment variables holding key file *contents* (not paths), for CI systems that inject
// secrets as variables.
const (
	EnvHMACKey    = "SECRETSHIFT_AUDIT_HMAC_KEY"
	EnvSigningKey = "SECRETSHIFT_AUDIT_SIGNING_KEY"
	EnvPublicKey  = "SECRETSHIFT_AUDIT_PUBLIC_KEY"
)

// Key file names inside a key directory.
const (
	HMACKeyFile    = "hmac.key"
	SigningKeyFile = "audit-signing.key"
	PublicKeyFile  = "audit-signing.pub"
)

// ErrNoKey means no key was given by flag, environment variable or default file.
var ErrNoKey = errors.New("no audit key found")

// KeyFiles are the paths of the three audit key files.
type KeyFiles struct {
	// HMACKey is the fingerprint key: 32 random bytes as 64 hex digits. Secret.
	HMACKey string `json:"hmacKey"`
	// SigningKey is the Ed25519 private key (PEM, PKCS #8). Secret.
	SigningKey string `json:"signingKey"`
	// PublicKey is the Ed25519 public key (PEM, PKIX). Shareable; verifiers need only this.
	PublicKey string `json:"publicKey"`
}

// DefaultKeyFiles returns the key file paths inside dir (DefaultKeyDir when dir is empty).
func DefaultKeyFiles(dir string) KeyFiles {
	if dir == "" {
		dir = DefaultKeyDir
	}
	return KeyFiles{
		HMACKey:    filepath.Join(dir, HMACKeyFile),
		SigningKey: filepath.Join(dir, SigningKeyFile),
		PublicKey:  filepath.Join(dir, PublicKeyFile),
	}
}

// Keygen creates the audit keys in dir (DefaultKeyDir when empty): an HMAC key and an Ed25519 key
// pair. The directory is created 0700, secret files 0600 and the public key 0644. Existing keys
// are kept, never replaced: a lost key makes old fingerprints unmatchable and old logs
// unverifiable. An HMAC key made earlier (plan creates one on first use) is kept and the signing
// pair added; a missing public key is derived from an existing signing key. It returns the paths
// and the files it created, and an error wrapping fs.ErrExist when all keys already existed.
func Keygen(dir string) (files KeyFiles, created []string, err error) {
	files = DefaultKeyFiles(dir)
	if dir == "" {
		dir = DefaultKeyDir
	}
	exists := func(p string) bool { _, err := os.Lstat(p); return err == nil }
	if exists(files.PublicKey) && !exists(files.SigningKey) {
		return files, created, fmt.Errorf("public key %s exists without its signing key %s; move it aside to create a new pair", files.PublicKey, files.SigningKey)
	}
	if exists(files.HMACKey) && exists(files.SigningKey) && exists(files.PublicKey) {
		return files, created, fmt.Errorf("audit keys already exist in %s; move them aside to create new ones: %w", dir, fs.ErrExist)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return files, created, fmt.Errorf("create key directory %s: %w", dir, err)
	}

	if !exists(files.HMACKey) {
		switch _, made, err := CreateHMACKeyFile(files.HMACKey); {
		case err != nil:
			return files, created, err
		case made: // else another process made it first: keep theirs
			created = append(created, files.HMACKey)
		}
	}

	var priv ed25519.PrivateKey
	if !exists(files.SigningKey) {
		if _, priv, err = ed25519.GenerateKey(rand.Reader); err != nil {
			return files, created, fmt.Errorf("generate ed25519 key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return files, created, fmt.Errorf("encode ed25519 private key: %w", err)
		}
		switch err := writeNewFile(files.SigningKey, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); {
		case err == nil:
			created = append(created, files.SigningKey)
		case errors.Is(err, fs.ErrExist): // another process made it first: use theirs
			priv = nil
		default:
			return files, created, err
		}
	}
	if priv == nil {
		b, err := os.ReadFile(files.SigningKey)
		if err != nil {
			return files, created, fmt.Errorf("read signing key: %w", err)
		}
		if priv, err = ParseSigner(b); err != nil {
			return files, created, fmt.Errorf("signing key %s: %w", files.SigningKey, err)
		}
	}
	if !exists(files.PublicKey) {
		pubPEM, err := EncodePublicKey(priv.Public().(ed25519.PublicKey))
		if err != nil {
			return files, created, fmt.Errorf("encode ed25519 public key: %w", err)
		}
		switch err := writeNewFile(files.PublicKey, pubPEM, 0o644); {
		case err == nil:
			created = append(created, files.PublicKey)
		case !errors.Is(err, fs.ErrExist):
			return files, created, err
		}
	}
	return files, created, syncDir(dir)
}

// RecordKeygen starts the log at path, when it is missing or empty, with an audit.keygen record
// naming the keys of opts (details public_key_id and, with a Fingerprinter, fingerprint_key_id)
// and keyDir, the folder of their files, so the log says from its first line which keys keep it.
// A log that already has records is left as it is, and started is false: its checkpoints may be
// signed by other keys, which a log cannot mix (Rotate starts a new file under new keys).
func RecordKeygen(ctx context.Context, path string, opts Options, keyDir string) (started bool, err error) {
	if info, err := os.Stat(path); err == nil && info.Size() > 0 {
		return false, nil
	}
	l, err := Open(path, opts)
	if err != nil {
		return false, err
	}
	details := map[string]string{"public_key_id": l.pubKeyID, "key_dir": keyDir}
	if l.fpKeyID != "" {
		details["fingerprint_key_id"] = l.fpKeyID
	}
	err = l.Record(ctx, Event{Action: ActionKeygen, Outcome: OutcomeSuccess, Details: details})
	if cerr := l.Close(); err == nil {
		err = cerr
	}
	return err == nil, err
}

// CreateHMACKeyFile creates a new fingerprint key at path: MinKeyLen random bytes as 64 hex
// digits and a newline, the form Keygen writes and LoadHMACKey reads, in a file of mode 0600
// (its folder created 0700 if missing). The key is written to a temporary file, synced, linked
// into place and the folder synced, so no reader ever sees half a key and a crash leaves none.
// An existing file is never replaced: when path exists, also because a concurrent creator got
// there first, it returns the key in that file with created false. The key is secret: it must
// never be printed.
func CreateHMACKeyFile(path string) (key []byte, created bool, err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("create key directory %s: %w", dir, err)
	}
	if _, err := os.Lstat(path); err == nil {
		key, err := LoadHMACKey(path, nil)
		return key, false, err
	}
	key = make([]byte, MinKeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, false, fmt.Errorf("generate hmac key: %w", err)
	}
	err = writeNewFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600)
	if errors.Is(err, fs.ErrExist) {
		key, err := LoadHMACKey(path, nil)
		return key, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return key, true, nil
}

// createWithKeygen is how a missing key of one's own is made.
const createWithKeygen = "run `secretshift audit keygen` to create"

// pathHint explains a variable that holds a file name where the key's text belongs.
func pathHint(from string, text []byte) string {
	if !strings.HasPrefix(from, "$") {
		return ""
	}
	t := strings.TrimSpace(string(text))
	if info, err := os.Stat(t); err == nil && info.Mode().IsRegular() {
		return fmt.Sprintf("\n%s holds a file name; it takes the key's text (%s=\"$(cat FILE)\"), or pass the file with the key file flag", from, from[1:])
	}
	if strings.HasPrefix(t, "/") || strings.HasPrefix(t, "./") || strings.HasPrefix(t, "~") ||
		strings.HasSuffix(t, ".key") || strings.HasSuffix(t, ".pub") || strings.HasSuffix(t, ".pem") {
		return fmt.Sprintf("\nif %s holds a file name: it takes the key's text (%s=\"$(cat FILE)\"), or pass the file with the key file flag", from, from[1:])
	}
	return ""
}

// keyText finds the text of one key: file when given, else the environment variable env, else
// the default file. It returns where the key came from, for messages.
func keyText(file, env, defaultFile, create string, getenv func(string) string) ([]byte, string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, file, fmt.Errorf("read key file %s: %w", file, err)
		}
		return b, file, nil
	}
	if v := getenv(env); v != "" {
		return []byte(v), "$" + env, nil
	}
	b, err := os.ReadFile(defaultFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("%w: pass a key file, set %s to the key's text, or %s %s", ErrNoKey, env, create, defaultFile)
	}
	if err != nil {
		return nil, defaultFile, fmt.Errorf("read key file %s: %w", defaultFile, err)
	}
	return b, defaultFile, nil
}

// LoadHMACKey returns the fingerprint key from file, or else from $SECRETSHIFT_AUDIT_HMAC_KEY,
// or else from the default key file. The text is hex or base64 of at least 32 bytes; surrounding
// whitespace is ignored. getenv is os.Getenv when nil.
func LoadHMACKey(file string, getenv func(string) string) ([]byte, error) {
	text, from, err := keyText(file, EnvHMACKey, DefaultKeyFiles("").HMACKey, createWithKeygen, getenv)
	if err != nil {
		return nil, err
	}
	key, err := decodeKeyText(text)
	if err != nil {
		return nil, fmt.Errorf("hmac key from %s: %w%s", from, err, pathHint(from, text))
	}
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("hmac key from %s is %d bytes: need at least %d", from, len(key), MinKeyLen)
	}
	return key, nil
}

// LoadFingerprinter is LoadHMACKey followed by NewFingerprinter.
func LoadFingerprinter(file string, getenv func(string) string) (*Fingerprinter, error) {
	key, err := LoadHMACKey(file, getenv)
	if err != nil {
		return nil, err
	}
	return NewFingerprinter(key)
}

// LoadSigner returns the checkpoint signing key from file, or else from
// $SECRETSHIFT_AUDIT_SIGNING_KEY, or else from the default key file. Accepted forms: PEM
// "PRIVATE KEY" (PKCS #8, as keygen writes and `openssl genpkey -algorithm ed25519` makes), or
// hex/base64 of the 32-byte seed or the 64-byte private key. getenv is os.Getenv when nil.
func LoadSigner(file string, getenv func(string) string) (ed25519.PrivateKey, error) {
	text, from, err := keyText(file, EnvSigningKey, DefaultKeyFiles("").SigningKey, createWithKeygen, getenv)
	if err != nil {
		return nil, err
	}
	key, err := ParseSigner(text)
	if err != nil {
		return nil, fmt.Errorf("signing key from %s: %w%s", from, err, pathHint(from, text))
	}
	return key, nil
}

// LoadVerifier returns the checkpoint public key from file, or else from
// $SECRETSHIFT_AUDIT_PUBLIC_KEY, or else from the default key file. Accepted forms: PEM "PUBLIC
// KEY" (PKIX) or hex/base64 of the 32-byte key. getenv is os.Getenv when nil.
func LoadVerifier(file string, getenv func(string) string) (ed25519.PublicKey, error) {
	text, from, err := keyText(file, EnvPublicKey, DefaultKeyFiles("").PublicKey, "copy the public key of the keys that signed the log (audit-signing.pub) to", getenv)
	if err != nil {
		return nil, err
	}
	key, err := ParseVerifier(text)
	if err != nil {
		return nil, fmt.Errorf("public key from %s: %w%s", from, err, pathHint(from, text))
	}
	return key, nil
}

// LoadVerifiers returns the public keys to verify a set of logs with (VerifySetOptions.Keys):
// one per file in files, each read as LoadVerifier reads it. With no files it returns the key
// LoadVerifier finds in the environment or the default key file, or else, when there is none,
// the public half of the signing key LoadSigner finds from signingKeyFile: whoever signs a log
// can verify it without a public key file. That fallback's failure is not reported: the error
// is then the one that says no public key was found (ErrNoKey).
func LoadVerifiers(files []string, signingKeyFile string, getenv func(string) string) ([]ed25519.PublicKey, error) {
	if len(files) == 0 {
		pub, err := LoadVerifier("", getenv)
		if err == nil {
			return []ed25519.PublicKey{pub}, nil
		}
		if !errors.Is(err, ErrNoKey) {
			return nil, err
		}
		priv, serr := LoadSigner(signingKeyFile, getenv)
		if serr != nil {
			return nil, err
		}
		return []ed25519.PublicKey{priv.Public().(ed25519.PublicKey)}, nil
	}
	keys := make([]ed25519.PublicKey, 0, len(files))
	for _, file := range files {
		pub, err := LoadVerifier(file, getenv)
		if err != nil {
			return nil, err
		}
		keys = append(keys, pub)
	}
	return keys, nil
}

// ParseSigner decodes an Ed25519 private key in one of the forms LoadSigner accepts.
func ParseSigner(text []byte) (ed25519.PrivateKey, error) {
	if block, _ := pem.Decode(bytes.TrimSpace(text)); block != nil {
		if block.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("PEM block is %q, want PRIVATE KEY", block.Type)
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("PEM block is not a PKCS #8 private key")
		}
		priv, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("private key is %T, want ed25519", k)
		}
		return priv, nil
	}
	raw, err := decodeKeyText(text)
	if err != nil {
		return nil, err
	}
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case ed25519.PrivateKeySize:
		priv := ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
		if !bytes.Equal(priv[ed25519.SeedSize:], raw[ed25519.SeedSize:]) {
			return nil, errors.New("private key halves do not match")
		}
		return priv, nil
	}
	return nil, fmt.Errorf("decoded private key is %d bytes, want 32 (seed) or 64", len(raw))
}

// ParseVerifier decodes an Ed25519 public key in one of the forms LoadVerifier accepts.
func ParseVerifier(text []byte) (ed25519.PublicKey, error) {
	if block, _ := pem.Decode(bytes.TrimSpace(text)); block != nil {
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("PEM block is %q, want PUBLIC KEY", block.Type)
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, errors.New("PEM block is not a PKIX public key")
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("public key is %T, want ed25519", k)
		}
		return pub, nil
	}
	raw, err := decodeKeyText(text)
	if err != nil {
		return nil, err
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("decoded public key is %d bytes, want 32", len(raw))
	}
	return ed25519.PublicKey(raw), nil
}

// EncodePublicKey returns pub as a PEM "PUBLIC KEY" block, the form keygen writes.
func EncodePublicKey(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// decodeKeyText decodes hex (tried first) or standard/URL base64, padded or not. Errors never
// quote the text: it is a secret.
func decodeKeyText(text []byte) ([]byte, error) {
	s := strings.TrimSpace(string(text))
	if s == "" {
		return nil, errors.New("key text is empty")
	}
	if b, err := hex.DecodeString(s); err == nil {
		return b, nil
	}
	// Text of hex digits only is a hex key with a digit missing or extra (a base64 key has
	// letters beyond f, or padding, with near certainty): reading it as base64 would silently
	// give another key.
	if len(s) >= 2*MinKeyLen-2 && !strings.ContainsFunc(s, func(r rune) bool {
		return (r < '0' || r > '9') && (r < 'a' || r > 'f') && (r < 'A' || r > 'F')
	}) {
		return nil, fmt.Errorf("key text is %d hex digits: a hex key has an even number of them (64 for 32 bytes)", len(s))
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("key text is neither PEM, hex nor base64")
}

// PublicKeyID names an Ed25519 signing key pair by its public half: "ed25519:" + hex SHA-256 of
// the 32 raw public key bytes. Checkpoints carry it as key_id; verifiers use it to pick the
// public key and to say which key a log needs.
func PublicKeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "ed25519:" + hex.EncodeToString(sum[:])
}
