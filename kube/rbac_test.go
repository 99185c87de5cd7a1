package kube

import (
	"slices"
	"testing"
)

// ReadRules lists every kind discover lists: a kind added to workloadListers without its rule
// would stop a generated migration Job with a 403.
func TestReadRulesCoverEveryListing(t *testing.T) {
	listed := map[string]bool{}
	for _, r := range ReadRules() {
		if slices.Contains(r.Verbs, "list") {
			for _, res := range r.Resources {
				listed[res] = true
			}
		}
	}
	if !listed["secrets"] {
		t.Error("secrets are not listed")
	}
	for _, k := range (&clusterLister{}).workloadListers() {
		if !listed[k.resource] {
			t.Errorf("%s (%s) is listed by discover but not in ReadRules", k.resource, k.kind)
		}
	}
}
