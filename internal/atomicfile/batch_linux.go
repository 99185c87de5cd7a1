package atomicfile

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// syncAll flushes the contents of the files at paths: one syncfs(2) per filesystem they are on.
func syncAll(paths []string) error { return syncFilesystems(paths) }

// syncDirs flushes the entries of the folders dirs: one syncfs(2) per filesystem.
func syncDirs(dirs []string) error { return syncFilesystems(dirs) }

// syncFilesystems calls syncfs(2) once for each filesystem holding one of paths. Unlike
// sync(2), syncfs reports a failed write-back (since Linux 5.8).
func syncFilesystems(paths []string) error {
	done := map[uint64]bool{}
	for _, p := range paths {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		if done[st.Dev] {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		flushes++
		err = unix.Syncfs(int(f.Fd()))
		f.Close()
		if err != nil {
			return fmt.Errorf("flush the filesystem of %s: %w", p, err)
		}
		done[st.Dev] = true
	}
	return nil
}
