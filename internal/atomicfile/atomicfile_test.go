package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.yaml")
	if err := Write(p, []byte("one"), 0o600, Options{Create: true, SyncDir: true}); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("two"), 0o600, Options{Create: true}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create over an existing file: %v, want fs.ErrExist", err)
	}
	if err := Write(p, []byte("three"), 0o640, Options{}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	fi, _ := os.Stat(p)
	if string(b) != "three" || fi.Mode().Perm() != 0o640 {
		t.Errorf("content %q mode %v", b, fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := Write(filepath.Join(dir, "missing", "x"), nil, 0o600, Options{}); err == nil {
		t.Error("a missing folder must fail")
	}
}

func TestWriteBatch(t *testing.T) {
	dir := t.TempDir()
	var files []File
	for i := range 300 {
		sub := filepath.Join(dir, fmt.Sprintf("ns-%d", i%30))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		files = append(files, File{Path: filepath.Join(sub, fmt.Sprintf("s-%d.yaml", i)), Data: []byte(fmt.Sprint("v", i)), Mode: 0o644})
	}
	files = append(files, File{Path: filepath.Join(dir, "run.sh"), Data: []byte("#!/bin/sh\n"), Mode: 0o755})
	if err := os.WriteFile(files[0].Path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := flushes
	if err := WriteBatch(files); err != nil {
		t.Fatal(err)
	}
	if n := flushes - before; runtime.GOOS == "linux" && n != 2 {
		t.Errorf("%d flushes for a batch of %d files on one filesystem, want 2 (contents, then names)", n, len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f.Path)
		fi, _ := os.Stat(f.Path)
		if err != nil || string(b) != string(f.Data) || fi.Mode().Perm() != f.Mode {
			t.Errorf("%s: %q %v %v", f.Path, b, fi.Mode().Perm(), err)
		}
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if strings.Contains(d.Name(), TempInfix) {
			t.Errorf("temporary file left: %s", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// A folder that does not exist stops the batch before any rename: old contents stay, no
	// temporary file is left.
	bad := append([]File{{Path: files[0].Path, Data: []byte("new"), Mode: 0o644}}, File{Path: filepath.Join(dir, "missing", "x.yaml"), Mode: 0o644})
	if err := WriteBatch(bad); err == nil {
		t.Fatal("a missing folder must fail")
	}
	if b, _ := os.ReadFile(files[0].Path); string(b) != string(files[0].Data) {
		t.Errorf("a failed batch replaced %s: %q", files[0].Path, b)
	}
	entries, _ := os.ReadDir(filepath.Dir(files[0].Path))
	for _, e := range entries {
		if strings.Contains(e.Name(), TempInfix) {
			t.Errorf("a failed batch left %s", e.Name())
		}
	}
}
