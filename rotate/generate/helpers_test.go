package generate

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
)

// mustNew parses a flag-form spec and builds its generator, failing the test on an error.
func mustNew(t *testing.T, spec string) Generator {
	t.Helper()
	s, err := ParseSpec(spec)
	if err != nil {
		t.Fatalf("ParseSpec(%q): %v", spec, err)
	}
	g, err := New(s)
	if err != nil {
		t.Fatalf("New(%q): %v", spec, err)
	}
	return g
}

// generate runs g for key and checks that it filled exactly the keys Keys names.
func generate(t *testing.T, g Generator, key string) map[string][]byte {
	t.Helper()
	out, err := g.Generate(context.Background(), key)
	if err != nil {
		t.Fatalf("Generate(%q): %v", key, err)
	}
	got, want := slices.Sorted(maps.Keys(out)), slices.Sorted(slices.Values(g.Keys(key)))
	if !slices.Equal(got, want) {
		t.Fatalf("Generate(%q) filled %q, Keys says %q", key, got, want)
	}
	return out
}

// rejected builds spec (flag form, or a Spec) and checks that New rejects it with a
// *SpecError naming param ("" for none) and saying each of says.
func rejected(t *testing.T, spec Spec, param string, says ...string) {
	t.Helper()
	g, err := New(spec)
	if err == nil {
		t.Errorf("New(%s) = %T, want an error about %q", spec, g, param)
		return
	}
	var se *SpecError
	if !errors.As(err, &se) {
		t.Errorf("New(%s) error %v is a %T, want *SpecError", spec, err, err)
		return
	}
	if se.Param != param {
		t.Errorf("New(%s) error %q names parameter %q, want %q", spec, err, se.Param, param)
	}
	for _, s := range says {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("New(%s) error %q does not say %q", spec, err, s)
		}
	}
}

// flag parses a flag-form spec for a test table.
func flag(t *testing.T, s string) Spec {
	t.Helper()
	spec, err := ParseSpec(s)
	if err != nil {
		t.Fatalf("ParseSpec(%q): %v", s, err)
	}
	return spec
}
