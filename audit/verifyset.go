package audit

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// VerifySetOptions configure VerifySet.
type VerifySetOptions struct {
	// Keys are the public keys the files may be signed with. Rotate can start a new file under
	// new keys, so each file is checked with the key that signed it: the one its head file
	// names, else the first the file does not refuse as another key's.
	Keys []ed25519.PublicKey
	// Head is the head file to compare a set of one log with; empty means HeadPath of each log.
	Head string
	// NoHead checks the logs alone. Removal of whole runs from the end is then not detected.
	NoHead bool
	// AllowUnsignedTail accepts records after a file's last checkpoint (a run that did not
	// finish) with a warning instead of failing the file.
	AllowUnsignedTail bool
}

// FileReport is the outcome for one file of a set.
type FileReport struct {
	Log string `json:"log"`
	// Head is the head file compared with the log; empty when none was.
	Head string `json:"head,omitempty"`
	OK   bool   `json:"ok"`
	// Report is Verify's report; nil when the file was not verified (its head file is
	// missing or cannot be read).
	Report *VerifyReport `json:"report,omitempty"`
	// Error says why the file failed; empty when OK.
	Error string `json:"error,omitempty"`
	// Warning says what a passing file leaves unproven (an accepted unsigned tail, no records,
	// no head file compared).
	Warning string `json:"warning,omitempty"`
	// Shard is the shard ("I/N") whose runs the file holds, when VerifyLogs found exactly one.
	Shard string `json:"shard,omitempty"`
}

// SetReport is the result of VerifySet and VerifyLogs: OK when every file verified, and each
// continues the one before it (VerifySet) or the shard logs make one whole job (VerifyLogs).
type SetReport struct {
	OK   bool         `json:"ok"`
	Logs []FileReport `json:"logs"`
	// Shards is VerifyLogs' check of a set of shard logs; nil when none of the logs holds a
	// shard's run (and always for VerifySet).
	Shards *ShardSetReport `json:"shards,omitempty"`
}

// VerifySet verifies logs, the files of one chain oldest first (as Rotate leaves them), each
// with the key in opts.Keys that signed it and against its head file, and checks that each file
// continues the one before it (VerifyLink). The link is checked only between files that
// verified: a failed file's report ends early, so a link error after it would be false.
//
// What is wrong with the logs is in the report; the error is for what keeps VerifySet from
// checking them: a log that cannot be read, no key, or options that contradict each other.
func VerifySet(logs []string, opts VerifySetOptions) (SetReport, error) {
	if len(opts.Keys) == 0 {
		return SetReport{}, fmt.Errorf("%w: no public key to verify the audit log with", ErrNoKey)
	}
	if opts.Head != "" && len(logs) != 1 {
		return SetReport{}, fmt.Errorf("a head file can be given for one log, not for %d", len(logs))
	}
	if opts.Head != "" && opts.NoHead {
		return SetReport{}, errors.New("a head file was given with no head file to be compared")
	}
	set := SetReport{OK: true}
	var prev *VerifyReport
	for i, path := range logs {
		res, err := verifySetFile(path, opts)
		if err != nil {
			return SetReport{}, err
		}
		if prev != nil && res.Report != nil && res.OK {
			if err := VerifyLink(*prev, *res.Report); err != nil {
				res.OK = false
				res.Error = fmt.Sprintf("does not continue %s: %v", logs[i-1], err)
			}
		}
		prev = nil
		if res.OK {
			prev = res.Report
		}
		set.OK = set.OK && res.OK
		set.Logs = append(set.Logs, res)
	}
	return set, nil
}

// verifySetFile verifies one file of a set.
func verifySetFile(path string, opts VerifySetOptions) (FileReport, error) {
	res := FileReport{Log: path}
	b, err := os.ReadFile(path)
	if err != nil {
		return res, fmt.Errorf("read audit log: %w", err)
	}
	var head *Checkpoint
	if !opts.NoHead {
		res.Head = opts.Head
		if res.Head == "" {
			res.Head = HeadPath(path)
		}
		head, err = ReadHead(res.Head)
		switch {
		case errors.Is(err, fs.ErrNotExist) && len(b) == 0 && opts.Head == "":
			res.Head = "" // a log that was never written has no head yet
		case errors.Is(err, fs.ErrNotExist):
			res.Error = fmt.Sprintf("head file %s is missing, so removal of whole runs cannot be ruled out (use --no-head to check the log alone)", res.Head)
			return res, nil
		case err != nil:
			res.Error = err.Error()
			return res, nil
		}
	}
	rep := verifyWithKeys(b, opts.Keys, head)
	res.Report = &rep
	res.OK = rep.OK
	if rep.Problem != nil {
		res.Error = rep.Problem.Error()
		if opts.AllowUnsignedTail && rep.Problem.Kind == KindUnsignedTail {
			res.OK, res.Error = true, ""
			res.Warning = fmt.Sprintf("%d records at the end are not covered by a checkpoint", rep.UnsignedTail)
		}
	}
	if rep.Records == 0 && res.OK {
		res.Warning = "the log is empty"
	}
	if opts.NoHead && res.OK {
		res.Warning = strings.TrimPrefix(res.Warning+"; not compared with a head file", "; ")
	}
	return res, nil
}

// verifyWithKeys verifies log with the key that signed it: the one its head file names, else
// the first the log does not refuse as unknown (the last key's report when none fits).
func verifyWithKeys(log []byte, keys []ed25519.PublicKey, head *Checkpoint) VerifyReport {
	if head != nil {
		for _, pub := range keys {
			if PublicKeyID(pub) == head.PublicKeyID {
				return Verify(bytes.NewReader(log), pub, head)
			}
		}
	}
	var rep VerifyReport
	for _, pub := range keys {
		rep = Verify(bytes.NewReader(log), pub, head)
		if rep.Problem == nil || rep.Problem.Kind != KindUnknownKey {
			break
		}
	}
	return rep
}
