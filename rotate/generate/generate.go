package generate

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Generator makes new values. A Generator is immutable once New returned it and safe for
// concurrent use.
type Generator interface {
	// Keys returns the Secret keys Generate fills for the entry key `key` (a password fills
	// [key]; a TLS certificate fills tls.crt and tls.key (and ca.crt when CA-signed); a key
	// pair fills key and key+".pub").
	Keys(key string) []string
	// Generate makes a new value set for key: a map with exactly the keys Keys(key) returns.
	// Its errors never contain a generated value.
	Generate(ctx context.Context, key string) (map[string][]byte, error)
}

// kind is one generator type: the parameters it knows and how to build it from them.
type kind struct {
	params []string
	build  func(p *params) (Generator, error)
}

// kinds is the table of generator types.
var kinds = map[string]kind{
	"password": {[]string{"length", "digits", "symbols", "symbolCharacters", "noUpper", "allowRepeat"}, newPassword},
	"bytes":    {[]string{"length", "encoding"}, newBytes},
	"uuid":     {nil, newUUID},
	"rsa":      {[]string{"bits", "format", "comment"}, newKeyPairOf("rsa")},
	"ed25519":  {[]string{"format", "comment"}, newKeyPairOf("ed25519")},
	"ecdsa":    {[]string{"curve", "format", "comment"}, newKeyPairOf("ecdsa")},
	"ssh":      {[]string{"keyType", "bits", "curve", "comment"}, newSSH},
	"tls":      {[]string{"commonName", "dnsNames", "ipAddresses", "validity", "keyType", "bits", "curve", "caCert", "caKey"}, newTLS},
	"command":  {[]string{"command", "args", "timeout", "trimNewline"}, newCommand},
}

// New validates spec completely (unknown type, unknown parameter, impossible constraints such
// as digits+symbols > length, or a command that does not exist / is not executable) and
// returns the generator. All validation happens here, before anything changes; its errors are
// *SpecError. The tls type reads its CA files here, and keeps the CA key in memory.
func New(spec Spec) (Generator, error) {
	k, ok := kinds[spec.Type]
	if !ok {
		return nil, &SpecError{Reason: fmt.Sprintf("unknown type %q: use %s", spec.Type, strings.Join(Types(), ", "))}
	}
	for _, name := range slices.Sorted(maps.Keys(spec.Params)) {
		if !slices.Contains(k.params, name) {
			known := "it takes none"
			if len(k.params) > 0 {
				known = "use " + strings.Join(k.params, ", ")
			}
			return nil, &SpecError{Type: spec.Type, Reason: fmt.Sprintf("unknown parameter %q: %s", name, known)}
		}
	}
	p := &params{typ: spec.Type, m: spec.Params}
	g, err := k.build(p)
	if p.err != nil {
		return nil, p.err
	}
	if err != nil {
		return nil, err
	}
	return g, nil
}

// Types lists the generator types for help text, sorted.
func Types() []string {
	return slices.Sorted(maps.Keys(kinds))
}

// single is the Keys of the generators that fill the entry key alone.
func single(key string) []string { return []string{key} }
