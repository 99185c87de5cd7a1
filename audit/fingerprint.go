package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"sort"
)

// FingerprintPrefix marks a keyed fingerprint, in the style of Vault's audit-hash output.
const FingerprintPrefix = "hmac-sha256:"

// MinKeyLen is the shortest HMAC key accepted for fingerprints.
const MinKeyLen = 32

// Fingerprinter computes keyed fingerprints (HMAC-SHA256) of secret values. A bare hash of a
// short password is reversed by a dictionary; a keyed one cannot be checked without the key.
type Fingerprinter struct {
	key []byte
}

// NewFingerprinter returns a Fingerprinter under key, which must be at least MinKeyLen bytes.
func NewFingerprinter(key []byte) (*Fingerprinter, error) {
	if len(key) < MinKeyLen {
		return nil, errors.New("fingerprint key is too short: need at least 32 bytes")
	}
	return &Fingerprinter{key: append([]byte(nil), key...)}, nil
}

// Value returns the fingerprint of one value: "hmac-sha256:<64 hex digits>".
func (f *Fingerprinter) Value(v []byte) string {
	m := hmac.New(sha256.New, f.key)
	m.Write(v)
	return FingerprintPrefix + hex.EncodeToString(m.Sum(nil))
}

// Set returns one fingerprint over a whole key→value map and a type string, so that two Secrets
// have equal set fingerprints exactly when type, key names and every byte are equal. Keys are
// sorted and every field is length-prefixed, so no two different maps encode the same way.
func (f *Fingerprinter) Set(typ string, data map[string][]byte) string {
	m := hmac.New(sha256.New, f.key)
	var n [8]byte
	write := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		m.Write(n[:])
		m.Write(b)
	}
	write([]byte("secretshift/set/v1"))
	write([]byte(typ))
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		write([]byte(k))
		write(data[k])
	}
	return FingerprintPrefix + hex.EncodeToString(m.Sum(nil))
}

// KeyID names the key without revealing it: "hmac-sha256:" + the first 16 hex digits of the HMAC
// of a fixed label. Checkpoints carry it so a reader knows which key fingerprints were made under.
func (f *Fingerprinter) KeyID() string {
	m := hmac.New(sha256.New, f.key)
	m.Write([]byte("secretshift/key-id/v1"))
	return FingerprintPrefix + hex.EncodeToString(m.Sum(nil))[:16]
}
