package audit

import (
	"fmt"
	"os"

	"github.com/secretshift/secretshift/internal/atomicfile"
)

// syncDir flushes a folder's entries (atomicfile.SyncDir).
func syncDir(dir string) error { return atomicfile.SyncDir(dir) }

// writeNewFile creates path with mode and data, durably and atomically (atomicfile.Write with
// Create and SyncDir): a concurrent reader never sees a half-written file, a concurrent writer
// loses the race with an error wrapping fs.ErrExist, and existing files are never replaced.
func writeNewFile(path string, data []byte, mode os.FileMode) error {
	if err := atomicfile.Write(path, data, mode, atomicfile.Options{Create: true, SyncDir: true}); err != nil {
		return fmt.Errorf("create key file %s: %w", path, err)
	}
	return nil
}

// replaceFile atomically and durably replaces path with data (atomicfile.Write with SyncDir).
func replaceFile(path string, data []byte, mode os.FileMode) error {
	return atomicfile.Write(path, data, mode, atomicfile.Options{SyncDir: true})
}
