package kube

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrExcludedPath is returned by ReadManifests when a path named for input lies in one of
// ReadOptions.ExcludePaths.
var ErrExcludedPath = errors.New("excluded from input")

// manifestExts are the file name endings read when a directory is walked. Files named
// explicitly are read whatever their name.
var manifestExts = []string{".yaml", ".yml", ".json"}

// isManifestName reports whether a file met while walking a directory is read: a manifest
// extension, and not hidden. Hidden names cover editors' and secretshift's own temporary files
// (".name.yaml.tmp-*"), .sops.yaml and the like.
func isManifestName(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	lower := strings.ToLower(name)
	for _, ext := range manifestExts {
		if strings.HasSuffix(lower, ext) {
			return true
		}
	}
	return false
}

// fileLister expands the paths given for input into the files to read, following symbolic
// links as `kubectl -f` does. Every path is compared by its real path (absolute, cleaned,
// links resolved): that is how excluded paths are recognised whatever name reaches them, and
// how a file reached twice (through links, or named twice) is read once.
type fileLister struct {
	exclude []string        // real paths never read
	seen    map[string]bool // real paths of the files listed
	walked  map[string]bool // real paths of the folders walked
	onPath  map[string]bool // real paths of the folders being walked: a link back to one is a loop
	files   []string        // the files to read, named as reached from the paths given
}

func newFileLister(exclude []string) (*fileLister, error) {
	l := &fileLister{seen: map[string]bool{}, walked: map[string]bool{}, onPath: map[string]bool{}}
	for _, p := range exclude {
		if p == "" {
			continue // filepath.Abs would make it the working directory: everything
		}
		real, err := realPath(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // nothing there to read (an output folder not created yet)
		}
		if err != nil {
			return nil, fmt.Errorf("exclude %s from input: %w", p, err)
		}
		l.exclude = append(l.exclude, real)
	}
	return l, nil
}

// realPath returns p absolute and cleaned, with every symbolic link resolved.
func realPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

func (l *fileLister) excluded(real string) bool {
	for _, x := range l.exclude {
		rel, err := filepath.Rel(x, real)
		if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// add lists the files of one path given for input: a file (read whatever its name) or a
// directory, walked recursively.
func (l *fileLister) add(p string) error {
	info, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("read manifests: %w", err)
	}
	real, err := realPath(p)
	if err != nil {
		if info.IsDir() {
			return fmt.Errorf("read manifests in %s: %w", p, err)
		}
		// Not every file has a real path: /dev/fd/N of a pipe (`-f <(kubectl get ...)`)
		// resolves to none. Its own path still identifies it.
		if real, err = filepath.Abs(p); err != nil {
			return fmt.Errorf("read manifests from %s: %w", p, err)
		}
	}
	if l.excluded(real) {
		return fmt.Errorf("read manifests from %s: %w", p, ErrExcludedPath)
	}
	if !info.IsDir() {
		l.addFile(p, real)
		return nil
	}
	if l.walked[real] {
		return nil
	}
	return l.walk(p, real)
}

func (l *fileLister) addFile(name, real string) {
	if !l.seen[real] {
		l.seen[real] = true
		l.files = append(l.files, name)
	}
}

// walk lists the manifest files under dir (whose real path is real) in lexical order,
// descending into hidden folders never and into linked folders once.
func (l *fileLister) walk(dir, real string) error {
	l.walked[real], l.onPath[real] = true, true
	defer delete(l.onPath, real)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read manifests in %s: %w", dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		path, entryReal, typ := filepath.Join(dir, name), filepath.Join(real, name), e.Type()
		if typ&fs.ModeSymlink != 0 {
			info, err := os.Stat(path)
			switch {
			case errors.Is(err, syscall.ELOOP):
				return fmt.Errorf("read manifests: %s: symlink loop", path)
			case err != nil && !isManifestName(name):
				continue // a broken link that would not be read anyway
			case err != nil:
				return fmt.Errorf("read manifests: %w", err)
			}
			if entryReal, err = realPath(path); err != nil {
				return fmt.Errorf("read manifests: %s: %w", path, err)
			}
			typ = info.Mode().Type()
		}
		switch {
		case l.excluded(entryReal):
			// never read, and not entered
		case typ.IsDir():
			if l.onPath[entryReal] {
				return fmt.Errorf("read manifests: %s: symlink loop: it leads back to %s", path, entryReal)
			}
			if l.walked[entryReal] {
				continue
			}
			if err := l.walk(path, entryReal); err != nil {
				return err
			}
		case typ.IsRegular() && isManifestName(name):
			l.addFile(path, entryReal)
		}
	}
	return nil
}
