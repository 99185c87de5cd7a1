package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gofrs/flock"
)

// ErrUnavailable means the audit log could not be written. Every error from Open, Record, Close
// and Rotate that leaves an action unrecorded wraps it; callers must stop before the next
// change, the way Vault refuses requests it cannot audit.
var ErrUnavailable = errors.New("audit log unavailable")

// ErrTampered means the log contradicts itself. Open returns it, together with ErrUnavailable,
// only for a log shorter than its head file says, which appending would hide; every other
// contradiction the writer finds is an *IntegrityError, which wraps it, from Log.Integrity, and
// the Log appends all the same (see the package documentation). Run Verify to find the first
// broken record.
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

// Options configure Open.
type Options struct {
	// Fingerprinter is the HMAC key fingerprints are made under. Optional; when set, its KeyID
	// is written into checkpoints as fingerprint_key_id.
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
	pubKeyID string
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
	// integrity is the first contradiction found in the file (see Integrity); while it is set
	// the head file is left as it is.
	integrity *IntegrityError
}

// Open opens the log at path for appending, creating it (directories 0700, file 0600) if
// needed. It fails, wrapping ErrUnavailable, when the file cannot be created, locked or read,
// when it is shorter than its head file says (ErrTampered), or when the head file names other
// keys (ErrKeyMismatch); and with ErrInvalidEvent for an Options.Actor whose store identities
// break the StoreIdentity rules. Other contradictions in the file do not stop it: Integrity
// reports them.
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
	if err := opts.Actor.validate(); err != nil {
		return nil, fmt.Errorf("%w: open audit log %s: actor: %w", ErrInvalidEvent, path, err)
	}
	// Records share the actor and must not change once made: the caller keeps its own maps.
	opts.Actor.Stores = cloneStores(opts.Actor.Stores)
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
		pubKeyID: PublicKeyID(opts.Signer.Public().(ed25519.PublicKey)),
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
	head, err := l.readHeadFile()
	if err == nil {
		err = l.checkHeadFile(head, keys)
	}
	// Under other keys (Rotate to new keys) the signatures cannot be checked.
	if err == nil && (head == nil || head.PublicKeyID == l.pubKeyID) {
		err = l.checkIntegrity(head)
	}
	if err != nil {
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

func (l *Log) newRecord(e Event) *Record {
	r := &Record{
		Time:          l.opts.Now().UTC(),
		FormatVersion: RecordFormat,
		RunID:         l.opts.RunID,
		EventID:       newID(),
		Action:        e.Action,
		Outcome:       e.Outcome,
		ErrorClass:    e.ErrorClass,
		Error:         e.Error,
		Source:        e.Source,
		Target:        e.Target,
		Keys:          e.Keys,
		Fingerprints:  e.Fingerprints,
		Details:       e.Details,
		keySet:        e.KeySet,
	}
	if !l.opts.Actor.IsZero() {
		r.Actor = &l.opts.Actor // shared: records are not changed once made
	}
	return r
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
