package job

import (
	"os"
	"path/filepath"
	"testing"
)

// TestJournalAfterATornLine: a crash can leave the journal's last line cut off. The next run
// must start its lines on a line of their own, or its "run" line would be glued to the torn
// one and lost, and a third run could not tell what the second one wrote.
func TestJournalAfterATornLine(t *testing.T) {
	dir := t.TempDir()
	k := Key{Ref: "shop/db", Target: "secret/shop/db", Fingerprint: "fp1"}

	j, err := OpenJournal(dir, "job")
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Begin("run-1"); err != nil {
		t.Fatal(err)
	}
	j.Mark(k, StateWritten, "1")
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "job.jsonl")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"time":"2026-01-01T00:00:00Z","ref":"shop/db","tar`) // the crash cut this line
	f.Close()

	j, err = OpenJournal(dir, "job")
	if err != nil {
		t.Fatal(err)
	}
	if !j.EarlierRun("run-1") {
		t.Error("run-1 is not known after a torn line")
	}
	if err := j.Begin("run-2"); err != nil {
		t.Fatal(err)
	}
	j.Mark(k, StateVerified, "1")
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	j, err = OpenJournal(dir, "job")
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if !j.EarlierRun("run-2") {
		t.Error("run-2's run line was lost: it was written onto the torn line")
	}
	if _, ok := j.Last(k); !ok {
		t.Error("run-2's verified entry was lost")
	}
}

// A run that ends its job makes the next run of the same job start anew; a run that stops
// before its end makes the next one resume it, with the runs since the last end.
func TestJournalEndAndResume(t *testing.T) {
	dir := t.TempDir()
	open := func() *Journal {
		j, err := OpenJournal(dir, "job")
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	j := open()
	if j.Resuming() {
		t.Fatal("a new journal resumes")
	}
	j.Begin("run-1")
	j.Mark(Key{Ref: "a", Target: "a"}, StateVerified, "2")
	if err := j.End("run-1"); err != nil {
		t.Fatal(err)
	}
	j.Close()

	j = open()
	if j.Resuming() {
		t.Error("the run after an ended run resumes it")
	}
	j.Begin("run-2") // stops before its end
	j.Close()
	j = open()
	j.Begin("run-3") // stops too
	j.Close()

	j = open()
	defer j.Close()
	runs, since := j.Resumed()
	if !j.Resuming() || len(runs) != 2 || runs[0] != "run-2" || runs[1] != "run-3" {
		t.Fatalf("after two runs without an end: resuming %v, runs %v; want run-2 and run-3", j.Resuming(), runs)
	}
	if last, _ := j.Last(Key{Ref: "a", Target: "a"}); !last.Time.Before(since) {
		t.Errorf("the entry of the ended run (%s) is not before the resumed runs (%s)", last.Time, since)
	}
}
