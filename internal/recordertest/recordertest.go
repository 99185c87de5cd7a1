// Package recordertest is an audit log in memory for the tests of the packages that write
// through one (job, migrate): it keeps the events, and can fail every record, or every record
// after the first n, the way a full disk would.
package recordertest

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/secretshift/secretshift/audit"
)

// ErrDiskFull is what a failing Log returns.
var ErrDiskFull = errors.New("disk full")

// Log records events synchronously and in batches (job.Recorder, job.BatchRecorder).
type Log struct {
	mu sync.Mutex
	// Events are the records made so far; read them once the run is over.
	Events []audit.Event
	// Fail makes every record fail.
	Fail bool
	// left, when limited, is how many records still succeed.
	left    int
	limited bool
}

// FailingAfter returns a Log whose single records fail after the first n; batches (the
// intents recorded ahead) still succeed, so the failure hits the outcomes of a run.
func FailingAfter(n int) *Log { return &Log{left: n, limited: true} }

// Record implements job.Recorder.
func (l *Log) Record(_ context.Context, e audit.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.limited {
		l.left--
		if l.left < 0 {
			return ErrDiskFull
		}
	}
	return l.appendLocked(e)
}

// RecordBatch implements job.BatchRecorder, as *audit.Log does.
func (l *Log) RecordBatch(_ context.Context, events []audit.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range events {
		if err := l.appendLocked(e); err != nil {
			return err
		}
	}
	return nil
}

func (l *Log) appendLocked(e audit.Event) error {
	if l.Fail {
		return ErrDiskFull
	}
	l.Events = append(l.Events, e)
	return nil
}

// Count returns how many records have action and outcome.
func (l *Log) Count(action string, outcome audit.Outcome) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.Events {
		if e.Action == action && e.Outcome == outcome {
			n++
		}
	}
	return n
}

// Async is a Log that also queues records (job.AsyncRecorder); each becomes durable Delay
// after it was queued.
type Async struct {
	*Log
	Delay time.Duration
}

// RecordAsync implements job.AsyncRecorder.
func (a *Async) RecordAsync(e audit.Event, done func(error)) error {
	go func() {
		time.Sleep(a.Delay)
		done(a.Record(context.Background(), e))
	}()
	return nil
}

// Flush implements job.AsyncRecorder; the queued records finish on their own.
func (a *Async) Flush(context.Context) error { return nil }

// Snapshot returns a copy of the events recorded so far; safe while a run goes on.
func (l *Log) Snapshot() []audit.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]audit.Event(nil), l.Events...)
}
