package sops

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/secretshift/secretshift/providers"
)

// Folder and file modes. See the package documentation for why folders are 0700.
const (
	dirMode    = 0o700
	fileMode   = 0o600
	configMode = 0o644 // .sops.yaml holds public recipients only, and is meant to be shared
)

// tempInfix names writeAtomic's temporary files: ".<file name>.tmp-<random digits>", in the
// folder of the file. Dot files are never addresses; removeStaleTemps removes those a killed
// run left.
const tempInfix = ".tmp-"

// writeAtomic replaces (or, with create, creates) path with b so that readers see either the
// old or the new content, never a part. The temporary file lives in the same folder, so the
// final rename or link stays on one filesystem; it only ever holds what path will hold, which
// for Secret manifests is ciphertext. With create, an existing file is never replaced: the link
// fails instead, even when another process created the file a moment ago.
//
// The content is synced before the rename, so a name that survives a power loss always has
// complete content. The folder is not synced: a new name lost that way is just missing, and the
// next run writes it again, while syncing it would double the cost of every file.
func writeAtomic(path string, b []byte, mode fs.FileMode, create bool) error {
	dir, base := filepath.Split(path)
	f, err := os.CreateTemp(dir, "."+base+tempInfix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename this finds nothing
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if create {
		err := os.Link(tmp, path)
		switch {
		case errors.Is(err, fs.ErrExist):
			return fmt.Errorf("%w: %s appeared while it was being written", providers.ErrConflict, path)
		case err == nil:
			return nil
		}
		// Hard links are not available everywhere (some network and FUSE filesystems);
		// fall back to check-then-rename, which leaves only a tiny window.
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("%w: %s appeared while it was being written", providers.ErrConflict, path)
		}
	}
	return os.Rename(tmp, path)
}

// ioErr wraps a filesystem error with the provider sentinel that fits it.
func ioErr(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %w", providers.ErrNotFound, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: %w", providers.ErrPermission, err)
	}
	return err
}
