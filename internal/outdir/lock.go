package outdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sync"

	"github.com/gofrs/flock"

	"github.com/secretshift/secretshift/internal/atomicfile"
	"github.com/secretshift/secretshift/providers"
)

// LockName is the lock file a run holds in the output folder while it writes. It is a dot
// file, so it is never an address (<namespace>/<name>.yaml) and never read as a manifest. It
// stays after the run: removing a lock file others may have opened would let two runs lock
// two different files.
const LockName = ".secretshift.lock"

// ErrInUse is returned by Lock.Acquire while another process holds the output folder's lock.
var ErrInUse = fmt.Errorf("output folder is %w", providers.ErrBusy)

// staleTemp matches the temporary files of WriteFile (".<name>.yaml.tmp-<digits>", also
// "..sops.yaml.tmp-<digits>") and nothing else.
var staleTemp = regexp.MustCompile(`^` + regexp.QuoteMeta(atomicfile.TempPrefix) + `.+\.yaml` + regexp.QuoteMeta(atomicfile.TempInfix) + `[0-9]+$`)

// Lock is an output folder's lock, taken at the first write of a run and held until Close.
// The operating system releases it as well when the process ends, however it ends.
type Lock struct {
	dir string
	// Debug, when set, is told each step (folder locked, stale file removed); messages carry
	// paths only.
	Debug func(msg string, args ...any)

	mu     sync.Mutex
	fl     *flock.Flock
	closed bool
}

// NewLock returns the (not yet taken) lock of the folder dir.
func NewLock(dir string) *Lock { return &Lock{dir: dir} }

// Acquire takes the lock, creating the folder if needed, once per Lock; later calls return at
// once. Having taken it, it removes the temporary files an interrupted run (kill -9, power
// loss) left behind: with the lock held no other run is writing, so every such file is stale.
// It returns how many it removed, and an error wrapping ErrInUse when another run holds the
// lock.
func (l *Lock) Acquire() (removed int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return 0, fmt.Errorf("write into %s: the provider is closed", l.dir)
	case l.fl != nil:
		return 0, nil
	}
	if err := os.MkdirAll(l.dir, DirMode); err != nil {
		return 0, fmt.Errorf("create output folder %s: %w", l.dir, IOErr(err))
	}
	fl := flock.New(filepath.Join(l.dir, LockName), flock.SetPermissions(FileMode))
	ok, err := fl.TryLock()
	if err != nil {
		return 0, fmt.Errorf("lock output folder %s: %w", l.dir, IOErr(err))
	}
	if !ok {
		return 0, fmt.Errorf("%w: %s (lock file %s)\nwait for the other run to finish, then run again", ErrInUse, l.dir, fl.Path())
	}
	l.fl = fl
	l.debug("locked output folder", "lock", fl.Path())
	return l.removeStaleTemps()
}

// Held reports whether this process holds the lock.
func (l *Lock) Held() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fl != nil
}

// Close releases the lock. Acquire fails after Close.
func (l *Lock) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.fl == nil {
		return nil
	}
	err := l.fl.Unlock()
	l.fl = nil
	if err != nil {
		return fmt.Errorf("unlock output folder %s: %w", l.dir, err)
	}
	l.debug("unlocked output folder", "path", l.dir)
	return nil
}

func (l *Lock) debug(msg string, args ...any) {
	if l.Debug != nil {
		l.Debug(msg, args...)
	}
}

// removeStaleTemps removes WriteFile's temporary files in the output folder and its namespace
// folders, and returns how many it removed. Symbolic links are not followed.
func (l *Lock) removeStaleTemps() (int, error) {
	dirs := []string{l.dir}
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return 0, fmt.Errorf("list output folder %s: %w", l.dir, IOErr(err))
	}
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(l.dir, e.Name()))
		}
	}
	n := 0
	var errs []error
	for _, dir := range dirs {
		entries := entries
		if dir != l.dir {
			if entries, err = os.ReadDir(dir); err != nil {
				errs = append(errs, fmt.Errorf("list %s: %w", dir, IOErr(err)))
				continue
			}
		}
		for _, e := range entries {
			if !e.Type().IsRegular() || !staleTemp.MatchString(e.Name()) {
				continue
			}
			path := filepath.Join(dir, e.Name())
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove stale temporary file %s: %w", path, IOErr(err)))
				continue
			}
			l.debug("removed stale temporary file", "path", path)
			n++
		}
	}
	return n, errors.Join(errs...)
}
