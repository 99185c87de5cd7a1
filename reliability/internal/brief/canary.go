package brief

import (
	"bytes"
	"encoding/base64"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// Leaks counts the canary values found, in clear or base64, in outs, and passes a problem
// naming what when there are any.
func Leaks(canaries [][]byte, problem func(string, ...any), what string, outs ...[]byte) int {
	n := 0
	for _, c := range canaries {
		b64 := []byte(base64.StdEncoding.EncodeToString(c))
		for _, o := range outs {
			if bytes.Contains(o, c) || bytes.Contains(o, b64) {
				n++
			}
		}
	}
	if n > 0 {
		problem("%d canary values in the %s", n, what)
	}
	return n
}

// LeaksInFiles is Leaks over every file below dir but the folders skip (the corpus).
func LeaksInFiles(canaries [][]byte, problem func(string, ...any), dir string, skip ...string) int {
	n := 0
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if slices.Contains(skip, p) {
				return filepath.SkipDir
			}
			return nil
		}
		if b, err := os.ReadFile(p); err == nil {
			rel, _ := filepath.Rel(dir, p)
			n += Leaks(canaries, problem, "file "+rel, b)
		}
		return nil
	})
	return n
}
