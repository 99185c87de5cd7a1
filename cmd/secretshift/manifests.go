package main

import (
	"fmt"

	"github.com/secretshift/secretshift/migrate"
	"github.com/secretshift/secretshift/providers"
	"github.com/secretshift/secretshift/templates"
)

// validateManifestFlags checks the ESO flags that need no store, before anything is opened
// or created; the store's adapter checks the rest (manifestInput).
func (o *migrateOptions) validateManifestFlags() error {
	if o.Manifests == "" {
		return nil
	}
	if o.StoreKind != templates.KindSecretStore && o.StoreKind != templates.KindClusterSecretStore {
		return usageError("--store-kind must be %s or %s", templates.KindSecretStore, templates.KindClusterSecretStore)
	}
	return nil
}

// manifestInput is the ESO generator's input for p, checked by p's adapter before anything
// is written.
func (o *migrateOptions) manifestInput(p providers.Provider) (*templates.Input, error) {
	er, ok := p.(providers.ExternalReader)
	if !ok {
		return nil, usageError("--manifests: External Secrets Operator cannot read the %s provider", p.Name())
	}
	in := &templates.Input{
		Reader: er, Provider: p.Name(), StoreKind: o.StoreKind, StoreName: o.StoreName, RefreshInterval: o.ESORefresh,
		Auth: providers.ExternalAuth{Method: o.ESOAuth, ServiceAccount: o.ESOServiceAcct, ServiceAccountNamespace: o.ESOSANamespace},
	}
	if err := templates.Check(*in); err != nil {
		return nil, usageError("--manifests: %v", err)
	}
	return in, nil
}

// writeManifests generates ESO manifests for every Secret that is verified in the store.
func writeManifests(f *factory, o *migrateOptions, lp *loadedPlan, rep *migrate.Report, in *templates.Input) error {
	er := lp.provider.(providers.ExternalReader)
	ok := map[string]bool{}
	for _, r := range rep.Items {
		if r.Verified {
			ok[r.Namespace+"/"+r.Name] = true
		}
	}
	for _, it := range lp.Items {
		s := lp.sources[it.Ref()]
		if !ok[it.Ref()] || s == nil || it.Target == nil {
			continue
		}
		refs, ok := o.lean.externalRefs(s)
		if !ok && s.Data == nil && len(it.Keys) > 0 {
			return fmt.Errorf("%s: no ESO references were taken when it was read; nothing was written to %s", it.Ref(), o.Manifests)
		}
		if !ok {
			refs = er.ExternalRefs(*it.Target, providers.PayloadOf(s))
		}
		in.Items = append(in.Items, templates.Item{
			Namespace: s.Namespace, Name: s.Name, Type: s.EffectiveType(), Labels: s.Labels, Annotations: s.Annotations,
			Immutable: s.Immutable, Refs: refs,
		})
	}
	w := templates.NewFileWriter(o.Manifests)
	if err := templates.GenerateEach(*in, w.Put); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(f.status(), "wrote %d manifest files for %d Secrets to %s (kubectl apply -k %s)\n", w.Written, len(in.Items), o.Manifests, o.Manifests)
	fmt.Fprintln(f.status(), "hand the Secrets over in place with `secretshift cutover`; once ESO owns a Secret, deleting its ExternalSecret deletes the Secret (undo with `secretshift cutover rollback`)")
	return nil
}
