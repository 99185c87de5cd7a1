package migrate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/job"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// CheckStore checks, before anything is read, that a saved plan fits the provider and key it
// is about to be applied with: the same fingerprint key, the same store (by identity, not by
// its description), and — for providers that pin settings (SOPS recipients) — the settings the
// plan recorded, which p adopts.
func CheckStore(saved *Plan, p providers.Provider, fp *audit.Fingerprinter) error {
	if err := saved.fits(p, fp); err != nil {
		return err
	}
	if pin, ok := p.(providers.Pinned); ok && saved.StoreSettings != nil {
		if err := pin.UsePin(saved.StoreSettings); err != nil {
			hint := "\nmake a new plan"
			if strings.Contains(err.Error(), "make a new plan") {
				hint = ""
			}
			return fmt.Errorf("the plan no longer fits %s: %w%s", StoreText(p), err, hint)
		}
	}
	return nil
}

// fits checks that the plan was made under fp's key for p's store. Plans of earlier releases
// carry no store id; their store description is compared instead.
func (saved *Plan) fits(p providers.Provider, fp *audit.Fingerprinter) error {
	if !saved.madeUnder(fp) {
		return errors.New("the plan was made under another fingerprint key\nuse the same --fingerprint-key, or make a new plan")
	}
	if saved.Provider != p.Name() {
		return fmt.Errorf("the plan is for provider %q, not %q", saved.Provider, p.Name())
	}
	same := saved.StoreID == p.StoreID()
	if saved.StoreID == "" {
		same = saved.Store == StoreText(p)
	}
	if !same {
		return fmt.Errorf("the plan was made for %s, but the current settings give %s\nuse the provider settings the plan was made with", saved.Store, StoreText(p))
	}
	return nil
}

// CheckSaved checks a saved plan against the Secrets read again from its source, before any
// write: every action is one secretshift plans, nothing discover skips now is set to move
// (whatever the file says), and every target is where the current settings put it. It returns
// the current Secrets by namespace/name, for Apply, which also refuses any whose values
// changed since the plan was made.
func CheckSaved(saved *Plan, cands []Candidate, p providers.Provider) (map[string]*kube.Secret, error) {
	byRef := make(map[string]*kube.Secret, len(cands))
	skipped := map[string]string{}
	for _, c := range cands {
		byRef[c.Secret.Ref()] = c.Secret
		if c.Skip {
			skipped[c.Secret.Ref()] = c.Reason
		}
	}
	for i, it := range saved.Items {
		if it == nil {
			return nil, fmt.Errorf("item %d of the plan is empty (null); make a new plan", i+1)
		}
		switch it.Action {
		case ActionCreate, ActionUpdate, ActionUnchanged, ActionSkip, ActionConflict:
		default:
			return nil, fmt.Errorf("%s: the plan says %q, which is not an action secretshift plans; make a new plan", it.Ref(), it.Action)
		}
		// What discover skips (service-account tokens, Helm releases, ...) never moves, whatever
		// a plan file says.
		if reason, skip := skipped[it.Ref()]; skip && it.Action != ActionSkip {
			return nil, fmt.Errorf("%s: the plan says %s, but it is skipped now (%s); make a new plan", it.Ref(), it.Action, reason)
		}
		s := byRef[it.Ref()]
		if it.Target == nil || s == nil {
			continue
		}
		t, err := p.Target(providers.PayloadOf(s).Ref)
		if err != nil {
			return nil, err
		}
		if t != *it.Target {
			return nil, fmt.Errorf("%s: the current settings map it to %s, the plan to %s\nuse the provider settings the plan was made with", it.Ref(), t, it.Target)
		}
	}
	return byRef, nil
}

// Part returns shard s of a plan made whole: the items of the Secrets s holds, under a job id
// of their own, for one process of a sharded apply. A plan that is already a shard's has no
// parts.
func (p *Plan) Part(s job.Shard) (*Plan, error) {
	if p.Source.Shard != "" {
		return nil, fmt.Errorf("the plan is already the plan of shard %s", p.Source.Shard)
	}
	part := *p
	part.Items = nil
	for _, it := range p.Items {
		if s.HasSecret(it.Namespace, it.Name) {
			part.Items = append(part.Items, it)
		}
	}
	part.Source.Shard = s.String()
	part.Summary = summarize(part.Items)
	part.ID = jobID(&part)
	return &part, nil
}

// ShardSetID names the sharded job a shard's plan belongs to: the same source (but for the
// shard), store, fingerprint key and number of shards give every shard the same id, so that
// `audit verify` can tell that a set of shard logs comes from one run. It is "" for a plan
// that is not a shard's.
func (p *Plan) ShardSetID() string {
	if p.Source.Shard == "" {
		return ""
	}
	_, count, _ := strings.Cut(p.Source.Shard, "/")
	src := p.Source
	src.Shard = ""
	b, _ := json.Marshal(src)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s", p.Provider, p.StoreID, p.FingerprintKeyID, count, b)
	return hex.EncodeToString(h.Sum(nil))[:16]
}
