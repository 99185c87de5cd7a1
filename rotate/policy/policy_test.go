package policy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/secretshift/secretshift/rotate/generate"
)

var testOpts = Options{
	Stores:     []string{"vault", "sops", "sealed", "azurekv", "kubernetes"},
	Generators: []string{"password", "random", "bytes", "tls"},
}

func TestLoadExample(t *testing.T) {
	pol, err := Load("testdata/rotation.yaml", testOpts)
	if err != nil {
		t.Fatal(err)
	}
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	want := &Policy{
		Path: "testdata/rotation.yaml",
		Rotations: []Rotation{{
			Name:  "shop-db",
			Store: "vault",
			Match: Match{
				Paths:      []string{"secret/shop/*", "secret/payments/api-*"},
				Namespaces: []string{"shop"},
				Names:      []string{"db"},
				Labels:     map[string]string{"app": "shop"},
			},
			Keys: []Key{
				{Key: "password", Generator: "password", Params: map[string]string{"length": "32", "symbols": "4"},
					Pos: Position{"testdata/rotation.yaml", 24, 5}},
				{Key: "tls.crt", Generator: "tls", Params: map[string]string{
					"commonName": "shop.example.com",
					"dnsNames":   "shop.example.com;www.shop.example.com",
				}, Pos: Position{"testdata/rotation.yaml", 26, 5}},
			},
			MaxAge: 30 * 24 * time.Hour,
			Hooks: Hooks{
				Set:     []string{abs("testdata/hooks/set-db-password.sh"), "--user", "shop"},
				Test:    []string{abs("testdata/hooks/test-db-login.sh")},
				Timeout: 2 * time.Minute,
			},
			Restart: "consumers",
			Pos:     Position{"testdata/rotation.yaml", 15, 3},
		}, {
			Name:  "payments-api-token",
			Store: "kubernetes",
			Match: Match{
				Namespaces: []string{"payments"},
				Labels:     map[string]string{"app.kubernetes.io/name": "payments-api", "tier": "backend"},
			},
			Keys: []Key{
				{Key: "token", Generator: "bytes", Params: map[string]string{"length": "32", "encoding": "base64url"},
					Pos: Position{"testdata/rotation.yaml", 40, 5}},
			},
			MaxAge:  720 * time.Hour,
			Hooks:   Hooks{Timeout: 60 * time.Second},
			Restart: "none",
			Pos:     Position{"testdata/rotation.yaml", 34, 3},
		}},
	}
	if !reflect.DeepEqual(pol, want) {
		t.Errorf("Load:\n got %+v\nwant %+v", pol, want)
	}
}

// minimal is a valid policy the bad cases below are variations of.
const minimal = `apiVersion: secretshift.io/v1alpha1
kind: RotationPolicy
rotations:
- name: db
  store: vault
  match: {paths: ["shop/*"]}
  keys:
    password: {generator: password}
  maxAge: 30d
`

func TestParseMinimal(t *testing.T) {
	pol, err := Parse("rotation.yaml", []byte(minimal), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	r := pol.Rotations[0]
	if r.Restart != DefaultRestart || r.Hooks.Timeout != DefaultHookTimeout || r.MaxAge != 30*24*time.Hour {
		t.Errorf("defaults not applied: %+v", r)
	}
	if r.Keys[0].Params == nil || len(r.Keys[0].Params) != 0 {
		t.Errorf("Params = %#v, want empty non-nil", r.Keys[0].Params)
	}
	// Without known names, stores and generators are not checked.
	odd := strings.NewReplacer("store: vault", "store: custom", "generator: password", "generator: custom").Replace(minimal)
	if _, err := Parse("rotation.yaml", []byte(odd), Options{}); err != nil {
		t.Errorf("nil Options.Stores/Generators: %v", err)
	}
}

func TestParams(t *testing.T) {
	src := strings.Replace(minimal, "password: {generator: password}", `password:
      generator: password
      int: 32
      hex: 0x20
      under: 1_000
      float: 1.5
      exp: 1e3
      big: 99999999999999999999
      bool: true
      yes: yes
      str: "007"
      empty: ""
      list: [a, 2, false]
      tagged: !!str 12
      block: |
        two
        lines`, 1)
	pol, err := Parse("rotation.yaml", []byte(src), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"int": "32", "hex": "32", "under": "1000", "float": "1.5", "exp": "1000", "big": "1e+20",
		"bool": "true", "yes": "yes", "str": "007", "empty": "", "list": "a;2;false", "tagged": "12",
		"block": "two\nlines\n",
	}
	if got := pol.Rotations[0].Keys[0].Params; !reflect.DeepEqual(got, want) {
		t.Errorf("Params:\n got %q\nwant %q", got, want)
	}
}

func TestAnchorsAndMerges(t *testing.T) {
	src := `apiVersion: secretshift.io/v1alpha1
kind: RotationPolicy
rotations:
- &base
  name: a
  store: vault
  match: &m {namespaces: [shop]}
  keys:
    password: &pw {generator: password, length: 32}
  maxAge: 1d12h
- <<: *base
  name: b
  match: *m
  keys:
    password: {<<: *pw, length: 40}
    other: *pw
`
	pol, err := Parse("rotation.yaml", []byte(src), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	b := pol.Rotations[1]
	if b.Name != "b" || b.Store != "vault" || b.MaxAge != 36*time.Hour || b.Match.Namespaces[0] != "shop" {
		t.Errorf("merged rotation: %+v", b)
	}
	if len(b.Keys) != 2 || b.Keys[0].Key != "other" || b.Keys[0].Params["length"] != "32" || b.Keys[1].Params["length"] != "40" {
		t.Errorf("merged keys: %+v", b.Keys)
	}
}

func TestParseBad(t *testing.T) {
	rep := func(old, new string) string {
		if !strings.Contains(minimal, old) {
			t.Fatalf("minimal has no %q", old)
		}
		return strings.Replace(minimal, old, new, 1)
	}
	for _, c := range []struct {
		name, src string
		want      []string // "line:col: part of the message", in order
	}{
		{"unknown top field", rep("apiVersion:", "apiversion:"), []string{
			`1:1: unknown field "apiversion" (did you mean "apiVersion"?)`,
			`1:1: apiVersion is required`,
		}},
		{"unknown rotation field", rep("maxAge: 30d", "maxage: 30d"), []string{
			`4:3: rotation "db": maxAge is required: set it here or in defaults`,
			`9:3: rotation "db": unknown field "maxage" (did you mean "maxAge"?)`,
		}},
		{"unknown field, no suggestion", rep("  maxAge: 30d", "  maxAge: 30d\n  owner: me"), []string{
			`10:3: rotation "db": unknown field "owner" (known: name, store, match, keys, maxAge, hooks, restart)`,
		}},
		{"unknown match field", rep(`{paths:`, `{path:`), []string{
			`6:3: rotation "db": match gives no criterion`,
			`6:11: rotation "db": match: unknown field "path" (did you mean "paths"?)`,
		}},
		{"unknown key field is a param", rep("{generator: password}", "{generater: password}"), []string{
			`8:5: rotation "db": key "password": generator is required`,
		}},
		{"wrong apiVersion", rep("secretshift.io/v1alpha1", "v1"), []string{
			`1:13: apiVersion "v1" is not supported: want secretshift.io/v1alpha1`,
		}},
		{"wrong kind", rep("kind: RotationPolicy", "kind: Policy"), []string{
			`2:7: kind "Policy" is not supported: want RotationPolicy`,
		}},
		{"missing kind", rep("kind: RotationPolicy\n", ""), []string{
			`1:1: kind is required (kind: RotationPolicy)`,
		}},
		{"missing store and name", rep("- name: db\n  store: vault\n", "- maxAge: 1h\n"), []string{
			`4:3: rotations[0]: name is required`,
			`4:3: rotations[0]: store is required`,
			`8:3: rotations[0]: duplicate field "maxAge" (first at line 4)`,
		}},
		{"missing match and keys", rep("  match: {paths: [\"shop/*\"]}\n  keys:\n    password: {generator: password}\n", ""), []string{
			`4:3: rotation "db": match is required`,
			`4:3: rotation "db": keys is required`,
		}},
		{"empty name", rep("name: db", "name:"), []string{
			`4:3: rotations[0]: name is empty`,
		}},
		{"bad name", rep("name: db", "name: Shop_DB"), []string{
			`4:9: rotations[0]: name "Shop_DB" is not valid: a lowercase RFC 1123 label`,
		}},
		{"duplicate rotation names", minimal + "- name: db\n  store: sops\n  match: {names: [db]}\n  keys: {a: {generator: tls}}\n  maxAge: 1h\n", []string{
			`10:9: duplicate rotation name "db" (first at line 4)`,
		}},
		{"duplicate keys", rep("    password: {generator: password}\n", "    password: {generator: password}\n    password: {generator: tls}\n"), []string{
			`9:5: rotation "db": keys: duplicate key "password" (first at line 8)`,
		}},
		{"duplicate param", rep("{generator: password}", "{generator: password, length: 1, length: 2}"), []string{
			`8:48: rotation "db": key "password": duplicate field "length" (first at line 8)`,
		}},
		{"unknown store", rep("store: vault", "store: vualt"), []string{
			`5:10: rotation "db": unknown store "vualt" (did you mean "vault"? known: azurekv, kubernetes, sealed, sops, vault)`,
		}},
		{"unknown generator", rep("{generator: password}", "{generator: pasword}"), []string{
			`8:27: rotation "db": key "password": unknown generator "pasword" (did you mean "password"? known: bytes, password, random, tls)`,
		}},
		{"bad duration", rep("maxAge: 30d", "maxAge: 30 days"), []string{
			`9:11: rotation "db": maxAge: invalid duration "30 days"`,
		}},
		{"number as duration", rep("maxAge: 30d", "maxAge: 30"), []string{
			`9:11: rotation "db": maxAge: invalid duration "30"`,
		}},
		{"zero maxAge", rep("maxAge: 30d", "maxAge: 0s"), []string{
			`9:11: rotation "db": maxAge must be positive, not 0s`,
		}},
		{"negative maxAge", rep("maxAge: 30d", "maxAge: -2d"), []string{
			`9:11: rotation "db": maxAge must be positive, not -2d`,
		}},
		{"bad glob", rep(`["shop/*"]`, `["shop/*", "shop/[", "a/**/b", ""]`), []string{
			`6:29: rotation "db": match.paths[1]: "shop/[" is not a valid pattern`,
			`6:39: rotation "db": match.paths[2]: "a/**/b": '**' is not supported`,
			`6:49: rotation "db": match.paths[3] is empty`,
		}},
		{"paths not a list", rep(`{paths: ["shop/*"]}`, `{paths: "shop/*"}`), []string{
			`6:18: rotation "db": match.paths must be a list, not "shop/*"`,
		}},
		{"empty match", rep(`{paths: ["shop/*"]}`, `{paths: []}`), []string{
			`6:3: rotation "db": match gives no criterion`,
		}},
		{"bad namespace, name, label", rep(`{paths: ["shop/*"]}`, `{namespaces: [Shop], names: [db_1], labels: {"a b": x, app: "-x", tier: [a]}}`), []string{
			`6:24: rotation "db": match.namespaces[0]: "Shop" is not a valid namespace`,
			`6:39: rotation "db": match.names[0]: "db_1" is not a valid Secret name`,
			`6:55: rotation "db": match.labels: "a b" is not a valid label key`,
			`6:70: rotation "db": match.labels.app: "-x" is not a valid label value`,
			`6:82: rotation "db": match.labels.tier must be a string (labels match by equality), not a list`,
		}},
		{"bad key names", rep("    password: {generator: password}\n", "    pass word: {generator: password}\n    ..: {generator: password}\n    ..x: {generator: password}\n"), []string{
			`8:5: rotation "db": "pass word" is not a valid Secret key`,
			`9:5: rotation "db": ".." is not a valid Secret key: must not be '..'`,
			`10:5: rotation "db": "..x" is not a valid Secret key: must not start with '..'`,
		}},
		{"long key name", rep("password:", strings.Repeat("k", 254)+":"), []string{
			`8:5: rotation "db": "` + strings.Repeat("k", 254) + `" is not a valid Secret key: must be no more than 253 characters`,
		}},
		{"key not a mapping", rep("{generator: password}", "password"), []string{
			`8:15: rotation "db": key "password": must be a mapping with a generator, such as {generator: password}, not "password"`,
		}},
		{"empty keys", rep("  keys:\n    password: {generator: password}\n", "  keys: {}\n"), []string{
			`7:3: rotation "db": keys is empty`,
		}},
		{"null keys", rep("  keys:\n    password: {generator: password}\n", "  keys:\n"), []string{
			`7:3: rotation "db": keys is empty`,
		}},
		{"bad params", rep("{generator: password}", "{generator: password, a: ~, b: {c: d}, c: [x, [y]], d: [\"e;f\"], e: !!int x}"), []string{
			`8:40: rotation "db": key "password": a has no value (write "" for an empty string)`,
			`8:46: rotation "db": key "password": b must be a string, number, boolean or a list of them, not a mapping`,
			`8:61: rotation "db": key "password": c[1] must be a string, number or boolean, not a list`,
			`8:71: rotation "db": key "password": d[0]: "e;f" contains ";", which separates list elements`,
			`8:82: rotation "db": key "password": e: "x" is not a valid int`,
		}},
		{"bad restart", rep("maxAge: 30d", "maxAge: 30d\n  restart: always"), []string{
			`10:12: rotation "db": restart "always" is not valid: want consumers or none`,
		}},
		{"bad hooks", rep("maxAge: 30d", "maxAge: 30d\n  hooks: {set: ./x.sh, test: [], timeout: 0s, tiemout: 1s}"), []string{
			`10:16: rotation "db": hooks.set must be a list, not "./x.sh"`,
			`10:24: rotation "db": hooks.test is empty: give the program and its arguments`,
			`10:43: rotation "db": hooks.timeout must be positive, not 0s`,
			`10:47: rotation "db": hooks: unknown field "tiemout" (did you mean "timeout"?)`,
		}},
		{"hook program missing", rep("maxAge: 30d", "maxAge: 30d\n  hooks:\n    set: [./no-such-hook.sh]\n    test: [no-such-program-on-path]"), []string{
			`11:11: rotation "db": hooks.set: program "./no-such-hook.sh" does not exist`,
			`12:12: rotation "db": hooks.test: program "no-such-program-on-path" is not found in PATH`,
		}},
		{"empty rotations", "apiVersion: secretshift.io/v1alpha1\nkind: RotationPolicy\nrotations: []\n", []string{
			`3:1: rotations is empty: list at least one rotation`,
		}},
		{"missing rotations", "apiVersion: secretshift.io/v1alpha1\nkind: RotationPolicy\n", []string{
			`1:1: rotations is required`,
		}},
		{"rotations not a list", "apiVersion: secretshift.io/v1alpha1\nkind: RotationPolicy\nrotations: {name: db}\n", []string{
			`3:12: rotations must be a list, not a mapping`,
		}},
		{"rotation not a mapping", rep("rotations:\n", "rotations:\n- just-a-name\n"), []string{
			`4:3: rotations[0] must be a mapping, not "just-a-name"`,
		}},
		{"not a mapping", "- a\n- b\n", []string{
			`1:1: a policy must be a mapping with apiVersion, kind and rotations, not a list`,
		}},
		{"scalar document", "hello\n", []string{
			`1:1: a policy must be a mapping with apiVersion, kind and rotations, not "hello"`,
		}},
		{"empty file", "", []string{
			`1:1: the file holds no policy`,
		}},
		{"only comments", "# nothing yet\n---\n", []string{
			`1:1: the file holds no policy`,
		}},
		{"multiple documents", minimal + "---\n" + minimal, []string{
			`10:1: a second YAML document starts here; a policy file holds one RotationPolicy`,
		}},
		{"syntax error", rep("match: {paths: [\"shop/*\"]}", "match: {paths: [\"shop/*\"}"), []string{
			`6: invalid YAML: did not find expected ',' or ']'`,
		}},
		{"unknown anchor", rep("maxAge: 30d", "maxAge: *nope"), []string{
			`rotation.yaml: invalid YAML: unknown anchor 'nope' referenced`,
		}},
		{"defaults", "apiVersion: secretshift.io/v1alpha1\nkind: RotationPolicy\ndefaults:\n  maxAge: 0h\n  restart: never\n  hooks: {set: [x], timeout: soon}\n  store: vault\n" + minimal[strings.Index(minimal, "rotations:"):], []string{
			`4:11: defaults: maxAge must be positive, not 0h`,
			`5:12: defaults: restart "never" is not valid: want consumers or none`,
			`6:11: defaults.hooks: set is per rotation; only timeout can be a default`,
			`6:30: defaults.hooks: timeout: invalid duration "soon"`,
			`7:3: defaults: unknown field "store" (known: maxAge, hooks, restart)`,
		}},
		{"defaults maxAge suffices", "apiVersion: secretshift.io/v1alpha1\nkind: RotationPolicy\ndefaults: {maxAge: bad}\n" + strings.Replace(minimal[strings.Index(minimal, "rotations:"):], "  maxAge: 30d\n", "", 1), []string{
			`3:20: defaults: maxAge: invalid duration "bad"`,
		}},
		{"merge cycle", rep("  maxAge: 30d", "  maxAge: 30d\n  hooks: &h {<<: *h}"), []string{
			`10:18: rotation "db": hooks: a merge (<<) includes a mapping that includes it`,
		}},
		{"field name not a string", rep("  maxAge: 30d", "  maxAge: 30d\n  ? [a]\n  : b"), []string{
			`10:5: rotation "db": a field name must be a string, not a list`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			pol, err := Parse("rotation.yaml", []byte(c.src), testOpts)
			if err == nil {
				t.Fatalf("no error; policy %+v", pol)
			}
			if pol != nil {
				t.Errorf("policy %+v returned with an error", pol)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(c.want) {
				t.Errorf("%d errors, want %d:\n%s", len(lines), len(c.want), err)
			}
			for i, w := range c.want {
				if !strings.HasPrefix(w, "rotation.yaml") {
					w = "rotation.yaml:" + w
				}
				if i >= len(lines) || !strings.HasPrefix(lines[i], w) {
					t.Errorf("error %d: want prefix\n  %s\nall errors:\n%s", i, w, err)
				}
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Pos.File != "rotation.yaml" {
				t.Errorf("errors.As *Error: %v", pe)
			}
		})
	}
}

func TestEverythingAtOnce(t *testing.T) {
	src := `apiVersion: v2
kind: RotationPolicy
rotations:
- name: a
  store: nope
  match: {paths: ["**"]}
  keys: {"bad key": {generator: password}, ok: {generator: nope}}
  maxAge: -1h
  restart: sometimes
- name: a
  store: vault
  match: {names: [x]}
  keys: {k: {generator: tls}}
`
	_, err := Parse("p.yaml", []byte(src), testOpts)
	want := []string{
		`p.yaml:1:13: apiVersion "v2" is not supported`,
		`p.yaml:5:10: rotation "a": unknown store "nope"`,
		`p.yaml:6:19: rotation "a": match.paths[0]: "**": '**' is not supported`,
		`p.yaml:7:10: rotation "a": "bad key" is not a valid Secret key`,
		`p.yaml:7:60: rotation "a": key "ok": unknown generator "nope"`,
		`p.yaml:8:11: rotation "a": maxAge must be positive, not -1h`,
		`p.yaml:9:12: rotation "a": restart "sometimes" is not valid`,
		`p.yaml:10:3: rotation "a": maxAge is required`,
		`p.yaml:10:9: duplicate rotation name "a" (first at line 4)`,
	}
	lines := strings.Split(fmt.Sprint(err), "\n")
	if len(lines) != len(want) {
		t.Errorf("%d errors, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if i >= len(lines) || !strings.HasPrefix(lines[i], w) {
			t.Errorf("error %d: want prefix %q\nall errors:\n%v", i, w, err)
		}
	}
}

func TestHookPrograms(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\nexit 0\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("plain.sh", 0o644)
	write("run.sh", 0o755)
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	policy := func(set string) []byte {
		return []byte(strings.Replace(minimal, "maxAge: 30d", "maxAge: 30d\n  hooks: {set: "+set+"}", 1))
	}
	name := filepath.Join(dir, "rotation.yaml")

	_, err := Parse(name, policy(`[./plain.sh]`), testOpts)
	if err == nil || !strings.Contains(err.Error(), `:10:17: rotation "db": hooks.set: program "./plain.sh" is not executable (`+filepath.Join(dir, "plain.sh")+", mode") {
		t.Errorf("non-executable hook: %v", err)
	}
	_, err = Parse(name, policy(`[sub/]`), testOpts)
	if err == nil || !strings.Contains(err.Error(), `program "sub/" is a folder`) {
		t.Errorf("folder as hook: %v", err)
	}

	pol, err := Parse(name, policy(`[./run.sh, "", --flag]`), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := pol.Rotations[0].Hooks.Set, []string{filepath.Join(dir, "run.sh"), "", "--flag"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Set = %q, want %q", got, want)
	}

	// BaseDir overrides the policy file's folder; absolute paths and PATH names need none.
	pol, err = Parse("elsewhere/rotation.yaml", policy(`[run.sh]`), Options{BaseDir: dir})
	if err == nil {
		t.Errorf("bare run.sh should be looked up on PATH, got %+v", pol.Rotations[0].Hooks)
	}
	if _, err = Parse("elsewhere/rotation.yaml", policy(`[./run.sh]`), Options{BaseDir: dir}); err != nil {
		t.Errorf("BaseDir: %v", err)
	}
	if _, err = Parse("x.yaml", policy(`["`+filepath.Join(dir, "run.sh")+`"]`), testOpts); err != nil {
		t.Errorf("absolute path: %v", err)
	}
	pol, err = Parse("x.yaml", policy(`[sh, -c, "exit 0"]`), testOpts)
	if err != nil {
		t.Fatalf("program on PATH: %v", err)
	}
	if got := pol.Rotations[0].Hooks.Set[0]; got != "sh" {
		t.Errorf("program on PATH = %q, want it kept as written", got)
	}
}

func TestMatches(t *testing.T) {
	shop := map[string]string{"app": "shop", "tier": "db"}
	for _, c := range []struct {
		m              Match
		addr, ns, name string
		labels         map[string]string
		want           bool
	}{
		{Match{}, "shop/db", "shop", "db", shop, false}, // no criterion matches nothing
		{Match{Paths: []string{"shop/*"}}, "shop/db", "", "", nil, true},
		{Match{Paths: []string{"shop/*"}}, "shop/db/x", "", "", nil, false}, // '*' stays in a segment
		{Match{Paths: []string{"other/*", "payments/api-*"}}, "payments/api-key", "", "", nil, true},
		{Match{Paths: []string{"*"}}, "", "shop", "db", nil, false}, // no address
		{Match{Paths: []string{"shop/db"}}, "shop/db", "", "", nil, true},
		{Match{Namespaces: []string{"shop", "pay"}}, "", "pay", "x", nil, true},
		{Match{Namespaces: []string{"shop"}}, "", "pay", "x", nil, false},
		{Match{Names: []string{"db"}}, "", "any", "db", nil, true},
		{Match{Names: []string{"db"}}, "", "any", "db2", nil, false},
		{Match{Labels: map[string]string{"app": "shop"}}, "", "", "", shop, true},
		{Match{Labels: map[string]string{"app": "shop", "tier": "web"}}, "", "", "", shop, false},
		{Match{Labels: map[string]string{"app": ""}}, "", "", "", nil, false}, // absent is not empty
		{Match{Labels: map[string]string{"app": ""}}, "", "", "", map[string]string{"app": ""}, true},
		// Every criterion given must hold.
		{Match{Paths: []string{"shop/*"}, Namespaces: []string{"shop"}, Names: []string{"db"}, Labels: map[string]string{"app": "shop"}}, "shop/db", "shop", "db", shop, true},
		{Match{Paths: []string{"shop/*"}, Namespaces: []string{"shop"}}, "shop/db", "other", "db", shop, false},
		{Match{Namespaces: []string{"shop"}, Labels: map[string]string{"app": "shop"}}, "", "shop", "db", map[string]string{"app": "web"}, false},
	} {
		if got := c.m.Matches(c.addr, c.ns, c.name, c.labels); got != c.want {
			t.Errorf("%+v.Matches(%q, %q, %q, %v) = %v, want %v", c.m, c.addr, c.ns, c.name, c.labels, got, c.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"720h", 720 * time.Hour, true},
		{"90m", 90 * time.Minute, true},
		{"30d", 30 * 24 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{"0d", 0, true},
		{"-1d", -24 * time.Hour, true},
		{"+2d", 48 * time.Hour, true},
		{"d", 0, false},
		{"1.5d", 0, false},
		{"1d-1h", 0, false},
		{"1dd", 0, false},
		{"30", 0, false},
		{"106751d", 106751 * 24 * time.Hour, true},
		{"106752d", 0, false},
		{"106751d23h48m", 0, false},
		{"99999999999999999999d", 0, false},
	} {
		got, err := parseDuration(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, ok %v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestPositionString(t *testing.T) {
	for p, want := range map[Position]string{
		{"f.yaml", 3, 7}: "f.yaml:3:7",
		{"f.yaml", 3, 0}: "f.yaml:3",
		{"f.yaml", 0, 0}: "f.yaml",
	} {
		if got := p.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", p, got, want)
		}
	}
}

func TestAliasBomb(t *testing.T) {
	// A few hundred aliases at each level of the schema (rotations, keys, parameters, list
	// elements) would make 300^4 nodes if walked naively.
	const n = 300
	var b strings.Builder
	b.WriteString("apiVersion: secretshift.io/v1alpha1\nkind: RotationPolicy\nrotations:\n- &r\n  name: a\n  store: vault\n  match: {names: [a]}\n  maxAge: 1h\n  keys:\n")
	for i := range n {
		if i == 0 {
			b.WriteString("    k0: &spec\n      generator: tls\n      p0: &list [")
			b.WriteString(strings.Repeat("x, ", n-1) + "x]\n")
			for j := 1; j < n; j++ {
				fmt.Fprintf(&b, "      p%d: *list\n", j)
			}
			continue
		}
		fmt.Fprintf(&b, "    k%d: *spec\n", i)
	}
	b.WriteString(strings.Repeat("- *r\n", n-1))
	start := time.Now()
	_, err := Parse("bomb.yaml", []byte(b.String()), testOpts)
	if err == nil || !strings.Contains(err.Error(), "too complex") {
		t.Errorf("alias bomb: %.500v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("alias bomb took %v", d)
	}
	t.Logf("%d bytes, %v", b.Len(), time.Since(start))
}

func TestCheckGlob(t *testing.T) {
	for g, ok := range map[string]bool{
		"shop/*":   true,
		"shop/db":  true,
		"a/*/b?":   true,
		`a/\**`:    true, // a literal '*', then a wildcard
		`a/*\*`:    true,
		"[*]*":     true, // '*' in a class is literal
		"[a-z]/*":  true,
		"**":       false,
		"a/**":     false,
		"a/**/b":   false,
		`\\**`:     false, // an escaped backslash, then '**'
		"[*]**":    false,
		"shop/[":   false,
		"shop/[]":  false,
		`shop/\`:   false,
		"[^]":      false,
		"shop/[a-": false,
	} {
		if err := checkGlob(g); (err == nil) != ok {
			t.Errorf("checkGlob(%q) = %v, want ok %v", g, err, ok)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load("testdata/no-such-file.yaml", testOpts); err == nil {
		t.Error("missing file: no error")
	}
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, make([]byte, MaxFileSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big, testOpts); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big file: %v", err)
	}
}

// A generator's parameters are checked in the same pass as the policy's structure: one run
// shows every problem, the impossible password with the unknown store.
func TestGeneratorParamsCheckedWithTheRest(t *testing.T) {
	src := `apiVersion: secretshift.io/v1alpha1
kind: RotationPolicy
rotations:
- name: a
  store: nope
  match: {paths: ["*"]}
  maxAge: 24h
  keys:
    password: {generator: password, length: 8, digits: 6, symbols: 6}
    token: {generator: bytes, bogus: 1}
    fine: {generator: password}
`
	opts := testOpts
	opts.Generators = generate.Types()
	opts.CheckGenerator = func(typ string, params map[string]string) error {
		_, err := generate.New(generate.Spec{Type: typ, Params: params})
		return err
	}
	_, err := Parse("p.yaml", []byte(src), opts)
	lines := strings.Split(fmt.Sprint(err), "\n")
	want := []string{
		`p.yaml:5:10: rotation "a": unknown store "nope"`,
		`p.yaml:9:5: rotation "a": key "password": `,
		`p.yaml:10:5: rotation "a": key "token": `,
	}
	if len(lines) != len(want) {
		t.Fatalf("%d errors, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("error %d: want prefix %q\nall errors:\n%v", i, w, err)
		}
	}
	if !strings.Contains(lines[1], "digits") || !strings.Contains(lines[2], "bogus") {
		t.Errorf("the generator errors do not say what is wrong:\n%v", err)
	}
}
