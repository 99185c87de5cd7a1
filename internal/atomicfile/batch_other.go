//go:build !linux

package atomicfile

import "os"

// syncAll flushes the contents of the files at paths, one by one (no syncfs here).
func syncAll(paths []string) error {
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		flushes++
		err = f.Sync()
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// syncDirs flushes the entries of the folders dirs.
func syncDirs(dirs []string) error {
	for _, d := range dirs {
		flushes++
		if err := SyncDir(d); err != nil {
			return err
		}
	}
	return nil
}
