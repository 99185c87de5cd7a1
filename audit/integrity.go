package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
)

// IntegrityError is the first contradiction the writer found in a log it appends to, at Open or
// in a last record read while appending (see Log.Integrity). It wraps ErrTampered. The writer
// appends all the same: the contradiction stays in the file for Verify to report, and refusing
// would let whoever can edit the log stop every audited run.
type IntegrityError struct {
	// Log is the log file.
	Log string
	// Seq is the sequence number of the record at fault; 0 for the head file or a line that is
	// not a record.
	Seq    uint64
	Kind   Kind
	Detail string
}

func (e *IntegrityError) Error() string {
	at := ""
	if e.Seq > 0 {
		at = fmt.Sprintf(" at seq %d", e.Seq)
	}
	return fmt.Sprintf("audit log %s does not verify%s: %s: %s\n"+
		"records are appended all the same and the head file is left as it was found, so the evidence stays; "+
		"run `secretshift audit verify --audit-log %s` to find the first problem, then rotate the log (`secretshift audit rotate`)",
		e.Log, at, e.Kind, e.Detail, e.Log)
}

func (e *IntegrityError) Unwrap() error { return ErrTampered }

// Integrity returns nil, or an *IntegrityError wrapping ErrTampered when the log this Log appends
// to contradicts itself. Open checks, without reading the whole file: the head file's signature;
// every record from the head file's checkpoint (or, without a head file, from the last
// checkpoint) to the end — its hash, its sequence number and its link to the record before it;
// every checkpoint's signature among them; and that the head file's checkpoint is the record
// it names. Later, while appending, it checks the last record of the file again. Records before
// that checkpoint are checked by Verify only.
//
// A Log that found a problem still appends records and checkpoints, but leaves the head file as
// it was, since a head file is the evidence of how far the log reached.
func (l *Log) Integrity() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.integrity == nil {
		return nil
	}
	return l.integrity
}

// noteProblem keeps the first integrity problem found.
func (l *Log) noteProblem(p *IntegrityError) {
	if l.integrity == nil {
		p.Log = l.path
		l.integrity = p
	}
}

// readHeadFile reads the head file for Open. It returns nil when there is none, and also when it
// is not a checkpoint or names this Log's key but does not verify under it: such a head file was
// forged or damaged, is noted as a problem and kept as found, and cannot be evidence of a
// truncation. A head file of other keys is returned unchecked.
func (l *Log) readHeadFile() (*Checkpoint, error) {
	head, err := ReadHead(l.headPath)
	var pathErr *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case errors.As(err, &pathErr):
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	case err != nil:
		l.noteProblem(&IntegrityError{Kind: KindMalformed, Detail: fmt.Sprintf("the head file is not a checkpoint: %v", err)})
		return nil, nil
	}
	if head.PublicKeyID != l.pubKeyID {
		return head, nil
	}
	obj, err := toObject(head)
	if err != nil || !verifySignature(l.opts.Signer.Public().(ed25519.PublicKey), obj, head.Signature) {
		l.noteProblem(&IntegrityError{Seq: head.Seq + 1, Kind: KindBadSignature, Detail: "the head file's signature does not verify: it was forged or edited"})
		return nil, nil
	}
	return head, nil
}

// checkIntegrity checks the log from the checkpoint head names (the last checkpoint when head is
// nil, the start when there is none) to the end, under the file lock. head is genuine (see
// readHeadFile) and signed by this Log's key.
func (l *Log) checkIntegrity(head *Checkpoint) error {
	size := l.st.size
	if size <= 0 {
		return nil
	}
	from, err := checkpointBefore(newBackLines(l.f, size), head)
	if err != nil {
		return fmt.Errorf("%w: audit log %s: %w", ErrUnavailable, l.path, err)
	}
	c := chainCheck{pub: l.opts.Signer.Public().(ed25519.PublicKey), pubID: l.pubKeyID, head: head}
lines:
	for b := range decodeLines(io.NewSectionReader(l.f, from, size-from)) {
		for i := range b.lines {
			if c.check(&b.lines[i]); c.problem != nil {
				break lines
			}
		}
	}
	if c.problem == nil && head != nil && !c.headSeen {
		c.fail(head.Seq+1, KindEdited, "the head file's checkpoint is not in the log: the log was rewritten")
	}
	if c.problem != nil {
		l.noteProblem(c.problem)
	}
	return nil
}

// checkpointMarker is in every checkpoint line this package writes; lines without it are not
// parsed while looking for a checkpoint (a checkpoint written otherwise is only found further back).
var checkpointMarker = []byte(`"action":"` + ActionCheckpoint + `"`)

// checkpointBefore returns the offset of the line where checking starts: the last checkpoint
// record at or before the head file's checkpoint (the last checkpoint without a head file), or
// 0 when there is none.
func checkpointBefore(lines *backLines, head *Checkpoint) (int64, error) {
	for {
		line, off, err := lines.prev()
		if err == io.EOF {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		if !bytes.Contains(line, checkpointMarker) {
			continue
		}
		var probe struct {
			Seq    uint64 `json:"seq"`
			Action string `json:"action"`
		}
		if json.Unmarshal(line, &probe) != nil || probe.Action != ActionCheckpoint {
			continue
		}
		if head == nil || probe.Seq <= head.Seq+1 {
			return off, nil
		}
	}
}

// chainCheck checks consecutive lines of a log from a checkpoint (or from the start) on. It
// knows sequence numbers, not line numbers, so its findings name records by seq.
type chainCheck struct {
	pub      ed25519.PublicKey
	pubID    string
	head     *Checkpoint
	started  bool
	lastSeq  uint64
	lastHash string
	headSeen bool
	problem  *IntegrityError
}

func (c *chainCheck) fail(seq uint64, kind Kind, format string, a ...any) {
	c.problem = &IntegrityError{Seq: seq, Kind: kind, Detail: fmt.Sprintf(format, a...)}
}

func (c *chainCheck) check(d *decodedLine) {
	switch {
	case d.readErr != nil:
		c.fail(0, KindMalformed, "the line after seq %d: %v", c.lastSeq, d.readErr)
		return
	case !d.complete:
		c.fail(0, KindMalformed, "the line after seq %d is incomplete", c.lastSeq)
		return
	case d.m == nil:
		c.fail(0, KindMalformed, "the line after seq %d is not a record: %s", c.lastSeq, d.problem)
		return
	}
	rec := &d.rec
	if name := missingMember(rec); name != "" {
		c.fail(rec.Seq, KindMalformed, "the record has no %s", name)
		return
	}
	if d.problem != "" {
		c.fail(rec.Seq, KindMalformed, "%s", d.problem)
		return
	}
	if d.sum != rec.Hash {
		c.fail(rec.Seq, KindEdited, "the record does not match its hash: a field was changed")
		return
	}
	switch {
	case !c.started && rec.Action == ActionCheckpoint:
		// The first checkpoint: its prev is the signed head of everything before it.
	case !c.started && rec.Seq != 1:
		c.fail(rec.Seq, KindDeleted, "the log starts at seq %d: records 1 to %d are missing", rec.Seq, rec.Seq-1)
	case !c.started && !startsChain(rec):
		c.fail(rec.Seq, KindChainBroken, "the first record links to %s, which is neither the genesis hash nor a rotated file's head", printableID(rec.Prev))
	case !c.started:
	case rec.Seq > c.lastSeq+1:
		c.fail(rec.Seq, KindDeleted, "seq jumps from %d to %d: records %d to %d are missing here", c.lastSeq, rec.Seq, c.lastSeq+1, rec.Seq-1)
	case rec.Seq != c.lastSeq+1:
		c.fail(rec.Seq, KindInserted, "seq %d follows seq %d: a record was inserted, duplicated or moved", rec.Seq, c.lastSeq)
	case rec.Prev != c.lastHash:
		c.fail(rec.Seq, KindChainBroken, "prev does not match the hash of seq %d: that record was replaced, or this one was inserted", c.lastSeq)
	}
	if c.problem != nil {
		return
	}
	c.started = true
	if rec.Action == ActionCheckpoint {
		if kind, detail := checkpointRecordProblem(rec, d.m); kind != "" {
			c.fail(rec.Seq, kind, "%s", detail)
			return
		}
		if rec.Checkpoint.Count != rec.Seq-1 {
			c.fail(rec.Seq, KindEdited, "the checkpoint counts %d records, but it is record %d", rec.Checkpoint.Count, rec.Seq)
			return
		}
		if kind, detail := checkpointSignatureProblem(c.pub, c.pubID, rec.Checkpoint, d.m); kind != "" {
			c.fail(rec.Seq, kind, "%s", detail)
			return
		}
	} else if rec.Checkpoint != nil {
		c.fail(rec.Seq, KindMalformed, "only %s records may carry a checkpoint", ActionCheckpoint)
		return
	}
	if c.head != nil && rec.Seq == c.head.Seq+1 {
		if rec.Checkpoint == nil || rec.Checkpoint.Signature != c.head.Signature {
			c.fail(rec.Seq, KindEdited, "the head file's checkpoint is not the record at seq %d: the log was rewritten", rec.Seq)
			return
		}
		c.headSeen = true
	}
	c.lastSeq, c.lastHash = rec.Seq, rec.Hash
}

// VerifyEarlier verifies, in the background, the whole log as it is now — every record from
// the first, which Integrity does not read — and returns a function that waits for the result:
// nil, or an *IntegrityError wrapping ErrTampered. Records after the last checkpoint (a run that
// did not finish) are not a problem here: this run's checkpoint seals them. It reads the file
// through a handle of its own, so the run appends meanwhile; call it right after Open.
func (l *Log) VerifyEarlier() (wait func() error) {
	l.mu.Lock()
	size := l.synced
	l.mu.Unlock()
	head, _ := ReadHead(l.headPath)
	pub := l.opts.Signer.Public().(ed25519.PublicKey)
	result := make(chan error, 1)
	go func() {
		f, err := os.Open(l.path)
		if err != nil {
			result <- nil // nothing to read: Open would have said so
			return
		}
		defer f.Close()
		rep := Verify(io.LimitReader(f, size), pub, head)
		if rep.OK || rep.Problem == nil || rep.Problem.Kind == KindUnsignedTail {
			result <- nil
			return
		}
		result <- &IntegrityError{Log: l.path, Seq: rep.Problem.Seq, Kind: rep.Problem.Kind, Detail: rep.Problem.Detail}
	}()
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() { err = <-result })
		return err
	}
}
