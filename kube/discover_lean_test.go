package kube

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
)

// TestInspectLetsValuesGo: a Secret Inspect does not keep has no values after reading, but
// its Item still has every size and fingerprint, and MeasuredFingerprint says what they were;
// one it keeps has them.
func TestInspectLetsValuesGo(t *testing.T) {
	in := "apiVersion: v1\nkind: Secret\nmetadata: {name: a, namespace: x}\nstringData: {k: one, l: two}\n---\n" +
		"apiVersion: v1\nkind: Secret\nmetadata: {name: b, namespace: x}\nstringData: {k: three}\n"
	var seen atomic.Int32
	r, err := Discover(context.Background(), Options{Files: []string{StdinPath}, Stdin: strings.NewReader(in), Fingerprinter: testFingerprinter(t),
		Inspect: func(s *Secret) bool {
			seen.Add(1)
			if len(s.Data) == 0 {
				t.Errorf("%s shown to Inspect without values", s.Ref())
			}
			return s.Name == "b"
		}})
	if err != nil {
		t.Fatal(err)
	}
	if seen.Load() != 2 || len(r.Items) != 2 {
		t.Fatalf("Inspect saw %d Secrets, %d items", seen.Load(), len(r.Items))
	}
	a, b := r.Items[0], r.Items[1]
	if a.Secret == nil || a.Secret.Data != nil || a.Secret.MeasuredFingerprint() != a.Fingerprint || a.Fingerprint == "" {
		t.Errorf("a: let go: secret %v, measured %q, fingerprint %q", a.Secret, a.Secret.MeasuredFingerprint(), a.Fingerprint)
	}
	if len(a.Keys) != 2 || a.Keys[0].Fingerprint == "" || a.Size != 6 {
		t.Errorf("a: keys %+v, size %d", a.Keys, a.Size)
	}
	if b.Secret == nil || string(b.Secret.Data["k"]) != "three" || b.Secret.MeasuredFingerprint() != "" {
		t.Errorf("b: kept: %+v", b.Secret)
	}
}
