package disk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/migrate"
	"github.com/secretshift/secretshift/reliability/crash"
	"github.com/secretshift/secretshift/reliability/internal/brief"
)

// doneResults are the results that tell the user a Secret is in the store.
var doneResults = map[migrate.Result]bool{
	migrate.ResultCreated: true, migrate.ResultUpdated: true, migrate.ResultUnchanged: true, migrate.ResultDone: true,
}

// parseReport reads a `-o json` report; an empty output is no report (the run stopped before
// it had one to print).
func parseReport(stdout []byte) (*migrate.Report, error) {
	if len(bytes.TrimSpace(stdout)) == 0 {
		return nil, nil
	}
	var rep migrate.Report
	if err := json.Unmarshal(stdout, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

// trail is what an audit log holds about writes.
type trail struct {
	// intents are the addresses with a migrate.write attempt record.
	intents map[string]bool
	// recorded are the Secrets with a migrate.write success or migrate.verify success record.
	recorded map[string]bool
	records  int
	// err is why reading stopped before the end (a torn last line).
	err error
}

func readTrail(path string) (*trail, error) {
	t := &trail{intents: map[string]bool{}, recorded: map[string]bool{}}
	f, err := os.Open(path)
	if err != nil {
		return t, err
	}
	defer f.Close()
	rd := audit.NewReader(f)
	for {
		rec, _, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return t, nil
		}
		if err != nil {
			t.err = err
			return t, nil
		}
		t.records++
		switch {
		case rec.Action == audit.ActionMigrateWrite && rec.Outcome == audit.OutcomeAttempt && rec.Target != nil:
			t.intents[rec.Target.Address] = true
		case (rec.Action == audit.ActionMigrateWrite || rec.Action == audit.ActionMigrateVerify) && rec.Outcome == audit.OutcomeSuccess && rec.Source != nil:
			t.recorded[rec.Source.Ref()] = true
		}
	}
}

// checkFaulted checks what the faulted run left: what it reported done is durable (and on
// record when the log was writable), and every file it wrote has its intent in the log.
func (w *workspace) checkFaulted(bin string, cr *CaseResult, stdout []byte, problem func(string, ...any)) {
	rep, err := parseReport(stdout)
	if err != nil {
		problem("faulted run's report (-o json): %v", err)
	}
	tr, err := readTrail(filepath.Join(w.dir, auditLog))
	switch {
	case errors.Is(err, os.ErrNotExist):
		// No log at all: no intents, nothing recorded.
	case err != nil:
		problem("read the faulted run's audit log: %v", err)
	}
	if c := cr.Case; c.Folder == AuditLog {
		a := w.run(bin, "audit", "verify", "--audit-log", auditLog)
		cr.Leaks += w.leaks(problem, "audit verify output", a.stdout, a.stderr)
		cr.FaultedAuditVerify = fmt.Sprintf("exit %d: %s", a.exit, strings.Join(brief.LastLines(slices.Concat(a.stdout, a.stderr), 4), " / "))
		a = w.run(bin, "audit", "verify", "--no-head", "--allow-unsigned-tail", "--audit-log", auditLog)
		cr.Leaks += w.leaks(problem, "audit verify output", a.stdout, a.stderr)
		cr.FaultedAuditVerifyTail = fmt.Sprintf("exit %d: %s", a.exit, strings.Join(brief.LastLines(slices.Concat(a.stdout, a.stderr), 4), " / "))
		if tr.err != nil {
			cr.FaultedAuditVerify += fmt.Sprintf(" (reading stopped after %d records: %v)", tr.records, tr.err)
		}
	}

	cr.Report = rep != nil
	cr.OutcomesOnRecord = len(tr.recorded)
	if rep != nil {
		for _, it := range rep.Items {
			if it.Result == migrate.ResultFailed && it.Error != "" {
				cr.ItemError = it.Namespace + "/" + it.Name + ": " + it.Error
				break
			}
		}
	}

	// Reported done must be durable.
	bySecret := map[string]*crash.Secret{}
	for _, s := range w.secrets {
		bySecret[s.Ref()] = s
	}
	var done []*crash.Secret
	var absent, unrecorded []string
	if rep != nil {
		for _, it := range rep.Items {
			if !doneResults[it.Result] {
				continue
			}
			ref := it.Namespace + "/" + it.Name
			s := bySecret[ref]
			if s == nil {
				problem("the report names %s, which is not in the corpus", ref)
				continue
			}
			done = append(done, s)
			addr := it.Namespace + "/" + it.Name + ".yaml"
			if it.Target != nil && it.Target.Address != "" {
				addr = it.Target.Address
			}
			if _, err := os.Stat(filepath.Join(w.dir, string(Output), addr)); err != nil {
				absent = append(absent, ref)
			}
			if !tr.recorded[ref] {
				unrecorded = append(unrecorded, ref)
			}
		}
	}
	cr.ReportedDone = len(done)
	cr.Recorded = len(done) - len(unrecorded)
	if len(absent) > 0 {
		problem("%d Secrets reported done have no SOPS file: %s", len(absent), brief.Names(absent))
	}
	if len(unrecorded) > 0 {
		problem("%d Secrets reported done have no migrate.write success or migrate.verify record: %s", len(unrecorded), brief.Names(unrecorded))
	}
	if len(done) > 0 {
		cr.Durable = w.verifyDone(bin, cr, done, problem)
	}

	// No file without its intent.
	files, other := w.sopsFiles()
	cr.Files = len(files)
	var noIntent []string
	for _, f := range files {
		if tr.intents[f] {
			cr.WithIntent++
		} else {
			noIntent = append(noIntent, f)
		}
	}
	if len(noIntent) > 0 {
		problem("%d SOPS files have no migrate.write attempt record in the audit log: %s", len(noIntent), brief.Names(noIntent))
	}
	if len(other) > 0 {
		problem("the output folder holds %d files that are not Secret files: %s", len(other), brief.Names(other))
	}
}

// verifyDone runs `secretshift verify` over a corpus of the Secrets in done alone, with a log
// of its own (the case's log stays as the faulted run left it), and returns how many it found
// verified.
func (w *workspace) verifyDone(bin string, cr *CaseResult, done []*crash.Secret, problem func(string, ...any)) int {
	if err := crash.WriteCorpus(filepath.Join(w.dir, "check-in"), done); err != nil {
		problem("write the corpus of Secrets reported done: %v", err)
		return 0
	}
	defer os.RemoveAll(filepath.Join(w.dir, "check-in"))
	defer os.RemoveAll(filepath.Join(w.dir, "check-audit"))
	v := w.run(bin, "verify", "--to", "sops", "-f", "check-in", "--sops-out", string(Output), "--audit-log", "check-audit/verify.jsonl", "-q", "-o", "json")
	cr.Leaks += w.leaks(problem, "verify output of the Secrets reported done", v.stdout, v.stderr)
	rep, err := parseReport(v.stdout)
	if err != nil || rep == nil {
		problem("secretshift verify of the Secrets reported done exited %d (%v), no report: %s", v.exit, err, brief.LastLine(v.stderr))
		return 0
	}
	if v.exit != 0 {
		problem("secretshift verify of the %d Secrets reported done exited %d: %s", len(done), v.exit, brief.LastLine(v.stderr))
	}
	return rep.Counts[migrate.ResultVerified]
}
