package outdir

import (
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/secretshift/secretshift/providers"
)

// Independent statements of the rules (Kubernetes' DNS label and subdomain), not the
// package's own expressions.
var (
	fuzzLabel     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	fuzzSubdomain = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)
)

func addNameSeeds(f *testing.F) {
	for _, s := range [][4]string{
		{"shop", "db-credentials", "payments", "registry-pull"},
		{"kube-system", "bootstrap-token-abcdef", "kube-system", "bootstrap-token-abcdef"},
		{"a", "a.b", "a.b", "a"},
		{"ns", "..", "ns", "."},
		{"ns", "a/../../etc/passwd", "NS", "A"},
		{"default", strings.Repeat("a", 250), "default", strings.Repeat("b.", 126) + "c"},
		{"x", "tls.crt", "x", "TLS.crt"},
		{"", "name", "ns\x00", "n\\m"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
}

// FuzzTarget checks the file names of the folder stores (SOPS files, SealedSecret files and
// streams): a target is given only for a legal namespace and name, its address parses back to
// the same pair, its file stays two levels below the output folder, its file name fits
// NAME_MAX, mapping is deterministic, and two Secrets never share an address — not even on a
// case-insensitive filesystem. A refusal wraps providers.ErrInvalidName.
func FuzzTarget(f *testing.F) {
	addNameSeeds(f)
	f.Fuzz(func(t *testing.T, ns, name, ns2, name2 string) {
		for _, stream := range []bool{false, true} {
			mk, parse, maxName := Target, ParseAddress, maxFileName-len(Ext)
			if stream {
				mk, parse, maxName = StreamTarget, ParseStreamAddress, 253
			}
			ref := providers.Ref{Namespace: ns, Name: name}
			tg, err := mk("sops", ref)
			again, err2 := mk("sops", ref)
			if tg != again || (err == nil) != (err2 == nil) {
				t.Fatalf("not deterministic: %v %v / %v %v", tg, err, again, err2)
			}
			legal := fuzzLabel.MatchString(ns) && fuzzSubdomain.MatchString(name) && len(name) <= maxName
			if err != nil {
				if legal {
					t.Fatalf("legal %s/%s refused: %v", ns, name, err)
				}
				if !errors.Is(err, providers.ErrInvalidName) {
					t.Fatalf("refusal does not wrap ErrInvalidName: %v", err)
				}
				continue
			}
			if !legal {
				t.Fatalf("illegal namespace %q or name %q given target %s", ns, name, tg)
			}
			gotNS, gotName, err := parse("sops", tg)
			if err != nil || gotNS != ns || gotName != name {
				t.Fatalf("address %q parses to %q %q %v", tg.Address, gotNS, gotName, err)
			}
			dir := filepath.FromSlash("/out/dir")
			p := Path(dir, ns, name)
			rel, err := filepath.Rel(dir, p)
			if err != nil || strings.HasPrefix(rel, "..") || strings.Count(filepath.ToSlash(rel), "/") != 1 || filepath.ToSlash(rel) != tg.Address {
				t.Fatalf("file %s is not <namespace>/<name>%s below %s", p, Ext, dir)
			}
			if !stream && len(filepath.Base(p)) > maxFileName {
				t.Fatalf("file name %d bytes long", len(filepath.Base(p)))
			}
			tg2, err := mk("sops", providers.Ref{Namespace: ns2, Name: name2})
			if err == nil && (ns != ns2 || name != name2) && strings.EqualFold(tg.Address, tg2.Address) {
				t.Fatalf("%s/%s and %s/%s share the file %s", ns, name, ns2, name2, tg.Address)
			}
		}
	})
}

// FuzzParseAddress checks that an address read from a plan or journal is accepted only in
// the form Target makes, so a crafted one cannot point outside the output folder.
func FuzzParseAddress(f *testing.F) {
	for _, a := range []string{"shop/db.yaml", "../x.yaml", "ns/a/b.yaml", "ns/.yaml", "ns/..yaml", "NS/a.yaml", "ns/a.yml", "/ns/a.yaml", "ns\\a.yaml", "ns/a.yaml\x00"} {
		f.Add("sops", a)
	}
	f.Add("sealed", "shop/db.yaml")
	f.Fuzz(func(t *testing.T, provider, address string) {
		for _, stream := range []bool{false, true} {
			parse, mk := ParseAddress, Target
			if stream {
				parse, mk = ParseStreamAddress, StreamTarget
			}
			ns, name, err := parse("sops", providers.Target{Provider: provider, Address: address})
			if err != nil {
				if !errors.Is(err, providers.ErrInvalidName) {
					t.Fatalf("refusal does not wrap ErrInvalidName: %v", err)
				}
				continue
			}
			if provider != "" && provider != "sops" {
				t.Fatalf("address of provider %q accepted for sops", provider)
			}
			tg, err := mk("sops", providers.Ref{Namespace: ns, Name: name})
			if err != nil || tg.Address != address {
				t.Fatalf("accepted %q, but the Secret %s/%s maps to %q (%v)", address, ns, name, tg.Address, err)
			}
		}
	})
}
