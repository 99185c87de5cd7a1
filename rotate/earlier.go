package rotate

import "github.com/secretshift/secretshift/audit"

// PromotedFromAuditLog reads Options.Promoted from the audit log at path: by address, the
// version of the last rotate.promote success record of the runs named (a promotion, or one a
// later run found and recorded), as audit.EachRecordOfRuns reads them.
func PromotedFromAuditLog(path string) func(runIDs []string) (map[string]string, error) {
	return func(runIDs []string) (map[string]string, error) {
		out := map[string]string{}
		err := audit.EachRecordOfRuns(path, runIDs, func(rec *audit.Record) {
			if rec.Action == ActionPromote && rec.Outcome == audit.OutcomeSuccess && rec.Target != nil {
				out[rec.Target.Address] = rec.Target.Version
			}
		})
		if err != nil {
			return nil, err
		}
		return out, nil
	}
}
