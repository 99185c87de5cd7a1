// Package policy reads and checks rotation.yaml, the policy of scheduled rotation: which
// Secrets' keys are rotated, in which store, with which value generator, how often, with
// which hooks, and whether the Secret's consumers are restarted afterwards.
//
// [Load] and [Parse] check the whole file before anything changes and report everything
// wrong at once: the error they return joins (errors.Join) one [*Error] per problem, sorted
// by position, each naming file:line:column. A policy they return is complete: defaults are
// applied, durations parsed, hook programs found, generator parameters turned into strings.
// The parameters are not checked here; the caller hands every [Key] to the generator package
// (generate.New(generate.Spec{Type: k.Generator, Params: k.Params})), which does.
//
// # Schema
//
//	apiVersion: secretshift.io/v1alpha1   # required, exactly this
//	kind: RotationPolicy                  # required, exactly this
//	defaults:            # optional; applies to every rotation that does not set the field
//	  maxAge: 720h       #   see rotations[].maxAge
//	  hooks:
//	    timeout: 60s     #   see rotations[].hooks.timeout (set and test are per rotation)
//	  restart: consumers #   see rotations[].restart
//	rotations:           # required, at least one
//	- name: shop-db      # required, unique, an RFC 1123 label: [a-z0-9-]{1,63}, starting
//	                     # and ending with a letter or digit
//	  store: vault       # required; one of Options.Stores (vault, sops, sealed, azurekv,
//	                     # kubernetes for plain Secrets, ...)
//	  match:             # required; at least one of paths, namespaces, names, labels; a
//	                     # Secret must satisfy every one given (see Match.Matches)
//	    paths: ["shop/*", "payments/api-*"]  # store addresses or path.Match globs; any
//	                                         # one matching is enough; '**' is not supported
//	    namespaces: [shop]                   # Kubernetes namespaces; any one
//	    names: [db]                          # Secret names; any one
//	    labels: {app: shop}                  # Secret labels; all, by equality
//	  keys:              # required, at least one: Secret key -> generator
//	    password: {generator: password, length: 32, symbols: 4}
//	    tls.crt:
//	      generator: tls # required; one of Options.Generators
//	      commonName: shop.example.com
//	      dnsNames: [shop.example.com, www.shop.example.com]
//	  maxAge: 720h       # required here or in defaults; > 0; a Go duration (90m, 720h)
//	                     # or days, optionally followed by a Go duration (30d, 1d12h)
//	  hooks:             # optional
//	    set: ["./hooks/set-db-password.sh", "--user", "shop"]  # argv, run without a shell
//	    test: ["./hooks/test-db-login.sh"]                     # argv
//	    timeout: 60s     # > 0; default 60s ([DefaultHookTimeout])
//	  restart: consumers # consumers | none; default consumers ([DefaultRestart])
//
// Field names are case-sensitive; an unknown field anywhere is an error (with a suggestion
// when it looks like a typo of a known one, as maxage for maxAge).
//
// Secret keys follow Kubernetes' rules for Secret keys: [-._a-zA-Z0-9]+, at most 253
// characters, not "." or "..", not starting with "..". Each key's fields other than
// generator become [Key.Params], as strings: a string as written, a number or boolean
// formatted as Go's strconv does (0x20 becomes "32", 1e3 "1000", yes stays "yes" since
// YAML 1.2 has no such boolean), a list of those joined with ";" (an element that contains
// ";" is an error). Null values, mappings and nested lists are errors.
//
// Hook programs (the first element of set and test) are checked now: a program written
// with a "/" is resolved against Options.BaseDir (default: the policy file's folder) and
// must be an executable file; [Hooks.Set] and [Hooks.Test] then hold its absolute path. A
// program without "/" is looked up on PATH (exec.LookPath) and kept as written.
//
// The file holds one YAML document (empty documents around it, as a stray "---", are
// ignored). Anchors, aliases and merge keys (<<) are supported; an error inside an anchored
// node is reported where the anchor is defined. YAML syntax errors carry a line only: the
// YAML parser reports no column.
package policy
