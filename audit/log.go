package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gofrs/flock"
)

// ErrUnavailable means the audit log could not be written. Every error from Open, Record, Close
// and Rotate that leaves an action unrecorded wraps it; callers must stop before the next
// change, the way Vault refuses requests it cannot audit.
var ErrUnavailable = errors.New("audit log unavailable")

// ErrTampered means the log contradicts itself (its last record does not match its hash, or it
// is shorter than its head file says). It is returned together with ErrUnavailable: the writer
// refuses to extend a chain it cannot trust. Run Verify to find the first broken record.
var ErrTampered = errors.New("audit log tampered")

// ErrKeyMismatch means the keys given are not the ones the log was started with: its head file
// names another signing key, or another fingerprint key. It is returned together with
// ErrUnavailable. One log holds one key's signatures and one key's fingerprints, so that a single
// public key verifies it and `audit fingerprint` finds every record of a value.
var ErrKeyMismatch = errors.New("audit keys differ from the log's")

// Defaults for Options.
const (
	// DefaultCheckpointEvery is how many records a checkpoint follows by default. Each one
	// syncs the log, the head file and its folder, which is what a large migration feels most;
	// a run always ends with one anyway.
	DefaultCheckpointEvery = 1000
	DefaultLockTimeout     = 30 * time.Second
)

// maxLineLen bounds one record line; anything longer is not a record this package wrote.
const maxLineLen = 16 << 20

// Options configure Open.
type Options struct {
	// Fingerprinter is the HMAC key fingerprints are made under. Optional; when set, its KeyID
	// is written into checkpoints.
	Fingerprinter *Fingerprinter
	// Signer signs checkpoints. Required.
	Signer ed25519.PrivateKey
	// CheckpointEvery writes a checkpoint after this many records (default 1,000); a negative
	// value writes one only at Close.
	CheckpointEvery int
	// RunID correlates the records of one command run (default: a random UUID).
	RunID string
	// Actor is stored in every record (default: CurrentActor()).
	Actor Actor
	// Now is the clock (default time.Now).
	Now func() time.Time
	// LockTimeout bounds the wait for another process's append (default 30s).
	LockTimeout time.Duration
}

// Log appends hash-chained records to one file. It is safe for concurrent use by goroutines, and
// several processes may append to the same file: each append holds an exclusive lock on
// "<log>.lock" and re-reads the chain head from the file.
type Log struct {
	path     string
	headPath string
	opts     Options
	keyID    string
	fpKeyID  string
	lock     *flock.Flock

	// qmu guards the group-commit queue; mu guards the file and chain state.
	qmu     sync.Mutex
	queue   []*pendingRecord
	async   int         // records in queue that no caller waits for
	urgent  int         // records in queue that a caller waits for
	timer   *time.Timer // commits async records after AsyncDelay
	leading bool

	mu    sync.Mutex
	f     *os.File
	st    tailState
	since int  // records appended by this Log since its last checkpoint
	cut   int  // bytes of incomplete records this Log cut off (audit.recover)
	wrote bool // this Log appended a record other than a checkpoint
	// pending holds encoded lines not yet written; synced is the file size after the last
	// sync.
	pending []byte
	synced  int64
	syncs   int // flushes of the log file so far
	enc     recordEncoder
	err     error // sticky: after a failed write nothing more is appended
	closed  bool
}

// tailState is the chain head as last read from the file, under the lock.
type tailState struct {
	size       int64
	seq        uint64
	hash       string
	checkpoint bool   // the last record is a checkpoint, or there is none
	runID      string // the last record's run
}

// HeadPath returns the head file of the log at path.
func HeadPath(path string) string { return path + ".head" }

// Open opens the log at path for appending, creating it (directories 0700, file 0600) if
// needed. It fails, wrapping ErrUnavailable, when the file cannot be created, locked or
// read, when it ends with an incomplete record, or when it contradicts its head file.
func Open(path string, opts Options) (*Log, error) {
	return open(path, opts, true)
}

// open is Open; keys false skips the check that the head file names the keys given, for Rotate,
// which may start the new file under new keys.
func open(path string, opts Options, keys bool) (*Log, error) {
	if len(opts.Signer) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: open audit log %s: %w: a checkpoint signing key is required", ErrUnavailable, path, ErrNoKey)
	}
	if opts.RunID == "" {
		opts.RunID = newID()
	}
	if !runIDRE.MatchString(opts.RunID) {
		return nil, fmt.Errorf("open audit log %s: run id %q must be 1-128 letters, digits or ._:@/+-", path, safeName(opts.RunID))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Actor.IsZero() {
		opts.Actor = CurrentActor()
	}
	if opts.CheckpointEvery == 0 {
		opts.CheckpointEvery = DefaultCheckpointEvery
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	l := &Log{
		path:     path,
		headPath: HeadPath(path),
		opts:     opts,
		keyID:    KeyID(opts.Signer.Public().(ed25519.PublicKey)),
		lock:     flock.New(path+".lock", flock.SetPermissions(0o600)),
	}
	if opts.Fingerprinter != nil {
		l.fpKeyID = opts.Fingerprinter.KeyID()
	}

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: create audit directory %s: %w", ErrUnavailable, dir, err)
	}
	_, statErr := os.Lstat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: open audit log %s: %w", ErrUnavailable, path, err)
	}
	l.f = f
	if errors.Is(statErr, fs.ErrNotExist) {
		if err := syncDir(dir); err != nil {
			f.Close()
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}

	if err := l.lockFile(context.Background()); err != nil {
		f.Close()
		return nil, err
	}
	defer l.unlockFile()
	l.st.size = -1
	if err := l.refresh(); err != nil {
		f.Close()
		return nil, err
	}
	if err := l.checkHeadFile(keys); err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

// Path returns the log file path.
func (l *Log) Path() string { return l.path }

// RunID returns the run id stored in every record of this Log.
func (l *Log) RunID() string { return l.opts.RunID }

// Record appends e as one record and returns after the record is on disk (fsync). Invalid events
// return ErrInvalidEvent and write nothing; any failure to write returns ErrUnavailable, and
// so does every later call. ctx bounds only the wait for another process's lock.
func (l *Log) Record(ctx context.Context, e Event) error {
	if err := e.Validate(); err != nil {
		return err
	}
	// Group commit: concurrent callers queue their events; one of them writes the whole queue
	// under one file lock and one fsync, and every caller returns once its record is durable.
	// With sixteen writers in flight this turns sixteen fsyncs into one.
	p := &pendingRecord{e: e, done: make(chan error, 1)}
	l.enqueue(ctx, true, p)
	return <-p.done
}

// RecordBatch appends events in order, under one lock and one fsync, and returns once all are
// durable. A caller that knows many events up front (the intents of a whole plan) pays for one
// disk flush instead of one per event.
func (l *Log) RecordBatch(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	batch := make([]*pendingRecord, 0, len(events))
	for _, e := range events {
		if err := e.Validate(); err != nil {
			return err
		}
		batch = append(batch, &pendingRecord{e: e})
	}
	last := batch[len(batch)-1]
	last.done = make(chan error, 1)
	l.enqueue(ctx, true, batch...)
	return <-last.done
}

// Async commits: a record whose caller does not wait for it is written with the next group
// commit, which comes with the next Record, RecordBatch or Flush call, once AsyncBatch records
// are waiting, or AsyncDelay after the first of them, whichever is first.
const (
	AsyncBatch = 512
	AsyncDelay = 100 * time.Millisecond
)

// RecordAsync queues e and returns without waiting for the disk; done is called, from another
// goroutine, once the record is durable, or with the error that kept it from being written
// (which, like every write error, also makes the Log unusable). Use it for records of actions
// that have already happened (outcomes), whose callers only need to know they are durable
// before they report the action done; a record that must precede an action (an intent) needs
// Record. Invalid events return ErrInvalidEvent at once and done is not called.
func (l *Log) RecordAsync(e Event, done func(error)) error {
	if err := e.Validate(); err != nil {
		return err
	}
	l.enqueue(context.Background(), false, &pendingRecord{e: e, cb: done})
	return nil
}

// Flush writes every queued record and returns once they are durable, with the error that
// stopped the log if there was one.
func (l *Log) Flush(ctx context.Context) error {
	p := &pendingRecord{barrier: true, done: make(chan error, 1)}
	l.enqueue(ctx, true, p)
	return <-p.done
}

// pendingRecord is an event waiting for the next group commit; a barrier holds no event and
// completes when everything queued before it is durable.
type pendingRecord struct {
	e       Event
	barrier bool
	done    chan error
	cb      func(error)
}

// enqueue adds records to the queue. An urgent caller leads the commit itself if nobody is
// leading; records without a waiting caller start the commit only when enough of them are
// queued, and otherwise arm the delay timer.
func (l *Log) enqueue(ctx context.Context, urgent bool, ps ...*pendingRecord) {
	l.qmu.Lock()
	l.queue = append(l.queue, ps...)
	if urgent {
		l.urgent += len(ps)
	} else {
		l.async += len(ps)
	}
	lead := !l.leading && (urgent || l.async >= AsyncBatch)
	if lead {
		l.leading = true
	} else if !l.leading && l.timer == nil {
		l.timer = time.AfterFunc(AsyncDelay, l.onTimer)
	}
	l.qmu.Unlock()
	if lead {
		l.lead(context.WithoutCancel(ctx))
	}
}

// onTimer commits the records that waited AsyncDelay, unless a commit is under way.
func (l *Log) onTimer() {
	l.qmu.Lock()
	l.timer = nil
	lead := !l.leading && len(l.queue) > 0
	if lead {
		l.leading = true
	}
	l.qmu.Unlock()
	if lead {
		l.lead(context.Background())
	}
}

// lead writes queued events in batches until the queue is empty, or holds only records that no
// caller waits for and fewer than AsyncBatch of them: those are left to the delay timer, so that
// a steady trickle of outcomes arriving during each commit does not turn into one disk flush per
// handful of records.
func (l *Log) lead(ctx context.Context) {
	for first := true; ; first = false {
		l.qmu.Lock()
		if !first && l.urgent == 0 && l.async < AsyncBatch {
			l.leading = false
			if len(l.queue) > 0 && l.timer == nil {
				l.timer = time.AfterFunc(AsyncDelay, l.onTimer)
			}
			l.qmu.Unlock()
			return
		}
		batch := l.queue
		l.queue, l.async, l.urgent = nil, 0, 0
		if l.timer != nil {
			l.timer.Stop()
			l.timer = nil
		}
		if len(batch) == 0 {
			l.leading = false
			l.qmu.Unlock()
			return
		}
		l.qmu.Unlock()
		err := l.writeBatch(ctx, batch)
		for _, p := range batch {
			switch {
			case p.done != nil:
				p.done <- err
			case p.cb != nil:
				p.cb(err)
			}
		}
	}
}

// writeBatch appends the batch's records under the file lock and syncs once.
func (l *Log) writeBatch(ctx context.Context, batch []*pendingRecord) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	n := 0
	for _, p := range batch {
		if !p.barrier {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if err := l.lockFile(ctx); err != nil {
		return err
	}
	defer l.unlockFile()
	if err := l.refresh(); err != nil {
		return err
	}
	for _, p := range batch {
		if p.barrier {
			continue
		}
		if err := l.write(l.newRecord(p.e)); err != nil {
			return err
		}
		l.since++
		l.wrote = true
		if l.opts.CheckpointEvery > 0 && l.since >= l.opts.CheckpointEvery {
			// The checkpoint's own append syncs the records before it too.
			if err := l.checkpoint(); err != nil {
				return err
			}
		}
	}
	return l.sync()
}

// Close writes the records still queued, then a final checkpoint covering every record in the
// file (unless the last record already is one), and closes the file. The run is not sealed until Close returns nil.
func (l *Log) Close() error {
	// Records queued by RecordAsync are written first; a failure is sticky and returned below.
	_ = l.Flush(context.Background())
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.err != nil {
		l.f.Close()
		return l.err
	}
	err := l.seal()
	if cerr := l.f.Close(); cerr != nil && err == nil {
		err = l.fail("close audit log", cerr)
	}
	return err
}

// seal writes the final checkpoint of Close.
func (l *Log) seal() error {
	if err := l.lockFile(context.Background()); err != nil {
		return err
	}
	defer l.unlockFile()
	if err := l.refresh(); err != nil {
		return err
	}
	return l.checkpoint()
}

// Rotate seals the log at path with a checkpoint, moves it and its head file to archive (and
// archive+".head"), and starts a new file at path whose first record, audit.rotate, has the
// archived chain's last hash as prev and names the archived file. Both files then verify on
// their own, and `audit verify --log archive --log path` also checks the link.
func Rotate(path, archive string, opts Options) error {
	l, err := open(path, opts, false)
	if err != nil {
		return err
	}
	// Under keys other than the log's, nothing may be appended to the old file, not even the
	// checkpoint Close would add after a failure.
	var sameKeys error
	prevKeyID := ""
	if head, err := ReadHead(l.headPath); err == nil {
		sameKeys = l.checkKeys(head)
		prevKeyID = head.KeyID
	}
	abandon := sameKeys != nil
	defer func() {
		if abandon {
			l.mu.Lock()
			l.closed = true
			l.f.Close()
			l.mu.Unlock()
			return
		}
		l.Close()
	}()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.lockFile(context.Background()); err != nil {
		return err
	}
	defer l.unlockFile()
	if err := l.refresh(); err != nil {
		return err
	}
	if l.st.seq == 0 {
		return fmt.Errorf("rotate audit log %s: it has no records", path)
	}
	if _, err := os.Lstat(archive); err == nil {
		return fmt.Errorf("rotate audit log %s: %s already exists", path, archive)
	}
	// New keys may start the new file, but only the keys that signed this one may seal it.
	if !l.st.checkpoint && sameKeys != nil {
		return fmt.Errorf("%w\nthe log does not end with a checkpoint (a run did not finish), so it must be sealed with its own keys: rotate it with them first", sameKeys)
	}
	if err := l.checkpoint(); err != nil {
		return err
	}
	prevHead, prevSeq := l.st.hash, l.st.seq

	if err := os.MkdirAll(filepath.Dir(archive), 0o700); err != nil {
		return fmt.Errorf("rotate audit log %s: %w", path, err)
	}
	if err := os.Rename(path, archive); err != nil {
		return fmt.Errorf("rotate audit log %s: %w", path, err)
	}
	if err := os.Rename(l.headPath, HeadPath(archive)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return l.fail("move head file", err)
	}
	if err := syncDir(filepath.Dir(archive)); err != nil {
		return l.fail("rotate", err)
	}
	nf, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return l.fail("create new audit log", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		nf.Close()
		return l.fail("rotate", err)
	}
	l.f.Close()
	l.f = nf
	abandon = false // the new file is this Log's to seal
	l.st = tailState{size: 0, seq: 0, hash: prevHead}
	l.synced = 0
	details := map[string]string{
		"previous_log":  filepath.Base(archive),
		"previous_head": prevHead,
		"previous_seq":  strconv.FormatUint(prevSeq, 10),
	}
	// The archive's signing key, when the new file is signed by another one.
	if prevKeyID != "" && prevKeyID != l.keyID && printableID(prevKeyID) == prevKeyID {
		details["previous_key_id"] = prevKeyID
	}
	rec := l.newRecord(Event{Action: ActionRotate, Outcome: OutcomeSuccess, Details: details})
	if err := l.append(rec); err != nil {
		return err
	}
	return l.checkpoint()
}

func (l *Log) usable() error {
	if l.closed {
		return fmt.Errorf("%w: audit log %s is closed", ErrUnavailable, l.path)
	}
	return l.err
}

// fail makes err sticky: after a failed or unsynced write the file may end with a partial record
// and nothing more may be appended by this Log.
func (l *Log) fail(what string, err error) error {
	l.err = fmt.Errorf("%w: %s %s: %w", ErrUnavailable, what, l.path, err)
	return l.err
}

// lockFile takes the cross-process lock. An uncontended lock is taken even if ctx is done, so
// a final "cancelled" record can still be written after Ctrl-C.
func (l *Log) lockFile(ctx context.Context) error {
	ok, err := l.lock.TryLock()
	if err == nil && !ok {
		ctx, cancel := context.WithTimeout(ctx, l.opts.LockTimeout)
		defer cancel()
		ok, err = l.lock.TryLockContext(ctx, 2*time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("%w: lock audit log %s: %w", ErrUnavailable, l.path, err)
	}
	if !ok {
		return fmt.Errorf("%w: lock audit log %s: timed out", ErrUnavailable, l.path)
	}
	return nil
}

func (l *Log) unlockFile() { _ = l.lock.Unlock() }

// refresh brings l.st up to date with the file under the lock: another process may have appended,
// or rotated the file away.
func (l *Log) refresh() error {
	pi, err := os.Stat(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: audit log %s was removed while in use", ErrUnavailable, l.path)
	}
	if err != nil {
		return fmt.Errorf("%w: stat audit log %s: %w", ErrUnavailable, l.path, err)
	}
	fi, err := l.f.Stat()
	if err != nil {
		return fmt.Errorf("%w: stat audit log %s: %w", ErrUnavailable, l.path, err)
	}
	if !os.SameFile(pi, fi) {
		nf, err := os.OpenFile(l.path, os.O_RDWR|os.O_APPEND, 0)
		if err != nil {
			return fmt.Errorf("%w: reopen rotated audit log %s: %w", ErrUnavailable, l.path, err)
		}
		l.f.Close()
		l.f = nf
		if fi, err = nf.Stat(); err != nil {
			return fmt.Errorf("%w: stat audit log %s: %w", ErrUnavailable, l.path, err)
		}
		l.st.size = -1
	}
	l.synced = fi.Size()
	if fi.Size() == l.st.size {
		return nil
	}
	st, err := readTail(l.f, fi.Size())
	var torn *tornTailError
	if errors.As(err, &torn) {
		return l.recoverTornTail(torn)
	}
	if err != nil {
		return fmt.Errorf("%w: audit log %s: %w", ErrUnavailable, l.path, err)
	}
	st.size = fi.Size()
	l.st = st
	return nil
}

// tornTailError: the file ends with a line that has no newline. Every record this package
// reports durable was written whole and synced, and appends happen under the file lock, so
// such a line is the unsynced rest of a write whose process died (kill -9, power loss).
type tornTailError struct {
	end  int64 // the size of the file up to and including the last complete line
	size int64
}

func (e *tornTailError) Error() string {
	return fmt.Sprintf("the file ends with %d bytes of an incomplete record", e.size-e.end)
}

// recoverTornTail cuts the incomplete last line off, as a database drops a torn write-ahead
// log record, and records what it cut (length and SHA-256 of the bytes, never the bytes) in an
// audit.recover record, so the repair itself is on the chain. It is called under the file lock.
func (l *Log) recoverTornTail(torn *tornTailError) error {
	frag := make([]byte, torn.size-torn.end)
	if _, err := l.f.ReadAt(frag, torn.end); err != nil {
		return fmt.Errorf("%w: audit log %s: read incomplete record: %w", ErrUnavailable, l.path, err)
	}
	sum := sha256.Sum256(frag)
	st, err := readTail(l.f, torn.end)
	if err != nil {
		return fmt.Errorf("%w: audit log %s: %w", ErrUnavailable, l.path, err)
	}
	// A line the head file covers was synced and sealed: losing it is truncation, not a crash.
	if head, err := ReadHead(l.headPath); err == nil && st.seq < head.Seq+1 {
		return fmt.Errorf("%w: %w: audit log %s ends in an incomplete record at seq %d, which its head file says was complete and sealed\n"+
			"run `secretshift audit verify --log %s`, then move the log and its head file aside to start a new log",
			ErrUnavailable, ErrTampered, l.path, st.seq+1, l.path)
	}
	if err := l.f.Truncate(torn.end); err != nil {
		return l.fail("cut incomplete record", err)
	}
	if err := l.f.Sync(); err != nil {
		return l.fail("cut incomplete record", err)
	}
	st.size = torn.end
	l.st, l.synced = st, torn.end
	rec := l.newRecord(Event{Action: ActionRecover, Outcome: OutcomeSuccess, Details: map[string]string{
		"reason":           "the log ended with an incomplete record (a writer stopped in the middle of a write); it was cut off",
		"truncated_bytes":  strconv.Itoa(len(frag)),
		"truncated_sha256": hex.EncodeToString(sum[:]),
	}})
	if err := l.append(rec); err != nil {
		return err
	}
	l.since++
	l.wrote = true
	l.cut += len(frag)
	return nil
}

// Recovered returns how many bytes of an incomplete last record (left by a writer that stopped
// mid-write) this Log has cut off the file, each time recorded as audit.recover; 0 if none.
func (l *Log) Recovered() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cut
}

// lastLineEnd returns the offset just after the last newline in the first size bytes of f (0
// when there is none). A record line is never longer than maxLineLen, so it looks no further.
func lastLineEnd(f *os.File, size int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		if size-end > maxLineLen {
			return 0, fmt.Errorf("last record is longer than %d bytes", maxLineLen)
		}
		start := max(0, end-int64(len(buf)))
		chunk := buf[:end-start]
		if _, err := f.ReadAt(chunk, start); err != nil && err != io.EOF {
			return 0, fmt.Errorf("read last record: %w", err)
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}

// checkHeadFile refuses a log that is shorter than its head file says: continuing it and then
// overwriting the head file would hide the truncation.
func (l *Log) checkHeadFile(keys bool) error {
	head, err := ReadHead(l.headPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if l.st.seq < head.Seq+1 {
		return fmt.Errorf("%w: %w: audit log %s ends at seq %d, but its head file records a checkpoint at seq %d\n"+
			"run `secretshift audit verify --log %s`, then move the log and its head file aside to start a new log",
			ErrUnavailable, ErrTampered, l.path, l.st.seq, head.Seq+1, l.path)
	}
	if !keys {
		return nil
	}
	return l.checkKeys(head)
}

// checkKeys refuses keys other than those that made the head checkpoint.
func (l *Log) checkKeys(head *Checkpoint) error {
	const advice = "use the keys this log was started with, or rotate it (`secretshift audit rotate`) to go on under new keys"
	if head.KeyID != l.keyID {
		return fmt.Errorf("%w: %w: audit log %s is signed with key %s, and the signing key given is %s\n%s",
			ErrUnavailable, ErrKeyMismatch, l.path, printableID(head.KeyID), l.keyID, advice)
	}
	if head.FingerprintKeyID != "" && l.fpKeyID != "" && head.FingerprintKeyID != l.fpKeyID {
		return fmt.Errorf("%w: %w: audit log %s holds fingerprints under HMAC key %s, and the HMAC key given is %s\n%s",
			ErrUnavailable, ErrKeyMismatch, l.path, printableID(head.FingerprintKeyID), l.fpKeyID, advice)
	}
	return nil
}

// printableID returns a key id read from a file for an error message: as it is if it has the
// shape of one (lowercase letters, digits, ':' and '-'), else a placeholder.
func printableID(s string) string {
	if s == "" || len(s) > 128 || strings.ContainsFunc(s, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != ':' && r != '-'
	}) {
		return "(an unreadable key id)"
	}
	return s
}

// readTail reads the last record of a file of size bytes and checks its hash.
func readTail(f *os.File, size int64) (tailState, error) {
	if size == 0 {
		return tailState{hash: GenesisHash, checkpoint: true}, nil
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return tailState{}, fmt.Errorf("read last record: %w", err)
	}
	if last[0] != '\n' {
		end, err := lastLineEnd(f, size)
		if err != nil {
			return tailState{}, err
		}
		return tailState{}, &tornTailError{end: end, size: size}
	}
	start, err := lastLineEnd(f, size-1)
	if err != nil {
		return tailState{}, err
	}
	line := make([]byte, size-1-start)
	if _, err := f.ReadAt(line, start); err != nil && err != io.EOF {
		return tailState{}, fmt.Errorf("read last record: %w", err)
	}
	return tailFromLine(line)
}

func tailFromLine(line []byte) (tailState, error) {
	obj, err := parseStrict(line)
	if err != nil {
		return tailState{}, fmt.Errorf("last record is not valid JSON: %w", err)
	}
	m, ok := obj.(map[string]any)
	if !ok {
		return tailState{}, errors.New("last record is not a JSON object")
	}
	var rec Record
	if err := json.Unmarshal(line, &rec); err != nil {
		return tailState{}, fmt.Errorf("last record: %w", err)
	}
	sum, err := hashObject(m)
	if err != nil {
		return tailState{}, fmt.Errorf("last record: %w", err)
	}
	if rec.Hash == "" || sum != rec.Hash || rec.Seq == 0 {
		return tailState{}, fmt.Errorf("%w: the last record (seq %d) does not match its hash", ErrTampered, rec.Seq)
	}
	return tailState{seq: rec.Seq, hash: rec.Hash, checkpoint: rec.Action == ActionCheckpoint, runID: rec.RunID}, nil
}

func (l *Log) newRecord(e Event) *Record {
	r := &Record{
		Time:         l.opts.Now().UTC(),
		RunID:        l.opts.RunID,
		EventID:      newID(),
		Action:       e.Action,
		Outcome:      e.Outcome,
		ErrorClass:   e.ErrorClass,
		Error:        e.Error,
		Source:       e.Source,
		Target:       e.Target,
		Keys:         e.Keys,
		Fingerprints: e.Fingerprints,
		Details:      e.Details,
		keySet:       e.KeySet,
	}
	if !l.opts.Actor.IsZero() {
		r.Actor = &l.opts.Actor // shared: records are not changed once made
	}
	return r
}

// append chains rec to the current head, writes it as one line with a single write, and syncs.
// The caller holds the file lock and has called refresh.
func (l *Log) append(rec *Record) error {
	if err := l.write(rec); err != nil {
		return err
	}
	return l.sync()
}

// write chains rec to the current head and adds its line to the pending buffer; sync writes
// the buffer with one write call and syncs it before anything is reported durable.
func (l *Log) write(rec *Record) error {
	rec.Seq = l.st.seq + 1
	rec.Prev = l.st.hash
	rec.Hash = ""
	start := len(l.pending)
	l.pending = l.enc.encode(l.pending, rec)
	l.pending = append(l.pending, '\n')
	l.st = tailState{
		size:       l.st.size + int64(len(l.pending)-start),
		seq:        rec.Seq,
		hash:       rec.Hash,
		checkpoint: rec.Action == ActionCheckpoint,
		runID:      rec.RunID,
	}
	return nil
}

// sync writes the pending lines with one write call and makes them durable.
func (l *Log) sync() error {
	if len(l.pending) > 0 {
		_, err := l.f.Write(l.pending)
		l.pending = l.pending[:0]
		if err != nil {
			// Cut a partial write off so the file stays parseable; the error stays sticky anyway.
			_ = l.f.Truncate(l.synced)
			return l.fail("write audit log", err)
		}
	}
	if err := l.f.Sync(); err != nil {
		return l.fail("sync audit log", err)
	}
	l.syncs++
	l.synced = l.st.size
	return nil
}

// checkpoint appends a signed checkpoint covering every record in the file, then replaces the
// head file with it. It does nothing when the last record already is a checkpoint of this run,
// or of another run if this Log has recorded nothing: every run that recorded something ends
// with a checkpoint of its own, even when concurrent runs append to the same file.
func (l *Log) checkpoint() error {
	if l.st.checkpoint && (l.st.runID == l.opts.RunID || !l.wrote) {
		return nil
	}
	now := l.opts.Now().UTC()
	cp := Checkpoint{
		Seq:              l.st.seq,
		Count:            l.st.seq,
		Head:             l.st.hash,
		RunID:            l.opts.RunID,
		EventID:          newID(),
		Time:             formatTime(now),
		KeyID:            l.keyID,
		FingerprintKeyID: l.fpKeyID,
	}
	if err := signCheckpoint(&cp, l.opts.Signer); err != nil {
		return fmt.Errorf("%w: sign checkpoint: %w", ErrUnavailable, err)
	}
	rec := &Record{Time: now, RunID: cp.RunID, EventID: cp.EventID, Action: ActionCheckpoint, Outcome: OutcomeSuccess, Checkpoint: &cp}
	if err := l.append(rec); err != nil {
		return err
	}
	l.since = 0
	return l.writeHead(&cp)
}

func signCheckpoint(cp *Checkpoint, key ed25519.PrivateKey) error {
	cp.Signature = ""
	obj, err := toObject(cp)
	if err != nil {
		return err
	}
	msg, err := checkpointMessage(obj)
	if err != nil {
		return err
	}
	cp.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, msg))
	return nil
}

// writeHead atomically replaces the head file with cp (write, sync, rename, sync directory).
func (l *Log) writeHead(cp *Checkpoint) error {
	if old, err := ReadHead(l.headPath); err == nil && old.Seq > cp.Seq {
		return fmt.Errorf("%w: %w: head file %s records seq %d, beyond the log's seq %d", ErrUnavailable, ErrTampered, l.headPath, old.Seq, cp.Seq)
	}
	b, err := json.Marshal(cp)
	if err != nil {
		return fmt.Errorf("%w: encode head file: %w", ErrUnavailable, err)
	}
	tmp := l.headPath + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return l.fail("write head file", err)
	}
	_, werr := f.Write(append(b, '\n'))
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(tmp)
		return l.fail("write head file", err)
	}
	if err := os.Rename(tmp, l.headPath); err != nil {
		return l.fail("replace head file", err)
	}
	if err := syncDir(filepath.Dir(l.headPath)); err != nil {
		return l.fail("write head file", err)
	}
	return nil
}

// ReadHead reads a head file. The error wraps fs.ErrNotExist when there is none.
func ReadHead(path string) (*Checkpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read head file %s: %w", path, err)
	}
	if _, err := parseStrict(bytes.TrimSpace(b)); err != nil {
		return nil, fmt.Errorf("head file %s: %w", path, err)
	}
	var cp Checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, fmt.Errorf("head file %s: %w", path, err)
	}
	return &cp, nil
}

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

// newID returns a random UUID (version 4).
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("audit: read random bytes: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
