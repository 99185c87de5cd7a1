// Package kube reads Kubernetes Secrets from a live cluster or from manifest files, classifies
// which of them should move to an external store, and finds the workloads that consume them.
//
// Secret values never leave this package's types in printable form: Data formats as key names
// only and refuses JSON marshalling, so a stray %v or json.Marshal cannot leak a value.
package kube

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

// Secret is one Kubernetes Secret as secretshift sees it: identity, metadata and values.
type Secret struct {
	Namespace   string            `json:"namespace"`
	Name        string            `json:"name"`
	UID         string            `json:"uid,omitempty"`
	Type        string            `json:"type"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Owners      []Owner           `json:"owners,omitempty"`
	Immutable   bool              `json:"immutable,omitempty"`
	// ResourceVersion is the API server's version of the object (empty for manifests).
	ResourceVersion string    `json:"resourceVersion,omitempty"`
	Created         time.Time `json:"created,omitempty"`
	// Data holds the decoded values, with stringData already merged over data.
	Data Data `json:"-"`
	// Encrypted is set when a manifest holds the values as ciphertext (SOPS, or a
	// SealedSecret); Data is nil then, and the Secret is never migrated.
	Encrypted *Encrypted `json:"encrypted,omitempty"`
	// Origin says where the Secret was read from, for messages.
	Origin Origin `json:"origin"`

	// measured is the keyed fingerprint of the values of a Secret read without them.
	measured string
}

// MeasuredFingerprint is the keyed fingerprint (Options.Fingerprinter's Set) of the values a
// Secret had when it was read, once they were let go (Options.Inspect); "" otherwise.
func (s *Secret) MeasuredFingerprint() string { return s.measured }

// Encrypted describes a Secret whose manifest holds its values as ciphertext.
type Encrypted struct {
	// By is EncryptedBySOPS or EncryptedBySealedSecrets.
	By string `json:"by"`
	// Keys are the key names, sorted: both tools leave them readable.
	Keys []string `json:"keys"`
}

// Values of Encrypted.By.
const (
	// EncryptedBySOPS: a Secret manifest encrypted with SOPS (it carries a top-level sops
	// mapping); it takes a SOPS key to decrypt.
	EncryptedBySOPS = "sops"
	// EncryptedBySealedSecrets: a SealedSecret (bitnami.com), which only the sealed-secrets
	// controller in its cluster can unseal.
	EncryptedBySealedSecrets = "sealed-secrets"
)

// Owner is one ownerReference of a Secret.
type Owner struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Controller bool   `json:"controller,omitempty"`
}

// Origin is where a Secret came from: a cluster (Cluster set) or a file (File and Index set).
type Origin struct {
	Cluster string `json:"cluster,omitempty"`
	File    string `json:"file,omitempty"`
	// Index is the 0-based position of the document in File (after List items are expanded).
	Index int `json:"index,omitempty"`
}

func (o Origin) String() string {
	if o.File != "" {
		return fmt.Sprintf("%s#%d", o.File, o.Index)
	}
	if o.Cluster != "" {
		return o.Cluster
	}
	return "unknown origin"
}

// Ref is namespace/name.
func (s *Secret) Ref() string { return s.Namespace + "/" + s.Name }

// KeyNames returns the key names, sorted: those of Data, or for an encrypted Secret those its
// manifest shows.
func (s *Secret) KeyNames() []string {
	if s.Encrypted != nil {
		return s.Encrypted.Keys
	}
	return s.Data.Keys()
}

// EffectiveType is the Secret type with the API server's default applied.
func (s *Secret) EffectiveType() string {
	if s.Type == "" {
		return "Opaque"
	}
	return s.Type
}

// Data maps a Secret's keys to their raw bytes. It prints only its key names.
type Data map[string][]byte

// Keys returns the key names, sorted.
func (d Data) Keys() []string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Size is the total number of value bytes, as the API server counts it against its 1 MiB limit.
func (d Data) Size() int {
	n := 0
	for _, v := range d {
		n += len(v)
	}
	return n
}

// Format prints key names and sizes only, never values, whatever the verb.
func (d Data) Format(f fmt.State, _ rune) {
	fmt.Fprint(f, "Data{")
	for i, k := range d.Keys() {
		if i > 0 {
			fmt.Fprint(f, " ")
		}
		fmt.Fprintf(f, "%s:%dB", k, len(d[k]))
	}
	fmt.Fprint(f, "}")
}

// ErrValueMarshal is returned when something tries to JSON-encode Secret values.
var ErrValueMarshal = errors.New("secret values are not serialisable")

// MarshalJSON refuses: values must be handed to a provider explicitly, never serialised by accident.
func (d Data) MarshalJSON() ([]byte, error) { return nil, ErrValueMarshal }

// MarshalText refuses for the same reason as MarshalJSON.
func (d Data) MarshalText() ([]byte, error) { return nil, ErrValueMarshal }
