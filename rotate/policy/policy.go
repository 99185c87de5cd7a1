package policy

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// APIVersion and Kind are what a policy file's apiVersion and kind must say.
const (
	APIVersion = "secretshift.io/v1alpha1"
	Kind       = "RotationPolicy"
)

// Restart values: after a rotation, restart the workloads that consume the Secret, or not.
const (
	RestartConsumers = "consumers"
	RestartNone      = "none"
)

// Defaults for the fields neither a rotation nor the policy's defaults set.
const (
	DefaultHookTimeout = 60 * time.Second
	DefaultRestart     = RestartConsumers
)

// MaxFileSize is the largest policy file Load reads.
const MaxFileSize = 4 << 20

// Policy is a checked rotation.yaml.
type Policy struct {
	// Path is the file's name as given to Load or Parse.
	Path string
	// Rotations in the file's order, with defaults applied.
	Rotations []Rotation
}

// Rotation is one entry of rotations: which keys of which Secrets are rotated, and how.
type Rotation struct {
	Name  string
	Store string
	Match Match
	// Keys sorted by key name.
	Keys   []Key
	MaxAge time.Duration
	Hooks  Hooks
	// Restart is RestartConsumers or RestartNone.
	Restart string
	// Pos is where the rotation's entry starts.
	Pos Position
}

// Match selects the Secrets a rotation applies to. See Matches.
type Match struct {
	// Paths are store addresses or path.Match globs.
	Paths      []string
	Namespaces []string
	Names      []string
	Labels     map[string]string
}

// Key is one Secret key to rotate and the generator of its new values. Generator and Params
// are a generate.Spec's Type and Params; the caller validates them with generate.New.
type Key struct {
	Key       string
	Generator string
	// Params holds the key's fields other than generator, as strings; never nil.
	Params map[string]string
	// Pos is where the key's name is written.
	Pos Position
}

// Hooks are the programs run around a rotation, as argv (no shell). Set stores the new value
// where it is used (a database user's password, say); Test checks that it works.
type Hooks struct {
	// Set and Test are argv; empty when not given. Element 0 is the program: an absolute
	// path when the policy wrote it with a "/", otherwise a name found on PATH.
	Set, Test []string
	// Timeout bounds each hook's run; DefaultHookTimeout unless set.
	Timeout time.Duration
}

// Position is a place in a policy file; Line and Column count from 1, and 0 means unknown.
type Position struct {
	File         string
	Line, Column int
}

// String is "file:line:column", or "file:line" or "file" when those are unknown.
func (p Position) String() string {
	s := p.File
	if p.Line > 0 {
		s += ":" + strconv.Itoa(p.Line)
		if p.Column > 0 {
			s += ":" + strconv.Itoa(p.Column)
		}
	}
	return s
}

// before orders positions by line, then column.
func (p Position) before(q Position) bool {
	if p.Line != q.Line {
		return p.Line < q.Line
	}
	return p.Column < q.Column
}

// Error is one problem of a policy file. Load and Parse return them joined (errors.Join),
// sorted by position; errors.As finds the first.
type Error struct {
	Pos Position
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// Options are what a policy is checked against.
type Options struct {
	// Stores are the known store (provider) names; nil skips the check of rotations' store.
	Stores []string
	// Generators are the known generator types; nil skips the check of keys' generator.
	Generators []string
	// CheckGenerator, when set, checks a key's generator and its parameters (impossible
	// password constraints, an unknown parameter); its error is reported at the key's line with
	// the policy's other problems.
	CheckGenerator func(generator string, params map[string]string) error
	// BaseDir is the folder hook programs written with a "/" are relative to; default the
	// policy file's folder.
	BaseDir string
}

// Load reads and checks the policy file at path.
func Load(path string, opts Options) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > MaxFileSize {
		return nil, &Error{Pos: Position{File: path}, Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileSize)}
	}
	return Parse(path, b, opts)
}

// Parse checks the policy b, read from the file name (used in positions and, unless
// opts.BaseDir is set, to find hook programs).
func Parse(name string, b []byte, opts Options) (*Policy, error) {
	p := newParser(name, opts)
	pol := p.parse(b)
	if err := p.err(); err != nil {
		return nil, err
	}
	return pol, nil
}

// Matches reports whether a Secret is selected: every criterion the Match gives must hold.
// Paths: one of the globs matches address (an empty address matches none). Namespaces and
// Names: namespace, or name, is one of them. Labels: labels has every one, with the same
// value. A Match that gives no criterion (which Parse never returns) matches nothing.
func (m Match) Matches(address, namespace, name string, labels map[string]string) bool {
	if len(m.Paths) == 0 && len(m.Namespaces) == 0 && len(m.Names) == 0 && len(m.Labels) == 0 {
		return false
	}
	if len(m.Paths) > 0 {
		if address == "" || !slices.ContainsFunc(m.Paths, func(glob string) bool {
			ok, err := path.Match(glob, address)
			return ok && err == nil
		}) {
			return false
		}
	}
	if len(m.Namespaces) > 0 && !slices.Contains(m.Namespaces, namespace) {
		return false
	}
	if len(m.Names) > 0 && !slices.Contains(m.Names, name) {
		return false
	}
	for k, v := range m.Labels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// errSorted joins errs, sorted by position (stable: ties keep the order found).
func errSorted(errs []*Error) error {
	if len(errs) == 0 {
		return nil
	}
	slices.SortStableFunc(errs, func(a, b *Error) int {
		switch {
		case a.Pos.before(b.Pos):
			return -1
		case b.Pos.before(a.Pos):
			return 1
		}
		return 0
	})
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return errors.Join(out...)
}

// baseDir is where hook programs are resolved from.
func baseDir(name string, opts Options) string {
	if opts.BaseDir != "" {
		return opts.BaseDir
	}
	return filepath.Dir(name)
}
