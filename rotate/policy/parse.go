package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/secretshift/secretshift/rotate/generate"
)

// This file reads the policy's schema (apiVersion, defaults, rotations and their match, keys,
// hooks and restart) with the YAML readers of yamlread.go.

// defaults are the policy's defaults section; maxAgeGiven says maxAge was written (valid or
// not), so that rotations lacking it are not blamed too.
type defaults struct {
	maxAge      time.Duration
	maxAgeGiven bool
	timeout     time.Duration
	restart     string
}

// parse checks the whole document and returns the policy (meaningful only without errors).
func (p *parser) parse(b []byte) *Policy {
	root := p.document(b)
	if root == nil {
		return nil
	}
	root = resolve(root)
	if root.Kind != yaml.MappingNode {
		p.errorf(root, "", "a policy must be a mapping with apiVersion, kind and rotations, not %s", describe(root))
		return nil
	}
	f := p.fields(root, "", "apiVersion", "kind", "defaults", "rotations")
	for _, want := range [][2]string{{"apiVersion", APIVersion}, {"kind", Kind}} {
		q, ok := f[want[0]]
		if !ok {
			p.errorf(root, "", "%s is required (%s: %s)", want[0], want[0], want[1])
			continue
		}
		if s, ok := p.str(q, "", want[0]); ok && s != want[1] {
			p.errorf(q.val, "", "%s %q is not supported: want %s", want[0], s, want[1])
		}
	}
	d := defaults{timeout: DefaultHookTimeout, restart: DefaultRestart}
	if q, ok := f["defaults"]; ok {
		p.defaults(q, &d)
	}
	pol := &Policy{Path: p.name}
	q, ok := f["rotations"]
	if !ok {
		p.errorf(root, "", "rotations is required: list at least one rotation")
		return pol
	}
	v := resolve(q.val)
	switch {
	case isNull(v) || v.Kind == yaml.SequenceNode && len(v.Content) == 0:
		p.errorf(q.key, "", "rotations is empty: list at least one rotation")
		return pol
	case v.Kind != yaml.SequenceNode:
		p.errorf(q.val, "", "rotations must be a list, not %s", describe(v))
		return pol
	}
	first := map[string]*yaml.Node{}
	for i, e := range v.Content {
		if !p.tick(e) {
			break
		}
		r, nameNode := p.rotation(i, e, d)
		if nameNode == nil {
			continue
		}
		if e.Kind == yaml.AliasNode {
			nameNode = e // the anchor's name node is the first one's too
		}
		if f, dup := first[r.Name]; dup {
			p.errorf(nameNode, "", "duplicate rotation name %q (first at line %d)", r.Name, f.Line)
		} else {
			first[r.Name] = nameNode
		}
		pol.Rotations = append(pol.Rotations, r)
	}
	return pol
}

func (p *parser) defaults(q pair, d *defaults) {
	n := p.mapping(q, "")
	if n == nil {
		return
	}
	const ctx = "defaults"
	f := p.fields(n, ctx, "maxAge", "hooks", "restart")
	if q, ok := f["maxAge"]; ok {
		d.maxAgeGiven = true
		d.maxAge, _ = p.duration(q, ctx, "maxAge")
	}
	if q, ok := f["restart"]; ok {
		d.restart, _ = p.restart(q, ctx, "restart")
	}
	q, ok := f["hooks"]
	if !ok {
		return
	}
	h := p.mapping(q, ctx)
	if h == nil {
		return
	}
	hf := p.fields(h, "defaults.hooks", "timeout", "set", "test")
	for _, name := range []string{"set", "test"} {
		if q, ok := hf[name]; ok {
			p.errorf(q.key, "defaults.hooks", "%s is per rotation; only timeout can be a default", name)
		}
	}
	if q, ok := hf["timeout"]; ok {
		d.timeout, _ = p.duration(q, "defaults.hooks", "timeout")
	}
}

// rotation checks rotations[i]. It returns the name's node when the name is valid.
func (p *parser) rotation(i int, e *yaml.Node, d defaults) (Rotation, *yaml.Node) {
	r := Rotation{MaxAge: d.maxAge, Restart: d.restart, Hooks: Hooks{Timeout: d.timeout}}
	n := resolve(e)
	r.Pos = p.pos(n)
	ctx := fmt.Sprintf("rotations[%d]", i)
	if n.Kind != yaml.MappingNode {
		p.errorf(e, "", "%s must be a mapping, not %s", ctx, describe(n))
		return r, nil
	}
	if name := peekName(n); name != "" && len(validation.IsDNS1123Label(name)) == 0 {
		ctx = fmt.Sprintf("rotation %q", name)
	}
	f := p.fields(n, ctx, "name", "store", "match", "keys", "maxAge", "hooks", "restart")

	var nameNode *yaml.Node
	if q, ok := f["name"]; !ok {
		p.errorf(n, ctx, "name is required")
	} else if s, ok := p.str(q, ctx, "name"); ok {
		if msgs := validation.IsDNS1123Label(s); len(msgs) > 0 {
			p.errorf(q.val, ctx, "name %q is not valid: %s", s, strings.Join(msgs, "; "))
		} else {
			r.Name, nameNode = s, q.val
		}
	}

	if q, ok := f["store"]; !ok {
		p.errorf(n, ctx, "store is required")
	} else if s, ok := p.str(q, ctx, "store"); ok {
		if p.stores != nil && !p.stores[s] {
			p.errorf(q.val, ctx, "unknown store %q (%sknown: %s)", s, didYouMean(s, p.storeList), strings.Join(p.storeList, ", "))
		} else {
			r.Store = s
		}
	}

	if q, ok := f["match"]; !ok {
		p.errorf(n, ctx, "match is required: give at least one of paths, namespaces, names, labels")
	} else {
		r.Match = p.match(q, ctx)
	}

	if q, ok := f["keys"]; !ok {
		p.errorf(n, ctx, "keys is required: map each Secret key to rotate to its generator")
	} else {
		r.Keys = p.keys(q, ctx)
	}

	if q, ok := f["maxAge"]; ok {
		r.MaxAge, _ = p.duration(q, ctx, "maxAge")
	} else if !d.maxAgeGiven {
		p.errorf(n, ctx, "maxAge is required: set it here or in defaults")
	}

	if q, ok := f["hooks"]; ok {
		p.hooks(q, ctx, &r.Hooks)
	}

	if q, ok := f["restart"]; ok {
		r.Restart, _ = p.restart(q, ctx, "restart")
	}
	return r, nameNode
}

// peekName is the rotation's name as written in it (not through merges), or "".
func peekName(n *yaml.Node) string {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if k.Kind == yaml.ScalarNode && k.Value == "name" && v.Kind == yaml.ScalarNode {
			return v.Value
		}
	}
	return ""
}

func (p *parser) match(q pair, ctx string) Match {
	var m Match
	n := p.mapping(q, ctx)
	if n == nil {
		if isNull(resolve(q.val)) {
			p.errorf(q.key, ctx, "match is empty: give at least one of paths, namespaces, names, labels")
		}
		return m
	}
	mctx := join(ctx, "match")
	f := p.fields(n, mctx, "paths", "namespaces", "names", "labels")
	given := false // a criterion was written (valid or not)
	if q, ok := f["paths"]; ok {
		vals, nodes, ok := p.list(q, ctx, "match.paths", false)
		given = given || !ok || len(vals) > 0
		for i, g := range vals {
			if err := checkGlob(g); err != nil {
				p.errorf(nodes[i], ctx, "match.paths[%d]: %v", i, err)
				continue
			}
			m.Paths = append(m.Paths, g)
		}
	}
	for _, c := range []struct {
		field string
		check func(string) []string
		noun  string
		dst   *[]string
	}{
		{"namespaces", validation.IsDNS1123Label, "namespace", &m.Namespaces},
		{"names", validation.IsDNS1123Subdomain, "Secret name", &m.Names},
	} {
		q, ok := f[c.field]
		if !ok {
			continue
		}
		what := "match." + c.field
		vals, nodes, ok := p.list(q, ctx, what, false)
		given = given || !ok || len(vals) > 0
		for i, s := range vals {
			if msgs := c.check(s); len(msgs) > 0 {
				p.errorf(nodes[i], ctx, "%s[%d]: %q is not a valid %s: %s", what, i, s, c.noun, strings.Join(msgs, "; "))
				continue
			}
			*c.dst = append(*c.dst, s)
		}
	}
	if q, ok := f["labels"]; ok {
		m.Labels = p.labels(q, ctx)
		v := resolve(q.val)
		given = given || !(isNull(v) || v.Kind == yaml.MappingNode && len(v.Content) == 0)
	}
	if !given {
		p.errorf(q.key, ctx, "match gives no criterion: set at least one of paths, namespaces, names, labels")
	}
	return m
}

func (p *parser) labels(q pair, ctx string) map[string]string {
	n := p.mapping(q, join(ctx, "match"))
	if n == nil {
		return nil
	}
	var m map[string]string
	for _, l := range p.pairs(n, join(ctx, "match.labels"), "label") {
		if msgs := validation.IsQualifiedName(l.name); len(msgs) > 0 {
			p.errorf(l.key, ctx, "match.labels: %q is not a valid label key: %s", l.name, strings.Join(msgs, "; "))
			continue
		}
		v := resolve(l.val)
		if v.Kind != yaml.ScalarNode || isNull(v) {
			p.errorf(l.val, ctx, "match.labels.%s must be a string (labels match by equality), not %s", l.name, describe(v))
			continue
		}
		if msgs := validation.IsValidLabelValue(v.Value); len(msgs) > 0 {
			p.errorf(l.val, ctx, "match.labels.%s: %q is not a valid label value: %s", l.name, v.Value, strings.Join(msgs, "; "))
			continue
		}
		if m == nil {
			m = map[string]string{}
		}
		m[l.name] = v.Value
	}
	return m
}

func (p *parser) keys(q pair, ctx string) []Key {
	n := p.mapping(q, ctx)
	if n == nil {
		if isNull(resolve(q.val)) {
			p.errorf(q.key, ctx, "keys is empty: map each Secret key to rotate to its generator")
		}
		return nil
	}
	ps := p.pairs(n, join(ctx, "keys"), "key")
	if len(ps) == 0 && len(n.Content) == 0 {
		p.errorf(q.key, ctx, "keys is empty: map each Secret key to rotate to its generator")
	}
	var keys []Key
	for _, kq := range ps {
		if !p.tick(kq.val) {
			break
		}
		kctx := join(ctx, fmt.Sprintf("key %q", kq.name))
		if msgs := validation.IsConfigMapKey(kq.name); len(msgs) > 0 {
			p.errorf(kq.key, ctx, "%q is not a valid Secret key: %s", kq.name, strings.Join(msgs, "; "))
			continue
		}
		k := Key{Key: kq.name, Params: map[string]string{}, Pos: p.pos(kq.key)}
		spec := resolve(kq.val)
		if spec.Kind != yaml.MappingNode {
			p.errorf(kq.val, kctx, "must be a mapping with a generator, such as {generator: password}, not %s", describe(spec))
			continue
		}
		hasGen := false
		for _, pq := range p.pairs(spec, kctx, "field") {
			if pq.name != "generator" {
				if s, ok := p.param(pq, kctx); ok {
					k.Params[pq.name] = s
				}
				continue
			}
			hasGen = true
			s, ok := p.str(pq, kctx, "generator")
			if !ok {
				continue
			}
			if p.generators != nil && !p.generators[s] {
				p.errorf(pq.val, kctx, "unknown generator %q (%sknown: %s)", s, didYouMean(s, p.genList), strings.Join(p.genList, ", "))
				continue
			}
			k.Generator = s
		}
		if !hasGen {
			p.errorf(kq.key, kctx, "generator is required")
		}
		if k.Generator != "" && p.checkGen != nil {
			if err := p.checkGen(k.Generator, k.Params); err != nil {
				p.errorf(kq.key, kctx, "%v", err)
			}
		}
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b Key) int { return strings.Compare(a.Key, b.Key) })
	return keys
}

// param returns a generator parameter's value as a string: a scalar as scalarString does, a
// list of scalars joined with ";".
func (p *parser) param(q pair, ctx string) (string, bool) {
	v := resolve(q.val)
	switch v.Kind {
	case yaml.ScalarNode:
		return p.scalarString(q.val, ctx, q.name)
	case yaml.SequenceNode:
		parts := make([]string, 0, len(v.Content))
		ok := true
		for i, e := range v.Content {
			if !p.tick(e) {
				return "", false
			}
			what := fmt.Sprintf("%s[%d]", q.name, i)
			if er := resolve(e); er.Kind != yaml.ScalarNode {
				p.errorf(e, ctx, "%s must be a string, number or boolean, not %s", what, describe(er))
				ok = false
				continue
			}
			s, sok := p.scalarString(e, ctx, what)
			if sok && strings.Contains(s, ";") {
				p.errorf(e, ctx, "%s: %q contains \";\", which separates list elements", what, s)
				sok = false
			}
			ok = ok && sok
			parts = append(parts, s)
		}
		return generate.JoinList(parts...), ok
	}
	p.errorf(q.val, ctx, "%s must be a string, number, boolean or a list of them, not %s", q.name, describe(v))
	return "", false
}

// hooks checks a rotation's hooks into h, which holds the defaults.
func (p *parser) hooks(q pair, ctx string, h *Hooks) {
	n := p.mapping(q, ctx)
	if n == nil {
		return
	}
	f := p.fields(n, join(ctx, "hooks"), "set", "test", "timeout")
	for _, c := range []struct {
		field string
		dst   *[]string
	}{{"set", &h.Set}, {"test", &h.Test}} {
		q, ok := f[c.field]
		if !ok {
			continue
		}
		what := "hooks." + c.field
		argv, nodes, ok := p.list(q, ctx, what, true)
		if !ok {
			continue
		}
		if len(argv) == 0 {
			p.errorf(q.key, ctx, "%s is empty: give the program and its arguments, such as [\"./hooks/%s.sh\"]", what, c.field)
			continue
		}
		if path, ok := p.program(nodes[0], ctx, what, argv[0]); ok {
			argv[0] = path
			*c.dst = argv
		}
	}
	if q, ok := f["timeout"]; ok {
		h.Timeout, _ = p.duration(q, ctx, "hooks.timeout")
	}
}

// program checks that a hook program can run and returns what argv[0] becomes.
func (p *parser) program(n *yaml.Node, ctx, what, prog string) (string, bool) {
	r, ok := p.programs[prog]
	if !ok {
		r = findProgram(p.base, prog)
		p.programs[prog] = r
	}
	if r.msg != "" {
		p.errorf(n, ctx, "%s: %s", what, r.msg)
		return "", false
	}
	return r.path, true
}

// restart returns q's value if it is a restart mode.
func (p *parser) restart(q pair, ctx, what string) (string, bool) {
	s, ok := p.str(q, ctx, what)
	if !ok {
		return "", false
	}
	if s != RestartConsumers && s != RestartNone {
		p.errorf(q.val, ctx, "%s %q is not valid: want %s or %s", what, s, RestartConsumers, RestartNone)
		return "", false
	}
	return s, true
}
