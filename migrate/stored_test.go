package migrate

import (
	"context"
	"testing"

	"github.com/secretshift/secretshift/internal/recordertest"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// problemProvider reports every target as unusable (a hand-edited file) until it is written,
// or asks for a rewrite of equal content, as the SOPS adapter does for new recipients.
type problemProvider struct {
	*memProvider
	problem, rewrite map[string]string
	pin              map[string]string
	usedPin          map[string]string
}

func (p *problemProvider) Read(ctx context.Context, t providers.Target) (*providers.Stored, error) {
	st, err := p.memProvider.Read(ctx, t)
	if err != nil {
		return nil, err
	}
	if msg := p.problem[t.Address]; msg != "" {
		st.Data, st.Problem = nil, msg
	}
	st.Rewrite = p.rewrite[t.Address]
	return st, nil
}

func (p *problemProvider) Write(ctx context.Context, t providers.Target, pl providers.Payload, expect string) (string, error) {
	v, err := p.memProvider.Write(ctx, t, pl, expect)
	if err == nil {
		delete(p.problem, t.Address)
		delete(p.rewrite, t.Address)
	}
	return v, err
}

func (p *problemProvider) Pin() map[string]string { return p.pin }
func (p *problemProvider) UsePin(pin map[string]string) error {
	p.usedPin = pin
	return nil
}

var _ providers.Pinned = (*problemProvider)(nil)

func TestUnusableTargetIsAConflictUnlessOverwritten(t *testing.T) {
	s := secret("shop", "db", "password", "x")
	for _, overwrite := range []bool{false, true} {
		mem := newMem()
		p := &problemProvider{memProvider: mem, problem: map[string]string{}, rewrite: map[string]string{}}
		opts := testOpts(t, p)
		if _, err := Apply(context.Background(), mustPlan(t, opts, s), sources(s), opts); err != nil {
			t.Fatal(err)
		}
		// The file is edited by hand since: its MAC no longer matches. The recorded
		// fingerprint is still the source's, and must not make it look unchanged.
		p.problem["shop/db"] = "shop/db.yaml: MAC mismatch: edited after encryption"
		opts = testOpts(t, p)
		opts.Overwrite = overwrite
		plan := mustPlan(t, opts, s)
		it := plan.Items[0]
		wantAction, wantReason := ActionConflict, "unreadable-target"
		if overwrite {
			wantAction, wantReason = ActionUpdate, "overwrite"
		}
		if it.Action != wantAction || it.Reason != wantReason {
			t.Fatalf("overwrite=%v: planned %s (%s), want %s (%s)", overwrite, it.Action, it.Reason, wantAction, wantReason)
		}
		writes := mem.writes
		rep, err := Apply(context.Background(), plan, sources(s), opts)
		if err != nil {
			t.Fatal(err)
		}
		if overwrite != (mem.writes == writes+1) || (rep.Items[0].Result == ResultUpdated) != overwrite {
			t.Errorf("overwrite=%v: %d writes, result %s", overwrite, mem.writes-writes, rep.Items[0].Result)
		}
	}
}

func TestRewriteOfEqualContentIsAnUpdate(t *testing.T) {
	s := secret("shop", "db", "password", "x")
	mem := newMem()
	p := &problemProvider{memProvider: mem, problem: map[string]string{}, rewrite: map[string]string{}}
	opts := testOpts(t, p)
	if _, err := Apply(context.Background(), mustPlan(t, opts, s), sources(s), opts); err != nil {
		t.Fatal(err)
	}
	p.rewrite["shop/db"] = "recipients differ from the creation rule"
	rec := &recordertest.Log{}
	opts = testOpts(t, p)
	opts.Recorder = rec
	plan := mustPlan(t, opts, s)
	if it := plan.Items[0]; it.Action != ActionUpdate || it.Reason != "rewrite" {
		t.Fatalf("planned %s (%s), want update (rewrite)", it.Action, it.Reason)
	}
	rep, err := Apply(context.Background(), plan, sources(s), opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Items[0].Result != ResultUpdated || mem.writes != 2 {
		t.Errorf("result %s after %d writes", rep.Items[0].Result, mem.writes)
	}
	reasons := 0
	for _, e := range rec.Events {
		if e.Action == "migrate.write" && e.Details["reason"] == "rewrite" {
			reasons++
		}
	}
	if reasons < 2 { // the intent and the outcome
		t.Errorf("the audit records do not say why equal content was written again: %+v", rec.Events)
	}
	// Rewritten, the next plan is unchanged.
	if it := mustPlan(t, testOpts(t, p), s).Items[0]; it.Action != ActionUnchanged {
		t.Errorf("after the rewrite: %s", it.Action)
	}
}

func TestReportSaysHowEachTargetWasChecked(t *testing.T) {
	s := secret("shop", "db", "password", "x")
	mem := newMem()
	opts := testOpts(t, mem)
	rep, err := Apply(context.Background(), mustPlan(t, opts, s), sources(s), opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Items[0].Check; got != CheckContent {
		t.Errorf("check %q, want %q", got, CheckContent)
	}
	// A store that cannot show values (no decryption key): only the recorded fingerprint.
	blind := &blindProvider{mem}
	vrep, err := Verify(context.Background(), mustPlan(t, testOpts(t, blind), s), sources(s), testOpts(t, blind))
	if err != nil {
		t.Fatal(err)
	}
	if it := vrep.Items[0]; !it.Verified || it.Check != CheckFingerprint || vrep.Checked(CheckFingerprint) != 1 {
		t.Errorf("verify of a blind store: %+v", it)
	}
}

func TestPlanCarriesPinnedSettings(t *testing.T) {
	p := &problemProvider{memProvider: newMem(), pin: map[string]string{"age": "age1xyz"}}
	plan := mustPlan(t, testOpts(t, p), secret("shop", "db", "k", "v"))
	if plan.StoreSettings["age"] != "age1xyz" {
		t.Errorf("plan settings %v", plan.StoreSettings)
	}
}

type blindProvider struct{ *memProvider }

func (b *blindProvider) Read(ctx context.Context, t providers.Target) (*providers.Stored, error) {
	st, err := b.memProvider.Read(ctx, t)
	if err == nil {
		st.Data = nil
	}
	return st, err
}

func mustPlan(t *testing.T, opts Options, ss ...*kube.Secret) *Plan {
	t.Helper()
	plan, err := BuildPlan(context.Background(), cands(ss...), SourceSpec{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}
