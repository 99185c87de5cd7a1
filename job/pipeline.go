package job

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/secretshift/secretshift/audit"
)

// Recorder is the audit log as a job sees it. Record must return only after the event is
// durable; an error stops the job before any further write (fail-closed).
type Recorder interface {
	Record(ctx context.Context, e audit.Event) error
}

// BatchRecorder is implemented by recorders that can make many events durable at once
// (*audit.Log).
type BatchRecorder interface {
	RecordBatch(ctx context.Context, events []audit.Event) error
}

// AsyncRecorder is implemented by recorders that can queue an event without waiting for the
// disk and say when it is durable (*audit.Log). done must not record anything itself.
type AsyncRecorder interface {
	RecordAsync(e audit.Event, done func(error)) error
	Flush(ctx context.Context) error
}

// ErrAudit marks a failure to write the audit log (it is audit.ErrUnavailable). The job
// stopped; no write happened without its intent on record.
var ErrAudit = audit.ErrUnavailable

// AuditError marks err as a failure of the audit log, unless it already is one.
func AuditError(err error) error {
	if err == nil || errors.Is(err, ErrAudit) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrAudit, err)
}

// Pipeline is the fail-closed record-then-act discipline of one run of a job, for items
// identified by K:
//
//   - Act records an item's write intent durably, then lets the write happen; a failure to
//     record stops the run (its context is cancelled) and the write never happens;
//   - intents can be recorded ahead in batches (RecordIntents), at most one batch ahead of the
//     items workers have begun, so that one disk flush covers many writes;
//   - RecordThen records an outcome without holding up the worker and reports the item done
//     only once that record is durable;
//   - Wait returns once every outcome is durable, with the first audit failure.
//
// A nil Recorder (tests, dry runs) records nothing and lets every act happen.
type Pipeline[K comparable] struct {
	rec    Recorder
	cancel context.CancelCauseFunc

	intents map[K]*intentChunk

	pending sync.WaitGroup
	errMu   sync.Mutex
	err     error
	// wrote counts writes that happened whose final outcome record is not durable yet.
	wrote atomic.Int64
}

// Start begins a pipeline. The returned context is cancelled when an audit record fails, so
// that workers stop; Close releases it.
func Start[K comparable](ctx context.Context, rec Recorder) (*Pipeline[K], context.Context) {
	ctx, cancel := context.WithCancelCause(ctx)
	return &Pipeline[K]{rec: rec, cancel: cancel, intents: map[K]*intentChunk{}}, ctx
}

// Close releases the pipeline's context.
func (p *Pipeline[K]) Close() { p.cancel(nil) }

// intentChunk is a group of write intents recorded together; ready is closed once they are
// durable (err nil) or failed; reached is closed once a worker has begun one of its items.
type intentChunk struct {
	ready   chan struct{}
	err     error
	reached chan struct{}
	once    sync.Once
}

// Intent batches grow from firstIntentBatch to maxIntentBatch items.
const (
	firstIntentBatch = 32
	maxIntentBatch   = 256
)

// RecordIntents records the write intent event(k) of each of keys in the background, in
// batches (when the recorder is a BatchRecorder): each intent is durable before its item's
// write, and one flush covers a batch. A batch is recorded once the workers have begun an item
// of the one before, so after a crash the log shows few intents of writes never begun. Items
// not given here record their intent in Act. Call it before the workers start; stop ends the
// background recording and waits for it.
//
// event is called in the background, for a batch at a time just before it is recorded, so
// that a large job holds the events of a batch or two rather than all of them: it must read
// only what the workers do not change.
func (p *Pipeline[K]) RecordIntents(ctx context.Context, keys []K, event func(K) audit.Event) (stop func()) {
	br, ok := p.rec.(BatchRecorder)
	if !ok || len(keys) == 0 {
		return func() {}
	}
	type chunk struct {
		c    *intentChunk
		keys []K
	}
	var chunks []chunk
	size := firstIntentBatch
	for _, k := range keys {
		if len(chunks) == 0 || len(chunks[len(chunks)-1].keys) == size {
			if len(chunks) > 0 {
				size = min(2*size, maxIntentBatch)
			}
			chunks = append(chunks, chunk{c: &intentChunk{ready: make(chan struct{}), reached: make(chan struct{})}})
		}
		ch := &chunks[len(chunks)-1]
		ch.keys = append(ch.keys, k)
		p.intents[k] = ch.c
	}
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var err error
		for i, ch := range chunks {
			if i > 0 && err == nil {
				select {
				case <-chunks[i-1].c.reached:
				case <-quit:
					err = errors.New("the run ended before these items were begun")
				case <-ctx.Done():
				}
			}
			if err == nil && ctx.Err() != nil {
				// The run stopped: no intents for items that will not be attempted.
				err = context.Cause(ctx)
			}
			if err == nil {
				events := make([]audit.Event, len(ch.keys))
				for j, k := range ch.keys {
					events[j] = event(k)
				}
				if err = br.RecordBatch(ctx, events); err != nil {
					err = AuditError(err)
				}
			}
			ch.c.err = err
			close(ch.c.ready)
		}
	}()
	return func() {
		close(quit)
		<-finished
	}
}

// Begin tells the pipeline a worker has begun k (it lets the next batch of intents go).
func (p *Pipeline[K]) Begin(k K) {
	if c := p.intents[k]; c != nil {
		c.once.Do(func() { close(c.reached) })
	}
}

// Act makes sure k's write intent is durable — recorded ahead by RecordIntents, or now — and
// only then calls write. An audit failure is returned (wrapping ErrAudit) and write is not
// called; otherwise Act returns write's error. A write that returns nil counts as one whose
// outcome is not on record until Done or RecordThen says so.
func (p *Pipeline[K]) Act(ctx context.Context, k K, intent audit.Event, write func() error) error {
	if p.rec != nil {
		recorded, err := p.intentRecorded(ctx, k)
		if err != nil {
			return err
		}
		if !recorded {
			if err := p.Record(ctx, intent); err != nil {
				return err
			}
		}
	}
	if err := write(); err != nil {
		return err
	}
	p.wrote.Add(1)
	return nil
}

// intentRecorded waits until the intent of k, recorded ahead, is durable. It reports false for
// items whose intent was not recorded ahead.
func (p *Pipeline[K]) intentRecorded(ctx context.Context, k K) (bool, error) {
	c := p.intents[k]
	if c == nil {
		return false, nil
	}
	select {
	case <-c.ready:
		return true, c.err
	case <-ctx.Done():
		return true, context.Cause(ctx)
	}
}

// Record writes one event and waits until it is durable; a failure wraps ErrAudit.
func (p *Pipeline[K]) Record(ctx context.Context, e audit.Event) error {
	if p.rec == nil {
		return nil
	}
	if err := p.rec.Record(ctx, e); err != nil {
		return AuditError(err)
	}
	return nil
}

// RecordThen records an outcome without holding up the worker and calls then once the record
// is durable: the item is reported done only after that. The first failure stops the run
// (fail-closed) and Wait reports it. settles says the event is the final outcome of a write
// Act let happen.
func (p *Pipeline[K]) RecordThen(ctx context.Context, e audit.Event, settles bool, then func()) {
	finish := func() {
		if settles {
			p.wrote.Add(-1)
		}
		if then != nil {
			then()
		}
	}
	if p.rec == nil {
		finish()
		return
	}
	p.pending.Add(1)
	done := func(err error) {
		defer p.pending.Done()
		if err != nil {
			err = AuditError(err)
			p.errMu.Lock()
			if p.err == nil {
				p.err = err
			}
			p.errMu.Unlock()
			p.cancel(err)
			return
		}
		finish()
	}
	if ar, ok := p.rec.(AsyncRecorder); ok {
		if err := ar.RecordAsync(e, done); err != nil {
			done(err)
		}
		return
	}
	go func() { done(p.rec.Record(context.WithoutCancel(ctx), e)) }()
}

// Wait returns once every outcome record is durable, with the first audit failure.
func (p *Pipeline[K]) Wait(ctx context.Context) error {
	if ar, ok := p.rec.(AsyncRecorder); ok {
		if err := ar.Flush(context.WithoutCancel(ctx)); err != nil {
			p.errMu.Lock()
			if p.err == nil {
				p.err = AuditError(err)
			}
			p.errMu.Unlock()
		}
	}
	p.pending.Wait()
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return p.err
}

// Unrecorded counts writes that happened whose final outcome is not on record (the run
// stopped before it was). The next run finds them written and records that.
func (p *Pipeline[K]) Unrecorded() int { return int(p.wrote.Load()) }
