package job

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/internal/recordertest"
)

// memStore is the smallest store a job writes to: versions and check-and-set. The pipeline's
// guarantees are shown against it, without migrate (rotate and cutover use the same pipeline).
type memStore struct {
	mu      sync.Mutex
	values  map[string]string
	version map[string]int
	writes  int
}

func newStore() *memStore { return &memStore{values: map[string]string{}, version: map[string]int{}} }

func (s *memStore) write(addr, v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values[addr] = v
	s.version[addr]++
	s.writes++
}

const actionWrite = "test.write"

func event(addr string, outcome audit.Outcome) audit.Event {
	return audit.Event{Action: actionWrite, Outcome: outcome, Target: &audit.StoreTarget{Provider: "mem", Address: addr}}
}

// run is one run of a job over addrs the way rotate or cutover would drive the pipeline:
// skip what the journal says is done, record the intent, write, journal, record the outcome.
// crashAfterIntent simulates a kill between a durable intent and the store write.
func run(t *testing.T, dir string, store *memStore, log Recorder, addrs []string, crashAfterIntent string) (done int, err error) {
	t.Helper()
	j, err := OpenJournal(dir, "job-1")
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.Begin(fmt.Sprint(time.Now().UnixNano())); err != nil {
		t.Fatal(err)
	}
	pipe, ctx := Start[string](context.Background(), log)
	defer pipe.Close()
	stop := pipe.RecordIntents(ctx, addrs, func(a string) audit.Event { return event(a, audit.OutcomeAttempt) })
	var mu sync.Mutex
	err = Each(ctx, addrs, Limits{Concurrency: 4}, func(ctx context.Context, addr string) error {
		pipe.Begin(addr)
		k := Key{Ref: addr, Target: "mem:" + addr, Fingerprint: "fp-" + addr}
		if _, ok := j.Last(k); ok {
			return nil
		}
		err := pipe.Act(ctx, addr, event(addr, audit.OutcomeAttempt), func() error {
			if addr == crashAfterIntent {
				return errCrash
			}
			store.write(addr, "v")
			return nil
		})
		if err != nil {
			return err
		}
		j.Mark(k, StateWritten, "1")
		pipe.RecordThen(ctx, event(addr, audit.OutcomeSuccess), true, func() {
			j.Mark(k, StateVerified, "1")
			mu.Lock()
			done++
			mu.Unlock()
		})
		return nil
	})
	stop()
	if werr := pipe.Wait(ctx); werr != nil {
		err = werr
	}
	return done, err
}

var errCrash = errors.New("killed")

func addresses(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("ns/s%03d", i)
	}
	return out
}

func TestAuditFailureStopsBeforeTheStoreWrite(t *testing.T) {
	store, log := newStore(), &recordertest.Async{Log: &recordertest.Log{Fail: true}}
	_, err := run(t, t.TempDir(), store, log, addresses(50), "")
	if !errors.Is(err, ErrAudit) {
		t.Fatalf("err %v, want ErrAudit", err)
	}
	if store.writes != 0 {
		t.Errorf("%d store writes happened without a durable intent", store.writes)
	}
}

func TestAuditFailureMidRunLeavesNoWriteWithoutIntent(t *testing.T) {
	store := newStore()
	log := recordertest.FailingAfter(40)
	_, err := run(t, t.TempDir(), store, log, addresses(300), "")
	if !errors.Is(err, ErrAudit) {
		t.Fatalf("err %v, want ErrAudit", err)
	}
	intents := map[string]bool{}
	for _, e := range log.Events {
		if e.Outcome == audit.OutcomeAttempt {
			intents[e.Target.Address] = true
		}
	}
	for addr := range store.values {
		if !intents[addr] {
			t.Errorf("%s was written without its intent on record", addr)
		}
	}
}

func TestCrashAfterIntentThenResume(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "journal")
	store, log := newStore(), &recordertest.Async{Log: &recordertest.Log{}}
	addrs := addresses(100)
	// The first run dies after the intent of one item is durable, before its write.
	_, err := run(t, dir, store, log, addrs, addrs[37])
	if !errors.Is(err, errCrash) {
		t.Fatalf("first run: %v", err)
	}
	if log.Count(actionWrite, audit.OutcomeAttempt) == 0 {
		t.Fatal("no intent was recorded")
	}
	if _, ok := store.values[addrs[37]]; ok {
		t.Fatal("the crashed item was written")
	}
	firstWrites := store.writes
	// The same job again finishes: every item written exactly once, the journal skipping what
	// the first run finished.
	done, err := run(t, dir, store, log, addrs, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(store.values) != len(addrs) || store.writes != len(addrs) {
		t.Errorf("%d values, %d writes (%d in the first run, %d resumed); want %d each", len(store.values), store.writes, firstWrites, done, len(addrs))
	}
	for a, v := range store.version {
		if v != 1 {
			t.Errorf("%s has %d versions", a, v)
		}
	}
	if got := log.Count(actionWrite, audit.OutcomeSuccess); got != len(addrs) {
		t.Errorf("%d outcomes on record, want one per item (%d)", got, len(addrs))
	}
	// A third run writes nothing.
	if _, err := run(t, dir, store, log, addrs, ""); err != nil || store.writes != len(addrs) {
		t.Errorf("third run: %v, %d writes", err, store.writes)
	}
}

func TestDoneOnlyOnceTheOutcomeIsDurable(t *testing.T) {
	log := &recordertest.Async{Log: &recordertest.Log{}, Delay: 30 * time.Millisecond}
	pipe, ctx := Start[string](context.Background(), log)
	defer pipe.Close()
	var reported atomic.Bool
	if err := pipe.Act(ctx, "a", event("a", audit.OutcomeAttempt), func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if pipe.Unrecorded() != 1 {
		t.Errorf("unrecorded %d after the write, want 1", pipe.Unrecorded())
	}
	pipe.RecordThen(ctx, event("a", audit.OutcomeSuccess), true, func() {
		if log.Count(actionWrite, audit.OutcomeSuccess) != 1 {
			t.Error("reported done before its outcome was recorded")
		}
		reported.Store(true)
	})
	if reported.Load() {
		t.Error("reported before the record was durable")
	}
	if err := pipe.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if !reported.Load() || pipe.Unrecorded() != 0 {
		t.Errorf("after Wait: reported %v, unrecorded %d", reported.Load(), pipe.Unrecorded())
	}
}

func TestEachBoundsConcurrency(t *testing.T) {
	var inFlight, most atomic.Int32
	err := Each(context.Background(), addresses(64), Limits{Concurrency: 3}, func(context.Context, string) error {
		n := inFlight.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		inFlight.Add(-1)
		return nil
	})
	if err != nil || most.Load() > 3 {
		t.Errorf("err %v, %d in flight at most (limit 3)", err, most.Load())
	}
}

func TestClass(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{ErrVerify, "verify"},
		{fmt.Errorf("x: %w", context.Canceled), "cancelled"},
		{Reported{Text: "t", ClassName: "changed-in-store", Cause: errors.New("c")}, "changed-in-store"},
		{Reported{Text: "t", Cause: ErrVerify}, "verify"},
		{errors.New("other"), "error"},
	}
	for _, tt := range tests {
		if got := Class(tt.err); got != tt.want {
			t.Errorf("Class(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestResults(t *testing.T) {
	var ticks atomic.Int32
	prog := &countingProgress{ticks: &ticks}
	r := NewResults[string, string](100, prog)
	err := Each(context.Background(), addresses(100), Limits{Concurrency: 8}, func(_ context.Context, a string) error {
		res := "ok"
		if a < "ns/s010" {
			res = "failed"
		}
		r.Add(a, res)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	items := r.Items(func(s string) string { return s })
	if len(items) != 100 || items[0] != "ns/s000" || items[99] != "ns/s099" {
		t.Errorf("items not sorted or lost: %d, first %q", len(items), items[0])
	}
	if c := r.Counts(); c["failed"] != 10 || c["ok"] != 90 || r.Count("ok") != 90 {
		t.Errorf("counts %v", c)
	}
	if prog.total != 100 || ticks.Load() != 100 {
		t.Errorf("progress: total %d, ticks %d", prog.total, ticks.Load())
	}
}

type countingProgress struct {
	total int
	ticks *atomic.Int32
}

func (p *countingProgress) Start(n int) { p.total = n }
func (p *countingProgress) Done()       { p.ticks.Add(1) }
