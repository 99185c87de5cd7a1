package templates

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/secretshift/secretshift/providers"
)

// Store kinds accepted by --store-kind.
const (
	KindSecretStore        = "SecretStore"
	KindClusterSecretStore = "ClusterSecretStore"
)

// Auth methods ESO uses to read Vault.
const (
	AuthKubernetes = "kubernetes"
	AuthToken      = "token"
)

// Input is what the generator needs: the store, how ESO authenticates, and the migrated Secrets.
type Input struct {
	Store providers.ExternalStore
	// StoreKind is SecretStore (one per namespace, default) or ClusterSecretStore.
	StoreKind string
	// StoreName names the store(s) (default "secretshift-vault").
	StoreName string
	Auth      Auth
	// RefreshInterval is how often ESO re-reads the store (default "1h").
	RefreshInterval string
	Items           []Item
}

// Auth is how ESO authenticates to Vault.
type Auth struct {
	// Method is "kubernetes" (default) or "token".
	Method string
	// KubernetesMount is the Vault auth mount (default "kubernetes").
	KubernetesMount string
	// ServiceAccount is the ServiceAccount ESO logs in as (default "secretshift-eso").
	ServiceAccount string
	// ServiceAccountNamespace is where that ServiceAccount lives for a ClusterSecretStore
	// (default "external-secrets").
	ServiceAccountNamespace string
	// Audience is the token audience the Vault role requires (default "vault").
	Audience string
	// TokenSecret holds a Vault token for token auth (name and key; namespace for a
	// ClusterSecretStore).
	TokenSecret SecretKeySelector
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

// Write stores the bundle below dir, creating folders. Files are written whole (temp + rename)
// so an interrupted run never leaves half a manifest.
func (b *Bundle) Write(dir string) error {
	for _, p := range b.Paths() {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("create folder for %s: %w", full, err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".sh") {
			mode = 0o755
		}
		tmp, err := os.CreateTemp(filepath.Dir(full), ".tmp-*")
		if err != nil {
			return fmt.Errorf("write %s: %w", full, err)
		}
		_, werr := tmp.Write(b.Files[p])
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), mode)); err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("write %s: %w", full, err)
		}
		if err := os.Rename(tmp.Name(), full); err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("write %s: %w", full, err)
		}
	}
	return nil
}

func (in *Input) defaults() error {
	if in.StoreKind == "" {
		in.StoreKind = KindSecretStore
	}
	if in.StoreKind != KindSecretStore && in.StoreKind != KindClusterSecretStore {
		return fmt.Errorf("unknown store kind %q: use SecretStore or ClusterSecretStore", in.StoreKind)
	}
	if in.StoreName == "" {
		in.StoreName = "secretshift-vault"
	}
	if in.RefreshInterval == "" {
		in.RefreshInterval = "1h"
	}
	a := &in.Auth
	if a.Method == "" {
		a.Method = AuthKubernetes
	}
	switch a.Method {
	case AuthKubernetes:
		if a.KubernetesMount == "" {
			a.KubernetesMount = "kubernetes"
		}
		if a.ServiceAccount == "" {
			a.ServiceAccount = "secretshift-eso"
		}
		if a.ServiceAccountNamespace == "" {
			a.ServiceAccountNamespace = "external-secrets"
		}
		if a.Audience == "" {
			a.Audience = "vault"
		}
	case AuthToken:
		if a.TokenSecret.Name == "" || a.TokenSecret.Key == "" {
			return errors.New("token auth needs the name and key of a Secret holding the Vault token")
		}
		if in.StoreKind == KindClusterSecretStore && a.TokenSecret.Namespace == "" {
			return errors.New("a ClusterSecretStore with token auth needs the token Secret's namespace")
		}
	default:
		return fmt.Errorf("unknown ESO auth method %q: use kubernetes or token", a.Method)
	}
	if in.Store.Kind != "vault" {
		return fmt.Errorf("manifests for %q stores are not supported yet", in.Store.Kind)
	}
	return nil
}

// Generate builds every manifest and Vault file for in.
func Generate(in Input) (*Bundle, error) {
	if err := in.defaults(); err != nil {
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

	byNS := map[string][]Item{}
	for _, it := range in.Items {
		byNS[it.Namespace] = append(byNS[it.Namespace], it)
	}
	namespaces := make([]string, 0, len(byNS))
	for ns := range byNS {
		namespaces = append(namespaces, ns)
	}
	sort.Strings(namespaces)

	cluster := in.StoreKind == KindClusterSecretStore
	var resources []string
	if cluster {
		if err := put("clustersecretstore.yaml", in.store("", namespaces)); err != nil {
			return nil, err
		}
		resources = append(resources, "clustersecretstore.yaml")
		if in.Auth.Method == AuthKubernetes {
			if err := put("serviceaccount.yaml", in.serviceAccount(in.Auth.ServiceAccountNamespace)); err != nil {
				return nil, err
			}
			resources = append(resources, "serviceaccount.yaml")
		}
		var paths []string
		for _, ns := range namespaces {
			paths = append(paths, policyPaths(byNS[ns])...)
		}
		b.Files["vault/policy.hcl"] = policyHCL(paths)
	}
	var setup []string
	for _, ns := range namespaces {
		items := byNS[ns]
		sort.Slice(items, func(i, j int) bool { return items[i].Name < items[j].Name })
		if !cluster {
			if err := put(ns+"/secretstore.yaml", in.store(ns, nil)); err != nil {
				return nil, err
			}
			resources = append(resources, ns+"/secretstore.yaml")
			if in.Auth.Method == AuthKubernetes {
				if err := put(ns+"/serviceaccount.yaml", in.serviceAccount(ns)); err != nil {
					return nil, err
				}
				resources = append(resources, ns+"/serviceaccount.yaml")
			}
			b.Files["vault/policy-"+ns+".hcl"] = policyHCL(policyPaths(items))
			if in.Auth.Method == AuthKubernetes {
				setup = append(setup, in.roleCommands(roleName(ns), "vault/policy-"+ns+".hcl", ns)...)
			}
		}
		for _, it := range items {
			p := ns + "/" + it.Name + ".externalsecret.yaml"
			if err := put(p, in.externalSecret(it)); err != nil {
				return nil, err
			}
			resources = append(resources, p)
		}
	}
	if cluster && in.Auth.Method == AuthKubernetes {
		setup = in.roleCommands(roleName(""), "vault/policy.hcl", in.Auth.ServiceAccountNamespace)
	}
	if len(setup) > 0 {
		b.Files["vault/setup.sh"] = []byte("#!/bin/sh\n# Vault policy and Kubernetes-auth role(s) for the generated stores.\n# Run with VAULT_ADDR and a VAULT_TOKEN allowed to write policies and auth roles.\nset -eu\ncd \"$(dirname \"$0\")\"\n" + strings.Join(setup, "\n") + "\n")
	}
	sort.Strings(resources)
	if err := put("kustomization.yaml", Kustomization{TypeMeta: TypeMeta{APIVersion: "kustomize.config.k8s.io/v1beta1", Kind: "Kustomization"}, Resources: resources}); err != nil {
		return nil, err
	}
	return b, nil
}

func roleName(ns string) string {
	if ns == "" {
		return "secretshift-eso"
	}
	return "secretshift-eso-" + ns
}

func (in *Input) roleCommands(role, policyFile, saNamespace string) []string {
	policy := strings.TrimSuffix(filepath.Base(policyFile), ".hcl")
	policy = "secretshift-" + strings.TrimPrefix(policy, "policy-")
	if policy == "secretshift-policy" {
		policy = "secretshift-eso"
	}
	return []string{
		fmt.Sprintf("vault policy write %s %s", shellQuote(policy), shellQuote(strings.TrimPrefix(policyFile, "vault/"))),
		fmt.Sprintf("vault write auth/%s/role/%s bound_service_account_names=%s bound_service_account_namespaces=%s audience=%s token_policies=%s token_ttl=15m",
			in.Auth.KubernetesMount, role, shellQuote(in.Auth.ServiceAccount), shellQuote(saNamespace), shellQuote(in.Auth.Audience), shellQuote(policy)),
	}
}

// shellQuote quotes s for POSIX sh when it holds anything but safe characters.
func shellQuote(s string) string {
	for _, r := range s {
		if !(r == '-' || r == '_' || r == '.' || r == '/' || r == '=' || r == ',' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}

func (in *Input) store(ns string, namespaces []string) SecretStore {
	kind := KindSecretStore
	if ns == "" {
		kind = KindClusterSecretStore
	}
	v := &VaultProvider{Server: in.Store.Server, Path: in.Store.Path, Version: in.Store.Version, Namespace: in.Store.Namespace}
	switch in.Auth.Method {
	case AuthKubernetes:
		sa := &ServiceAccountRef{Name: in.Auth.ServiceAccount, Audiences: []string{in.Auth.Audience}}
		if ns == "" {
			sa.Namespace = in.Auth.ServiceAccountNamespace
		}
		role := roleName(ns)
		v.Auth.Kubernetes = &VaultKubernetesAuth{MountPath: in.Auth.KubernetesMount, Role: role, ServiceAccountRef: sa}
	case AuthToken:
		ref := in.Auth.TokenSecret
		if ns != "" {
			ref.Namespace = ""
		}
		v.Auth.TokenSecretRef = &ref
	}
	s := SecretStore{
		TypeMeta: TypeMeta{APIVersion: ESOAPIVersion, Kind: kind},
		Metadata: ObjectMeta{Name: in.StoreName, Namespace: ns, Labels: managedLabels()},
		Spec:     SecretStoreSpec{Provider: StoreProvider{Vault: v}},
	}
	if len(namespaces) > 0 {
		s.Spec.Conditions = []StoreCondition{{Namespaces: namespaces}}
	}
	return s
}

func (in *Input) serviceAccount(ns string) ServiceAccount {
	return ServiceAccount{
		TypeMeta: TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		Metadata: ObjectMeta{Name: in.Auth.ServiceAccount, Namespace: ns, Labels: managedLabels()},
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

func policyPaths(items []Item) []string {
	var out []string
	for _, it := range items {
		for _, r := range it.Refs {
			out = append(out, r.Paths...)
		}
	}
	return out
}

// policyHCL grants read on exactly the given paths and nothing else. Paths were validated by the
// provider (no quotes, globs or control characters); they are quoted anyway.
func policyHCL(paths []string) []byte {
	sort.Strings(paths)
	var b strings.Builder
	b.WriteString("# Read access to exactly the Secrets migrated by secretshift; nothing else.\n")
	prev := ""
	for _, p := range paths {
		if p == prev {
			continue
		}
		prev = p
		fmt.Fprintf(&b, "path %s {\n  capabilities = [\"read\"]\n}\n", strconv.Quote(p))
	}
	return []byte(b.String())
}
