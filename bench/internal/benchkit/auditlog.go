package benchkit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
)

// CountAudit counts the records of an audit log and how many of them are checkpoints.
func CountAudit(path string) (records, checkpoints int, err error) {
	fh, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("read audit log: %w", err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var r struct {
			Action string `json:"action"`
		}
		if json.Unmarshal(sc.Bytes(), &r) == nil {
			records++
			if r.Action == "audit.checkpoint" {
				checkpoints++
			}
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("read audit log: %w", err)
	}
	return records, checkpoints, nil
}
