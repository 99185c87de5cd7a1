package migrate

import (
	"fmt"
	"testing"

	"github.com/secretshift/secretshift/job"
)

// shardPlan is a plan of n items, ns/s0 … ns/s(n-1), made whole.
func shardPlan(n int) *Plan {
	p := &Plan{Provider: "mem", StoreID: "mem:1", FingerprintKeyID: "hmac-sha256:k", Source: SourceSpec{Files: []string{"in"}}}
	for i := range n {
		p.Items = append(p.Items, &Item{Namespace: "ns", Name: fmt.Sprintf("s%d", i), Action: ActionCreate, Fingerprint: fmt.Sprint(i)})
	}
	p.ID = jobID(p)
	return p
}

// TestPlanParts: the parts of a plan hold each item once, each under a job id of its own (also
// parts that hold nothing), and name one job for audit verify.
func TestPlanParts(t *testing.T) {
	whole := shardPlan(5)
	const n = 8 // more shards than items: some parts hold nothing
	ids, sets := map[string]bool{whole.ID: true}, map[string]bool{}
	seen := map[string]int{}
	empty := 0
	for i := range n {
		part, err := whole.Part(job.Shard{Index: i, Count: n})
		if err != nil {
			t.Fatal(err)
		}
		if part.Source.Shard != fmt.Sprintf("%d/%d", i, n) || part.Summary.Total != len(part.Items) {
			t.Errorf("part %d: shard %q, summary %+v", i, part.Source.Shard, part.Summary)
		}
		if ids[part.ID] {
			t.Errorf("part %d has the job id of another part or of the whole plan", i)
		}
		ids[part.ID] = true
		sets[part.ShardSetID()] = true
		for _, it := range part.Items {
			seen[it.Ref()]++
		}
		if len(part.Items) == 0 {
			empty++
		}
		if _, err := part.Part(job.Shard{Index: 0, Count: 2}); err == nil {
			t.Errorf("part %d was cut again", i)
		}
	}
	for _, it := range whole.Items {
		if seen[it.Ref()] != 1 {
			t.Errorf("%s is in %d parts", it.Ref(), seen[it.Ref()])
		}
	}
	if len(sets) != 1 || whole.ShardSetID() != "" {
		t.Errorf("the parts name %d jobs; the whole plan %q", len(sets), whole.ShardSetID())
	}
	other := shardPlan(5)
	other.Source.Files = []string{"elsewhere"}
	if p, _ := other.Part(job.Shard{Index: 0, Count: n}); sets[p.ShardSetID()] {
		t.Error("a plan of another source names the same job")
	}
	if empty < 2 {
		t.Errorf("%d of %d parts hold nothing; the test needs at least two", empty, n)
	}
}
