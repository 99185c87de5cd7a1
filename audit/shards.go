package audit

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Details by which a record says that its run was one shard of a sharded job (N processes, each
// on its part of the Secrets, each with its own log): DetailShard is the shard, "I/N", and
// DetailShardSet an id of the job's parameters that every shard of it shares (the source but
// for the shard, the store, the fingerprint key, N). migrate records both on plan.create.
const (
	DetailShard    = "shard"
	DetailShardSet = "shard_set"
)

// ShardSetReport is what VerifyLogs found about a set of logs of which some run was a shard's:
// OK when the set is one sharded job's, whole and consistent — every log holds runs of one
// shard only; all name the same job (DetailShardSet) and the same N; every shard 0 … N-1 is in
// exactly one log; and no Secret was written (a successful migrate.write of a shard's run) in
// the logs of two shards.
type ShardSetReport struct {
	OK bool `json:"ok"`
	// Count is N, the number of shards of the job.
	Count int `json:"count"`
	// SetID is the job's DetailShardSet.
	SetID string `json:"setID"`
	// Logs names the log of each shard ("I/N") found.
	Logs map[string]string `json:"logs"`
	// Written counts the Secrets the shards' runs wrote, each once.
	Written int `json:"written"`
	// Problems say what is missing or inconsistent; empty when OK.
	Problems []string `json:"problems,omitempty"`
}

// shardFacts is what one log says about the sharded runs it holds.
type shardFacts struct {
	shards  map[string]bool // DetailShard values
	sets    map[string]bool // DetailShardSet values
	written []string        // namespace/name of each Secret a shard's run wrote, once
	// unread says why the log could not be read to its end (it then fails verification too).
	unread string
}

// readShardFacts reads the records of the log at path for what its sharded runs did: the runs
// that name a shard, and the Secrets they wrote.
func readShardFacts(path string) (shardFacts, error) {
	facts := shardFacts{shards: map[string]bool{}, sets: map[string]bool{}}
	f, err := os.Open(path)
	if err != nil {
		return facts, fmt.Errorf("read audit log: %w", err)
	}
	defer f.Close()
	runs := map[string]bool{}
	written := map[string]bool{}
	rd := NewReader(f)
	for {
		rec, _, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			facts.unread = err.Error()
			break
		}
		if s := rec.Details[DetailShard]; s != "" {
			facts.shards[s] = true
			facts.sets[rec.Details[DetailShardSet]] = true
			runs[rec.RunID] = true
		}
		// A write, or a write of an earlier run of the shard that stopped before recording it.
		wrote := rec.Action == ActionMigrateWrite || (rec.Action == ActionMigrateVerify && rec.Details["written_by_earlier_run"] == "true")
		if wrote && rec.Outcome == OutcomeSuccess && rec.Source != nil && runs[rec.RunID] {
			if ref := rec.Source.Ref(); !written[ref] {
				written[ref] = true
				facts.written = append(facts.written, ref)
			}
		}
	}
	return facts, nil
}

// checkShards checks the logs as a sharded job's (see ShardSetReport); nil when no run of any
// of them was a shard's.
func checkShards(logs []string, facts []shardFacts) *ShardSetReport {
	if !slices.ContainsFunc(facts, func(f shardFacts) bool { return len(f.shards) > 0 }) {
		return nil
	}
	rep := &ShardSetReport{Logs: map[string]string{}}
	problem := func(format string, a ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(format, a...)) }
	countFrom, setFrom := "", ""
	writer := map[string]string{} // Secret → the shard that wrote it
	var twice []string
	for i, path := range logs {
		f := facts[i]
		if f.unread != "" {
			problem("%s could not be read to its end for its shard runs: %s", path, f.unread)
		}
		shards := sortedKeys(f.shards)
		switch len(shards) {
		case 0:
			problem("%s holds no run of a shard: it is not a log of this sharded job", path)
			continue
		case 1:
		default:
			problem("%s holds runs of several shards (%s): each shard must write its own log", path, strings.Join(shards, ", "))
			continue
		}
		shard := shards[0]
		index, count, ok := parseShard(shard)
		if !ok {
			problem("%s names shard %q, which is not I/N", path, shard)
			continue
		}
		switch {
		case rep.Count == 0:
			rep.Count, countFrom = count, path
		case count != rep.Count:
			problem("%s is shard %d of %d, but %s is of a run of %d shards", path, index, count, countFrom, rep.Count)
		}
		for _, set := range sortedKeys(f.sets) {
			switch {
			case rep.SetID == "":
				rep.SetID, setFrom = set, path
			case set != rep.SetID:
				problem("%s (shard %s) is of another job than %s: its run parameters differ (source, store, fingerprint key or number of shards)", path, shard, setFrom)
			}
		}
		if other, dup := rep.Logs[shard]; dup {
			problem("shard %s is in two logs: %s and %s", shard, other, path)
			continue
		}
		rep.Logs[shard] = path
		for _, ref := range f.written {
			if by, seen := writer[ref]; seen && by != shard {
				twice = append(twice, fmt.Sprintf("%s (by shards %s and %s)", ref, by, shard))
				continue
			}
			writer[ref] = shard
		}
	}
	for i := 0; i < rep.Count; i++ {
		if s := fmt.Sprintf("%d/%d", i, rep.Count); rep.Logs[s] == "" {
			problem("shard %s is missing: no log of the set holds it", s)
		}
	}
	if len(twice) > 0 {
		const shown = 5
		more := ""
		if len(twice) > shown {
			more = fmt.Sprintf(", and %d more", len(twice)-shown)
		}
		problem("%d Secret(s) were written by two shards: %s%s", len(twice), strings.Join(twice[:min(shown, len(twice))], ", "), more)
	}
	rep.Written = len(writer)
	rep.OK = len(rep.Problems) == 0
	return rep
}

// parseShard reads "I/N" (0 <= I < N).
func parseShard(s string) (index, count int, ok bool) {
	i, n, found := strings.Cut(s, "/")
	index, err1 := strconv.Atoi(i)
	count, err2 := strconv.Atoi(n)
	if !found || err1 != nil || err2 != nil || count < 1 || index < 0 || index >= count {
		return 0, 0, false
	}
	return index, count, true
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
