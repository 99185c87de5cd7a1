package audit

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// FindLogs expands args into audit log files, in order and each once: a file is itself, a
// folder stands for every *.jsonl file directly in it (the logs `generate job --shards` has
// each shard write into one folder), and a glob pattern (filepath.Match syntax, for a shell
// that passed it through) for the files it matches, head and lock files left out. A name that
// matches nothing is an error wrapping fs.ErrNotExist.
func FindLogs(args []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if p = filepath.Clean(p); !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, a := range args {
		fi, err := os.Stat(a)
		switch {
		case err == nil && fi.IsDir():
			entries, err := os.ReadDir(a)
			if err != nil {
				return nil, fmt.Errorf("read audit log folder: %w", err)
			}
			n := 0
			for _, e := range entries {
				if !e.IsDir() && strings.HasSuffix(e.Name(), ".jsonl") {
					add(filepath.Join(a, e.Name()))
					n++
				}
			}
			if n == 0 {
				return nil, fmt.Errorf("read audit log folder: %s holds no audit log (*.jsonl): %w", a, fs.ErrNotExist)
			}
		case err == nil:
			add(a)
		case errors.Is(err, fs.ErrNotExist) && strings.ContainsAny(a, `*?[`):
			matches, gerr := filepath.Glob(a)
			if gerr != nil {
				return nil, fmt.Errorf("audit log pattern %q: %w", a, gerr)
			}
			n := 0
			for _, m := range matches {
				if fi, err := os.Stat(m); err == nil && !fi.IsDir() && !strings.HasSuffix(m, ".head") && !strings.HasSuffix(m, ".lock") {
					add(m)
					n++
				}
			}
			if n == 0 {
				return nil, fmt.Errorf("read audit log: no file matches %s: %w", a, fs.ErrNotExist)
			}
		default:
			return nil, fmt.Errorf("read audit log: %w", err)
		}
	}
	return out, nil
}

// VerifyLogs verifies logs, files that each hold a chain of their own — the logs of the shards
// of one job, or any logs that did not come from one another by rotation — each with the checks
// VerifySet makes of one file (its head file, its key). When the records of any of them say
// that their run was a shard of a sharded job (DetailShard), the set must also be that job's,
// whole and consistent; SetReport.Shards says what was checked and found.
//
// Like VerifySet, what is wrong with the logs is in the report; the error is for what keeps
// VerifyLogs from checking them.
func VerifyLogs(logs []string, opts VerifySetOptions) (SetReport, error) {
	if len(opts.Keys) == 0 {
		return SetReport{}, fmt.Errorf("%w: no public key to verify the audit log with", ErrNoKey)
	}
	if opts.Head != "" {
		return SetReport{}, errors.New("a head file can be given for one log of a chain, not for a set of logs")
	}
	set := SetReport{OK: true}
	facts := make([]shardFacts, len(logs))
	for i, path := range logs {
		res, err := verifySetFile(path, opts)
		if err != nil {
			return SetReport{}, err
		}
		if facts[i], err = readShardFacts(path); err != nil {
			return SetReport{}, err
		}
		if len(facts[i].shards) == 1 {
			for s := range facts[i].shards {
				res.Shard = s
			}
		}
		set.OK = set.OK && res.OK
		set.Logs = append(set.Logs, res)
	}
	if set.Shards = checkShards(logs, facts); set.Shards != nil && !set.Shards.OK {
		set.OK = false
	}
	return set, nil
}

// ExportMerged is Export of several logs that hold chains of their own (the logs of the shards
// of one job) as one stream in time order: a record of an earlier time first, records of equal
// times in the order of paths, and each file's records in their own order. The output is for
// reading and SIEMs: a jsonl export of it holds every selected line unchanged, but it is not
// one chain and does not verify as one (export each log alone for that).
func ExportMerged(w io.Writer, paths []string, opts ExportOptions) (int, error) {
	type head struct {
		rd   *Reader
		rec  *Record
		line []byte
		path string
	}
	heads := make([]*head, 0, len(paths))
	next := func(h *head) error {
		rec, line, err := h.rd.Next()
		switch {
		case err == io.EOF:
			h.rec = nil
			return nil
		case err != nil:
			return fmt.Errorf("export audit log %s: %w", h.path, err)
		}
		h.rec, h.line = rec, line
		return nil
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return 0, fmt.Errorf("read audit log: %w", err)
		}
		defer f.Close()
		h := &head{rd: NewReader(f), path: p}
		if err := next(h); err != nil {
			return 0, err
		}
		heads = append(heads, h)
	}
	e, err := newExporter(w, opts)
	if err != nil {
		return 0, err
	}
	for {
		var first *head
		for _, h := range heads {
			if h.rec != nil && (first == nil || h.rec.Time.Before(first.rec.Time)) {
				first = h
			}
		}
		if first == nil {
			break
		}
		if err := e.write(first.rec, first.line); err != nil {
			return e.n, fmt.Errorf("export audit log: %w", err)
		}
		if err := next(first); err != nil {
			return e.n, err
		}
	}
	if err := e.flush(); err != nil {
		return e.n, fmt.Errorf("export audit log: %w", err)
	}
	return e.n, nil
}
