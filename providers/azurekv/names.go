package azurekv

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/template"

	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// Layouts accepted by --azure-layout.
const (
	LayoutPerKey = "per-key"
	LayoutJSON   = "json"
)

// Default name templates of the two layouts.
const (
	DefaultPerKeyName = "{{.Namespace}}--{{.Name}}--{{.Key}}"
	DefaultJSONName   = "{{.Namespace}}--{{.Name}}"
)

// MaxNameLength is Key Vault's limit for an object name.
const MaxNameLength = 127

// keyPlaceholder stands for the key in a per-key address: shop--db--{key}.
const keyPlaceholder = "{key}"

// keyMark is what .Key renders to while an address is made; it cannot come from a template's
// own text or a Kubernetes name.
const keyMark = "\x00"

// namer renders Key Vault names from the --azure-name template.
type namer struct {
	layout string
	text   string
	tmpl   *template.Template
}

func newNamer(layout, text string) (*namer, error) {
	switch layout {
	case LayoutPerKey, LayoutJSON:
	default:
		return nil, fmt.Errorf("unknown --azure-layout %q: use %s or %s", layout, LayoutPerKey, LayoutJSON)
	}
	if text == "" {
		text = DefaultPerKeyName
		if layout == LayoutJSON {
			text = DefaultJSONName
		}
	}
	tmpl, err := template.New("azure-name").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parse --azure-name %q: %w", text, err)
	}
	n := &namer{layout: layout, text: text, tmpl: tmpl}
	addr, err := n.render("ns", "name")
	if err != nil {
		return nil, fmt.Errorf("--azure-name %q: %w", text, err)
	}
	uses := strings.Contains(addr, keyPlaceholder)
	switch {
	case layout == LayoutPerKey && !uses:
		return nil, fmt.Errorf("--azure-name %q: the per-key layout stores one secret per key, so the name must use {{.Key}}", text)
	case layout == LayoutJSON && uses:
		return nil, fmt.Errorf("--azure-name %q: the json layout stores one secret per Kubernetes Secret, so the name must not use {{.Key}}", text)
	}
	return n, nil
}

// render executes the template for one Secret and sanitizes the result, with keyPlaceholder
// where the key goes.
func (n *namer) render(namespace, name string) (string, error) {
	var b bytes.Buffer
	if err := n.tmpl.Execute(&b, struct{ Namespace, Name, Key string }{namespace, name, keyMark}); err != nil {
		return "", err
	}
	parts := strings.Split(b.String(), keyMark)
	for i, p := range parts {
		parts[i] = sanitize(p)
	}
	return strings.Join(parts, keyPlaceholder), nil
}

// sanitize maps s into Key Vault's alphabet: lowercase letters, digits and '-'. Every other
// character ('.', '_', '/', anything else) becomes '-'. Key Vault compares names without
// case, so the lowercase form is the canonical one.
func sanitize(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r + 'a' - 'A')
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}

// layoutOf is the layout of the target at address: an address holds {key} exactly when each
// key is a secret of its own. Reading, writing and rotating go by the address, so a target is
// handled in its own layout whatever --azure-layout says (that flag decides new targets).
func layoutOf(address string) string {
	if strings.Contains(address, keyPlaceholder) {
		return LayoutPerKey
	}
	return LayoutJSON
}

// memberName is the Key Vault name of key in the target at address.
func memberName(address, key string) string {
	address = strings.ToLower(address)
	if !strings.Contains(address, keyPlaceholder) {
		return address
	}
	return strings.ReplaceAll(address, keyPlaceholder, sanitize(key))
}

// validName says what is wrong with a Key Vault name, or nil.
func validName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: the name is empty", providers.ErrInvalidName)
	case len(name) > MaxNameLength:
		return fmt.Errorf("%w: key vault name %q is %d characters long, key vault allows %d\nuse a shorter --azure-name template", providers.ErrInvalidName, name, len(name), MaxNameLength)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("%w: key vault name %q holds %q; only 0-9, a-z, A-Z and - are allowed", providers.ErrInvalidName, name, r)
		}
	}
	return nil
}

// Target implements providers.Provider: it renders the --azure-name template for ref.
func (p *Provider) Target(ref providers.Ref) (providers.Target, error) {
	addr, err := p.names.render(ref.Namespace, ref.Name)
	if err != nil {
		return providers.Target{}, fmt.Errorf("render key vault name for %s: %w: %v", ref, providers.ErrInvalidName, err)
	}
	if p.names.layout == LayoutJSON {
		if err := validName(addr); err != nil {
			return providers.Target{}, fmt.Errorf("key vault name for %s: %w", ref, err)
		}
	} else if fixed := strings.ReplaceAll(addr, keyPlaceholder, ""); len(fixed)+strings.Count(addr, keyPlaceholder) > MaxNameLength {
		// Too long whatever the key: Check names each key's name otherwise.
		return providers.Target{}, fmt.Errorf("key vault names for %s: %w: %q is %d characters long without the key, key vault allows %d in all\nuse a shorter --azure-name template",
			ref, providers.ErrInvalidName, addr, len(fixed), MaxNameLength)
	}
	return providers.Target{Provider: Name, Address: addr}, nil
}

// FoldAddress implements providers.AddressFolder: Key Vault names compare without case.
func (p *Provider) FoldAddress(address string) string { return strings.ToLower(address) }

// claim is which source key took a Key Vault name in this plan.
type claim struct {
	ref     providers.Ref
	key     string
	address string
}

func (c claim) String() string {
	if c.key == "" {
		return c.ref.String()
	}
	return fmt.Sprintf("%s key %q", c.ref, c.key)
}

// claimNames records the names of the target t holding p, and returns an error for every name
// another source of the plan already maps to (Key Vault names are case-insensitive). The
// engine calls Check once per Secret of a plan, so every colliding pair is reported, with both
// sides named. Two Secrets with the same address are left to the engine, which names them.
func (p *Provider) claimNames(t providers.Target, pl providers.Payload) []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	keys := pl.Data.Keys()
	if layoutOf(t.Address) == LayoutJSON {
		keys = []string{""}
	}
	names := map[string]string{}
	for _, k := range keys {
		name := memberName(t.Address, k)
		fold := strings.ToLower(name)
		names[name] = k
		mine := claim{ref: pl.Ref, key: k, address: strings.ToLower(t.Address)}
		prev, taken := p.claims[fold]
		switch {
		case !taken:
			p.claims[fold] = mine
		case prev.ref.String() == mine.ref.String() && prev.key == mine.key:
		case prev.address == mine.address && prev.ref.String() != mine.ref.String():
			// The engine reports two Secrets with one target.
		default:
			errs = append(errs, fmt.Errorf("%s: %w: key vault name %q is also the name of %s (names are case-insensitive)", mine, providers.ErrInvalidName, name, prev))
		}
	}
	if p.expected[strings.ToLower(t.Address)] == nil {
		p.expected[strings.ToLower(t.Address)] = map[string]string{}
	}
	for name, k := range names {
		p.expected[strings.ToLower(t.Address)][name] = k
	}
	return errs
}

// expectedNames are the member names Check computed for the target at address, name → key.
func (p *Provider) expectedNames(address string) map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]string{}
	for n, k := range p.expected[strings.ToLower(address)] {
		out[n] = k
	}
	return out
}

// payloadNames are the member names of p at t, name → key.
func (p *Provider) payloadNames(t providers.Target, d kube.Data) map[string]string {
	out := map[string]string{}
	if layoutOf(t.Address) == LayoutJSON {
		out[strings.ToLower(t.Address)] = ""
		return out
	}
	for k := range d {
		out[memberName(t.Address, k)] = k
	}
	return out
}

// sortedNames returns the names of m in order.
func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

var errNoKeys = errors.New("the Secret has no keys")
