package templates

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
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

// Write stores the bundle below dir, creating folders. Files are written whole and durably in
// batches (FileWriter), so an interrupted run never leaves half a manifest.
func (b *Bundle) Write(dir string) error {
	w := NewFileWriter(dir)
	for _, p := range b.Paths() {
		if err := w.Put(p, b.Files[p]); err != nil {
			return err
		}
	}
	return w.Flush()
}

// writeBatch is how many files a FileWriter flushes at once.
const writeBatch = 1024

// FileWriter writes files below a folder, creating folders, whole and durably, a batch at a
// time (atomicfile.WriteBatch: two flushes per batch, not one per file). Put takes a path
// relative to the folder, with slashes; files named *.sh are made executable.
type FileWriter struct {
	dir     string
	pending []atomicfile.File
	// Written counts the files put.
	Written int
}

// NewFileWriter writes below dir.
func NewFileWriter(dir string) *FileWriter { return &FileWriter{dir: dir} }

// Put queues one file, writing the queue once it is a batch.
func (w *FileWriter) Put(path string, content []byte) error {
	full := filepath.Join(w.dir, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return fmt.Errorf("create folder for %s: %w", full, err)
	}
	mode := os.FileMode(0o644)
	if strings.HasSuffix(path, ".sh") {
		mode = 0o755
	}
	w.pending = append(w.pending, atomicfile.File{Path: full, Data: content, Mode: mode})
	w.Written++
	if len(w.pending) >= writeBatch {
		return w.Flush()
	}
	return nil
}

// Flush writes what is queued.
func (w *FileWriter) Flush() error {
	if len(w.pending) == 0 {
		return nil
	}
	err := atomicfile.WriteBatch(w.pending)
	w.pending = w.pending[:0]
	if err != nil {
		return fmt.Errorf("write the manifests to %s: %w", w.dir, err)
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
	byNS, namespaces, set, err := in.storeSet()
	if err != nil {
		return nil, err
	}
	o := &Objects{Files: set.Files}
	for _, ns := range slices.Sorted(maps.Keys(set.Providers)) {
		o.Stores = append(o.Stores, in.store(ns, set.Providers[ns], namespaces))
	}
	for _, sa := range set.ServiceAccounts {
		o.ServiceAccounts = append(o.ServiceAccounts, serviceAccount(sa))
	}
	for _, ns := range namespaces {
		for _, it := range byNS[ns] {
			o.ExternalSecrets = append(o.ExternalSecrets, in.externalSecret(it))
		}
	}
	return o, nil
}

// storeSet groups the items by namespace (each group sorted by name), lists the namespaces
// sorted, and asks the store's adapter for the stores, ServiceAccounts and access material
// that serve them.
func (in *Input) storeSet() (map[string][]Item, []string, *providers.StoreSet, error) {
	byNS := map[string][]Item{}
	refs := map[string][]providers.ExternalRef{}
	for _, it := range in.Items {
		byNS[it.Namespace] = append(byNS[it.Namespace], it)
		refs[it.Namespace] = append(refs[it.Namespace], it.Refs...)
	}
	namespaces := slices.Sorted(maps.Keys(byNS))
	for _, ns := range namespaces {
		items := byNS[ns]
		sort.Slice(items, func(i, j int) bool { return items[i].Name < items[j].Name })
	}
	set, err := in.Reader.ExternalStores(providers.StoreRequest{Name: in.StoreName, Cluster: in.StoreKind == KindClusterSecretStore, Auth: in.Auth, Refs: refs})
	return byNS, namespaces, set, err
}

// Generate builds every manifest, and the store's access material, for in.
func Generate(in Input) (*Bundle, error) {
	b := &Bundle{Files: map[string][]byte{}}
	err := GenerateEach(in, func(path string, content []byte) error {
		b.Files[path] = content
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// GenerateEach makes the files of Generate and hands each to emit as soon as it is made: the
// stores, ServiceAccounts and access material, then the ExternalSecrets one namespace at a
// time, then the kustomization.yaml that lists them. A run over a large fleet never holds every
// manifest at once.
func GenerateEach(in Input, emit func(path string, content []byte) error) error {
	if err := in.defaults(); err != nil {
		return err
	}
	put := func(path string, v any) error {
		y, err := yaml.Marshal(v)
		if err != nil {
			return fmt.Errorf("marshal %s: %w", path, err)
		}
		return emit(path, y)
	}
	byNS, namespaces, set, err := in.storeSet()
	if err != nil {
		return err
	}
	var resources []string
	for _, ns := range slices.Sorted(maps.Keys(set.Providers)) {
		s := in.store(ns, set.Providers[ns], namespaces)
		path := s.Metadata.Namespace + "/secretstore.yaml"
		if s.Metadata.Namespace == "" {
			path = "clustersecretstore.yaml"
		}
		if err := put(path, s); err != nil {
			return err
		}
		resources = append(resources, path)
	}
	for _, sa := range set.ServiceAccounts {
		path := sa.Namespace + "/serviceaccount.yaml"
		if in.StoreKind == KindClusterSecretStore {
			path = "serviceaccount.yaml"
		}
		if err := put(path, serviceAccount(sa)); err != nil {
			return err
		}
		resources = append(resources, path)
	}
	for _, path := range slices.Sorted(maps.Keys(set.Files)) {
		if err := emit(path, set.Files[path]); err != nil {
			return err
		}
	}
	for _, ns := range namespaces {
		for _, it := range byNS[ns] {
			es := in.externalSecret(it)
			p := es.Metadata.Namespace + "/" + es.Metadata.Name + ".externalsecret.yaml"
			if err := put(p, es); err != nil {
				return err
			}
			resources = append(resources, p)
		}
	}
	sort.Strings(resources)
	return put("kustomization.yaml", Kustomization{TypeMeta: TypeMeta{APIVersion: "kustomize.config.k8s.io/v1beta1", Kind: "Kustomization"}, Resources: resources})
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
