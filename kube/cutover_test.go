package kube

import (
	"context"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
)

func TestESOInstalled(t *testing.T) {
	eso := &metav1.APIResourceList{GroupVersion: "external-secrets.io/v1", APIResources: []metav1.APIResource{
		{Name: "externalsecrets"}, {Name: "secretstores"}}}
	for name, tc := range map[string]struct {
		resources []*metav1.APIResourceList
		cluster   bool
		want      string
	}{
		"installed":                  {resources: []*metav1.APIResourceList{eso}},
		"CRDs absent":                {want: "not installed"},
		"no ClusterSecretStore CRD":  {resources: []*metav1.APIResourceList{eso}, cluster: true, want: "clustersecretstores"},
		"namespaced stores are fine": {resources: []*metav1.APIResourceList{eso}, cluster: false},
	} {
		t.Run(name, func(t *testing.T) {
			cs := fake.NewClientset()
			cs.Discovery().(*fakediscovery.FakeDiscovery).Resources = tc.resources
			err := (&Cluster{Client: cs}).ESOInstalled(context.Background(), tc.cluster)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestDeniedListsEveryMissingRight(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("create", "selfsubjectaccessreviews", func(a clienttesting.Action) (bool, runtime.Object, error) {
		r := a.(clienttesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
		r.Status.Allowed = r.Spec.ResourceAttributes.Verb == "get"
		if !r.Status.Allowed {
			r.Status.Reason = "no RBAC rule"
		}
		return true, r, nil
	})
	denied, err := (&Cluster{Client: cs}).Denied(context.Background(), []Access{
		{Namespace: "shop", Resource: "secrets", Verb: "get"},
		{Namespace: "shop", Resource: "secrets", Verb: "patch"},
		{Namespace: "shop", Group: "external-secrets.io", Resource: "externalsecrets", Verb: "create"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"not allowed to patch secrets in shop: no RBAC rule", "not allowed to create externalsecrets.external-secrets.io in shop: no RBAC rule"}
	if strings.Join(denied, "|") != strings.Join(want, "|") {
		t.Fatalf("denied %q, want %q", denied, want)
	}
}
