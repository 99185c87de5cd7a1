package azurekv

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// legalKVName is Key Vault's own rule for object names (1-127 of 0-9, a-z, A-Z and -).
var legalKVName = regexp.MustCompile(`^[0-9a-zA-Z-]{1,127}$`)

var fuzzNameTemplates = []struct{ layout, text string }{
	{LayoutPerKey, ""}, {LayoutJSON, ""}, {LayoutPerKey, "k8s/{{.Namespace}}.{{.Name}}/{{.Key}}"},
	{LayoutPerKey, "{{.Name}}-{{.Key}}"}, {LayoutJSON, "{{.Namespace}}_{{.Name}}"}, {LayoutPerKey, "{{.Key}}"},
}

const azureCanary = "CANARY-azure-value-5d1e"

// FuzzAzureNames checks the Key Vault names of Secrets and keys under each layout and
// template: mapping is deterministic; a name that passes Check is legal in Key Vault; and when
// two sources end up with names that Key Vault would treat as one (it ignores case), Check
// refuses the second with ErrInvalidName — except for two Secrets with the same target, which
// the engine reports. No error shows a value.
func FuzzAzureNames(f *testing.F) {
	for i := range fuzzNameTemplates {
		f.Add(uint8(i), "shop", "db", "password", "shop", "db", "PASSWORD")
	}
	f.Add(uint8(0), "shop", "db", "tls.key", "shop", "db", "tls_key")
	f.Add(uint8(0), "a", "b--c", "d", "a--b", "c", "d")
	f.Add(uint8(1), "payments", "pull", ".dockerconfigjson", "payments", "Pull", "x")
	f.Add(uint8(0), strings.Repeat("n", 63), strings.Repeat("s", 60), "k", "x", "y", "z")
	f.Fuzz(func(t *testing.T, which uint8, ns, name, key, ns2, name2, key2 string) {
		tm := fuzzNameTemplates[int(which)%len(fuzzNameTemplates)]
		n, err := newNamer(tm.layout, tm.text)
		if err != nil {
			t.Fatalf("template %q: %v", tm.text, err)
		}
		p := newProvider(nil, "https://kv.vault.azure.net", n)
		ref1, ref2 := providers.Ref{Namespace: ns, Name: name}, providers.Ref{Namespace: ns2, Name: name2}
		t1, err := p.Target(ref1)
		again, err2 := newProvider(nil, "https://kv.vault.azure.net", n).Target(ref1)
		if t1 != again || (err == nil) != (err2 == nil) {
			t.Fatalf("not deterministic: %v %v / %v %v", t1, err, again, err2)
		}
		if err != nil {
			if !errors.Is(err, providers.ErrInvalidName) {
				t.Fatalf("refusal does not wrap ErrInvalidName: %v", err)
			}
			return
		}
		pl1 := providers.Payload{Ref: ref1, Data: kube.Data{key: []byte(azureCanary + "1")}}
		err = p.Check(t1, pl1)
		if err != nil && strings.Contains(err.Error(), azureCanary) {
			t.Fatalf("error shows a value: %v", err)
		}
		m1 := memberName(t1.Address, key)
		if err == nil && !legalKVName.MatchString(m1) {
			t.Fatalf("%s key %q passes Check with the illegal name %q", ref1, key, m1)
		}
		t2, errT := p.Target(ref2)
		if errT != nil {
			return
		}
		pl2 := providers.Payload{Ref: ref2, Data: kube.Data{key2: []byte(azureCanary + "2")}}
		errC := p.Check(t2, pl2)
		if errC != nil && strings.Contains(errC.Error(), azureCanary) {
			t.Fatalf("error shows a value: %v", errC)
		}
		m2 := memberName(t2.Address, key2)
		sameSource := ref1 == ref2 && (key == key2 || layoutOf(t1.Address) == LayoutJSON)
		engines := strings.EqualFold(t1.Address, t2.Address) && ref1 != ref2
		if strings.EqualFold(m1, m2) && !sameSource && !engines && !errors.Is(errC, providers.ErrInvalidName) {
			t.Fatalf("%s key %q and %s key %q both map to the key vault name %q, and Check accepts it (%v)", ref1, key, ref2, key2, m1, errC)
		}
	})
}
