package cutover

import (
	"bytes"
	"strings"
	"testing"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// TestDiffers: how a store copy differs from the live Secret is said by key names only.
func TestDiffers(t *testing.T) {
	f, err := audit.NewFingerprinter(bytes.Repeat([]byte("d"), 32))
	if err != nil {
		t.Fatal(err)
	}
	live := &kube.Secret{Type: "Opaque", Data: kube.Data{"user": []byte("admin"), "password": []byte("s3cret-live")}}
	fp := f.Set(live.EffectiveType(), live.Data)
	for name, tc := range map[string]struct {
		stored *providers.Stored
		want   string
	}{
		"equal":             {&providers.Stored{Data: kube.Data{"user": []byte("admin"), "password": []byte("s3cret-live")}}, ""},
		"equal, typed":      {&providers.Stored{Type: "Opaque", Data: kube.Data{"user": []byte("admin"), "password": []byte("s3cret-live")}}, ""},
		"other bytes":       {&providers.Stored{Data: kube.Data{"user": []byte("admin"), "password": []byte("s3cret-store")}}, "keys other bytes: password"},
		"key missing":       {&providers.Stored{Data: kube.Data{"user": []byte("admin")}}, "keys not in the store: password"},
		"extra key":         {&providers.Stored{Data: kube.Data{"user": []byte("admin"), "password": []byte("s3cret-live"), "x": nil}}, "keys only in the store: x"},
		"type":              {&providers.Stored{Type: "kubernetes.io/basic-auth", Data: kube.Data{"user": []byte("admin"), "password": []byte("s3cret-live")}}, "type kubernetes.io/basic-auth in the store"},
		"fingerprint only":  {&providers.Stored{Fingerprint: fp, FingerprintKeyID: f.KeyID()}, ""},
		"other fingerprint": {&providers.Stored{Fingerprint: f.Value([]byte("x")), FingerprintKeyID: f.KeyID()}, "fingerprints differ"},
		"unreadable":        {&providers.Stored{Fingerprint: fp, FingerprintKeyID: "hmac-sha256:other"}, "cannot be read"},
		"deleted":           {&providers.Stored{Deleted: true}, "deleted"},
	} {
		t.Run(name, func(t *testing.T) {
			got := differs(tc.stored, live, fp, f)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Fatalf("differs = %q, want %q", got, tc.want)
			}
			if strings.Contains(got, "s3cret") {
				t.Fatalf("a value leaked into %q", got)
			}
		})
	}
}
