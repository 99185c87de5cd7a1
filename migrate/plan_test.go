package migrate

import (
	"testing"

	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

func TestSameContent(t *testing.T) {
	src := &kube.Secret{Namespace: "shop", Name: "db", Type: "Opaque", Data: kube.Data{
		"password": []byte("s3cret"), ".env": {0xff, 0x00}, "empty": {},
	}}
	f := testFingerprinter(t)
	it := newItem(src, nil, f)
	fp := it.Fingerprint
	same := kube.Data{"password": []byte("s3cret"), ".env": {0xff, 0x00}, "empty": nil}
	cases := []struct {
		name string
		st   providers.Stored
		want bool
	}{
		{"equal, empty value read back as nil", providers.Stored{Data: same, Type: "Opaque"}, true},
		{"equal, type not recorded", providers.Stored{Data: same}, true},
		{"other type", providers.Stored{Data: same, Type: "kubernetes.io/tls"}, false},
		{"one byte differs", providers.Stored{Data: kube.Data{"password": []byte("s3creT"), ".env": {0xff, 0x00}, "empty": nil}}, false},
		{"a key missing", providers.Stored{Data: kube.Data{"password": []byte("s3cret"), ".env": {0xff, 0x00}}}, false},
		{"a key renamed", providers.Stored{Data: kube.Data{"password": []byte("s3cret"), ".env": {0xff, 0x00}, "Empty": nil}}, false},
		{"an extra key", providers.Stored{Data: kube.Data{"password": []byte("s3cret"), ".env": {0xff, 0x00}, "empty": nil, "x": nil}}, false},
		{"values not readable, recorded fingerprint matches", providers.Stored{Fingerprint: fp}, true},
		{"values not readable, other fingerprint", providers.Stored{Fingerprint: "hmac-sha256:cd"}, false},
		{"values not readable, recorded fingerprint matches, other keys", providers.Stored{Fingerprint: fp, Keys: []string{"password"}}, false},
		{"values not readable, nothing recorded", providers.Stored{}, false},
	}
	for _, c := range cases {
		if got := sameContent(it, &c.st, f); got != c.want {
			t.Errorf("%s: sameContent = %v, want %v", c.name, got, c.want)
		}
	}
}
