package kube

import (
	"context"
	"hash/fnv"
	"strings"
	"testing"
)

// TestDiscoverShards: the shards of a Filter report every Secret, and every missing reference,
// exactly once between them, and each counts what it left to the others.
func TestDiscoverShards(t *testing.T) {
	whole, err := Discover(context.Background(), Options{Files: []string{StdinPath}, Stdin: strings.NewReader(consumerManifests),
		Filter: Filter{ExcludeNamespaces: []string{"other"}}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3
	items, missing := map[string]int{}, map[MissingRef]int{}
	for i := range n {
		shard := func(namespace, name string) bool {
			h := fnv.New32a()
			h.Write([]byte(namespace + "/" + name))
			return int(h.Sum32()%n) == i
		}
		r, err := Discover(context.Background(), Options{Files: []string{StdinPath}, Stdin: strings.NewReader(consumerManifests),
			Filter: Filter{ExcludeNamespaces: []string{"other"}, Shard: shard}})
		if err != nil {
			t.Fatal(err)
		}
		if r.Summary.Secrets+r.Summary.InOtherShards != whole.Summary.Secrets {
			t.Errorf("shard %d: %d Secrets + %d in other shards, want %d in all", i, r.Summary.Secrets, r.Summary.InOtherShards, whole.Summary.Secrets)
		}
		for _, it := range r.Items {
			items[it.Ref()]++
			for _, w := range whole.Items {
				if w.Ref() == it.Ref() && len(w.Consumers) != len(it.Consumers) {
					t.Errorf("shard %d: %s has %d consumers, %d in the whole report", i, it.Ref(), len(it.Consumers), len(w.Consumers))
				}
			}
		}
		for _, m := range r.MissingReferences {
			missing[m]++
		}
	}
	for _, it := range whole.Items {
		if items[it.Ref()] != 1 {
			t.Errorf("%s is in %d shards", it.Ref(), items[it.Ref()])
		}
	}
	for _, m := range whole.MissingReferences {
		if missing[m] != 1 {
			t.Errorf("missing %s/%s (%s) is reported by %d shards", m.Namespace, m.Secret, m.Problem, missing[m])
		}
	}
	if len(items) != len(whole.Items) || len(missing) != len(whole.MissingReferences) {
		t.Errorf("the shards report %d Secrets and %d missing references, the whole report %d and %d", len(items), len(missing), len(whole.Items), len(whole.MissingReferences))
	}
}
