package outdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/secretshift/secretshift/internal/atomicfile"
	"github.com/secretshift/secretshift/providers"
)

// Folder and file modes. Folders are 0700 and manifests 0600: what they hold is encrypted,
// but who may list which Secrets exist is the owner's call, not ours.
const (
	DirMode  = 0o700
	FileMode = 0o600
)

// WriteFile replaces (or, with create, creates) path with b so that readers see either the old
// or the new content, never a part (atomicfile.Write). The temporary file only ever holds what
// path will hold, which for Secret manifests is ciphertext; a killed run leaves it as
// .<name>.yaml.tmp-<digits>, which the next run removes under the folder lock (Lock). With
// create, an existing file is never replaced, even one another process created a moment ago.
//
// The content is synced before it is put in place, so a name that survives a power loss always
// has complete content. The folder is not synced: a new name lost that way is just missing, and
// the next run writes it again, while syncing it would double the cost of every file.
func WriteFile(path string, b []byte, mode fs.FileMode, create bool) error {
	err := atomicfile.Write(path, b, mode, atomicfile.Options{Create: create})
	if create && errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %s appeared while it was being written", providers.ErrConflict, path)
	}
	return err
}

// IOErr wraps a filesystem error with the provider sentinel that fits it.
func IOErr(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %w", providers.ErrNotFound, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: %w", providers.ErrPermission, err)
	}
	return err
}

// CreateProbe creates the probe file of CheckWritable; tests replace it.
var CreateProbe = os.CreateTemp

// CheckWritable makes sure dir is a folder this process can create files in, or can be
// created: that it is not a file, and that it (or its nearest existing ancestor) is writable.
// The check creates and at once removes a probe file, which is what works as root too (root
// ignores mode bits, not a read-only filesystem) and with ACLs and network filesystems. what
// names the folder in errors ("output folder").
func CheckWritable(dir, what string) error {
	d := dir
	for {
		fi, err := os.Stat(d)
		if err == nil {
			if fi.IsDir() {
				break
			}
			if d == dir {
				return fmt.Errorf("%s %s is a file, not a folder", what, dir)
			}
			return fmt.Errorf("%s %s cannot be created: %s is a file, not a folder", what, dir, d)
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return fmt.Errorf("%s %s: %w", what, dir, IOErr(err))
		}
		parent := filepath.Dir(d)
		if parent == d {
			return fmt.Errorf("%s %s: no existing folder above it", what, dir)
		}
		d = parent
	}
	f, err := CreateProbe(d, ".secretshift-probe-*")
	if err != nil {
		reason := "allows no new files"
		switch {
		case errors.Is(err, syscall.EROFS):
			reason = "is on a read-only filesystem"
		case errors.Is(err, fs.ErrPermission):
			reason = "allows no new files (permission denied)"
		}
		if d != dir {
			return fmt.Errorf("%w: %s %s cannot be created: %s, the folder it would be created in, %s", providers.ErrPermission, what, dir, d, reason)
		}
		return fmt.Errorf("%w: %s %s is not writable: it %s", providers.ErrPermission, what, dir, reason)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// CheckVersion is the check-and-set of a file write: current is the version of the file at rel
// ("" when it does not exist) and expect the version the write replaces ("" for a new file).
// A mismatch is an error wrapping providers.ErrConflict.
func CheckVersion(rel, current, expect string) error {
	switch {
	case current == "" && expect != "":
		return fmt.Errorf("%w: %s was removed since version %s was read", providers.ErrConflict, rel, expect)
	case current != "" && expect == "":
		return fmt.Errorf("%w: %s already exists (version %s)", providers.ErrConflict, rel, current)
	case current != expect:
		return fmt.Errorf("%w: %s changed: version %s, expected %s", providers.ErrConflict, rel, current, expect)
	}
	return nil
}

// FileLocks serialises writes to one file within this process. The zero value is ready.
type FileLocks struct{ m sync.Map }

// Lock locks path and returns its unlock.
func (l *FileLocks) Lock(path string) func() {
	m, _ := l.m.LoadOrStore(path, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}
