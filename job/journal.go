package job

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/gofrs/flock"
)

// Journal records, per job, which items were written and verified. It holds no values: refs,
// targets, versions and keyed fingerprints. It speeds up and explains a resumed run; the truth
// is still the target, which is read and compared before every write, so a journal lost in a
// crash (its last entries are flushed in groups) costs a re-check, never a duplicate write.
type Journal struct {
	path string
	lock *flock.Flock

	mu      sync.Mutex
	f       *os.File
	w       *bufio.Writer
	entries map[string]JournalEntry
	runs    map[string]bool // runs of this job, from their "run" lines
	// unended: the last run of this job before this one began and did not end (no "end"
	// line after its "run" line): it stopped part-way, and this run resumes it.
	unended bool
	// resumed are the runs since the last end, resumedSince the time the first of them began.
	resumed      []string
	resumedSince time.Time
	dirty        bool
	stop         chan struct{}
	stopped      chan struct{}
	closed       bool
	err          error
}

// State is how far an item of a job got. The journal's lines carry it.
type State string

const (
	// StateRun marks the line a run writes before its first write (it has no Ref).
	StateRun State = "run"
	// StateWritten: the store accepted the write; it was not yet read back.
	StateWritten State = "written"
	// StateVerified: written (or found equal) and read back equal; the outcome is on record.
	StateVerified State = "verified"
	// StateFailed: the item failed; the next run tries it again.
	StateFailed State = "failed"
	// StateEnd marks the line a run writes when it has done the whole job (it has no Ref).
	StateEnd State = "end"
)

// Key names one item of a job in its journal: the object, where it goes, and the keyed
// fingerprint of what goes there. A changed fingerprint or target is a new item.
type Key struct {
	Ref         string
	Target      string
	Fingerprint string
}

// JournalEntry is one line of a journal.
type JournalEntry struct {
	Time        time.Time `json:"time"`
	Ref         string    `json:"ref"`
	Target      string    `json:"target"`
	State       State     `json:"state"`
	Version     string    `json:"version,omitempty"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	// Run names the run that began, on a "run" line (which has no Ref).
	Run string `json:"run,omitempty"`
}

// journalFlushEvery bounds how long a finished item may sit in the buffer before an fsync.
const journalFlushEvery = 200 * time.Millisecond

// OpenJournal opens (or creates) the journal of job id in dir and loads what earlier runs
// recorded. It takes an exclusive lock, so two runs of the same job cannot interleave.
func OpenJournal(dir, id string) (*Journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create journal folder %s: %w", dir, err)
	}
	path := filepath.Join(dir, id+".jsonl")
	lock := flock.New(path + ".lock")
	ok, err := lock.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock journal %s: %w", path, err)
	}
	if !ok {
		return nil, fmt.Errorf("journal %s is locked: another secretshift run is working on the same job", path)
	}
	j := &Journal{path: path, lock: lock, entries: map[string]JournalEntry{}, runs: map[string]bool{}, stop: make(chan struct{}), stopped: make(chan struct{})}
	if err := j.load(); err != nil {
		_ = lock.Unlock()
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		_ = lock.Unlock()
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	j.f, j.w = f, bufio.NewWriter(f)
	torn, err := endsTorn(f)
	if err != nil {
		_ = f.Close()
		_ = lock.Unlock()
		return nil, fmt.Errorf("read journal %s: %w", path, err)
	}
	if torn {
		// A crash cut the last line: this run's lines start on a line of their own, or the
		// first would be glued to the torn one and lost with it.
		j.w.WriteByte('\n')
	}
	go j.flusher()
	return j, nil
}

// endsTorn reports whether the file holds something after its last newline.
func endsTorn(f *os.File) (bool, error) {
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return false, err
	}
	r, err := os.Open(f.Name())
	if err != nil {
		return false, err
	}
	defer r.Close()
	var last [1]byte
	if _, err := r.ReadAt(last[:], fi.Size()-1); err != nil {
		return false, err
	}
	return last[0] != '\n', nil
}

func (j *Journal) load() error {
	f, err := os.Open(j.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read journal %s: %w", j.path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		var e JournalEntry
		// A torn last line from a crash is expected; skip what does not parse.
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		switch {
		case e.State == StateRun && e.Run != "":
			j.runs[e.Run] = true
			if !j.unended {
				j.resumed, j.resumedSince = nil, e.Time
			}
			j.unended = true
			j.resumed = append(j.resumed, e.Run)
		case e.State == StateEnd:
			j.unended = false
		case e.Ref != "":
			j.entries[e.Ref] = e
		}
	}
	return sc.Err()
}

// Begin records, durably, that run runID works on this job, before it writes anything: a
// later run can then tell content this run wrote even if its last entries were lost.
func (j *Journal) Begin(runID string) error { return j.mark(StateRun, runID) }

// mark writes a run's line (its begin or its end) and makes it durable at once.
func (j *Journal) mark(state State, runID string) error {
	if j == nil || runID == "" {
		return nil
	}
	b, _ := json.Marshal(JournalEntry{Time: time.Now().UTC(), State: state, Run: runID})
	j.mu.Lock()
	defer j.mu.Unlock()
	j.w.Write(b)
	j.w.WriteByte('\n')
	j.dirty = true
	j.flushLocked()
	if j.err != nil {
		return fmt.Errorf("write journal %s: %w", j.path, j.err)
	}
	return nil
}

// End records, durably, that run runID did the whole job: the next run of the same job starts
// it anew instead of resuming it (see Resuming). A job whose items are done once and for all
// (a migration) needs no end; one that is done again on purpose (a rotation) does.
func (j *Journal) End(runID string) error { return j.mark(StateEnd, runID) }

// Resuming reports whether the last run of this job before this one stopped before its End:
// this run then resumes it, and what that run did is done.
func (j *Journal) Resuming() bool { return j != nil && j.unended }

// Resumed returns, when this run resumes the job, the runs since the last End and the time
// the first of them began: entries marked since then are the resumed job's.
func (j *Journal) Resumed() (runs []string, since time.Time) {
	if !j.Resuming() {
		return nil, time.Time{}
	}
	return slices.Clone(j.resumed), j.resumedSince
}

// EarlierRun reports whether runID is a run that worked on this job before this one.
func (j *Journal) EarlierRun(runID string) bool {
	return j != nil && runID != "" && j.runs[runID]
}

// EarlierRuns lists the runs that worked on this job before this one, but current, sorted.
func (j *Journal) EarlierRuns(current string) []string {
	if j == nil {
		return nil
	}
	var runs []string
	for r := range j.runs {
		if r != current {
			runs = append(runs, r)
		}
	}
	sort.Strings(runs)
	return runs
}

// Last returns the last entry recorded for k's object, and whether it says k (the same
// target and content) was verified.
func (j *Journal) Last(k Key) (JournalEntry, bool) {
	if j == nil || k.Target == "" {
		return JournalEntry{}, false
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	e, ok := j.entries[k.Ref]
	return e, ok && e.State == StateVerified && e.Fingerprint == k.Fingerprint && e.Target == k.Target
}

// Mark records a state for k. Entries reach the disk within journalFlushEvery.
func (j *Journal) Mark(k Key, state State, version string) {
	if j == nil {
		return
	}
	e := JournalEntry{Time: time.Now().UTC(), Ref: k.Ref, State: state, Version: version, Fingerprint: k.Fingerprint, Target: k.Target}
	b, _ := json.Marshal(e)
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return
	}
	j.entries[e.Ref] = e
	j.w.Write(b)
	j.w.WriteByte('\n')
	j.dirty = true
}

// Flush makes every entry marked so far durable now, for a step about to act outside the
// store (a rotation's hooks), so that a run after a crash knows it was reached.
func (j *Journal) Flush() error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.flushLocked()
	return j.err
}

func (j *Journal) flusher() {
	defer close(j.stopped)
	t := time.NewTicker(journalFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-j.stop:
			return
		case <-t.C:
			j.mu.Lock()
			j.flushLocked()
			j.mu.Unlock()
		}
	}
}

func (j *Journal) flushLocked() {
	if !j.dirty || j.err != nil {
		return
	}
	if err := j.w.Flush(); err != nil {
		j.err = err
		return
	}
	if err := j.f.Sync(); err != nil {
		j.err = err
	}
	j.dirty = false
}

// Close flushes, syncs and unlocks. It is safe to call more than once.
func (j *Journal) Close() error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.closed = true
	j.mu.Unlock()
	close(j.stop)
	<-j.stopped
	j.mu.Lock()
	j.flushLocked()
	err := j.err
	j.mu.Unlock()
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	_ = j.lock.Unlock()
	if err != nil {
		return fmt.Errorf("write journal %s: %w", j.path, err)
	}
	return nil
}
