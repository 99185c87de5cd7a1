package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// File is one file of a batch: what Write would put at Path with Mode.
type File struct {
	Path string
	Data []byte
	Mode fs.FileMode
}

// WriteBatch puts every file in place as Write with Options{SyncDir: true} would, but flushes
// the batch as a whole instead of each file: every temporary file is written, then their
// contents are flushed at once, then each is renamed over its path, then the new names are
// flushed. A crash leaves each path with its old content or its new one, never a part, and
// at worst hidden temporary files; once WriteBatch returns, every file is durable. For
// thousands of small files (ESO manifests) this is two flushes against one per file.
//
// The folders must exist. The first error stops the batch: files renamed before it hold their
// new content, the others their old, and no temporary file is left.
func WriteBatch(files []File) error {
	temps := make([]string, 0, len(files))
	defer func() {
		for _, t := range temps {
			os.Remove(t) // after its rename this finds nothing
		}
	}()
	for _, f := range files {
		t, err := writeTemp(f)
		if err != nil {
			return err
		}
		temps = append(temps, t)
	}
	if err := syncAll(temps); err != nil {
		return err
	}
	for i, f := range files {
		if err := os.Rename(temps[i], f.Path); err != nil {
			return err
		}
	}
	dirs := make([]string, 0, 1)
	seen := map[string]bool{}
	for _, f := range files {
		if d := filepath.Dir(f.Path); !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	return syncDirs(dirs)
}

// writeTemp writes f's data to a new temporary file beside f.Path, unsynced, and returns its
// name.
func writeTemp(f File) (string, error) {
	dir, base := filepath.Split(f.Path)
	if dir == "" {
		dir = "."
	}
	tf, err := os.CreateTemp(dir, TempPrefix+base+TempInfix+"*")
	if err != nil {
		return "", err
	}
	werr := tf.Chmod(f.Mode)
	if werr == nil {
		_, werr = tf.Write(f.Data)
	}
	if cerr := tf.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return "", errors.Join(werr, os.Remove(tf.Name()))
	}
	return tf.Name(), nil
}

// flushes counts the flushes WriteBatch asked of the system, for tests.
var flushes int
