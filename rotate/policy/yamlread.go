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
)

// This file reads YAML for the policy: documents, mappings with positions and checks for
// unknown fields, scalars, lists and durations, every problem collected with its position.

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
	checkGen   func(string, map[string]string) error
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
	p.checkGen = opts.CheckGenerator
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
