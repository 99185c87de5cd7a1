package migrate

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/secretshift/secretshift/audit"
)

func TestCheckSavedRefusesEditedOrStalePlans(t *testing.T) {
	s := secret("shop", "db", "k", "v")
	mem := newMem()
	opts := testOpts(t, mem)
	fresh := func() *Plan { return mustPlan(t, opts, s) }
	tests := []struct {
		name  string
		edit  func(*Plan)
		cands []Candidate
		want  string
	}{
		{"unchanged plan", func(*Plan) {}, cands(s), ""},
		{"unknown action", func(p *Plan) { p.Items[0].Action = "delete" }, cands(s), "not an action secretshift plans"},
		{"skipped now", func(*Plan) {}, []Candidate{{Secret: s, Skip: true, Reason: "service-account-token"}}, "it is skipped now"},
		{"target moved", func(p *Plan) { p.Items[0].Target.Address = "shop/elsewhere" }, cands(s), "the current settings map it to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := fresh()
			tt.edit(p)
			_, err := CheckSaved(p, tt.cands, mem)
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("err %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCheckStore(t *testing.T) {
	mem := newMem()
	opts := testOpts(t, mem)
	plan := mustPlan(t, opts, secret("shop", "db", "k", "v"))
	if err := CheckStore(plan, mem, opts.Fingerprinter); err != nil {
		t.Fatalf("the plan's own store and key: %v", err)
	}
	other, _ := audit.NewFingerprinter(bytes.Repeat([]byte{9}, 32))
	if err := CheckStore(plan, mem, other); err == nil || !strings.Contains(err.Error(), "another fingerprint key") {
		t.Errorf("another key: %v", err)
	}
	moved := *plan
	moved.StoreID = "mem|elsewhere"
	if err := CheckStore(&moved, mem, opts.Fingerprinter); err == nil || !strings.Contains(err.Error(), "the plan was made for") {
		t.Errorf("another store: %v", err)
	}
	p := &problemProvider{memProvider: newMem(), pin: map[string]string{"age": "age1xyz"}}
	pinned := mustPlan(t, testOpts(t, p), secret("shop", "db", "k", "v"))
	pinned.StoreID = p.StoreID()
	if err := CheckStore(pinned, p, opts.Fingerprinter); err != nil || p.usedPin["age"] != "age1xyz" {
		t.Errorf("pinned settings: err %v, used %v", err, p.usedPin)
	}
}

func TestPlansOfEarlierReleasesNameTheirKeyAsBefore(t *testing.T) {
	mem := newMem()
	opts := testOpts(t, mem)
	plan := mustPlan(t, opts, secret("shop", "db", "k", "v"))
	if plan.FingerprintKeyID != opts.Fingerprinter.KeyID() {
		t.Fatalf("the plan names key %q, the fingerprinter %q", plan.FingerprintKeyID, opts.Fingerprinter.KeyID())
	}
	legacy := *plan
	legacy.FingerprintKeyID, legacy.LegacyKeyID = "", opts.Fingerprinter.Value(nil)
	if err := CheckStore(&legacy, mem, opts.Fingerprinter); err != nil {
		t.Errorf("a plan of an earlier release: %v", err)
	}
	legacy.LegacyKeyID = "hmac-sha256:00"
	if err := CheckStore(&legacy, mem, opts.Fingerprinter); err == nil {
		t.Error("a plan of an earlier release under another key was accepted")
	}
}

func TestPlansWithoutStoreIDAreComparedByStore(t *testing.T) {
	mem := newMem()
	opts := testOpts(t, mem)
	plan := mustPlan(t, opts, secret("shop", "db", "k", "v"))
	old := *plan
	old.StoreID = ""
	if err := CheckStore(&old, mem, opts.Fingerprinter); err != nil {
		t.Errorf("a plan of an earlier release for the same store: %v", err)
	}
	old.Store = "another store"
	if err := CheckStore(&old, mem, opts.Fingerprinter); err == nil {
		t.Error("a plan of an earlier release for another store was accepted")
	}
}

func TestApplyRefusesAPlanForAnotherStore(t *testing.T) {
	mem := newMem()
	opts := testOpts(t, mem)
	s := secret("shop", "db", "k", "v")
	plan := mustPlan(t, opts, s)
	plan.StoreID = "mem|elsewhere"
	if _, err := Apply(context.Background(), plan, sources(s), opts); err == nil || mem.writes != 0 {
		t.Errorf("Apply of a plan for another store: err %v, %d writes", err, mem.writes)
	}
}
