package sops

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/secretshift/secretshift/internal/atomicfile"
	"github.com/secretshift/secretshift/providers"
)

// Folder and file modes. See the package documentation for why folders are 0700.
const (
	dirMode    = 0o700
	fileMode   = 0o600
	configMode = 0o644 // .sops.yaml holds public recipients only, and is meant to be shared
)

// writeAtomic replaces (or, with create, creates) path with b so that readers see either the
// old or the new content, never a part (atomicfile.Write). The temporary file only ever holds
// what path will hold, which for Secret manifests is ciphertext; a killed run leaves it as
// .<name>.yaml.tmp-<digits>, which the next run removes under the folder lock. With create, an
// existing file is never replaced, even one another process created a moment ago.
//
// The content is synced before it is put in place, so a name that survives a power loss always
// has complete content. The folder is not synced: a new name lost that way is just missing, and
// the next run writes it again, while syncing it would double the cost of every file.
func writeAtomic(path string, b []byte, mode fs.FileMode, create bool) error {
	err := atomicfile.Write(path, b, mode, atomicfile.Options{Create: create})
	if create && errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %s appeared while it was being written", providers.ErrConflict, path)
	}
	return err
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
