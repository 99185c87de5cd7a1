package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// HeadPath returns the head file of the log at path.
func HeadPath(path string) string { return path + ".head" }

// checkHeadFile refuses a log that is shorter than its head file (as readHeadFile returned it)
// says: new records would take the sequence numbers of the records removed, and continuing it
// would hide the truncation. With keys, it also refuses keys other than the head file's.
func (l *Log) checkHeadFile(head *Checkpoint, keys bool) error {
	if head == nil {
		return nil
	}
	if l.st.seq < head.Seq+1 {
		return fmt.Errorf("%w: %w: audit log %s ends at seq %d, but its head file records a checkpoint at seq %d\n"+
			"run `secretshift audit verify --audit-log %s`, then move the log and its head file aside to start a new log",
			ErrUnavailable, ErrTampered, l.path, l.st.seq, head.Seq+1, l.path)
	}
	if !keys {
		return nil
	}
	return l.checkKeys(head)
}

// checkKeys refuses keys other than those that made the head checkpoint.
func (l *Log) checkKeys(head *Checkpoint) error {
	const advice = "use the keys this log was started with, or rotate it (`secretshift audit rotate`) to go on under new keys"
	if head.PublicKeyID != l.pubKeyID {
		return fmt.Errorf("%w: %w: audit log %s is signed with key %s, and the signing key given is %s\n%s",
			ErrUnavailable, ErrKeyMismatch, l.path, printableID(head.PublicKeyID), l.pubKeyID, advice)
	}
	if head.FingerprintKeyID != "" && l.fpKeyID != "" && head.FingerprintKeyID != l.fpKeyID {
		return fmt.Errorf("%w: %w: audit log %s holds fingerprints under HMAC key %s, and the HMAC key given is %s\n%s",
			ErrUnavailable, ErrKeyMismatch, l.path, printableID(head.FingerprintKeyID), l.fpKeyID, advice)
	}
	return nil
}

// printableID returns a key id read from a file for an error message: as it is if it has the
// shape of one (lowercase letters, digits, ':' and '-'), else a placeholder.
func printableID(s string) string {
	if s == "" || len(s) > 128 || strings.ContainsFunc(s, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != ':' && r != '-'
	}) {
		return "(an unreadable key id)"
	}
	return s
}

// writeHead atomically replaces the head file with cp (write, sync, rename, sync directory).
// It leaves the head file as it is while the log fails its integrity check: the head file is
// the evidence of how far the log reached.
func (l *Log) writeHead(cp *Checkpoint) error {
	if l.integrity != nil {
		return nil
	}
	if old, err := ReadHead(l.headPath); err == nil && old.Seq > cp.Seq {
		return fmt.Errorf("%w: %w: head file %s records seq %d, beyond the log's seq %d", ErrUnavailable, ErrTampered, l.headPath, old.Seq, cp.Seq)
	}
	b, err := json.Marshal(cp)
	if err != nil {
		return fmt.Errorf("%w: encode head file: %w", ErrUnavailable, err)
	}
	if err := replaceFile(l.headPath, append(b, '\n'), 0o600); err != nil {
		return l.fail("write head file", err)
	}
	return nil
}

// ReadHead reads a head file. The error wraps fs.ErrNotExist when there is none.
func ReadHead(path string) (*Checkpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read head file %s: %w", path, err)
	}
	if _, err := parseStrict(bytes.TrimSpace(b)); err != nil {
		return nil, fmt.Errorf("head file %s: %w", path, err)
	}
	var cp Checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, fmt.Errorf("head file %s: %w", path, err)
	}
	return &cp, nil
}
