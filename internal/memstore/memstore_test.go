package memstore

import (
	"context"
	"testing"

	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// TestStagedValueStaysBesideTheCurrentOne shows the Stager contract on the test store: the
// current value is what readers get until Promote, and the old one stays readable after.
func TestStagedValueStaysBesideTheCurrentOne(t *testing.T) {
	ctx := context.Background()
	p, err := (&Config{Bucket: t.Name()}).Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := p.(*Store)
	tg, _ := s.Target(providers.Ref{Namespace: "shop", Name: "db"})
	v1, err := s.Write(ctx, tg, providers.Payload{Data: kube.Data{"password": []byte("old")}}, "")
	if err != nil {
		t.Fatal(err)
	}
	pending, err := s.Stage(ctx, tg, providers.Payload{Data: kube.Data{"password": []byte("new")}}, v1)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Read(ctx, tg); string(st.Data["password"]) != "old" {
		t.Fatal("a staged value became current before Promote")
	}
	v2, err := s.Promote(ctx, tg, pending)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Read(ctx, tg); string(st.Data["password"]) != "new" || st.Version != v2 {
		t.Errorf("after Promote: %+v", st)
	}
	if old, err := s.ReadVersion(ctx, tg, v1); err != nil || string(old.Data["password"]) != "old" {
		t.Errorf("the previous version is not recoverable: %v", err)
	}
	if _, err := s.Stage(ctx, tg, providers.Payload{}, v1); err == nil {
		t.Error("staging from a stale version must be a conflict")
	}
}
