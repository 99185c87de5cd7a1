// Package templates assembles the Kubernetes objects that let workloads keep their Secret names
// after a migration: External Secrets Operator ExternalSecrets, a SecretStore per namespace or
// one ClusterSecretStore, the ServiceAccounts they authenticate as, and a kustomization. What
// is particular to a store — a SecretStore's spec.provider block, who ESO authenticates as, the
// store's access material (policies, role setup) — comes from its adapter through
// providers.ExternalReader; this package names no store.
//
// Kubernetes objects are typed Go values marshalled to YAML, never string templates. The ESO
// types below mirror the fields of external-secrets.io/v1 that secretshift sets; the field
// names and enums follow ESO's CRDs.
package templates

// ObjectMeta is the subset of metadata generated objects carry (no creationTimestamp noise).
type ObjectMeta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// TypeMeta is apiVersion and kind.
type TypeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// ESOAPIVersion is the ExternalSecret / SecretStore API version generated (served by ESO ≥ 0.16).
const ESOAPIVersion = "external-secrets.io/v1"

// ExternalSecret is external-secrets.io/v1 ExternalSecret.
type ExternalSecret struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta         `json:"metadata"`
	Spec     ExternalSecretSpec `json:"spec"`
}

// ExternalSecretSpec is the spec of an ExternalSecret.
type ExternalSecretSpec struct {
	RefreshInterval string               `json:"refreshInterval,omitempty"`
	SecretStoreRef  SecretStoreRef       `json:"secretStoreRef"`
	Target          ExternalSecretTarget `json:"target"`
	Data            []ExternalSecretData `json:"data,omitempty"`
}

// SecretStoreRef points at a SecretStore or ClusterSecretStore.
type SecretStoreRef struct {
	Name string `json:"name"`
	Kind string `json:"kind,omitempty"`
}

// ExternalSecretTarget describes the Secret ESO creates.
type ExternalSecretTarget struct {
	Name           string    `json:"name,omitempty"`
	CreationPolicy string    `json:"creationPolicy,omitempty"`
	DeletionPolicy string    `json:"deletionPolicy,omitempty"`
	Immutable      bool      `json:"immutable,omitempty"`
	Template       *Template `json:"template,omitempty"`
}

// Template sets the created Secret's type and metadata. Without `data`, ESO keeps every fetched
// key as it is.
type Template struct {
	Type          string            `json:"type,omitempty"`
	EngineVersion string            `json:"engineVersion,omitempty"`
	Metadata      *TemplateMetadata `json:"metadata,omitempty"`
}

// TemplateMetadata is the created Secret's labels and annotations.
type TemplateMetadata struct {
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// ExternalSecretData maps one remote value to one Secret key.
type ExternalSecretData struct {
	SecretKey string    `json:"secretKey"`
	RemoteRef RemoteRef `json:"remoteRef"`
}

// RemoteRef addresses a remote value.
type RemoteRef struct {
	Key                string `json:"key"`
	Property           string `json:"property,omitempty"`
	ConversionStrategy string `json:"conversionStrategy,omitempty"`
	DecodingStrategy   string `json:"decodingStrategy,omitempty"`
	MetadataPolicy     string `json:"metadataPolicy,omitempty"`
}

// SecretStore is external-secrets.io/v1 SecretStore or ClusterSecretStore (Kind says which).
type SecretStore struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta      `json:"metadata"`
	Spec     SecretStoreSpec `json:"spec"`
}

// SecretStoreSpec holds exactly one provider: the block the store's adapter returns
// (providers.StoreSet), ESO's provider name → its settings.
type SecretStoreSpec struct {
	Provider   map[string]any   `json:"provider"`
	Conditions []StoreCondition `json:"conditions,omitempty"`
}

// StoreCondition limits which namespaces may use a ClusterSecretStore.
type StoreCondition struct {
	Namespaces []string `json:"namespaces,omitempty"`
}

// ServiceAccount is a core/v1 ServiceAccount.
type ServiceAccount struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta `json:"metadata"`
}

// Kustomization is kustomize.config.k8s.io/v1beta1 Kustomization.
type Kustomization struct {
	TypeMeta  `json:",inline"`
	Resources []string `json:"resources"`
}
