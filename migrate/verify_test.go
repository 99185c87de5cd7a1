package migrate

import (
	"context"
	"strings"
	"testing"

	"github.com/secretshift/secretshift/providers"
)

// TestVerifyAfterCutoverSkipsOtherStores: a Secret handed to a controller reading another store
// (its secretshift.io/store annotation) is skipped with that reason when this store has no copy,
// while a Secret cut over from this store and missing here is still missing.
func TestVerifyAfterCutoverSkipsOtherStores(t *testing.T) {
	ctx := context.Background()
	p := newMem()
	opts := testOpts(t, p)
	ours, theirs := secret("shop", "ours", "k", "1"), secret("shop", "theirs", "k", "2")
	plan, err := BuildPlan(ctx, cands(ours, theirs), SourceSpec{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range plan.Items {
		s := ours
		store := it.Target.String()
		if it.Name == "theirs" {
			s, store = theirs, "vault:elsewhere/shop/theirs"
		}
		s.Annotations = map[string]string{providers.AnnotationCutover: "external-secrets", providers.AnnotationCutoverStore: store}
	}
	rep, err := Verify(ctx, plan, sources(ours, theirs), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range rep.Items {
		switch it.Name {
		case "ours":
			if it.Result != ResultMissing {
				t.Errorf("ours: %s (%s)", it.Result, it.Reason)
			}
		case "theirs":
			if it.Result != ResultSkipped || !strings.Contains(it.Reason, "another store (vault:elsewhere/shop/theirs)") {
				t.Errorf("theirs: %s (%s)", it.Result, it.Reason)
			}
		}
	}
}
