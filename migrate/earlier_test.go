package migrate

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/internal/recordertest"
	"github.com/secretshift/secretshift/job"
)

// crashedRun leaves in the journal what a run of plan killed right after its store write
// leaves there: its "run" line, nothing else.
func crashedRun(t *testing.T, opts Options, plan *Plan) {
	t.Helper()
	j, err := job.OpenJournal(opts.JournalDir, plan.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Begin("run-A"); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestEarlierRunsNameEachWriteOnce: when a resumed run finds content an earlier run of the job
// wrote, what the audit log holds of that run decides whether the write still needs naming:
// an intent without an outcome (a file store records no run, the journal lost its line) is
// named once, as written by the earlier run; a write already named done is not named again,
// even when the journal says only "written".
func TestEarlierRunsNameEachWriteOnce(t *testing.T) {
	ctx := context.Background()
	s := secret("ns", "db", "password", "v1")

	t.Run("intent on record, store without runs", func(t *testing.T) {
		for _, withLog := range []bool{true, false} {
			m := newMem()
			m.noRunID = true
			opts := testOpts(t, m)
			plan, err := BuildPlan(ctx, cands(s), SourceSpec{}, opts)
			if err != nil {
				t.Fatal(err)
			}
			crashedRun(t, opts, plan)
			// The earlier run wrote the entry (its outcome never reached the journal or the log).
			wopts := opts
			wopts.JournalDir, wopts.RunID = t.TempDir(), "run-A"
			if _, err := Apply(ctx, plan, sources(s), wopts); err != nil {
				t.Fatal(err)
			}
			rec := &recordertest.Log{}
			opts.Recorder, opts.RunID = rec, "run-B"
			if withLog {
				opts.Earlier = func(runs []string) (map[string]EarlierRecord, error) {
					if len(runs) != 1 || runs[0] != "run-A" {
						t.Errorf("earlier runs %v, want [run-A]", runs)
					}
					return map[string]EarlierRecord{"ns/db": {Intent: true}}, nil
				}
			}
			_, rep := run(t, ctx, cands(s), sources(s), opts)
			named := 0
			for _, e := range rec.Events {
				if e.Action == audit.ActionMigrateVerify && e.Details["written_by_earlier_run"] == "true" {
					named++
				}
			}
			if rep.Counts[ResultUnchanged] != 1 || (withLog && named != 1) || (!withLog && named != 0) {
				t.Errorf("audit log read %v: %v, %d records of the earlier write, want %d", withLog, rep.Counts, named, map[bool]int{true: 1, false: 0}[withLog])
			}
		}
	})

	t.Run("done on record, journal says written", func(t *testing.T) {
		m := newMem()
		rec := &recordertest.Log{}
		opts := testOpts(t, m)
		opts.Recorder = rec
		m.badRead = true // the read-back fails: the journal stays at "written"
		plan, err := BuildPlan(ctx, cands(s), SourceSpec{}, opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Apply(ctx, plan, sources(s), opts); err != nil {
			t.Fatal(err)
		}
		m.badRead = false
		rec.Events = nil
		opts.RunID = "run-2"
		opts.Earlier = func([]string) (map[string]EarlierRecord, error) {
			return map[string]EarlierRecord{"ns/db": {Intent: true, Done: true}}, nil
		}
		_, rep := run(t, ctx, cands(s), sources(s), opts)
		if rep.Counts[ResultUnchanged] != 1 || len(rec.Events) != 0 {
			t.Errorf("%v; recorded %+v, want nothing: the write is already named done", rep.Counts, rec.Events)
		}
	})
}

// TestEarlierFromAuditLog reads intents and outcomes of the runs asked for only, and stops
// quietly at a last line a crash cut.
func TestEarlierFromAuditLog(t *testing.T) {
	ctx := context.Background()
	signer := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, ed25519.SeedSize))
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	write := func(run string, evs ...audit.Event) {
		log, err := audit.Open(path, audit.Options{Signer: signer, RunID: run})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if err := log.Record(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		if err := log.Close(); err != nil {
			t.Fatal(err)
		}
	}
	src := func(name string) *audit.Source { return &audit.Source{Namespace: "ns", Name: name} }
	write("run-A",
		audit.Event{Action: audit.ActionMigrateWrite, Outcome: audit.OutcomeAttempt, Source: src("a")},
		audit.Event{Action: audit.ActionMigrateWrite, Outcome: audit.OutcomeAttempt, Source: src("b")},
		audit.Event{Action: audit.ActionMigrateWrite, Outcome: audit.OutcomeSuccess, Source: src("b")},
	)
	write("run-B",
		audit.Event{Action: audit.ActionMigrateVerify, Outcome: audit.OutcomeSuccess, Source: src("a"), Details: map[string]string{"written_by_earlier_run": "true"}},
		audit.Event{Action: audit.ActionMigrateWrite, Outcome: audit.OutcomeSuccess, Source: src("c")},
	)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"time":"2026-`) // a cut last line
	f.Close()

	got, err := EarlierFromAuditLog(path)([]string{"run-A"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]EarlierRecord{"ns/a": {Intent: true}, "ns/b": {Intent: true, Done: true}}
	if !maps.Equal(got, want) {
		t.Errorf("run-A: %v, want %v", got, want)
	}
	got, _ = EarlierFromAuditLog(path)([]string{"run-A", "run-B"})
	want = map[string]EarlierRecord{"ns/a": {Intent: true, Done: true}, "ns/b": {Intent: true, Done: true}, "ns/c": {Done: true}}
	if !maps.Equal(got, want) {
		t.Errorf("run-A and run-B: %v, want %v", got, want)
	}
	if got, err := EarlierFromAuditLog(filepath.Join(t.TempDir(), "none.jsonl"))([]string{"run-A"}); err != nil || len(got) != 0 {
		t.Errorf("a log that does not exist: %v %v", got, err)
	}
}

// TestWriteOfADeadRunLandingLate: a write of an earlier run that died lands after this run
// read the target, so this run's check-and-set write conflicts. The store holds exactly the
// content: the item is unchanged, not a conflict, and the write is named done once, as the
// earlier run's.
func TestWriteOfADeadRunLandingLate(t *testing.T) {
	ctx := context.Background()
	s := secret("ns", "db", "password", "v1")
	m := newMem()
	opts := testOpts(t, m)
	plan, err := BuildPlan(ctx, cands(s), SourceSpec{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	crashedRun(t, opts, plan) // run-A began, and its write is on its way
	m.lateRun = "run-A"
	rec := &recordertest.Log{}
	opts.Recorder, opts.RunID = rec, "run-B"
	rep, err := Apply(ctx, plan, sources(s), opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Counts[ResultUnchanged] != 1 || rep.Counts[ResultConflict] != 0 {
		t.Fatalf("%v, want the item unchanged", rep.Counts)
	}
	var actions []string
	for _, e := range rec.Events {
		actions = append(actions, e.Action+" "+string(e.Outcome)+" "+e.Details["written_by_earlier_run"])
	}
	want := []string{"migrate.write attempt ", "migrate.write skipped ", "migrate.verify success true"}
	if !slices.Equal(actions, want) {
		t.Errorf("recorded %q, want %q", actions, want)
	}
	if m.entries["ns/db"].version != 1 {
		t.Errorf("version %d, want 1", m.entries["ns/db"].version)
	}
}
