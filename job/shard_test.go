package job

import (
	"fmt"
	"testing"
)

func TestShardsCoverEveryKeyOnce(t *testing.T) {
	const n = 4
	counts := make([]int, n)
	for k := 0; k < 10000; k++ {
		key := fmt.Sprintf("ns-%d/secret-%d", k%37, k)
		owners := 0
		for i := 0; i < n; i++ {
			if (Shard{Index: i, Count: n}).Has(key) {
				owners++
				counts[i]++
			}
		}
		if owners != 1 {
			t.Fatalf("%s is in %d shards", key, owners)
		}
	}
	for i, c := range counts {
		if c < 2300 || c > 2700 {
			t.Errorf("shard %d/%d holds %d of 10000", i, n, c)
		}
	}
}

func TestParseShard(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Shard
		bad  bool
	}{
		{in: "0/4", want: Shard{0, 4}},
		{in: "3/4", want: Shard{3, 4}},
		{in: "0/1", want: Shard{0, 1}},
		{in: "4/4", bad: true},
		{in: "-1/4", bad: true},
		{in: "1/0", bad: true},
		{in: "1", bad: true},
		{in: "a/b", bad: true},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseShard(tt.in)
			if (err != nil) != tt.bad || (!tt.bad && got != tt.want) {
				t.Errorf("ParseShard(%q) = %v, %v", tt.in, got, err)
			}
		})
	}
}
