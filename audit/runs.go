package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// EachRecordOfRuns calls fn with every record of the log at path that one of the runs runIDs
// wrote, in order: what the earlier runs of a job left, for a run that resumes it. A log that
// does not exist holds nothing; a line that does not parse ends the reading (a crash can leave
// the last one cut), with what was read before it. A line in which none of the run ids is
// written (and no escape, which could spell one) is another run's and is passed over unread:
// a log that many runs share costs a scan of its bytes, not a decoding of every record.
func EachRecordOfRuns(path string, runIDs []string, fn func(*Record)) error {
	if len(runIDs) == 0 {
		return nil
	}
	runs := make(map[string]bool, len(runIDs))
	for _, r := range runIDs {
		runs[r] = true
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read audit log for the earlier runs of the job: %w", err)
	}
	defer f.Close()
	rd := NewReader(f)
	ids := make([][]byte, len(runIDs))
	for i, r := range runIDs {
		ids[i] = []byte(r)
	}
	rd.skip = func(line []byte) bool {
		if bytes.IndexByte(line, '\\') >= 0 {
			return false
		}
		for _, id := range ids {
			if bytes.Contains(line, id) {
				return false
			}
		}
		return true
	}
	for {
		rec, _, err := rd.Next()
		if err != nil {
			return nil // the end, or a cut last line: what was before it stands
		}
		if runs[rec.RunID] {
			fn(rec)
		}
	}
}
