package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/secretshift/secretshift/rotate/generate"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Limits that keep a hostile or broken file from costing much: aliases can make a small
// file describe a huge tree ("billion laughs").
const (
	maxVisits = 1 << 20 // nodes walked, aliases counted every time they are followed
	maxErrors = 500
	maxMerge  = 32 // nesting of merge keys (<<)
)

// parser checks one policy document and collects its errors.
type parser struct {
	name       string
	base       string
	stores     map[string]bool // nil: not checked
	generators map[string]bool // nil: not checked
	storeList  []string
	genList    []string
	errs       []*Error
	seen       map[Error]bool
	visits     int
	halted     bool
	programs   map[string]program
}

// program is the outcome of looking for a hook program.
type program struct {
	path string // what argv[0] becomes
	msg  string // why it cannot run, or ""
}

func newParser(name string, opts Options) *parser {
	p := &parser{
		name:     name,
		base:     baseDir(name, opts),
		seen:     map[Error]bool{},
		programs: map[string]program{},
	}
	p.stores, p.storeList = set(opts.Stores)
	p.generators, p.genList = set(opts.Generators)
	return p
}

// set returns the names as a set and a sorted list without duplicates; nil for nil.
func set(names []string) (map[string]bool, []string) {
	if names == nil {
		return nil, nil
	}
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	l := slices.Sorted(func(yield func(string) bool) {
		for n := range m {
			if !yield(n) {
				return
			}
		}
	})
	return m, l
}

func (p *parser) err() error { return errSorted(p.errs) }

func (p *parser) pos(n *yaml.Node) Position {
	return Position{File: p.name, Line: n.Line, Column: n.Column}
}

// errorf records a problem at node n; ctx (which rotation, which field) prefixes the message.
func (p *parser) errorf(n *yaml.Node, ctx, format string, args ...any) {
	pos := Position{File: p.name}
	if n != nil {
		pos = p.pos(n)
	}
	p.errorAt(pos, ctx, format, args...)
}

func (p *parser) errorAt(pos Position, ctx, format string, args ...any) {
	if p.halted {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if ctx != "" {
		msg = ctx + ": " + msg
	}
	e := Error{Pos: pos, Msg: msg}
	if p.seen[e] { // the same node reached again through an alias
		return
	}
	p.seen[e] = true
	p.errs = append(p.errs, &e)
	if len(p.errs) >= maxErrors {
		p.halted = true
		p.errs = append(p.errs, &Error{Pos: pos, Msg: fmt.Sprintf("too many errors (%d); stopped checking", maxErrors)})
	}
}

// tick counts a node walked; false once the walk has gone on too long (or too many errors
// were found), and the caller stops.
func (p *parser) tick(n *yaml.Node) bool {
	if p.halted {
		return false
	}
	p.visits++
	if p.visits > maxVisits {
		p.errorf(n, "", "the document is too complex: its aliases expand to more than %d nodes", maxVisits)
		p.halted = true
		return false
	}
	return true
}

// resolve follows aliases to the node they stand for.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// describe names what a node is, for "must be X, not Y".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		v := n.Value
		if len(v) > 40 {
			v = v[:37] + "..."
		}
		return strconv.Quote(v)
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

// join makes "ctx: sub" context strings.
func join(ctx, sub string) string {
	if ctx == "" {
		return sub
	}
	return ctx + ": " + sub
}

var syntaxLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parserProblems are the errors of the YAML parser (not its scanner) whose line the yaml
// package reports counted from 0: it adds 1 to the 0-based line for scanner errors only.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// document parses b and returns the root node of its one non-empty document, or nil.
func (p *parser) document(b []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var root *yaml.Node
	for {
		var d yaml.Node
		err := decode(dec, &d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			pos, msg := Position{File: p.name}, strings.TrimPrefix(err.Error(), "yaml: ")
			if m := syntaxLine.FindStringSubmatch(err.Error()); m != nil {
				pos.Line, _ = strconv.Atoi(m[1])
				msg = m[2]
				if parserProblems[msg] {
					pos.Line++ // the YAML parser counts these lines from 0 (scanner errors from 1)
				}
			}
			p.errorAt(pos, "", "invalid YAML: %s", msg)
			return nil
		}
		if len(d.Content) == 0 || isNull(d.Content[0]) && d.Content[0].Value == "" {
			continue // an empty document, as a stray "---" makes
		}
		if root != nil {
			p.errorf(&d, "", "a second YAML document starts here; a policy file holds one RotationPolicy")
			break
		}
		root = d.Content[0]
	}
	if root == nil && !p.halted {
		p.errorAt(Position{File: p.name, Line: 1, Column: 1}, "", "the file holds no policy: it needs apiVersion: %s, kind: %s and rotations", APIVersion, Kind)
	}
	return root
}

// decode is dec.Decode that turns a panic of the YAML parser into an error.
func decode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: the YAML parser failed: %v", r)
		}
	}()
	return dec.Decode(n)
}

// pair is one entry of a mapping: the key node, the value node, and the key's text.
type pair struct {
	key, val *yaml.Node
	name     string
}

// pairs lists the entries of mapping n, merges (<<) expanded (the mapping's own entries win,
// then earlier merged mappings). Duplicate names are errors; noun names the entries
// ("field", "key").
func (p *parser) pairs(n *yaml.Node, ctx, noun string) []pair {
	return p.pairsIn(n, ctx, noun, map[*yaml.Node]bool{})
}

func (p *parser) pairsIn(n *yaml.Node, ctx, noun string, active map[*yaml.Node]bool) []pair {
	active[n] = true
	defer delete(active, n)
	var out []pair
	idx := map[string]*yaml.Node{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !p.tick(k) {
			return out
		}
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		kr := resolve(k)
		if kr.Kind != yaml.ScalarNode || isNull(kr) {
			p.errorf(k, ctx, "a %s name must be a string, not %s", noun, describe(kr))
			continue
		}
		if first, dup := idx[kr.Value]; dup {
			p.errorf(k, ctx, "duplicate %s %q (first at line %d)", noun, kr.Value, first.Line)
			continue
		}
		idx[kr.Value] = k
		out = append(out, pair{key: k, val: v, name: kr.Value})
	}
	for _, m := range merges {
		mr := resolve(m)
		var from []*yaml.Node
		switch mr.Kind {
		case yaml.MappingNode:
			from = append(from, mr)
		case yaml.SequenceNode:
			for _, e := range mr.Content {
				if er := resolve(e); er.Kind == yaml.MappingNode {
					from = append(from, er)
				} else {
					p.errorf(e, ctx, "a merge (<<) list must hold mappings, not %s", describe(er))
				}
			}
		default:
			p.errorf(m, ctx, "a merge (<<) takes a mapping or a list of mappings, not %s", describe(mr))
		}
		for _, f := range from {
			if active[f] || len(active) >= maxMerge {
				p.errorf(m, ctx, "a merge (<<) includes a mapping that includes it")
				continue
			}
			for _, q := range p.pairsIn(f, ctx, noun, active) {
				if _, ok := idx[q.name]; !ok {
					idx[q.name] = q.key
					out = append(out, q)
				}
			}
		}
	}
	return out
}

// fields returns the entries of mapping n by name, reporting names not in known.
func (p *parser) fields(n *yaml.Node, ctx string, known ...string) map[string]pair {
	m := map[string]pair{}
	for _, q := range p.pairs(n, ctx, "field") {
		if !slices.Contains(known, q.name) {
			if s := suggest(q.name, known); s != "" {
				p.errorf(q.key, ctx, "unknown field %q (did you mean %q?)", q.name, s)
			} else {
				p.errorf(q.key, ctx, "unknown field %q (known: %s)", q.name, strings.Join(known, ", "))
			}
			continue
		}
		m[q.name] = q
	}
	return m
}

// mapping returns q's value if it is a mapping; null gives nil without an error.
func (p *parser) mapping(q pair, ctx string) *yaml.Node {
	v := resolve(q.val)
	switch {
	case isNull(v):
		return nil
	case v.Kind != yaml.MappingNode:
		p.errorf(q.val, ctx, "%s must be a mapping, not %s", q.name, describe(v))
		return nil
	}
	return v
}

// str returns q's value if it is a non-empty scalar; what names the field in messages.
func (p *parser) str(q pair, ctx, what string) (string, bool) {
	v := resolve(q.val)
	switch {
	case isNull(v) || v.Kind == yaml.ScalarNode && v.Value == "":
		p.errorf(q.key, ctx, "%s is empty", what)
	case v.Kind != yaml.ScalarNode:
		p.errorf(q.val, ctx, "%s must be a string, not %s", what, describe(v))
	default:
		return v.Value, true
	}
	return "", false
}

// list returns q's value if it is a list of scalars, with each element's node; what names
// the field. Empty elements are errors unless emptyOK. ok is false when anything was wrong.
func (p *parser) list(q pair, ctx, what string, emptyOK bool) (vals []string, nodes []*yaml.Node, ok bool) {
	v := resolve(q.val)
	if isNull(v) {
		return nil, nil, true
	}
	if v.Kind != yaml.SequenceNode {
		p.errorf(q.val, ctx, "%s must be a list, not %s", what, describe(v))
		return nil, nil, false
	}
	ok = true
	for i, e := range v.Content {
		if !p.tick(e) {
			return nil, nil, false
		}
		er := resolve(e)
		switch {
		case er.Kind != yaml.ScalarNode || isNull(er):
			p.errorf(e, ctx, "%s[%d] must be a string, not %s", what, i, describe(er))
			ok = false
		case er.Value == "" && !emptyOK:
			p.errorf(e, ctx, "%s[%d] is empty", what, i)
			ok = false
		default:
			vals = append(vals, er.Value)
			nodes = append(nodes, e)
		}
	}
	return vals, nodes, ok
}

// duration returns q's value as a positive duration.
func (p *parser) duration(q pair, ctx, what string) (time.Duration, bool) {
	s, ok := p.str(q, ctx, what)
	if !ok {
		return 0, false
	}
	d, err := parseDuration(s)
	switch {
	case err != nil:
		p.errorf(q.val, ctx, "%s: invalid duration %q: write a Go duration such as 720h or 90m, or days such as 30d", what, s)
		return 0, false
	case d <= 0:
		p.errorf(q.val, ctx, "%s must be positive, not %s", what, s)
		return 0, false
	}
	return d, true
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

// scalarString is a scalar's value as a string: numbers and booleans as strconv formats
// them, anything else as written. Null is an error.
func (p *parser) scalarString(n *yaml.Node, ctx, what string) (string, bool) {
	v := resolve(n)
	tag := v.ShortTag()
	switch tag {
	case "!!null":
		p.errorf(n, ctx, "%s has no value (write \"\" for an empty string)", what)
		return "", false
	case "!!int", "!!float", "!!bool":
	default:
		return v.Value, true
	}
	var x any
	if err := v.Decode(&x); err != nil {
		p.errorf(n, ctx, "%s: %q is not a valid %s", what, v.Value, strings.TrimPrefix(tag, "!!"))
		return "", false
	}
	switch x := x.(type) {
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	case string:
		return x, true
	}
	return v.Value, true
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
