package audit

import (
	"bufio"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
)

// Kind classifies the first problem Verify found. Detection is exact (any change to a signed
// record is found); the classification is the most likely explanation, since, for example, a
// swapped pair of records first looks like a gap.
type Kind string

const (
	// KindMalformed: a line is not a record (bad JSON, duplicate keys, missing fields, a line
	// cut short).
	KindMalformed Kind = "malformed"
	// KindEdited: a record's content does not match its own hash, or a checkpoint record
	// disagrees with the checkpoint it carries.
	KindEdited Kind = "edited"
	// KindChainBroken: a record's prev is not the hash of the line before it: that line was
	// replaced or edited with its hash recomputed, or this one was forged.
	KindChainBroken Kind = "chain-broken"
	// KindDeleted: sequence numbers skip (records removed).
	KindDeleted Kind = "deleted"
	// KindInserted: a sequence number repeats (a record was added or duplicated).
	KindInserted Kind = "inserted"
	// KindReordered: records are out of sequence order.
	KindReordered Kind = "reordered"
	// KindTruncated: the log is shorter than its head file says.
	KindTruncated Kind = "truncated"
	// KindBadSignature: a checkpoint (or the head file) signature does not verify.
	KindBadSignature Kind = "bad-signature"
	// KindUnknownKey: a checkpoint was signed by a different key than the one given.
	KindUnknownKey Kind = "unknown-key"
	// KindUnsignedTail: records after the last checkpoint (a run that did not reach Close, or
	// a checkpoint that was removed with everything after it). A failure by default.
	KindUnsignedTail Kind = "unsigned-tail"
)

// Finding is the first thing wrong with a log.
type Finding struct {
	// Line is the 1-based line number in the log, or 0 for the head file.
	Line   int    `json:"line"`
	Seq    uint64 `json:"seq,omitempty"`
	Kind   Kind   `json:"kind"`
	Detail string `json:"detail"`
}

func (p *Finding) Error() string {
	if p.Line == 0 {
		return fmt.Sprintf("head file: %s: %s", p.Kind, p.Detail)
	}
	if p.Seq == 0 {
		return fmt.Sprintf("line %d: %s: %s", p.Line, p.Kind, p.Detail)
	}
	return fmt.Sprintf("line %d (seq %d): %s: %s", p.Line, p.Seq, p.Kind, p.Detail)
}

// VerifyReport is the result of Verify.
type VerifyReport struct {
	OK          bool `json:"ok"`
	Records     int  `json:"records"`
	Checkpoints int  `json:"checkpoints"`
	Runs        int  `json:"runs"`
	// FirstSeq and LastSeq are the sequence numbers of the first and last records read.
	FirstSeq uint64 `json:"firstSeq,omitempty"`
	LastSeq  uint64 `json:"lastSeq,omitempty"`
	// Genesis is the prev of the first record: GenesisHash, or the last hash of the file this
	// one continues after a rotation.
	Genesis string `json:"genesis,omitempty"`
	// Head is the hash of the last record, which the next file's Genesis names after rotation.
	Head string `json:"head,omitempty"`
	// SignedThrough is the last sequence number covered by a valid checkpoint.
	SignedThrough uint64 `json:"signedThrough"`
	// UnsignedTail counts records after SignedThrough.
	UnsignedTail int `json:"unsignedTail"`
	// PublicKeyID names the public key checkpoints were checked against (see PublicKeyID).
	PublicKeyID string `json:"publicKeyID"`
	// HeadChecked says whether a head file was compared with the log.
	HeadChecked bool     `json:"headChecked"`
	Problem     *Finding `json:"problem,omitempty"`
}

// missingMember returns the name of the first member every record has that rec lacks, or "".
func missingMember(rec *Record) string {
	for _, f := range []struct {
		name string
		ok   bool
	}{{"seq", rec.Seq > 0}, {"hash", rec.Hash != ""}, {"prev", rec.Prev != ""}, {"run_id", rec.RunID != ""},
		{"event_id", rec.EventID != ""}, {"action", rec.Action != ""}, {"outcome", rec.Outcome != ""}, {"time", !rec.Time.IsZero()}} {
		if !f.ok {
			return f.name
		}
	}
	return ""
}

// startsChain reports whether rec may be the first record of a file: it links to the genesis
// hash, or it is the audit.rotate record that continues a rotated file.
func startsChain(rec *Record) bool {
	return rec.Prev == GenesisHash || (rec.Action == ActionRotate && rec.Details["previous_head"] == rec.Prev)
}

// Verify reads a whole log and checks every line: its hash, the chain (prev = hash of the line
// before, sequence numbers 1, 2, 3 …), and every checkpoint's signature under pub. With head (the
// content of the head file) it also checks that the log reaches the head's checkpoint, which
// detects truncation of whole runs. Records after the last checkpoint make the report fail with
// KindUnsignedTail: they were never sealed, so their deletion or change could not be noticed.
func Verify(r io.Reader, pub ed25519.PublicKey, head *Checkpoint) VerifyReport {
	v := &verifier{
		pub:     pub,
		rep:     VerifyReport{PublicKeyID: PublicKeyID(pub)},
		seen:    map[string]int{},
		seqLine: map[uint64]int{},
		cpSig:   map[uint64]string{},
		runs:    map[string]bool{},
	}
	line := 0
	for b := range decodeLines(r) {
		for i := range b.lines {
			d := &b.lines[i]
			line++
			v.rep.Records++
			if d.readErr != nil {
				v.report(line, 0, KindMalformed, "%v", d.readErr)
				break
			}
			if !d.complete {
				v.report(line, 0, KindMalformed, "the last line is incomplete (no newline): a write was interrupted or the file was cut")
				break
			}
			if v.rep.Problem != nil {
				v.noteLater(line, d.b)
				continue
			}
			v.check(line, d)
		}
	}
	v.finish(head)
	return v.rep
}

// decodedLine is one line and what can be learnt from it alone: the parsed record and its
// hash. Lines are decoded in parallel; the chain is then checked in order.
type decodedLine struct {
	b        []byte
	complete bool
	readErr  error // the input could not be read further; the last line of the input

	m       map[string]any
	rec     Record
	sum     string
	problem string // why the line is not a record (KindMalformed), if it is not
}

func (d *decodedLine) decode() {
	obj, err := parseStrict(d.b)
	if err != nil {
		d.problem = fmt.Sprintf("not a valid record: %v", err)
		return
	}
	m, ok := obj.(map[string]any)
	if !ok {
		d.problem = "not a JSON object"
		return
	}
	if err := json.Unmarshal(d.b, &d.rec); err != nil {
		d.problem = fmt.Sprintf("not a valid record: %v", err)
		return
	}
	d.m = m
	if d.sum, err = hashObject(m); err != nil {
		d.problem = fmt.Sprintf("cannot hash the record: %v", err)
		return
	}
	if err := checkFormat(&d.rec); err != nil {
		d.problem = err.Error()
	}
}

// lineBatch is a run of consecutive lines; ready is closed once all are decoded.
type lineBatch struct {
	lines []decodedLine
	ready chan struct{}
}

// decodeLines reads r line by line and decodes the lines on every CPU, yielding them in order.
func decodeLines(r io.Reader) func(yield func(*lineBatch) bool) {
	return func(yield func(*lineBatch) bool) {
		workers := runtime.GOMAXPROCS(0)
		work := make(chan *lineBatch)
		ordered := make(chan *lineBatch, 2*workers)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range work {
					for i := range b.lines {
						if d := &b.lines[i]; d.complete {
							d.decode()
						}
					}
					close(b.ready)
				}
			}()
		}
		go func() {
			defer close(ordered)
			defer close(work)
			br := bufio.NewReaderSize(r, 64<<10)
			for end := false; !end; {
				b := &lineBatch{ready: make(chan struct{})}
				for len(b.lines) < 256 {
					line, complete, err := readLine(br)
					if err == io.EOF {
						end = true
						break
					}
					b.lines = append(b.lines, decodedLine{b: line, complete: complete, readErr: err})
					if err != nil || !complete {
						end = true
						break
					}
				}
				select {
				case ordered <- b:
				case <-stop:
					return
				}
				select {
				case work <- b:
				case <-stop:
					return
				}
			}
		}()
		for b := range ordered {
			<-b.ready
			if !yield(b) {
				break
			}
		}
		// Let the reader and the workers finish before returning.
		close(stop)
		wg.Wait()
	}
}

type verifier struct {
	pub ed25519.PublicKey
	rep VerifyReport

	lastSeq  uint64
	lastHash string
	seen     map[string]int    // record hash → line
	seqLine  map[uint64]int    // seq → first line holding it
	cpSig    map[uint64]string // seq of a valid checkpoint record → its signature
	runs     map[string]bool

	unsignedLine int // first record after the last valid checkpoint
	unsignedSeq  uint64

	gap   *gap           // a sequence gap waiting to be classified as deletion or reordering
	later map[uint64]int // seqs seen after the first problem
}

type gap struct{ from, to uint64 }

func (v *verifier) report(line int, seq uint64, kind Kind, format string, a ...any) {
	if v.rep.Problem == nil {
		v.rep.Problem = &Finding{Line: line, Seq: seq, Kind: kind, Detail: fmt.Sprintf(format, a...)}
	}
}

// readLine returns one line without its newline; complete is false when the input ended first.
func readLine(br *bufio.Reader) (line []byte, complete bool, err error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxLineLen {
			return nil, false, fmt.Errorf("line is longer than %d bytes", maxLineLen)
		}
		switch {
		case err == nil:
			return buf[:len(buf)-1], true, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF:
			if len(buf) == 0 {
				return nil, false, io.EOF
			}
			return buf, false, nil
		default:
			return nil, false, err
		}
	}
}

func (v *verifier) check(line int, d *decodedLine) {
	if d.problem != "" && d.m == nil {
		v.report(line, 0, KindMalformed, "%s", d.problem)
		return
	}
	m, rec := d.m, &d.rec
	if name := missingMember(rec); name != "" {
		v.report(line, rec.Seq, KindMalformed, "the record has no %s", name)
		return
	}
	if d.problem != "" {
		v.report(line, rec.Seq, KindMalformed, "%s", d.problem)
		return
	}
	if d.sum != rec.Hash {
		v.report(line, rec.Seq, KindEdited, "the record does not match its hash: a field was changed")
		return
	}

	if line == 1 {
		v.rep.FirstSeq = rec.Seq
		v.rep.Genesis = rec.Prev
		if rec.Seq != 1 {
			v.report(line, rec.Seq, KindDeleted, "the log starts at seq %d: records 1 to %d are missing", rec.Seq, rec.Seq-1)
			v.gap = &gap{from: 1, to: rec.Seq}
			return
		}
		if !startsChain(rec) {
			v.report(line, rec.Seq, KindChainBroken, "the first record links to %s, which is neither the genesis hash nor a rotated file's head", rec.Prev)
			return
		}
	} else {
		switch {
		case rec.Seq == v.lastSeq+1:
		case rec.Seq > v.lastSeq+1:
			v.report(line, rec.Seq, KindDeleted, "seq jumps from %d to %d: records %d to %d are missing here", v.lastSeq, rec.Seq, v.lastSeq+1, rec.Seq-1)
			v.gap = &gap{from: v.lastSeq + 1, to: rec.Seq}
			return
		case v.seen[rec.Hash] > 0:
			v.report(line, rec.Seq, KindInserted, "the record duplicates line %d", v.seen[rec.Hash])
			return
		case v.seqLine[rec.Seq] > 0:
			v.report(line, rec.Seq, KindInserted, "seq %d already appeared at line %d: a record was inserted", rec.Seq, v.seqLine[rec.Seq])
			return
		default:
			v.report(line, rec.Seq, KindReordered, "seq goes back from %d to %d", v.lastSeq, rec.Seq)
			return
		}
		if rec.Prev != v.lastHash {
			v.report(line, rec.Seq, KindChainBroken, "prev does not match the hash of line %d: that record was replaced, or this one was inserted", line-1)
			return
		}
	}

	if rec.Action == ActionCheckpoint {
		if !v.checkCheckpoint(line, rec, m) {
			return
		}
	} else {
		if rec.Checkpoint != nil {
			v.report(line, rec.Seq, KindMalformed, "only %s records may carry a checkpoint", ActionCheckpoint)
			return
		}
		if v.unsignedLine == 0 {
			v.unsignedLine, v.unsignedSeq = line, rec.Seq
		}
	}
	v.seen[rec.Hash] = line
	v.seqLine[rec.Seq] = line
	v.runs[rec.RunID] = true
	v.lastSeq, v.lastHash = rec.Seq, rec.Hash
	v.rep.LastSeq, v.rep.Head = rec.Seq, rec.Hash
}

func (v *verifier) checkCheckpoint(line int, rec *Record, m map[string]any) bool {
	if kind, detail := checkpointRecordProblem(rec, m); kind != "" {
		v.report(line, rec.Seq, kind, "%s", detail)
		return false
	}
	cp := rec.Checkpoint
	if cp.Count != uint64(line-1) {
		v.report(line, rec.Seq, KindEdited, "the checkpoint counts %d records, but %d lines precede it", cp.Count, line-1)
		return false
	}
	if kind, detail := checkpointSignatureProblem(v.pub, v.rep.PublicKeyID, cp, m); kind != "" {
		v.report(line, rec.Seq, kind, "%s", detail)
		return false
	}
	v.rep.Checkpoints++
	v.rep.SignedThrough = rec.Seq
	v.cpSig[rec.Seq] = cp.Signature
	v.unsignedLine, v.unsignedSeq = 0, 0
	return true
}

// noteLater records the seq of a line after the first problem, to classify a gap.
func (v *verifier) noteLater(line int, b []byte) {
	if v.gap == nil {
		return
	}
	var s struct {
		Seq uint64 `json:"seq"`
	}
	if json.Unmarshal(b, &s) != nil {
		return
	}
	if v.later == nil {
		v.later = map[uint64]int{}
	}
	if _, ok := v.later[s.Seq]; !ok {
		v.later[s.Seq] = line
	}
}

func (v *verifier) finish(head *Checkpoint) {
	v.rep.Runs = len(v.runs)
	if v.gap != nil {
		for s := v.gap.from; s < v.gap.to && s-v.gap.from < 1<<16; s++ {
			if l, ok := v.later[s]; ok {
				p := v.rep.Problem
				p.Kind = KindReordered
				p.Detail = fmt.Sprintf("seq %d is expected here but appears later, at line %d", s, l)
				break
			}
		}
	}
	if v.unsignedLine != 0 {
		v.rep.UnsignedTail = int(v.lastSeq - v.unsignedSeq + 1)
	}
	if head != nil && v.rep.Problem == nil {
		v.rep.HeadChecked = true
		v.checkHead(head)
	}
	if v.unsignedLine != 0 {
		v.report(v.unsignedLine, v.unsignedSeq, KindUnsignedTail,
			"%d records from here to the end are not covered by a checkpoint (a run that did not finish, or its checkpoint was removed)", v.rep.UnsignedTail)
	}
	v.rep.OK = v.rep.Problem == nil
}

func (v *verifier) checkHead(head *Checkpoint) {
	if head.PublicKeyID != v.rep.PublicKeyID {
		v.report(0, head.Seq, KindUnknownKey, "the head file was signed by %s, not by the given public key %s", head.PublicKeyID, v.rep.PublicKeyID)
		return
	}
	obj, err := toObject(head)
	if err != nil || !verifySignature(v.pub, obj, head.Signature) {
		v.report(0, head.Seq, KindBadSignature, "the head file's signature does not verify")
		return
	}
	cpSeq := head.Seq + 1
	if v.lastSeq < cpSeq {
		v.report(v.rep.Records+1, cpSeq, KindTruncated, "the log ends at seq %d, but its head file records a checkpoint at seq %d: records were removed from the end", v.lastSeq, cpSeq)
		return
	}
	if sig, ok := v.cpSig[cpSeq]; !ok || sig != head.Signature {
		v.report(v.seqLine[cpSeq], cpSeq, KindEdited, "the head file's checkpoint is not the record at seq %d: the log was rewritten", cpSeq)
	}
}

// VerifyLink checks that next continues prev after a rotation: next's first record links to
// prev's last record.
func VerifyLink(prev, next VerifyReport) error {
	if next.Genesis == GenesisHash {
		return errors.New("the later file starts a new chain instead of continuing the earlier one")
	}
	if next.Genesis != prev.Head {
		return fmt.Errorf("the later file continues from %s, but the earlier file ends at %s", next.Genesis, prev.Head)
	}
	return nil
}
