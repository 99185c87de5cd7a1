package templates

import (
	"reflect"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

func TestMergeRules(t *testing.T) {
	got := MergeRules([]rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"list", "get"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "daemonsets"}, Verbs: []string{"patch", "get"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}, ResourceNames: []string{"one"}},
	})
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list", "update"}},
		{APIGroups: []string{"apps"}, Resources: []string{"daemonsets", "deployments"}, Verbs: []string{"get", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}, ResourceNames: []string{"one"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("MergeRules:\n got %+v\nwant %+v", got, want)
	}
}

func TestScheduledRunsAreChecked(t *testing.T) {
	ok := ScheduleInput{Namespace: "ops", Image: "example.org/secretshift:v1", Schedule: "0 * * * *", Policy: []byte("x"), KeysSecret: "keys"}
	for name, edit := range map[string]func(*ScheduleInput){
		"bad namespace":    func(in *ScheduleInput) { in.Namespace = "Ops_1" },
		"no image":         func(in *ScheduleInput) { in.Image = "" },
		"no policy":        func(in *ScheduleInput) { in.Policy = nil },
		"bad storage size": func(in *ScheduleInput) { in.StorageSize = "lots" },
	} {
		in := ok
		edit(&in)
		if _, err := CronJob(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := CronJob(ok); err != nil {
		t.Fatal(err)
	}
	if _, err := IndexedJob(ok, 0); err == nil {
		t.Error("0 shards accepted")
	}
}
