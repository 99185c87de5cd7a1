package migrate

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/internal/recordertest"
	"github.com/secretshift/secretshift/job"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

func TestApplyIsIdempotent(t *testing.T) {
	ctx := context.Background()
	m := newMem()
	a, b := secret("ns1", "a", "user", "admin", "pass", "hunter2"), secret("ns2", "b", "token", "t0k")
	opts := testOpts(t, m)
	_, rep := run(t, ctx, cands(a, b), sources(a, b), opts)
	if rep.Counts[ResultCreated] != 2 || m.writes != 2 {
		t.Fatalf("first run: counts %v, writes %d; want 2 created", rep.Counts, m.writes)
	}
	for _, it := range rep.Items {
		if !it.Verified {
			t.Errorf("%s/%s not verified", it.Namespace, it.Name)
		}
	}
	// A second full run (new journal dir: the comparison alone must keep it from writing).
	opts.JournalDir = filepath.Join(t.TempDir(), "other")
	plan, rep := run(t, ctx, cands(a, b), sources(a, b), opts)
	if plan.Summary.Unchanged != 2 || m.writes != 2 || rep.Counts[ResultUnchanged] != 2 {
		t.Fatalf("second run: summary %+v counts %v writes %d; want all unchanged and no write", plan.Summary, rep.Counts, m.writes)
	}
	// A changed value is an update of our own entry.
	a2 := secret("ns1", "a", "user", "admin", "pass", "hunter3")
	_, rep = run(t, ctx, cands(a2, b), sources(a2, b), opts)
	if rep.Counts[ResultUpdated] != 1 || m.writes != 3 {
		t.Fatalf("after change: counts %v writes %d; want one update", rep.Counts, m.writes)
	}
}

func TestPlanRejectsInvalidTargetsBeforeAnyRead(t *testing.T) {
	m := newMem()
	m.maxBytes = 4
	bad := secret("ns", "bad_name", "k", "v")
	big := secret("ns", "big", "k1", "0123456789", "k2", "0123456789")
	dupA, dupB := secret("ns", "Dup", "k", "v"), secret("ns", "dup", "k", "v")
	ok := secret("ns", "ok", "k", "v")
	_, err := BuildPlan(context.Background(), cands(bad, big, dupA, dupB, ok), SourceSpec{}, testOpts(t, m))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *ValidationError, got %v", err)
	}
	// Every problem is listed: one invalid name, two keys too large, one collision.
	if len(ve.Problems) != 4 {
		t.Fatalf("want 4 problems, got %d:\n%v", len(ve.Problems), err)
	}
	if !errors.Is(err, providers.ErrInvalidName) || !errors.Is(err, providers.ErrTooLarge) {
		t.Errorf("sentinels not reachable through errors.Is: %v", err)
	}
	if m.writes != 0 {
		t.Errorf("a rejected plan wrote %d entries", m.writes)
	}
}

func TestConflictWithForeignContent(t *testing.T) {
	ctx := context.Background()
	m := newMem()
	s := secret("ns", "db", "password", "from-k8s")
	m.entries["ns/db"] = &memEntry{version: 3, stored: providers.Stored{Data: kube.Data{"password": []byte("someone-else")}}}
	opts := testOpts(t, m)
	plan, rep := run(t, ctx, cands(s), sources(s), opts)
	if plan.Items[0].Action != ActionConflict || rep.Counts[ResultConflict] != 1 || m.writes != 0 {
		t.Fatalf("want a conflict and no write; plan %s, counts %v, writes %d", plan.Items[0].Action, rep.Counts, m.writes)
	}
	opts.Overwrite = true
	_, rep = run(t, ctx, cands(s), sources(s), opts)
	if rep.Counts[ResultUpdated] != 1 || m.entries["ns/db"].version != 4 {
		t.Fatalf("--overwrite: counts %v, version %d; want an update with check-and-set on version 3", rep.Counts, m.entries["ns/db"].version)
	}
}

// TestChangedInStoreIsAConflict: a credential rotated in the store after secretshift wrote it
// is not rolled back from the stale source unless --overwrite says so; a source changed in the
// cluster still updates what secretshift wrote.
func TestChangedInStoreIsAConflict(t *testing.T) {
	ctx := context.Background()
	m := newMem()
	opts := testOpts(t, m)
	v1 := secret("ns", "db", "password", "v1")
	if _, rep := run(t, ctx, cands(v1), sources(v1), opts); rep.Counts[ResultCreated] != 1 {
		t.Fatalf("first run: %v", rep.Counts)
	}
	// The source changes: secretshift updates its own entry.
	v2 := secret("ns", "db", "password", "v2")
	if _, rep := run(t, ctx, cands(v2), sources(v2), opts); rep.Counts[ResultUpdated] != 1 {
		t.Fatalf("changed source: %v, want an update", rep.Counts)
	}
	// Someone rotates the password in the store; the entry still says secretshift manages it.
	m.mu.Lock()
	m.entries["ns/db"].stored.Data["password"] = []byte("rotated-in-store")
	m.entries["ns/db"].version++
	m.mu.Unlock()
	rec := &recordertest.Log{}
	opts.Recorder = rec
	plan, rep := run(t, ctx, cands(v2), sources(v2), opts)
	opts.Recorder = nil
	if plan.Items[0].Action != ActionConflict || plan.Items[0].Reason != "changed-in-store" || rep.Counts[ResultConflict] != 1 {
		t.Fatalf("store changed: plan %s (%s), counts %v; want a changed-in-store conflict", plan.Items[0].Action, plan.Items[0].Reason, rep.Counts)
	}
	// The audit log says which kind of conflict it was.
	var classes []string
	for _, e := range rec.Events {
		if e.Action == "migrate.conflict" {
			classes = append(classes, e.ErrorClass)
		}
	}
	if len(classes) != 1 || classes[0] != "changed-in-store" {
		t.Errorf("migrate.conflict records with classes %v, want one of class changed-in-store", classes)
	}
	if got := string(m.entries["ns/db"].stored.Data["password"]); got != "rotated-in-store" {
		t.Fatalf("the rotated value was replaced by %q", got)
	}
	// Under another fingerprint key nothing can be told, and secretshift's own entry updates.
	other := opts
	other.Fingerprinter, _ = audit.NewFingerprinter(bytes.Repeat([]byte{9}, 32))
	if plan, err := BuildPlan(ctx, cands(v2), SourceSpec{}, other); err != nil || plan.Items[0].Action != ActionUpdate {
		t.Fatalf("other key: %v, %v; want an update", plan.Items[0].Action, err)
	}
	opts.Overwrite = true
	if _, rep := run(t, ctx, cands(v2), sources(v2), opts); rep.Counts[ResultUpdated] != 1 {
		t.Fatalf("--overwrite: %v, want an update", rep.Counts)
	}
}

func TestApplyRefusesChangedSource(t *testing.T) {
	ctx := context.Background()
	m := newMem()
	s := secret("ns", "db", "password", "v1")
	opts := testOpts(t, m)
	plan, err := BuildPlan(ctx, cands(s), SourceSpec{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	changed := secret("ns", "db", "password", "v2")
	rep, err := Apply(ctx, plan, sources(changed), opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Counts[ResultFailed] != 1 || m.writes != 0 || !strings.Contains(rep.Items[0].Error, "source changed") {
		t.Fatalf("want the item refused as changed, got %+v", rep.Items[0])
	}
}

func TestVerificationCatchesBadReadBack(t *testing.T) {
	m := newMem()
	m.badRead = true
	s := secret("ns", "db", "password", "v1")
	_, rep := run(t, context.Background(), cands(s), sources(s), testOpts(t, m))
	if rep.Items[0].Verified || rep.Counts[ResultFailed] != 1 || !rep.Failed() {
		t.Fatalf("want a verification failure, got %+v", rep.Items[0])
	}
	if !strings.Contains(rep.Items[0].Error, "different value for key password") {
		t.Errorf("error should name the key: %s", rep.Items[0].Error)
	}
}

func TestAuditFailureStopsBeforeWrite(t *testing.T) {
	m := newMem()
	s := secret("ns", "db", "password", "v1")
	opts := testOpts(t, m)
	opts.Recorder = &recordertest.Log{Fail: true}
	plan, err := BuildPlan(context.Background(), cands(s), SourceSpec{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Apply(context.Background(), plan, sources(s), opts)
	if !errors.Is(err, job.ErrAudit) {
		t.Fatalf("want job.ErrAudit, got %v", err)
	}
	if m.writes != 0 {
		t.Fatalf("a write happened although the audit log could not record it")
	}
}

func TestAuditFailureMidRunStopsTheRun(t *testing.T) {
	m := newMem()
	ss := numbered(50, "s%02d")
	opts := testOpts(t, m)
	opts.Concurrency = 1
	opts.Recorder = recordertest.FailingAfter(10) // intents go in one batch; the 11th outcome record fails
	plan, err := BuildPlan(context.Background(), cands(ss...), SourceSpec{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Apply(context.Background(), plan, sources(ss...), opts)
	if !errors.Is(err, job.ErrAudit) {
		t.Fatalf("want job.ErrAudit, got %v", err)
	}
	// Writes already in flight may finish, but none happened without its intent on record.
	rec := opts.Recorder.(*recordertest.Log)
	intents, outcomes := 0, 0
	for _, e := range rec.Events {
		if e.Outcome == audit.OutcomeAttempt {
			intents++
		} else {
			outcomes++
		}
	}
	if m.writes > intents {
		t.Fatalf("%d writes but only %d recorded intents", m.writes, intents)
	}
	// The report lists what is done and on record, and counts the writes whose outcome is not.
	if rep == nil {
		t.Fatal("no report with the audit failure")
	}
	if len(rep.Items) != outcomes || rep.Unrecorded != m.writes-outcomes || rep.Unrecorded < 1 {
		t.Errorf("report: %d items and %d unrecorded; want %d (outcomes on record) and %d (writes without one)",
			len(rep.Items), rep.Unrecorded, outcomes, m.writes-outcomes)
	}
}

func TestAuditRecordsEveryStepWithoutValues(t *testing.T) {
	m := newMem()
	canary := "CANARY-7f3a9-do-not-log"
	s := secret("ns", "db", "password", canary)
	skipped := secret("kube-system", "tok", "token", canary)
	rec := &recordertest.Log{}
	opts := testOpts(t, m)
	opts.Recorder = rec
	cs := cands(s, skipped)
	cs[1].Skip, cs[1].Reason = true, "service-account-token"
	run(t, context.Background(), cs, sources(s, skipped), opts)
	// Per Secret the order is fixed; across Secrets it depends on scheduling.
	perRef := map[string][]string{}
	for _, e := range rec.Events {
		perRef[e.Source.Ref()] = append(perRef[e.Source.Ref()], e.Action+"/"+string(e.Outcome))
		if strings.Contains(fmt.Sprintf("%+v %v %v", e, e.Source, e.Target), canary) {
			t.Fatalf("audit event holds a value: %s", e.Action)
		}
	}
	if got, want := strings.Join(perRef["ns/db"], " "), "migrate.write/attempt migrate.write/success"; got != want {
		t.Errorf("audit actions for ns/db:\n got %s\nwant %s", got, want)
	}
	for _, e := range rec.Events {
		if e.Action == "migrate.write" && e.Outcome == audit.OutcomeSuccess && e.Details["verified"] != "true" {
			t.Errorf("the write record must say the entry was read back and verified")
		}
	}
	if got, want := strings.Join(perRef["kube-system/tok"], " "), "migrate.skip/skipped"; got != want {
		t.Errorf("audit actions for the skipped Secret: got %s, want %s", got, want)
	}
}

// roundTrip saves and loads a plan the way plan --out and apply do.
func roundTrip(t *testing.T, p *Plan) *Plan {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var out Plan
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

// TestReappliedPlanChecksTheStore: a saved plan applied again does not report an item done on
// the journal's word when the store lost it since.
func TestReappliedPlanChecksTheStore(t *testing.T) {
	ctx := context.Background()
	m := newMem()
	ss := numbered(3, "s%d")
	opts := testOpts(t, m)
	plan, err := BuildPlan(ctx, cands(ss...), SourceSpec{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	saved := roundTrip(t, plan)
	if rep, err := Apply(ctx, saved, sources(ss...), opts); err != nil || rep.Counts[ResultCreated] != 3 {
		t.Fatalf("first apply: %v, %v", rep.Counts, err)
	}
	m.mu.Lock()
	delete(m.entries, "ns/s1")
	m.mu.Unlock()
	rep, err := Apply(ctx, roundTrip(t, plan), sources(ss...), opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Counts[ResultDone] != 2 || rep.Counts[ResultCreated] != 1 {
		t.Fatalf("second apply after a target was deleted: %v, want 2 done and 1 created again", rep.Counts)
	}
	if _, ok := m.entries["ns/s1"]; !ok {
		t.Error("the deleted target was not written again")
	}
}

func TestResumeAfterInterruption(t *testing.T) {
	ctx := context.Background()
	m := newMem()
	ss := numbered(20, "s%02d")
	opts := testOpts(t, m)
	opts.Concurrency = 1
	m.failOn = "ns/s10" // the run fails on one item and goes on
	plan, rep := run(t, ctx, cands(ss...), sources(ss...), opts)
	if rep.Counts[ResultFailed] != 1 || m.writes != 19 {
		t.Fatalf("first run: counts %v writes %d", rep.Counts, m.writes)
	}
	// Applying the saved plan again (as `apply plan.json` does): the journal knows 19 are
	// done and they are not read again; one write completes the job.
	saved := roundTrip(t, plan)
	rep, err := Apply(ctx, saved, sources(ss...), opts)
	if err != nil {
		t.Fatal(err)
	}
	if m.writes != 20 || rep.Counts[ResultCreated] != 1 || rep.Counts[ResultDone] != 19 {
		t.Fatalf("second run: counts %v writes %d; want exactly one more write", rep.Counts, m.writes)
	}
	// The same migrate again re-plans: everything reads back unchanged, nothing is written.
	_, rep = run(t, ctx, cands(ss...), sources(ss...), opts)
	if m.writes != 20 || rep.Counts[ResultUnchanged] != 20 {
		t.Fatalf("third run: counts %v writes %d; want all unchanged", rep.Counts, m.writes)
	}
}

// durableProgress checks, each time an item is reported done, that the audit log file already
// holds at least as many success records of writes.
type durableProgress struct {
	t    *testing.T
	path string
	mu   sync.Mutex
	done int
}

func (p *durableProgress) Start(int) {}

func (p *durableProgress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	b, err := os.ReadFile(p.path)
	if err != nil {
		p.t.Error(err)
		return
	}
	if n := bytes.Count(b, []byte(`"action":"migrate.write","outcome":"success"`)); n < p.done {
		p.t.Errorf("%d items reported done, but the audit log holds only %d write outcomes", p.done, n)
	}
}

func TestApplyWithAuditLog(t *testing.T) {
	ss := numbered(300, "s%03d")
	signer := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize))

	t.Run("items are reported done once their outcome is durable", func(t *testing.T) {
		m := newMem()
		opts := testOpts(t, m)
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		log, err := audit.Open(path, audit.Options{Signer: signer, Fingerprinter: opts.Fingerprinter, RunID: "run-1"})
		if err != nil {
			t.Fatal(err)
		}
		opts.Recorder = log
		prog := &durableProgress{t: t, path: path}
		opts.Progress = prog
		_, rep := run(t, context.Background(), cands(ss...), sources(ss...), opts)
		if rep.Counts[ResultCreated] != len(ss) || prog.done != len(ss) {
			t.Fatalf("created %d, reported %d, want %d", rep.Counts[ResultCreated], prog.done, len(ss))
		}
		if err := log.Close(); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		head, err := audit.ReadHead(audit.HeadPath(path))
		if err != nil {
			t.Fatal(err)
		}
		vr := audit.Verify(f, signer.Public().(ed25519.PublicKey), head)
		if !vr.OK || vr.Records-vr.Checkpoints != 2*len(ss) {
			t.Fatalf("log: %+v, want %d intent and outcome records", vr, 2*len(ss))
		}
	})

	t.Run("no write when the intents cannot be written", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		if err := os.Symlink("/dev/full", path); err != nil {
			t.Skip(err)
		}
		m := newMem()
		opts := testOpts(t, m)
		log, err := audit.Open(path, audit.Options{Signer: signer, RunID: "run-1"})
		if err != nil {
			t.Fatal(err)
		}
		defer log.Close()
		opts.Recorder = log
		plan, err := BuildPlan(context.Background(), cands(ss...), SourceSpec{}, opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Apply(context.Background(), plan, sources(ss...), opts); !errors.Is(err, job.ErrAudit) {
			t.Fatalf("Apply = %v, want job.ErrAudit", err)
		}
		if m.writes != 0 {
			t.Fatalf("%d writes although no intent could be recorded", m.writes)
		}
	})
}

// listingMem is memProvider with providers.Lister, counting reads.
type listingMem struct {
	*memProvider
	listErr error
	reads   atomic.Int32
}

func (l *listingMem) Read(ctx context.Context, t providers.Target) (*providers.Stored, error) {
	l.reads.Add(1)
	return l.memProvider.Read(ctx, t)
}

func (l *listingMem) Existing(_ context.Context, targets []providers.Target) (map[string]bool, error) {
	if l.listErr != nil {
		return nil, l.listErr
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]bool{}
	for _, t := range targets {
		if _, ok := l.entries[t.Address]; ok {
			out[t.Address] = true
		}
	}
	return out, nil
}

func TestPlanReadsOnlyListedTargets(t *testing.T) {
	ctx := context.Background()
	ss := numbered(20, "s%02d")
	for _, tc := range []struct {
		name    string
		listErr error
		reads   int32
	}{
		{"listing", nil, 5},
		{"no list permission: read every target", fmt.Errorf("list: %w", providers.ErrPermission), 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &listingMem{memProvider: newMem()}
			opts := testOpts(t, m)
			run(t, ctx, cands(ss[:5]...), sources(ss[:5]...), opts)
			ss[0].Data["k"] = []byte("changed")
			defer func() { ss[0].Data["k"] = []byte("0") }()
			m.listErr = tc.listErr
			m.reads.Store(0)
			plan, err := BuildPlan(ctx, cands(ss...), SourceSpec{}, opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.reads.Load(); got != tc.reads {
				t.Errorf("plan read %d targets, want %d", got, tc.reads)
			}
			if s := plan.Summary; s.Create != 15 || s.Update != 1 || s.Unchanged != 4 {
				t.Errorf("plan summary %v, want 15 create, 1 update, 4 unchanged", plan.Summary)
			}
		})
	}
	t.Run("a listing failure stops the plan", func(t *testing.T) {
		m := &listingMem{memProvider: newMem(), listErr: errors.New("connection refused")}
		if _, err := BuildPlan(ctx, cands(ss...), SourceSpec{}, testOpts(t, m)); err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("BuildPlan = %v, want the listing error", err)
		}
	})
}

func TestResumedRunRecordsWritesWhoseOutcomeWasLost(t *testing.T) {
	// A run that wrote an entry but did not get its outcome on record (here: the read-back
	// failed; in life: a crash) leaves the journal at "written". The next run finds the entry
	// equal to the source and records that, instead of passing over it in silence.
	ctx := context.Background()
	m := newMem()
	s := secret("ns", "db", "password", "v1")
	rec := &recordertest.Log{}
	opts := testOpts(t, m)
	opts.Recorder = rec
	m.badRead = true
	plan, err := BuildPlan(ctx, cands(s), SourceSpec{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := Apply(ctx, plan, sources(s), opts); err != nil || rep.Counts[ResultFailed] != 1 {
		t.Fatalf("first run: %v %v, want one failed item", err, rep.Counts)
	}
	m.badRead = false
	rec.Events = nil
	_, rep := run(t, ctx, cands(s), sources(s), opts)
	if rep.Counts[ResultUnchanged] != 1 {
		t.Fatalf("second run: %v, want unchanged", rep.Counts)
	}
	if len(rec.Events) != 1 || rec.Events[0].Action != "migrate.verify" || rec.Events[0].Outcome != audit.OutcomeSuccess ||
		rec.Events[0].Details["written_by_earlier_run"] != "true" {
		t.Fatalf("second run recorded %+v, want one migrate.verify success for the earlier write", rec.Events)
	}
	// A third run has nothing to add.
	rec.Events = nil
	run(t, ctx, cands(s), sources(s), opts)
	if len(rec.Events) != 0 {
		t.Errorf("third run recorded %+v, want nothing", rec.Events)
	}
}

func TestPlanRejectsWhatCannotBeAudited(t *testing.T) {
	// Kubernetes accepts these; the audit log would refuse their events. The whole plan is
	// rejected up front, so no Secret is written and none is left half-recorded.
	pem := secret("ns", "pem-key", "-----BEGIN", "x")
	many := secret("ns", "many-keys")
	for i := range 70000 {
		many.Data[fmt.Sprintf("k%d", i)] = nil
	}
	ok := secret("ns", "fine", "k", "v")
	m := newMem()
	opts := testOpts(t, m)
	opts.Recorder = &recordertest.Log{}
	_, err := BuildPlan(context.Background(), cands(ok, pem, many), SourceSpec{}, opts)
	var verr *ValidationError
	if !errors.As(err, &verr) || len(verr.Problems) != 2 || !errors.Is(err, audit.ErrInvalidEvent) {
		t.Fatalf("BuildPlan = %v, want 2 problems wrapping audit.ErrInvalidEvent", err)
	}
	for _, p := range verr.Problems {
		if !strings.Contains(p.Error, "cannot be audited") {
			t.Errorf("problem %q does not say why", p.Error)
		}
	}
	if m.writes != 0 {
		t.Fatal("a write happened")
	}
}

func TestOriginThatIsNotUTF8IsAudited(t *testing.T) {
	m := newMem()
	s := secret("ns", "db", "k", "v")
	s.Origin = kube.Origin{File: "dir/\xff\xfe.yaml"}
	rec := &recordertest.Log{}
	opts := testOpts(t, m)
	opts.Recorder = rec
	_, rep := run(t, context.Background(), cands(s), sources(s), opts)
	if rep.Counts[ResultCreated] != 1 {
		t.Fatalf("counts %v", rep.Counts)
	}
	for _, e := range rec.Events {
		if err := e.Validate(); err != nil {
			t.Errorf("event %s: %v", e.Action, err)
		}
	}
}

// pausingMem is memProvider whose Write to one address waits until the test lets it go.
type pausingMem struct {
	*memProvider
	at      string
	paused  chan struct{}
	release chan struct{}
}

func (p *pausingMem) Write(ctx context.Context, t providers.Target, pl providers.Payload, expect string) (string, error) {
	if t.Address == p.at {
		close(p.paused)
		<-p.release
	}
	return p.memProvider.Write(ctx, t, pl, expect)
}

func TestIntentsStayJustAheadOfTheWrites(t *testing.T) {
	// After a crash the log should show intents for writes that were about to happen, not for
	// the whole plan: batches are recorded at most one ahead of the items begun.
	ss := numbered(1000, "s%04d")
	p := &pausingMem{memProvider: newMem(), at: "ns/s0150", paused: make(chan struct{}), release: make(chan struct{})}
	rec := &recordertest.Log{}
	opts := testOpts(t, p)
	opts.Recorder, opts.Concurrency = rec, 1
	plan, err := BuildPlan(context.Background(), cands(ss...), SourceSpec{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Apply(context.Background(), plan, sources(ss...), opts)
		done <- err
	}()
	<-p.paused
	intents := 0
	for _, e := range rec.Snapshot() {
		if e.Outcome == audit.OutcomeAttempt {
			intents++
		}
	}
	close(p.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Batches of 32, 64, 128, 256, …: item 150 is in the third (96–223); the fourth (224–479)
	// may be recorded, the fifth may not.
	if intents < 151 || intents > 480 {
		t.Errorf("while item 150 was being written, %d intents were on record, want 151 to 480", intents)
	}
	total := 0
	for _, e := range rec.Snapshot() {
		if e.Outcome == audit.OutcomeAttempt {
			total++
		}
	}
	if total != len(ss) {
		t.Errorf("%d intents at the end, want %d", total, len(ss))
	}
}

func TestResumedRunRecordsWritesTheJournalLost(t *testing.T) {
	// A killed run can lose its last journal entries too. The store says which run wrote the
	// entry, and the journal which runs worked on this job: together they tell the next run.
	ctx := context.Background()
	s := secret("ns", "db", "password", "v1")
	for _, tc := range []struct {
		name     string
		keepRuns bool
		want     int
	}{
		{"the writer was an earlier run of this job", true, 1},
		{"the writer is unknown to this job's journal", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMem()
			opts := testOpts(t, m)
			opts.RunID = "run-A"
			run(t, ctx, cands(s), sources(s), opts)
			// Keep only the "run" lines, as if the item's entries never reached the disk.
			files, _ := filepath.Glob(filepath.Join(opts.JournalDir, "*.jsonl"))
			if len(files) != 1 {
				t.Fatalf("journal files %v", files)
			}
			b, _ := os.ReadFile(files[0])
			var kept []byte
			for _, line := range bytes.SplitAfter(b, []byte("\n")) {
				if tc.keepRuns && bytes.Contains(line, []byte(`"state":"run"`)) {
					kept = append(kept, line...)
				}
			}
			os.WriteFile(files[0], kept, 0o600)

			rec := &recordertest.Log{}
			opts.Recorder, opts.RunID = rec, "run-B"
			_, rep := run(t, ctx, cands(s), sources(s), opts)
			if rep.Counts[ResultUnchanged] != 1 {
				t.Fatalf("counts %v, want unchanged", rep.Counts)
			}
			got := 0
			for _, e := range rec.Events {
				if e.Action == "migrate.verify" && e.Details["written_by_earlier_run"] == "true" {
					got++
				}
			}
			if got != tc.want || len(rec.Events) != tc.want {
				t.Errorf("recorded %+v, want %d migrate.verify record(s) for the earlier write", rec.Events, tc.want)
			}
		})
	}
}

func TestApplyChecksASavedPlanForTheAuditFirst(t *testing.T) {
	// A plan read back from its file has no checked key sets; Apply checks every item before
	// the first write, so an edited file cannot stop the run half-way.
	m := newMem()
	ss := numbered(100, "s%03d")
	opts := testOpts(t, m)
	opts.Recorder = &recordertest.Log{}
	plan, err := BuildPlan(context.Background(), cands(ss...), SourceSpec{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	saved, _ := json.Marshal(plan)
	var loaded Plan
	if err := json.Unmarshal(saved, &loaded); err != nil {
		t.Fatal(err)
	}
	// The last item, in a later batch of intents than the first ones.
	last := loaded.Items[len(loaded.Items)-1]
	last.Keys = append(last.Keys, "-----BEGIN")
	_, err = Apply(context.Background(), &loaded, sources(ss...), opts)
	if !errors.Is(err, audit.ErrInvalidEvent) || m.writes != 0 {
		t.Fatalf("Apply of an edited plan = %v with %d writes, want audit.ErrInvalidEvent and none", err, m.writes)
	}
}
