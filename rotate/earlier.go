package rotate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/secretshift/secretshift/audit"
)

// PromotedFromAuditLog reads Options.Promoted from the audit log at path: by address, the
// version of the last rotate.promote success record of the runs named (a promotion, or one a
// later run found and recorded). A log that does not exist holds nothing; a line that does
// not parse ends the reading (a crash can leave the last one cut), with what was read before.
func PromotedFromAuditLog(path string) func(runIDs []string) (map[string]string, error) {
	return func(runIDs []string) (map[string]string, error) {
		out := map[string]string{}
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
				return out, nil // the end, or a cut last line: what was before it stands
			}
			if runs[rec.RunID] && rec.Action == ActionPromote && rec.Outcome == audit.OutcomeSuccess && rec.Target != nil {
				out[rec.Target.Address] = rec.Target.Version
			}
		}
	}
}
