package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash"
	"sort"
	"sync"
)

// FingerprintPrefix marks a keyed fingerprint, in the style of Vault's audit-hash output.
const FingerprintPrefix = "hmac-sha256:"

// MinKeyLen is the shortest HMAC key accepted for fingerprints.
const MinKeyLen = 32

// Fingerprinter computes keyed fingerprints (HMAC-SHA256) of secret values. A bare hash of a
// short password is reversed by a dictionary; a keyed one cannot be checked without the key.
type Fingerprinter struct {
	key   []byte
	keyID string
	// macs holds HMAC states keyed with key: a reset one starts from the saved inner-pad state
	// instead of hashing both pads again, which for short values halves the work.
	macs sync.Pool
}

// NewFingerprinter returns a Fingerprinter under key, which must be at least MinKeyLen bytes.
func NewFingerprinter(key []byte) (*Fingerprinter, error) {
	if len(key) < MinKeyLen {
		return nil, errors.New("fingerprint key is too short: need at least 32 bytes")
	}
	f := &Fingerprinter{key: append([]byte(nil), key...)}
	f.macs.New = func() any { return hmac.New(sha256.New, f.key) }
	m := hmac.New(sha256.New, f.key)
	m.Write([]byte("secretshift/key-id/v1"))
	f.keyID = FingerprintPrefix + hex.EncodeToString(m.Sum(nil))[:16]
	return f, nil
}

// mac returns a reset HMAC under f's key; give it back with done.
func (f *Fingerprinter) mac() hash.Hash {
	m := f.macs.Get().(hash.Hash)
	m.Reset()
	return m
}

// done returns m's fingerprint and m to the pool.
func (f *Fingerprinter) done(m hash.Hash) string {
	var sum [sha256.Size]byte
	m.Sum(sum[:0])
	f.macs.Put(m)
	return prefixedHex(FingerprintPrefix, &sum)
}

// prefixedHex returns prefix followed by sum in lowercase hex, with one allocation: the form of
// fingerprints and record hashes.
func prefixedHex(prefix string, sum *[sha256.Size]byte) string {
	var buf [32 + 2*sha256.Size]byte
	return string(hex.AppendEncode(append(buf[:0], prefix...), sum[:]))
}

// Value returns the fingerprint of one value: "hmac-sha256:<64 hex digits>".
func (f *Fingerprinter) Value(v []byte) string {
	m := f.mac()
	m.Write(v)
	return f.done(m)
}

// Set returns one fingerprint over a whole key→value map and a type string, so that two Secrets
// have equal set fingerprints exactly when type, key names and every byte are equal. Keys are
// sorted and every field is length-prefixed, so no two different maps encode the same way.
func (f *Fingerprinter) Set(typ string, data map[string][]byte) string {
	m := f.mac()
	var n [8]byte
	write := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		m.Write(n[:])
		m.Write(b)
	}
	write([]byte("secretshift/set/v1"))
	write([]byte(typ))
	var small [16]string
	keys := small[:0]
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		write([]byte(k))
		write(data[k])
	}
	return f.done(m)
}

// KeyID names the fingerprint key without revealing it: "hmac-sha256:" + the first 16 hex digits
// of the HMAC of a fixed label. Checkpoints carry it as fingerprint_key_id (Checkpoint.
// FingerprintKeyID) so a reader knows which key fingerprints were made under. It is the only
// KeyID of this package: the signing key pair is named by PublicKeyID.
func (f *Fingerprinter) KeyID() string { return f.keyID }

// ShortFingerprint is how tables show a keyed fingerprint: the prefix and its first 16 hex
// digits (64 bits, enough to tell the rows of any table apart), then "…". Machine output
// carries fingerprints whole.
func ShortFingerprint(fp string) string {
	const keep = len(FingerprintPrefix) + 16
	if len(fp) <= keep {
		return fp
	}
	return fp[:keep] + "…"
}
