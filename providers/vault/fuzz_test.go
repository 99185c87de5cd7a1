package vault

import (
	"errors"
	"strings"
	"testing"
	"text/template"

	"github.com/secretshift/secretshift/providers"
)

// fuzzTemplates are --vault-path templates people write; the first is the default.
var fuzzTemplates = []string{DefaultPathTemplate, "k8s/{{.Namespace}}/{{.Name}}", "{{.Name}}", "{{.Namespace}}-{{.Name}}",
	"apps/{{.Namespace}}.{{.Name}}/current", "{{.Name}}/{{.Namespace}}", "secret/{{.Namespace}}/{{.Name}}"}

// legalVaultPath is this test's own statement of what validPath must ensure: no empty, "."
// or ".." segment, no slash at either end, and none of the characters Vault, its clients or
// ESO treat specially.
func legalVaultPath(p, mount string) bool {
	if p == "" || strings.HasPrefix(p, mount+"/") {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	for _, r := range p {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(`%?#*+"'<>\`, r) {
			return false
		}
	}
	return true
}

// FuzzVaultTarget checks the vault path of a Secret under each template: deterministic,
// always below the mount, never an illegal path without an error wrapping ErrInvalidName,
// and — with templates that keep namespace and name apart — two Secrets never share a path.
func FuzzVaultTarget(f *testing.F) {
	for i := range fuzzTemplates {
		f.Add(uint8(i), "shop", "db-credentials", "payments", "db-credentials")
	}
	f.Add(uint8(0), "a", "b/c", "a/b", "c")
	f.Add(uint8(2), "ns", "..", "ns", ".")
	f.Add(uint8(3), "a-b", "c", "a", "b-c")
	f.Add(uint8(0), "ns", "p%2Fq", "ns", "x#y")
	f.Fuzz(func(t *testing.T, which uint8, ns, name, ns2, name2 string) {
		text := fuzzTemplates[int(which)%len(fuzzTemplates)]
		p := &Provider{mount: "secret", path: template.Must(template.New("p").Option("missingkey=error").Parse(text))}
		ref := providers.Ref{Namespace: ns, Name: name}
		tg, err := p.Target(ref)
		again, err2 := p.Target(ref)
		if tg != again || (err == nil) != (err2 == nil) {
			t.Fatalf("not deterministic: %v %v / %v %v", tg, err, again, err2)
		}
		if err != nil {
			if !errors.Is(err, providers.ErrInvalidName) {
				t.Fatalf("refusal does not wrap ErrInvalidName: %v", err)
			}
			return
		}
		rel, ok := strings.CutPrefix(tg.Address, "secret/")
		if !ok || tg.Provider != Name || !legalVaultPath(rel, "secret") {
			t.Fatalf("template %q maps %s/%s to the illegal path %q", text, ns, name, tg.Address)
		}
		if text != DefaultPathTemplate && text != fuzzTemplates[1] {
			return
		}
		// Kubernetes names hold no '/', so these templates are injective on real Secrets.
		if strings.Contains(ns+name+ns2+name2, "/") {
			return
		}
		tg2, err := p.Target(providers.Ref{Namespace: ns2, Name: name2})
		if err == nil && tg2 == tg && (ns != ns2 || name != name2) {
			t.Fatalf("%s/%s and %s/%s share the vault path %s", ns, name, ns2, name2, tg.Address)
		}
	})
}
