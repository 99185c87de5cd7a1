package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
)

// tornTailError: the file ends with a line that has no newline. Every record this package
// reports durable was written whole and synced, and appends happen under the file lock, so
// such a line is the unsynced rest of a write whose process died (kill -9, power loss).
type tornTailError struct {
	end  int64 // the size of the file up to and including the last complete line
	size int64
}

func (e *tornTailError) Error() string {
	return fmt.Sprintf("the file ends with %d bytes of an incomplete record", e.size-e.end)
}

// recoverTornTail cuts the incomplete last line off, as a database drops a torn write-ahead
// log record, and records what it cut (length and SHA-256 of the bytes, never the bytes) in an
// audit.recover record, so the repair itself is on the chain. It is called under the file lock.
func (l *Log) recoverTornTail(torn *tornTailError) error {
	frag := make([]byte, torn.size-torn.end)
	if _, err := l.f.ReadAt(frag, torn.end); err != nil {
		return fmt.Errorf("%w: audit log %s: read incomplete record: %w", ErrUnavailable, l.path, err)
	}
	sum := sha256.Sum256(frag)
	st, err := readTail(l.f, torn.end)
	if err != nil {
		return fmt.Errorf("%w: audit log %s: %w", ErrUnavailable, l.path, err)
	}
	// A line the head file covers was synced and sealed: losing it is truncation, not a crash.
	head, err := l.readHeadFile()
	if err != nil {
		return err
	}
	if head != nil && st.seq < head.Seq+1 {
		return fmt.Errorf("%w: %w: audit log %s ends in an incomplete record at seq %d, which its head file says was complete and sealed\n"+
			"run `secretshift audit verify --audit-log %s`, then move the log and its head file aside to start a new log",
			ErrUnavailable, ErrTampered, l.path, st.seq+1, l.path)
	}
	if err := l.f.Truncate(torn.end); err != nil {
		return l.fail("cut incomplete record", err)
	}
	if err := l.f.Sync(); err != nil {
		return l.fail("cut incomplete record", err)
	}
	st.size = torn.end
	l.st, l.synced = st, torn.end
	if st.problem != nil {
		l.noteProblem(st.problem)
	}
	rec := l.newRecord(Event{Action: ActionRecover, Outcome: OutcomeSuccess, Details: map[string]string{
		"reason":           "the log ended with an incomplete record (a writer stopped in the middle of a write); it was cut off",
		"truncated_bytes":  strconv.Itoa(len(frag)),
		"truncated_sha256": hex.EncodeToString(sum[:]),
	}})
	if err := l.append(rec); err != nil {
		return err
	}
	l.since++
	l.wrote = true
	l.cut += len(frag)
	return nil
}

// Recovered returns how many bytes of an incomplete last record (left by a writer that stopped
// mid-write) this Log has cut off the file, each time recorded as audit.recover; 0 if none.
func (l *Log) Recovered() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cut
}
