package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestConcurrentGoroutines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	opts := testOptions(t, "run-goroutines")
	opts.CheckpointEvery = 7
	l, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				if err := l.Record(context.Background(), sampleEvent(opts.Fingerprinter, g*100+i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	verifyFile(t, path, 200)
}

const childEnv = "SECRETSHIFT_AUDIT_TEST_CHILD"

// TestChildAppend is the body of the child processes of TestConcurrentProcesses; it does
// nothing in a normal test run.
func TestChildAppend(t *testing.T) {
	spec := os.Getenv(childEnv)
	if spec == "" {
		t.Skip("only runs as a child of TestConcurrentProcesses")
	}
	path, nStr, _ := strings.Cut(spec, "|")
	n, _ := strconv.Atoi(nStr)
	opts := testOptions(t, fmt.Sprintf("run-pid-%d", os.Getpid()))
	opts.CheckpointEvery = 10
	opts.Now = nil
	l, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Every third record is queued without waiting, as the engine queues outcomes.
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		if i%3 == 2 {
			wg.Add(1)
			if err := l.RecordAsync(sampleEvent(opts.Fingerprinter, i), func(err error) {
				defer wg.Done()
				if err != nil {
					t.Error(err)
				}
			}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := l.Record(context.Background(), sampleEvent(opts.Fingerprinter, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}

func TestConcurrentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	const procs, each = 3, 60
	var wg sync.WaitGroup
	outs := make([]bytes.Buffer, procs)
	for p := 0; p < procs; p++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestChildAppend$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+path+"|"+strconv.Itoa(each))
		cmd.Stdout, cmd.Stderr = &outs[p], &outs[p]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cmd.Wait(); err != nil {
				t.Errorf("child %d: %v\n%s", p, err, outs[p].String())
			}
		}()
	}
	wg.Wait()
	rep := verifyFile(t, path, procs*each)
	if rep.Runs != procs {
		t.Errorf("log holds %d runs, want %d", rep.Runs, procs)
	}
	// The runs interleave rather than run one after another, or the test proves little.
	b, _ := os.ReadFile(path)
	switches, last := 0, ""
	for _, line := range splitLines(b) {
		var r Record
		json.Unmarshal(line, &r)
		if r.RunID != last {
			switches++
			last = r.RunID
		}
	}
	t.Logf("%d records, %d checkpoints, %d run switches", rep.Records, rep.Checkpoints, switches)
}

// benchLog opens a log as the commands do, for the Record benchmarks.
func benchLog(b *testing.B) (*Log, Options, Event) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "audit.jsonl")
	opts := testOptions(b, "run-bench")
	opts.CheckpointEvery = 0 // the default
	opts.Now = nil
	l, err := Open(path, opts)
	if err != nil {
		b.Fatal(err)
	}
	return l, opts, sampleEvent(opts.Fingerprinter, 0)
}

func BenchmarkRecord(b *testing.B) {
	l, _, e := benchLog(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := l.Record(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRecordParallel measures Record with 16 writers in flight, as the migration engine
// runs it: group commit shares one fsync among the records queued meanwhile.
func BenchmarkRecordParallel(b *testing.B) {
	l, opts, e := benchLog(b)
	path := l.Path()
	ctx := context.Background()
	b.SetParallelism(8) // 8 × GOMAXPROCS goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Record(ctx, e); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if rep := Verify(f, opts.Signer.Public().(ed25519.PublicKey), nil); !rep.OK {
		b.Fatalf("log written in parallel does not verify: %+v", rep)
	}
}

func TestRecordBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	opts := testOptions(t, "run-batch")
	l, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	var events []Event
	for i := range 250 {
		events = append(events, sampleEvent(opts.Fingerprinter, i))
	}
	if err := l.RecordBatch(context.Background(), events); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep := Verify(f, opts.Signer.Public().(ed25519.PublicKey), nil)
	if !rep.OK || rep.Records < 250 {
		t.Fatalf("batch log: %+v", rep)
	}
}

func TestRecordAsync(t *testing.T) {
	ctx := context.Background()
	fp := testFingerprinter(t)

	t.Run("done is called once the record is on disk", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		l, err := Open(path, testOptions(t, "run-async"))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		if err := l.RecordAsync(sampleEvent(fp, 0), func(err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
		// Nobody waits and nothing else is recorded: the delay commits it.
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("an async record was not committed after its delay")
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(splitLines(b)); n != 1 {
			t.Fatalf("log holds %d lines when done was called, want 1", n)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		verifyFile(t, path, 1)
	})

	t.Run("a synchronous record commits queued ones first", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		l, err := Open(path, testOptions(t, "run-async-order"))
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var order []int
		for i := range 5 {
			if err := l.RecordAsync(sampleEvent(fp, i), func(err error) {
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
			}); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Record(ctx, sampleEvent(fp, 5)); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		if len(order) != 5 {
			t.Errorf("after Record returned, %d of 5 queued records were reported durable", len(order))
		}
		mu.Unlock()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		verifyFile(t, path, 6)
		b, _ := os.ReadFile(path)
		i := 0
		for _, line := range splitLines(b) {
			var r Record
			if err := json.Unmarshal(line, &r); err != nil {
				t.Fatal(err)
			}
			if r.Action == ActionCheckpoint {
				continue
			}
			i++
			if want := sampleEvent(fp, i-1).Source.Name; r.Source.Name != want {
				t.Errorf("line %d is %s, want %s: records out of order", i+1, r.Source.Name, want)
			}
		}
	})

	t.Run("flush and close write what is queued", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		l, err := Open(path, testOptions(t, "run-async-flush"))
		if err != nil {
			t.Fatal(err)
		}
		var durable atomic.Int32
		for i := range 3 * AsyncBatch / 2 {
			if err := l.RecordAsync(sampleEvent(fp, i), func(err error) {
				if err == nil {
					durable.Add(1)
				}
			}); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if got := durable.Load(); got != 3*AsyncBatch/2 {
			t.Errorf("after Flush, %d of %d records were reported durable", got, 3*AsyncBatch/2)
		}
		if err := l.RecordAsync(sampleEvent(fp, 0), func(error) {}); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		verifyFile(t, path, 3*AsyncBatch/2+1)
	})

	t.Run("records arriving during a commit wait for the delay, not another flush", func(t *testing.T) {
		// Outcomes trickle in while intents are committed: each commit must not be followed at
		// once by another for the few records that arrived during its flush, or the log flushes
		// the disk hundreds of times a second.
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		opts := testOptions(t, "run-async-trickle")
		opts.CheckpointEvery = 1 << 20 // only the final one
		l, err := Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		// Outcomes arrive one every 100µs, faster than most disks flush (paced by spinning:
		// a sleep that short lasts a millisecond or more), and an intent every 50ms.
		const n, every, syncEvery = 3000, 100 * time.Microsecond, 50 * time.Millisecond
		var wg sync.WaitGroup
		wg.Add(n)
		stop, stopped := make(chan struct{}), make(chan struct{})
		intents := 0
		go func() {
			defer close(stopped)
			tick := time.NewTicker(syncEvery)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if err := l.Record(ctx, sampleEvent(fp, intents)); err != nil {
						t.Error(err)
					}
					intents++
				}
			}
		}()
		start := time.Now()
		for i := range n {
			for time.Since(start) < time.Duration(i)*every {
			}
			if err := l.RecordAsync(sampleEvent(fp, i), func(err error) {
				if err != nil {
					t.Error(err)
				}
				wg.Done()
			}); err != nil {
				t.Fatal(err)
			}
		}
		close(stop)
		<-stopped
		if err := l.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		elapsed := time.Since(start)
		l.mu.Lock()
		syncs := l.syncs
		l.mu.Unlock()
		// One flush per synchronous record, per AsyncBatch records, per AsyncDelay of the
		// run, the final Flush's and checkpoint's, and as much again for slack.
		limit := 2 * (intents + n/AsyncBatch + int(elapsed/AsyncDelay) + 2)
		t.Logf("%d async and %d sync records over %s: %d flushes of the log (at most %d)", n, intents, elapsed.Round(time.Millisecond), syncs, limit)
		if syncs > limit {
			t.Errorf("%d async and %d sync records over %s took %d flushes of the log, want at most %d", n, intents, elapsed.Round(time.Millisecond), syncs, limit)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		verifyFile(t, path, n+intents)
	})

	t.Run("invalid events are refused at once", func(t *testing.T) {
		l, err := Open(filepath.Join(t.TempDir(), "audit.jsonl"), testOptions(t, "run-async-invalid"))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		called := false
		err = l.RecordAsync(Event{Action: "Not An Action", Outcome: OutcomeSuccess}, func(error) { called = true })
		if !errors.Is(err, ErrInvalidEvent) || called {
			t.Fatalf("RecordAsync = %v (done called: %v), want ErrInvalidEvent and no call", err, called)
		}
	})

	t.Run("a failed write is reported to done, Flush and Close", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		if err := os.Symlink("/dev/full", path); err != nil {
			t.Skip(err)
		}
		l, err := Open(path, testOptions(t, "run-async-full"))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		if err := l.RecordAsync(sampleEvent(fp, 0), func(err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
		if err := l.Flush(ctx); !errors.Is(err, ErrUnavailable) {
			t.Errorf("Flush = %v, want ErrUnavailable", err)
		}
		if err := <-done; !errors.Is(err, ErrUnavailable) {
			t.Errorf("done got %v, want ErrUnavailable", err)
		}
		if err := l.Close(); !errors.Is(err, ErrUnavailable) {
			t.Errorf("Close = %v, want ErrUnavailable", err)
		}
	})
}

func BenchmarkRecordAsync(b *testing.B) {
	l, _, e := benchLog(b)
	var wg sync.WaitGroup
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		wg.Add(1)
		if err := l.RecordAsync(e, func(error) { wg.Done() }); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	wg.Wait()
	b.StopTimer()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
}
