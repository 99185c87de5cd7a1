package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/migrate"
	"github.com/secretshift/secretshift/providers"
	"github.com/secretshift/secretshift/templates"
)

// cutoverPlan is the selection `cutover --plan` takes from a plan saved by `plan --out` (its
// store and the Secrets it moved there: created, updated or already unchanged, read again from
// the cluster; the ones it skipped or found in conflict are not cut over), or `cutover
// --manifests` from the ExternalSecrets of a folder "migrate --manifests" wrote.
type cutoverPlan struct {
	path  string
	what  string        // "plan", "manifests"
	saved *migrate.Plan // nil for manifests
	given *templates.Manifests
	want  map[string]bool // namespace/name
}

// loadCutoverPlan reads the plan at path and sets the store (--to) and the selection from it:
// a plan made against a cluster selects as it did (namespace, all namespaces, selector,
// context); a plan made from files selects the namespaces of its Secrets.
func loadCutoverPlan(f *factory, so *migrateOptions, path string) (*cutoverPlan, error) {
	saved, err := readPlan(path)
	if err != nil {
		return nil, err
	}
	if so.To != "" && so.To != saved.Provider {
		return nil, usageError("--to %s, but the plan %s is for %s", so.To, path, saved.Provider)
	}
	if f.Namespace != "" || f.AllNamespaces || f.Selector != "" {
		return nil, usageError("--plan selects the Secrets itself: give no -n, -A or -l")
	}
	so.To = saved.Provider
	cp := &cutoverPlan{path: path, what: "plan", saved: saved, want: map[string]bool{}}
	namespaces := map[string]bool{}
	for _, it := range saved.Items {
		switch it.Action {
		case migrate.ActionCreate, migrate.ActionUpdate, migrate.ActionUnchanged:
			cp.want[it.Namespace+"/"+it.Name] = true
			namespaces[it.Namespace] = true
		}
	}
	if len(cp.want) == 0 {
		return nil, fmt.Errorf("the plan %s moves no Secret into the store: nothing to cut over", path)
	}
	src := saved.Source
	switch {
	case len(src.Files) == 0:
		f.Namespace, f.AllNamespaces, f.Selector = src.Namespace, src.AllNamespaces, src.Selector
		if f.Context == "" {
			f.Context = src.Context
		}
	case len(namespaces) == 1:
		for ns := range namespaces {
			f.Namespace = ns
		}
	default:
		f.AllNamespaces = true
	}
	return cp, nil
}

// check refuses a plan made for another store, under another fingerprint key, or against
// another cluster than the one the context points at (host).
func (cp *cutoverPlan) check(p providers.Provider, fp *audit.Fingerprinter, host string) error {
	if cp.saved == nil {
		return nil
	}
	if err := migrate.CheckStore(cp.saved, p, fp); err != nil {
		return err
	}
	if src := cp.saved.Source; len(src.Files) == 0 && src.Cluster != "" && host != src.Cluster {
		return fmt.Errorf("the plan %s was made against cluster %s, but the current context points at %s", cp.path, src.Cluster, host)
	}
	return nil
}

// filter keeps the plan's Secrets and returns those of the plan the cluster does not hold.
func (cp *cutoverPlan) filter(secrets []*kube.Secret) (kept []*kube.Secret, absent []string) {
	seen := map[string]bool{}
	for _, s := range secrets {
		if ref := s.Namespace + "/" + s.Name; cp.want[ref] {
			kept, seen[ref] = append(kept, s), true
		}
	}
	for ref := range cp.want {
		if !seen[ref] {
			absent = append(absent, ref)
		}
	}
	slices.Sort(absent)
	return kept, absent
}

// loadCutoverManifests reads the ESO objects at path (a folder "migrate --manifests" wrote, or
// a file) and selects the Secrets their ExternalSecrets make. Without --to, the store is the one
// ESO's provider block of the manifests' stores names, when secretshift has a provider of that
// name (vault, azurekv).
func loadCutoverManifests(f *factory, so *migrateOptions, path string) (*cutoverPlan, error) {
	if f.Namespace != "" || f.AllNamespaces || f.Selector != "" {
		return nil, usageError("--manifests selects the Secrets its ExternalSecrets make: give no -n, -A or -l")
	}
	m, err := templates.ReadManifests(path)
	if err != nil {
		return nil, fmt.Errorf("--manifests: %w", err)
	}
	if so.To == "" {
		kinds := map[string]bool{}
		for _, s := range m.Stores {
			for k := range s.Typed.Spec.Provider {
				kinds[k] = true
			}
		}
		if len(kinds) != 1 {
			return nil, usageError("--manifests %s: say which store the Secrets were migrated into with --to", path)
		}
		for k := range kinds {
			so.To = k
		}
	}
	cp := &cutoverPlan{path: path, what: "manifests", given: m, want: map[string]bool{}}
	namespaces := map[string]bool{}
	for _, g := range m.ExternalSecrets {
		es := g.Typed
		name := es.Spec.Target.Name
		if name == "" {
			name = es.Metadata.Name
		}
		cp.want[es.Metadata.Namespace+"/"+name] = true
		namespaces[es.Metadata.Namespace] = true
	}
	if len(namespaces) == 1 {
		for ns := range namespaces {
			f.Namespace = ns
		}
	} else {
		f.AllNamespaces = true
	}
	return cp, nil
}

// absentLine says which Secrets of the plan (or manifests) are not in the cluster, naming the
// first few.
func (cp *cutoverPlan) absentLine(absent []string) string {
	const shown = 5
	names := strings.Join(absent[:min(len(absent), shown)], ", ")
	if len(absent) > shown {
		names += fmt.Sprintf(" and %d more", len(absent)-shown)
	}
	return fmt.Sprintf("%d Secret(s) of the %s are not in the cluster, so not cut over: %s", len(absent), cp.what, names)
}
