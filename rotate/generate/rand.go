package generate

import (
	"crypto/rand"
	"encoding/binary"
	"math"
)

// intn returns a uniformly distributed integer in [0, n) from crypto/rand; n must be positive.
// It rejects the draws below 2^64 mod n, so every result is equally likely. (crypto/rand.Read
// does not fail: when the system's source is broken, the program stops.)
func intn(n int) int {
	m := uint64(n)
	floor := (math.MaxUint64%m + 1) % m // 2^64 mod m: [floor, 2^64) is a multiple of m long
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		v := binary.LittleEndian.Uint64(b[:])
		if v >= floor {
			return int(v % m)
		}
	}
}

// pick appends k characters of set to dst, each uniformly chosen; with distinct, no character
// is chosen twice (k <= len(set)), else each is chosen independently. set is not changed.
func pick(dst []rune, set []rune, k int, distinct bool) []rune {
	if !distinct {
		for range k {
			dst = append(dst, set[intn(len(set))])
		}
		return dst
	}
	// A partial Fisher-Yates shuffle of a copy: its first k elements are a uniform k-subset
	// in uniform order.
	c := append([]rune(nil), set...)
	for i := range k {
		j := i + intn(len(c)-i)
		c[i], c[j] = c[j], c[i]
	}
	dst = append(dst, c[:k]...)
	clear(c)
	return dst
}

// shuffle puts s in a uniformly random order (Fisher-Yates).
func shuffle(s []rune) {
	for i := len(s) - 1; i > 0; i-- {
		j := intn(i + 1)
		s[i], s[j] = s[j], s[i]
	}
}
