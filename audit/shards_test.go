package audit

import (
	"strings"
	"testing"
)

func TestCheckShards(t *testing.T) {
	f := func(shard, set string, written ...string) shardFacts {
		sf := shardFacts{shards: map[string]bool{}, sets: map[string]bool{}, written: written}
		if shard != "" {
			sf.shards[shard], sf.sets[set] = true, true
		}
		return sf
	}
	tests := []struct {
		name  string
		facts []shardFacts
		want  []string // in the problems; none means OK
	}{
		{"whole", []shardFacts{f("0/3", "j", "a/x"), f("1/3", "j", "a/y"), f("2/3", "j")}, nil},
		{"a shard missing", []shardFacts{f("0/3", "j"), f("2/3", "j")}, []string{"shard 1/3 is missing"}},
		{"a shard twice", []shardFacts{f("0/2", "j"), f("1/2", "j"), f("1/2", "j")}, []string{"shard 1/2 is in two logs: log1 and log2"}},
		{"another job", []shardFacts{f("0/2", "j"), f("1/2", "k")}, []string{"log1 (shard 1/2) is of another job than log0"}},
		{"another count", []shardFacts{f("0/2", "j"), f("1/3", "j")}, []string{"log1 is shard 1 of 3, but log0 is of a run of 2 shards"}},
		{"a log of no shard", []shardFacts{f("0/1", "j"), f("", "")}, []string{"log1 holds no run of a shard"}},
		{"a log of two shards", []shardFacts{{shards: map[string]bool{"0/2": true, "1/2": true}, sets: map[string]bool{"j": true}}},
			[]string{"log0 holds runs of several shards (0/2, 1/2)"}},
		{"written twice", []shardFacts{f("0/2", "j", "a/x", "a/y"), f("1/2", "j", "a/y")}, []string{"1 Secret(s) were written by two shards: a/y (by shards 0/2 and 1/2)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := make([]string, len(tt.facts))
			for i := range logs {
				logs[i] = "log" + string(rune('0'+i))
			}
			rep := checkShards(logs, tt.facts)
			if rep == nil {
				t.Fatal("no shard report")
			}
			if rep.OK != (len(tt.want) == 0) {
				t.Errorf("OK = %v, problems %q", rep.OK, rep.Problems)
			}
			all := strings.Join(rep.Problems, "\n")
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("problems %q do not say %q", rep.Problems, w)
				}
			}
		})
	}
	if rep := checkShards([]string{"a", "b"}, []shardFacts{f("", ""), f("", "")}); rep != nil {
		t.Errorf("logs of no shard got a shard report: %+v", rep)
	}
}
