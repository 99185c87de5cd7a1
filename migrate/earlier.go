package migrate

import (
	"github.com/secretshift/secretshift/audit"
)

// EarlierRecord is what the audit log holds of a Secret from earlier runs of a job.
type EarlierRecord struct {
	// Intent: an earlier run recorded that it was about to write the Secret.
	Intent bool
	// Done: an earlier run recorded the write as done (migrate.write success, or the
	// migrate.verify of a later run that found the write of an earlier one).
	Done bool
}

// EarlierFromAuditLog reads Options.Earlier from the audit log at path: the migrate.write and
// migrate.verify records of the runs named (audit.EachRecordOfRuns).
func EarlierFromAuditLog(path string) func(runIDs []string) (map[string]EarlierRecord, error) {
	return func(runIDs []string) (map[string]EarlierRecord, error) {
		out := map[string]EarlierRecord{}
		err := audit.EachRecordOfRuns(path, runIDs, func(rec *audit.Record) {
			if rec.Source == nil {
				return
			}
			ref := rec.Source.Ref()
			e := out[ref]
			switch {
			case rec.Action == audit.ActionMigrateWrite && rec.Outcome == audit.OutcomeAttempt:
				e.Intent = true
			case rec.Action == audit.ActionMigrateWrite && rec.Outcome == audit.OutcomeSuccess,
				rec.Action == audit.ActionMigrateVerify && rec.Outcome == audit.OutcomeSuccess && rec.Details["written_by_earlier_run"] == "true":
				e.Done = true
			default:
				return
			}
			out[ref] = e
		})
		if err != nil {
			return nil, err
		}
		return out, nil
	}
}
