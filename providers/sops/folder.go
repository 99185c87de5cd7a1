package sops

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"

	"github.com/gofrs/flock"

	"github.com/secretshift/secretshift/internal/atomicfile"
	"github.com/secretshift/secretshift/providers"
)

// lockName is the lock file a run holds in the output folder while it writes. It is a dot
// file, so it is never an address (<namespace>/<name>.yaml) and never read as a manifest. It
// stays after the run: removing a lock file others may have opened would let two runs lock
// two different files.
const lockName = ".secretshift.lock"

// ErrFolderInUse is returned by Write while another process holds the output folder's lock.
var ErrFolderInUse = fmt.Errorf("output folder is %w", providers.ErrBusy)

// staleTemp matches the temporary files of writeAtomic (".<name>.yaml.tmp-<digits>", also
// "..sops.yaml.tmp-<digits>") and nothing else.
var staleTemp = regexp.MustCompile(`^` + regexp.QuoteMeta(atomicfile.TempPrefix) + `.+\.yaml` + regexp.QuoteMeta(atomicfile.TempInfix) + `[0-9]+$`)

// folderLock is the output folder's lock, taken at the first write of a run.
type folderLock struct {
	mu     sync.Mutex
	fl     *flock.Flock
	closed bool
}

// OutputFolder returns the absolute folder the provider writes into.
func (p *Provider) OutputFolder() string {
	if dir, err := filepath.Abs(p.out); err == nil {
		return dir
	}
	return p.out
}

// acquire takes the output folder's lock once per provider, then removes the temporary files
// an interrupted run (kill -9, power loss) left behind: with the lock held no other run is
// writing, so every such file is stale. It returns an error wrapping ErrFolderInUse when
// another run holds the lock.
func (p *Provider) acquire() error {
	l := &p.folder
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return fmt.Errorf("write into %s: the provider is closed", p.out)
	case l.fl != nil:
		return nil
	}
	if err := os.MkdirAll(p.out, dirMode); err != nil {
		return fmt.Errorf("create output folder %s: %w", p.out, ioErr(err))
	}
	fl := flock.New(filepath.Join(p.out, lockName), flock.SetPermissions(fileMode))
	ok, err := fl.TryLock()
	if err != nil {
		return fmt.Errorf("lock output folder %s: %w", p.out, ioErr(err))
	}
	if !ok {
		return fmt.Errorf("%w: %s (lock file %s)\nwait for the other run to finish, then run again", ErrFolderInUse, p.out, fl.Path())
	}
	l.fl = fl
	p.debug("locked output folder", "lock", fl.Path())
	n, err := p.removeStaleTemps()
	if n > 0 {
		p.mu.Lock()
		p.notes = append(p.notes, fmt.Sprintf("removed %d temporary file(s) an interrupted run left in %s", n, p.out))
		p.mu.Unlock()
	}
	return err
}

// removeStaleTemps removes writeAtomic's temporary files in the output folder and its
// namespace folders, and returns how many it removed. Symbolic links are not followed.
func (p *Provider) removeStaleTemps() (int, error) {
	dirs := []string{p.out}
	entries, err := os.ReadDir(p.out)
	if err != nil {
		return 0, fmt.Errorf("list output folder %s: %w", p.out, ioErr(err))
	}
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(p.out, e.Name()))
		}
	}
	n := 0
	var errs []error
	for _, dir := range dirs {
		entries := entries
		if dir != p.out {
			if entries, err = os.ReadDir(dir); err != nil {
				errs = append(errs, fmt.Errorf("list %s: %w", dir, ioErr(err)))
				continue
			}
		}
		for _, e := range entries {
			if !e.Type().IsRegular() || !staleTemp.MatchString(e.Name()) {
				continue
			}
			path := filepath.Join(dir, e.Name())
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove stale temporary file %s: %w", path, ioErr(err)))
				continue
			}
			p.debug("removed stale temporary file", "path", path)
			n++
		}
	}
	return n, errors.Join(errs...)
}

// Close releases the output folder's lock. Writes after Close fail. The operating system
// releases the lock as well when the process ends, however it ends.
func (p *Provider) Close() error {
	l := &p.folder
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.fl == nil {
		return nil
	}
	err := l.fl.Unlock()
	l.fl = nil
	if err != nil {
		return fmt.Errorf("unlock output folder %s: %w", p.out, err)
	}
	p.debug("unlocked output folder", "path", p.out)
	return nil
}

// createProbe creates the probe file of checkFolder; tests replace it.
var createProbe = os.CreateTemp

// checkFolder makes sure dir is a folder this process can create files in, or can be created:
// that it is not a file, and that it (or its nearest existing ancestor) is writable. The check
// creates and at once removes a probe file, which is what works as root too (root ignores
// mode bits, not a read-only filesystem) and with ACLs and network filesystems.
func checkFolder(dir, what string) error {
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
			return fmt.Errorf("%s %s: %w", what, dir, ioErr(err))
		}
		parent := filepath.Dir(d)
		if parent == d {
			return fmt.Errorf("%s %s: no existing folder above it", what, dir)
		}
		d = parent
	}
	f, err := createProbe(d, ".secretshift-probe-*")
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
