package benchkit

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// FsyncLatency appends a record-sized line (700 bytes, about one audit record) to a file in
// dir and syncs it, n times, and returns the sorted latencies: the floor under every step that
// must be durable before the next (an audit record, a journal flush).
func FsyncLatency(dir string, n int) ([]time.Duration, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	fh, err := os.OpenFile(filepath.Join(dir, "probe.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	line := []byte(strings.Repeat("x", 700) + "\n")
	out := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if _, err := fh.Write(line); err != nil {
			return nil, err
		}
		if err := fh.Sync(); err != nil {
			return nil, err
		}
		out = append(out, time.Since(start))
	}
	slices.Sort(out)
	return out, nil
}
