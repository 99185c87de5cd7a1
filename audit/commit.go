package audit

import (
	"context"
	"fmt"
	"time"
)

// Async commits: a record whose caller does not wait for it is written with the next group
// commit, which comes with the next Record, RecordBatch or Flush call, once AsyncBatch records
// are waiting, or AsyncDelay after the first of them, whichever is first.
const (
	AsyncBatch = 512
	AsyncDelay = 100 * time.Millisecond
)

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
