package kube

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
)

// Inventory is what a source held: Secrets with their values, the workloads that may consume
// them, and the objects that could not be read.
type Inventory struct {
	Secrets   []*Secret
	Workloads []Workload
	// Problems are per-object failures; every other object is still in the Inventory.
	Problems []ObjectError
	// Others are Secrets that exist but are not in Secrets: left out by a Filter, or
	// unreadable (then Keys is nil). They are kept by name and key names only, so a reference to
	// one of them is not reported as missing.
	Others []SecretKeys
}

// SecretKeys names a Secret and its keys, without values.
type SecretKeys struct {
	Namespace string
	Name      string
	Keys      []string
}

// ObjectError is one object that could not be read, or one part of a source that could not be
// listed. It never holds a value: only where the object is, its name and the key at fault.
type ObjectError struct {
	Origin    Origin `json:"origin"`
	Kind      string `json:"kind,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	// Key is the data or stringData key at fault, if one is.
	Key     string `json:"key,omitempty"`
	Message string `json:"message"`
}

// Error makes a Problem usable as an error; the text names origin, object and key.
func (p ObjectError) Error() string {
	var b strings.Builder
	b.WriteString(p.Origin.String())
	if p.Kind != "" || p.Name != "" {
		b.WriteString(": ")
		if p.Kind != "" {
			b.WriteString(p.Kind)
			if p.Name != "" {
				b.WriteString(" ")
			}
		}
		if p.Name != "" {
			if p.Namespace != "" {
				b.WriteString(p.Namespace + "/")
			}
			b.WriteString(p.Name)
		}
	}
	b.WriteString(": ")
	b.WriteString(p.Message)
	return b.String()
}

// Filter selects the Secrets a run is about. Workloads in excluded namespaces are dropped
// too; the other filters apply to Secrets only, since any workload may consume a selected
// Secret.
type Filter struct {
	// Selector is a label selector (kubectl syntax) for Secrets.
	Selector string
	// Types keeps only Secrets of these types (empty type counts as Opaque).
	Types []string
	// ExcludeNamespaces drops these namespaces entirely.
	ExcludeNamespaces []string
}

// compiledFilter is a Filter with its selector parsed once.
type compiledFilter struct {
	Filter
	selector labels.Selector
}

func (f Filter) compile() (*compiledFilter, error) {
	c := &compiledFilter{Filter: f, selector: labels.Everything()}
	if f.Selector != "" {
		sel, err := labels.Parse(f.Selector)
		if err != nil {
			return nil, fmt.Errorf("parse label selector %q: %w", f.Selector, err)
		}
		c.selector = sel
	}
	return c, nil
}

func (c *compiledFilter) namespaceExcluded(ns string) bool {
	return slices.Contains(c.ExcludeNamespaces, ns)
}

// matches reports whether s is selected.
func (c *compiledFilter) matches(s *Secret) bool {
	if c.namespaceExcluded(s.Namespace) {
		return false
	}
	if len(c.Types) > 0 && !slices.Contains(c.Types, s.EffectiveType()) {
		return false
	}
	return c.selector.Matches(labels.Set(s.Labels))
}

// Apply removes the Secrets f does not select (recording their names and keys in Others),
// the workloads and problems of excluded namespaces, and returns inv.
func (inv *Inventory) Apply(f Filter) (*Inventory, error) {
	c, err := f.compile()
	if err != nil {
		return nil, err
	}
	kept := inv.Secrets[:0]
	for _, s := range inv.Secrets {
		switch {
		case c.matches(s):
			kept = append(kept, s)
		case !c.namespaceExcluded(s.Namespace):
			inv.Others = append(inv.Others, SecretKeys{Namespace: s.Namespace, Name: s.Name, Keys: s.KeyNames()})
		}
	}
	inv.Secrets = kept
	inv.Workloads = slices.DeleteFunc(inv.Workloads, func(w Workload) bool { return c.namespaceExcluded(w.Namespace) })
	inv.Problems = slices.DeleteFunc(inv.Problems, func(p ObjectError) bool {
		return p.Namespace != "" && c.namespaceExcluded(p.Namespace)
	})
	return inv, nil
}
