package templates

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/secretshift/secretshift/internal/atomicfile"
	"github.com/secretshift/secretshift/providers"
)

// Store kinds accepted by --store-kind.
const (
	KindSecretStore        = "SecretStore"
	KindClusterSecretStore = "ClusterSecretStore"
)

// Defaults of Input.
const (
	DefaultServiceAccount          = "secretshift-eso"
	DefaultServiceAccountNamespace = "external-secrets"
	DefaultRefreshInterval         = "1h"
)

// Input is what the generator needs: the store's adapter, how ESO authenticates, and the
// migrated Secrets.
type Input struct {
	// Reader is the adapter of the store ESO reads.
	Reader providers.ExternalReader
	// Provider is the store's registry name; the default store name is secretshift-<Provider>.
	Provider string
	// StoreKind is SecretStore (one per namespace, default) or ClusterSecretStore.
	StoreKind string
	// StoreName names the store(s).
	StoreName string
	// Auth is how ESO authenticates; the method's meaning is the adapter's.
	Auth providers.ExternalAuth
	// RefreshInterval is how often ESO re-reads the store (default "1h").
	RefreshInterval string
	Items           []Item
}

// Item is one migrated Secret.
type Item struct {
	Namespace   string
	Name        string
	Type        string
	Labels      map[string]string
	Annotations map[string]string
	Immutable   bool
	Refs        []providers.ExternalRef
}

// Bundle is the generated files, path → content, relative to the manifests folder.
type Bundle struct {
	Files map[string][]byte
}

// Paths returns the file paths, sorted.
func (b *Bundle) Paths() []string {
	out := make([]string, 0, len(b.Files))
	for p := range b.Files {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Write stores the bundle below dir, creating folders. Files are written whole and durably as
// one batch (atomicfile.WriteBatch: two flushes for the bundle, not one per file), so an
// interrupted run never leaves half a manifest.
func (b *Bundle) Write(dir string) error {
	paths := b.Paths()
	files := make([]atomicfile.File, 0, len(paths))
	for _, p := range paths {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("create folder for %s: %w", full, err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".sh") {
			mode = 0o755
		}
		files = append(files, atomicfile.File{Path: full, Data: b.Files[p], Mode: mode})
	}
	if err := atomicfile.WriteBatch(files); err != nil {
		return fmt.Errorf("write the manifests to %s: %w", dir, err)
	}
	return nil
}

func (in *Input) defaults() error {
	if in.Reader == nil {
		return errors.New("no store for the manifests")
	}
	if in.StoreKind == "" {
		in.StoreKind = KindSecretStore
	}
	if in.StoreKind != KindSecretStore && in.StoreKind != KindClusterSecretStore {
		return fmt.Errorf("unknown store kind %q: use SecretStore or ClusterSecretStore", in.StoreKind)
	}
	if in.StoreName == "" {
		in.StoreName = "secretshift-" + in.Provider
	}
	if in.RefreshInterval == "" {
		in.RefreshInterval = DefaultRefreshInterval
	}
	if in.Auth.ServiceAccount == "" {
		in.Auth.ServiceAccount = DefaultServiceAccount
	}
	if in.Auth.ServiceAccountNamespace == "" {
		in.Auth.ServiceAccountNamespace = DefaultServiceAccountNamespace
	}
	return nil
}

// Check validates in the way Generate will, with no Secret: the store kind, and the auth
// settings as the store's adapter sees them. Commands call it before anything is written.
func Check(in Input) error {
	if err := in.defaults(); err != nil {
		return err
	}
	_, err := in.Reader.ExternalStores(providers.StoreRequest{Name: in.StoreName, Cluster: in.StoreKind == KindClusterSecretStore, Auth: in.Auth})
	return err
}

// Objects are the Kubernetes objects of in, before they are written as files: what a cut-over
// applies to the cluster itself.
type Objects struct {
	// Stores are the SecretStores (one per namespace) or the one ClusterSecretStore.
	Stores []SecretStore
	// ServiceAccounts are the ServiceAccounts the stores authenticate as.
	ServiceAccounts []ServiceAccount
	// ExternalSecrets are one per item, sorted by namespace and name.
	ExternalSecrets []ExternalSecret
	// Files are the store's access material (policies, role setup), path → content.
	Files map[string][]byte
}

// Build assembles the objects of in: the stores, their ServiceAccounts and one ExternalSecret
// per item.
func Build(in Input) (*Objects, error) {
	if err := in.defaults(); err != nil {
		return nil, err
	}
	byNS := map[string][]Item{}
	refs := map[string][]providers.ExternalRef{}
	for _, it := range in.Items {
		byNS[it.Namespace] = append(byNS[it.Namespace], it)
		refs[it.Namespace] = append(refs[it.Namespace], it.Refs...)
	}
	namespaces := make([]string, 0, len(byNS))
	for ns := range byNS {
		namespaces = append(namespaces, ns)
	}
	sort.Strings(namespaces)

	cluster := in.StoreKind == KindClusterSecretStore
	set, err := in.Reader.ExternalStores(providers.StoreRequest{Name: in.StoreName, Cluster: cluster, Auth: in.Auth, Refs: refs})
	if err != nil {
		return nil, err
	}
	o := &Objects{Files: set.Files}
	stores := make([]string, 0, len(set.Providers))
	for ns := range set.Providers {
		stores = append(stores, ns)
	}
	sort.Strings(stores)
	for _, ns := range stores {
		o.Stores = append(o.Stores, in.store(ns, set.Providers[ns], namespaces))
	}
	for _, sa := range set.ServiceAccounts {
		o.ServiceAccounts = append(o.ServiceAccounts, serviceAccount(sa))
	}
	for _, ns := range namespaces {
		items := byNS[ns]
		sort.Slice(items, func(i, j int) bool { return items[i].Name < items[j].Name })
		for _, it := range items {
			o.ExternalSecrets = append(o.ExternalSecrets, in.externalSecret(it))
		}
	}
	return o, nil
}

// Generate builds every manifest, and the store's access material, for in.
func Generate(in Input) (*Bundle, error) {
	o, err := Build(in)
	if err != nil {
		return nil, err
	}
	b := &Bundle{Files: map[string][]byte{}}
	put := func(path string, v any) error {
		y, err := yaml.Marshal(v)
		if err != nil {
			return fmt.Errorf("marshal %s: %w", path, err)
		}
		b.Files[path] = y
		return nil
	}
	var resources []string
	for _, s := range o.Stores {
		path := s.Metadata.Namespace + "/secretstore.yaml"
		if s.Metadata.Namespace == "" {
			path = "clustersecretstore.yaml"
		}
		if err := put(path, s); err != nil {
			return nil, err
		}
		resources = append(resources, path)
	}
	for _, sa := range o.ServiceAccounts {
		path := sa.Metadata.Namespace + "/serviceaccount.yaml"
		if in.StoreKind == KindClusterSecretStore {
			path = "serviceaccount.yaml"
		}
		if err := put(path, sa); err != nil {
			return nil, err
		}
		resources = append(resources, path)
	}
	for path, content := range o.Files {
		b.Files[path] = content
	}
	for _, es := range o.ExternalSecrets {
		p := es.Metadata.Namespace + "/" + es.Metadata.Name + ".externalsecret.yaml"
		if err := put(p, es); err != nil {
			return nil, err
		}
		resources = append(resources, p)
	}
	sort.Strings(resources)
	if err := put("kustomization.yaml", Kustomization{TypeMeta: TypeMeta{APIVersion: "kustomize.config.k8s.io/v1beta1", Kind: "Kustomization"}, Resources: resources}); err != nil {
		return nil, err
	}
	return b, nil
}

// store is the SecretStore of ns, or the ClusterSecretStore (ns "") limited to namespaces.
func (in *Input) store(ns string, provider map[string]any, namespaces []string) SecretStore {
	kind := KindSecretStore
	if ns == "" {
		kind = KindClusterSecretStore
	}
	s := SecretStore{
		TypeMeta: TypeMeta{APIVersion: ESOAPIVersion, Kind: kind},
		Metadata: ObjectMeta{Name: in.StoreName, Namespace: ns, Labels: managedLabels()},
		Spec:     SecretStoreSpec{Provider: provider},
	}
	if ns == "" && len(namespaces) > 0 {
		s.Spec.Conditions = []StoreCondition{{Namespaces: namespaces}}
	}
	return s
}

func serviceAccount(sa providers.ServiceAccount) ServiceAccount {
	return ServiceAccount{
		TypeMeta: TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		Metadata: ObjectMeta{Name: sa.Name, Namespace: sa.Namespace, Labels: managedLabels(), Annotations: sa.Annotations},
	}
}

func managedLabels() map[string]string {
	return map[string]string{"app.kubernetes.io/managed-by": "secretshift"}
}

func (in *Input) externalSecret(it Item) ExternalSecret {
	es := ExternalSecret{
		TypeMeta: TypeMeta{APIVersion: ESOAPIVersion, Kind: "ExternalSecret"},
		Metadata: ObjectMeta{Name: it.Name, Namespace: it.Namespace, Labels: managedLabels()},
		Spec: ExternalSecretSpec{
			RefreshInterval: in.RefreshInterval,
			SecretStoreRef:  SecretStoreRef{Name: in.StoreName, Kind: in.StoreKind},
			Target: ExternalSecretTarget{
				Name: it.Name, CreationPolicy: "Owner", DeletionPolicy: "Retain", Immutable: it.Immutable,
				Template: &Template{Type: typeOrOpaque(it.Type), EngineVersion: "v2"},
			},
		},
	}
	labels, annotations := keptMetadata(it.Labels), keptMetadata(it.Annotations)
	if len(labels)+len(annotations) > 0 {
		es.Spec.Target.Template.Metadata = &TemplateMetadata{Labels: labels, Annotations: annotations}
	}
	for _, r := range it.Refs {
		d := ExternalSecretData{SecretKey: r.SecretKey, RemoteRef: RemoteRef{Key: r.Key, Property: r.Property, DecodingStrategy: "None"}}
		if r.Decoding != "" {
			d.RemoteRef.DecodingStrategy = r.Decoding
		}
		es.Spec.Data = append(es.Spec.Data, d)
	}
	return es
}

func typeOrOpaque(t string) string {
	if t == "" {
		return "Opaque"
	}
	return t
}

// droppedPrefixes are metadata keys that belong to the tool that created the original Secret,
// not to the Secret: copying them would make kubectl or Helm think they own ESO's Secret.
var droppedPrefixes = []string{"kubectl.kubernetes.io/", "meta.helm.sh/", "secretshift.io/", "reconcile.external-secrets.io/"}

func keptMetadata(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		drop := false
		for _, p := range droppedPrefixes {
			if strings.HasPrefix(k, p) {
				drop = true
			}
		}
		if k == "app.kubernetes.io/managed-by" && v == "Helm" {
			drop = true
		}
		if !drop {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
