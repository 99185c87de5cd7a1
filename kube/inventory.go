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
	// InOtherShards counts the Secrets the Filter selected but its Shard left to other shards
	// (they are among Others too).
	InOtherShards int
	// otherShard are the Secrets ReadManifests passed over for ReadOptions.Shard; Apply counts
	// those of namespaces it keeps.
	otherShard []SecretKeys
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
	// Shard, when set, keeps only the Secrets it holds, by namespace and name: the part of one
	// process of a sharded run (job.Shard.Has of "namespace/name"). It applies after the other
	// filters, and also splits the missing references by the Secret they name, so that every
	// Secret, present or missing, is reported by exactly one shard.
	Shard func(namespace, name string) bool
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

// matches reports whether s is selected, apart from the shard.
func (c *compiledFilter) matches(s *Secret) bool {
	if c.namespaceExcluded(s.Namespace) {
		return false
	}
	if len(c.Types) > 0 && !slices.Contains(c.Types, s.EffectiveType()) {
		return false
	}
	return c.selector.Matches(labels.Set(s.Labels))
}

// inShard reports whether a Secret the filter selects is in its shard.
func (c *compiledFilter) inShard(namespace, name string) bool {
	return c.Shard == nil || c.Shard(namespace, name)
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
		selected := c.matches(s)
		switch {
		case selected && c.inShard(s.Namespace, s.Name):
			kept = append(kept, s)
		case selected:
			inv.InOtherShards++
			inv.Others = append(inv.Others, SecretKeys{Namespace: s.Namespace, Name: s.Name, Keys: s.KeyNames()})
		case !c.namespaceExcluded(s.Namespace):
			inv.Others = append(inv.Others, SecretKeys{Namespace: s.Namespace, Name: s.Name, Keys: s.KeyNames()})
		}
	}
	inv.Secrets = kept
	for _, o := range inv.otherShard {
		if !c.namespaceExcluded(o.Namespace) {
			inv.InOtherShards++
		}
	}
	inv.otherShard = nil
	inv.Workloads = slices.DeleteFunc(inv.Workloads, func(w Workload) bool { return c.namespaceExcluded(w.Namespace) })
	inv.Problems = slices.DeleteFunc(inv.Problems, func(p ObjectError) bool {
		return p.Namespace != "" && c.namespaceExcluded(p.Namespace)
	})
	return inv, nil
}
