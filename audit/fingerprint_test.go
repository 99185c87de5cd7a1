package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
)

// referenceSet is Set as its documentation defines it, written out with a fresh HMAC.
func referenceSet(key []byte, typ string, keys []string, data map[string][]byte) string {
	m := hmac.New(sha256.New, key)
	field := func(b []byte) {
		_ = binary.Write(m, binary.BigEndian, uint64(len(b)))
		m.Write(b)
	}
	field([]byte("secretshift/set/v1"))
	field([]byte(typ))
	for _, k := range keys { // sorted by the caller
		field([]byte(k))
		field(data[k])
	}
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))
}

func TestFingerprinterMatchesHMACSHA256(t *testing.T) {
	key := bytes.Repeat([]byte{0x5a}, 32)
	f, err := NewFingerprinter(key)
	if err != nil {
		t.Fatal(err)
	}
	// printf 'hunter2' | openssl dgst -sha256 -mac HMAC -macopt hexkey:5a5a…5a (32 bytes)
	if got, want := f.Value([]byte("hunter2")), "hmac-sha256:133d27aabea07d9511a77ea84cc74af7d522d90a7f4ae044239921f61be39506"; got != want {
		t.Fatalf("Value = %s, want %s", got, want)
	}
	values := [][]byte{nil, {}, []byte("x"), bytes.Repeat([]byte{0xff, 0x00}, 5000), []byte("-----BEGIN PRIVATE KEY-----\n")}
	for i, v := range values {
		// Twice: the second call runs on a pooled, reset HMAC.
		for range 2 {
			if got, want := f.Value(v), "hmac-sha256:"+hmacHex(key, v); got != want {
				t.Errorf("value %d: Value = %s, want %s", i, got, want)
			}
		}
	}
	data := map[string][]byte{"tls.crt": []byte("cert"), ".env": {0xff, 0xfe}, "a": nil, "ключ": []byte("v")}
	want := referenceSet(key, "kubernetes.io/tls", []string{".env", "a", "tls.crt", "ключ"}, data)
	for range 2 {
		if got := f.Set("kubernetes.io/tls", data); got != want {
			t.Errorf("Set = %s, want %s", got, want)
		}
	}
	// More keys than Set sorts on the stack.
	many := map[string][]byte{}
	var keys []string
	for i := range 40 {
		k := fmt.Sprintf("k%02d", i)
		many[k], keys = []byte(k), append(keys, k)
	}
	if got, want := f.Set("Opaque", many), referenceSet(key, "Opaque", keys, many); got != want {
		t.Errorf("Set of 40 keys = %s, want %s", got, want)
	}
	// Moving a byte from a value to its key changes the fingerprint (length prefixes).
	if f.Set("Opaque", map[string][]byte{"ab": []byte("c")}) == f.Set("Opaque", map[string][]byte{"a": []byte("bc")}) {
		t.Error("Set does not separate key and value")
	}
}

func hmacHex(key, v []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(v)
	return hex.EncodeToString(m.Sum(nil))
}

func TestFingerprinterConcurrentUse(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	f, err := NewFingerprinter(key)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				v := []byte(fmt.Sprintf("value-%d-%d", g, i))
				if got, want := f.Value(v), "hmac-sha256:"+hmacHex(key, v); got != want {
					t.Errorf("goroutine %d, value %d: %s, want %s", g, i, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkFingerprint(b *testing.B) {
	f, err := NewFingerprinter(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		b.Fatal(err)
	}
	v := []byte("postgres://app:correct-horse-battery-staple@db:5432/app")
	data := map[string][]byte{"username": []byte("app"), "password": []byte("correct-horse"), "DATABASE_URL": v}
	b.Run("Value", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			f.Value(v)
		}
	})
	b.Run("Set", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			f.Set("Opaque", data)
		}
	})
}

func TestShortFingerprint(t *testing.T) {
	full := "hmac-sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	if got := ShortFingerprint(full); got != "hmac-sha256:0123456789abcdef…" {
		t.Errorf("ShortFingerprint = %q", got)
	}
	if got := ShortFingerprint("hmac-sha256:01"); got != "hmac-sha256:01" {
		t.Errorf("a short value is kept whole: %q", got)
	}
}
