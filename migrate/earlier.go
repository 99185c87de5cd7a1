package migrate

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

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
// migrate.verify records of the runs named. A log that does not exist holds nothing; a line
// that does not parse ends the reading (a crash can leave the last one cut), with what was
// read before it.
func EarlierFromAuditLog(path string) func(runIDs []string) (map[string]EarlierRecord, error) {
	return func(runIDs []string) (map[string]EarlierRecord, error) {
		out := map[string]EarlierRecord{}
		if len(runIDs) == 0 {
			return out, nil
		}
		runs := make(map[string]bool, len(runIDs))
		for _, r := range runIDs {
			runs[r] = true
		}
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read audit log for the earlier runs of the job: %w", err)
		}
		defer f.Close()
		rd := audit.NewReader(f)
		for {
			rec, _, err := rd.Next()
			if err != nil {
				if err == io.EOF {
					return out, nil
				}
				return out, nil // a cut last line; what was before it stands
			}
			if !runs[rec.RunID] || rec.Source == nil {
				continue
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
				continue
			}
			out[ref] = e
		}
	}
}
