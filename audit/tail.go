package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// maxLineLen bounds one record line; anything longer is not a record this package wrote.
const maxLineLen = 16 << 20

// tailState is the chain head as last read from the file, under the lock.
type tailState struct {
	size       int64
	seq        uint64
	hash       string
	checkpoint bool   // the last record is a checkpoint, or there is none
	runID      string // the last record's run
	// problem, when set, says why the chain head cannot be trusted: the last record does not
	// match its hash, or the last lines are not records. The chain goes on from the last
	// record all the same (see IntegrityError).
	problem *IntegrityError
}

// refresh brings l.st up to date with the file under the lock: another process may have appended,
// or rotated the file away.
func (l *Log) refresh() error {
	pi, err := os.Stat(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: audit log %s was removed while in use", ErrUnavailable, l.path)
	}
	if err != nil {
		return fmt.Errorf("%w: stat audit log %s: %w", ErrUnavailable, l.path, err)
	}
	fi, err := l.f.Stat()
	if err != nil {
		return fmt.Errorf("%w: stat audit log %s: %w", ErrUnavailable, l.path, err)
	}
	if !os.SameFile(pi, fi) {
		nf, err := os.OpenFile(l.path, os.O_RDWR|os.O_APPEND, 0)
		if err != nil {
			return fmt.Errorf("%w: reopen rotated audit log %s: %w", ErrUnavailable, l.path, err)
		}
		l.f.Close()
		l.f = nf
		if fi, err = nf.Stat(); err != nil {
			return fmt.Errorf("%w: stat audit log %s: %w", ErrUnavailable, l.path, err)
		}
		l.st.size = -1
	}
	l.synced = fi.Size()
	if fi.Size() == l.st.size {
		return nil
	}
	st, err := readTail(l.f, fi.Size())
	var torn *tornTailError
	if errors.As(err, &torn) {
		return l.recoverTornTail(torn)
	}
	if err != nil {
		return fmt.Errorf("%w: audit log %s: %w", ErrUnavailable, l.path, err)
	}
	st.size = fi.Size()
	l.st = st
	if st.problem != nil {
		l.noteProblem(st.problem)
	}
	return nil
}

// lastLineEnd returns the offset just after the last newline in the first size bytes of f (0
// when there is none). A record line is never longer than maxLineLen, so it looks no further.
func lastLineEnd(f *os.File, size int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		if size-end > maxLineLen {
			return 0, fmt.Errorf("last record is longer than %d bytes", maxLineLen)
		}
		start := max(0, end-int64(len(buf)))
		chunk := buf[:end-start]
		if _, err := f.ReadAt(chunk, start); err != nil && err != io.EOF {
			return 0, fmt.Errorf("read last record: %w", err)
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}

// readTail reads the last record of a file of size bytes and checks its hash.
func readTail(f *os.File, size int64) (tailState, error) {
	if size == 0 {
		return tailState{hash: GenesisHash, checkpoint: true}, nil
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return tailState{}, fmt.Errorf("read last record: %w", err)
	}
	if last[0] != '\n' {
		end, err := lastLineEnd(f, size)
		if err != nil {
			return tailState{}, err
		}
		return tailState{}, &tornTailError{end: end, size: size}
	}
	// The chain goes on from the last line that is a record. Lines after it that are not
	// records, and a last record that does not match its hash, are evidence to keep: the
	// writer appends after them, and the problem is reported.
	lines := newBackLines(f, size)
	var problem *IntegrityError
	for {
		line, _, err := lines.prev()
		if err == io.EOF {
			// No line is a record: a new chain starts after them.
			return tailState{hash: GenesisHash, checkpoint: true, problem: problem}, nil
		}
		if err != nil {
			return tailState{}, err
		}
		st, p := tailFromLine(line)
		if problem == nil {
			problem = p
		}
		if p == nil || st.seq > 0 {
			st.problem = problem
			return st, nil
		}
	}
}

// tailFromLine reads the chain head from the last line that holds a record. A line that is not
// a record returns a zero tailState and the problem; a record that does not match its hash
// returns its state and the problem.
func tailFromLine(line []byte) (tailState, *IntegrityError) {
	notRecord := func(why string) (tailState, *IntegrityError) {
		return tailState{}, &IntegrityError{Kind: KindMalformed, Detail: "the last line is not a record: " + why}
	}
	obj, err := parseStrict(line)
	if err != nil {
		return notRecord(err.Error())
	}
	m, ok := obj.(map[string]any)
	if !ok {
		return notRecord("not a JSON object")
	}
	var rec Record
	if err := json.Unmarshal(line, &rec); err != nil {
		return notRecord(err.Error())
	}
	if rec.Seq == 0 || rec.Hash == "" {
		return notRecord("it has no seq or no hash")
	}
	st := tailState{seq: rec.Seq, hash: rec.Hash, checkpoint: rec.Action == ActionCheckpoint, runID: rec.RunID}
	if sum, err := hashObject(m); err != nil || sum != rec.Hash {
		return st, &IntegrityError{Seq: rec.Seq, Kind: KindEdited, Detail: "the last record does not match its hash: a field was changed"}
	}
	return st, nil
}

// backLines reads the complete lines of a file backwards from an offset just after a newline.
type backLines struct {
	f     *os.File
	buf   []byte // the file's bytes from start on
	start int64
	end   int64 // the next line ends with the newline just before end
}

func newBackLines(f *os.File, end int64) *backLines { return &backLines{f: f, start: end, end: end} }

// prev returns the line before the last one returned (the last line of the file at first),
// without its newline, and its offset; io.EOF once the start of the file is reached. The line is
// valid until the next call.
func (b *backLines) prev() ([]byte, int64, error) {
	if b.end <= 0 {
		return nil, 0, io.EOF
	}
	nl := b.end - 1 // the line's newline
	for {
		if nl >= b.start {
			if i := bytes.LastIndexByte(b.buf[:nl-b.start], '\n'); i >= 0 {
				off := b.start + int64(i) + 1
				b.end = off
				return b.buf[off-b.start : nl-b.start], off, nil
			}
			if b.start == 0 {
				b.end = 0
				return b.buf[:nl], 0, nil
			}
		}
		if nl-b.start > maxLineLen {
			return nil, 0, fmt.Errorf("a line before offset %d is longer than %d bytes", b.end, maxLineLen)
		}
		// Read the chunk before the buffer, keeping what is left of it before the line's end.
		n := min(64<<10, b.start)
		keep := max(0, nl-b.start)
		grown := make([]byte, n+keep)
		if _, err := b.f.ReadAt(grown[:n], b.start-n); err != nil && err != io.EOF {
			return nil, 0, fmt.Errorf("read audit log: %w", err)
		}
		copy(grown[n:], b.buf[:keep])
		b.buf, b.start = grown, b.start-n
	}
}
