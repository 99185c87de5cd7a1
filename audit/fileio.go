package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// syncDir makes a directory entry change (create, rename) durable.
func syncDir(dir string) error {
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

// writeNewFile creates path with mode and data, durably and atomically: the data goes to a
// temporary file that is synced and then hard-linked into place, and the folder is synced, so a
// concurrent reader never sees a half-written file and a concurrent writer loses the race with
// an error wrapping fs.ErrExist. Existing files are never replaced.
func writeNewFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-*.tmp")
	if err != nil {
		return fmt.Errorf("create key file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	werr := tmp.Chmod(mode)
	if werr == nil {
		_, werr = tmp.Write(data)
	}
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("write key file %s: %w", path, werr)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("create key file %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// replaceFile atomically replaces path with data (write a temporary file next to it, sync,
// rename, sync the folder). Callers serialise replacements of one path: the temporary file
// has a fixed name.
func replaceFile(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}
