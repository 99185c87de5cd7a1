package templates

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestFileWriterWritesEveryBatch: files past one batch are written as they come, the rest on
// Flush, each whole, with folders made and *.sh executable.
func TestFileWriterWritesEveryBatch(t *testing.T) {
	dir := t.TempDir()
	w := NewFileWriter(dir)
	n := 2*writeBatch + 7
	for i := range n {
		if err := w.Put(fmt.Sprintf("ns-%d/s-%d.externalsecret.yaml", i%9, i), []byte(fmt.Sprint("doc ", i))); err != nil {
			t.Fatal(err)
		}
		if i == writeBatch {
			// The first batch is on disk before Flush.
			if _, err := os.Stat(filepath.Join(dir, "ns-0", "s-0.externalsecret.yaml")); err != nil {
				t.Fatalf("first batch not written after %d files: %v", i+1, err)
			}
		}
	}
	if err := w.Put("vault/roles.sh", []byte("#!/bin/sh\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if w.Written != n+1 {
		t.Errorf("Written = %d, want %d", w.Written, n+1)
	}
	for i := range n {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("ns-%d", i%9), fmt.Sprintf("s-%d.externalsecret.yaml", i)))
		if err != nil || string(b) != fmt.Sprint("doc ", i) {
			t.Fatalf("file %d: %q %v", i, b, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "vault", "roles.sh")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("roles.sh: %v %v", fi, err)
	}
}
