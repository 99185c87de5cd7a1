package job

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// Shard is one part of work split across Count processes (a Kubernetes Indexed Job's pods):
// the work item with key k belongs to shard Index when a hash of k, modulo Count, is Index.
// The split depends on each key alone, so it is stable as other items come and go, and every
// item falls in exactly one shard. The zero Shard (Count 0) holds everything.
type Shard struct {
	Index, Count int
}

// ParseShard reads "I/N" (0 <= I < N).
func ParseShard(s string) (Shard, error) {
	i, n, ok := strings.Cut(s, "/")
	index, err1 := strconv.Atoi(i)
	count, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("shard %q: want I/N, such as 0/4", s)
	}
	return NewShard(index, count)
}

// NewShard checks 0 <= index < count.
func NewShard(index, count int) (Shard, error) {
	if count < 1 || index < 0 || index >= count {
		return Shard{}, fmt.Errorf("shard %d/%d: want 0 <= index < count", index, count)
	}
	return Shard{Index: index, Count: count}, nil
}

// Has reports whether the item with key belongs to the shard.
func (s Shard) Has(key string) bool {
	if s.Count <= 1 {
		return true
	}
	sum := sha256.Sum256([]byte(key))
	return binary.BigEndian.Uint64(sum[:8])%uint64(s.Count) == uint64(s.Index)
}

// HasSecret reports whether the Kubernetes Secret namespace/name belongs to the shard. The key
// is "namespace/name" (not the uid, which changes when a Secret is recreated), so a Secret stays
// in its shard across runs while others are added or removed.
func (s Shard) HasSecret(namespace, name string) bool { return s.Has(namespace + "/" + name) }

// String is "I/N", or "" for the zero Shard.
func (s Shard) String() string {
	if s.Count == 0 {
		return ""
	}
	return strconv.Itoa(s.Index) + "/" + strconv.Itoa(s.Count)
}
