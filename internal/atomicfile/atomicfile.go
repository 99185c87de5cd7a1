// Package atomicfile writes whole files so that a reader, or a run after a crash, sees the old
// content or the new one, never a part. It is the one way secretshift writes a file it may
// replace: SOPS manifests, ESO manifests, plans, audit head and key files.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Options choose how a file is put in place.
type Options struct {
	// Create refuses to replace an existing file: the new file is linked into place, so an
	// existing one — even one another process created a moment ago — makes Write fail with an
	// error wrapping fs.ErrExist.
	Create bool
	// SyncDir syncs the folder after the file is in place, so that its name survives a power
	// loss too. It costs one more flush; without it a name lost that way is simply missing,
	// which the next run of an idempotent command writes again.
	SyncDir bool
}

// TempPrefix and TempInfix name the temporary file of path/base while it is written:
// "." + base + ".tmp-" + digits. It is hidden, and only ever holds what path will hold.
const (
	TempPrefix = "."
	TempInfix  = ".tmp-"
)

// Write puts data at path with mode: a temporary file in the same folder (so the final rename
// or link stays on one filesystem) is written and synced, then renamed over path, or, with
// Create, linked to it.
func Write(path string, data []byte, mode fs.FileMode, o Options) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, TempPrefix+base+TempInfix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a rename this finds nothing; after a link it drops the second name
	werr := f.Chmod(mode)
	if werr == nil {
		_, werr = f.Write(data)
	}
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return werr
	}
	if o.Create {
		err := os.Link(tmp, path)
		switch {
		case errors.Is(err, fs.ErrExist):
			return fmt.Errorf("%s: %w", path, fs.ErrExist)
		case err != nil:
			// Hard links are not available everywhere (some network and FUSE filesystems):
			// check, then rename, which leaves only a tiny window.
			if _, serr := os.Lstat(path); serr == nil {
				return fmt.Errorf("%s: %w", path, fs.ErrExist)
			}
			if err := os.Rename(tmp, path); err != nil {
				return err
			}
		}
	} else if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if o.SyncDir {
		return SyncDir(dir)
	}
	return nil
}

// SyncDir flushes a folder's entries to disk. Filesystems that cannot sync a folder are not an
// error.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
