package kube

import (
	"fmt"
	"slices"
	"strings"
)

// The SealedSecret kind of bitnami-labs/sealed-secrets.
const (
	kindSealedSecret   = "SealedSecret"
	sealedSecretsGroup = "bitnami.com"
)

// sopsValuePrefix starts every value sops encrypted: ENC[AES256_GCM,data:...,type:str].
const sopsValuePrefix = "ENC["

// hasSOPSMetadata reports whether obj is a SOPS-encrypted document: sops adds a top-level
// "sops" mapping holding the MAC and the time of the last change.
func hasSOPSMetadata(obj map[string]any) bool {
	meta, ok := obj["sops"].(map[string]any)
	if !ok {
		return false
	}
	_, mac := meta["mac"]
	_, lastModified := meta["lastmodified"]
	return mac || lastModified
}

// decodeSOPSSecret decodes a SOPS-encrypted Secret manifest as far as it is readable: metadata
// and type (left in clear text by encrypted_regex ^(data|stringData)$, as secretshift and Flux
// users write them) and key names. The values are ciphertext and are not read.
func decodeSOPSSecret(obj map[string]any) (*Secret, []fieldError) {
	s := &Secret{}
	errs := decodeSecretHead(s, obj)
	// Without encrypted_regex sops encrypts metadata too: a name that is ciphertext names no
	// Secret, and is not repeated in messages.
	for _, f := range []struct {
		name  string
		value *string
	}{{"metadata.name", &s.Name}, {"metadata.namespace", &s.Namespace}, {"type", &s.Type}} {
		if strings.HasPrefix(*f.value, sopsValuePrefix) {
			*f.value = ""
			errs = append(errs, fieldError{msg: f.name + ": encrypted by SOPS; encrypt only data and stringData (encrypted_regex: ^(data|stringData)$) so that the Secret can be named"})
		}
	}
	keys, bad := keyNames(namedValue{"data", obj["data"]}, namedValue{"stringData", obj["stringData"]})
	s.Encrypted = &Encrypted{By: EncryptedBySOPS, Keys: keys}
	return s, append(errs, bad...)
}

// decodeSealedSecret decodes a SealedSecret: its own metadata (name, namespace, and the labels
// a selector matches, as for any object in a file), the type of the Secret it produces, and
// the key names of its encryptedData and template data.
func decodeSealedSecret(obj map[string]any) (*Secret, []fieldError) {
	s := &Secret{}
	errs := decodeSecretMeta(s, obj["metadata"])
	var spec struct {
		EncryptedData any `json:"encryptedData"`
		Template      struct {
			Type string `json:"type"`
			Data any    `json:"data"`
		} `json:"template"`
	}
	if raw := obj["spec"]; raw != nil {
		if err := decodeInto(raw, &spec); err != nil {
			errs = append(errs, fieldError{msg: "spec: " + safeJSONError(err)})
		}
	}
	s.Type = spec.Template.Type
	keys, bad := keyNames(namedValue{"spec.encryptedData", spec.EncryptedData}, namedValue{"spec.template.data", spec.Template.Data})
	s.Encrypted = &Encrypted{By: EncryptedBySealedSecrets, Keys: keys}
	return s, append(errs, bad...)
}

// namedValue is a named value of a manifest.
type namedValue struct {
	name  string
	value any
}

// keyNames returns the keys of the given maps, sorted and without repeats; never nil, since
// the names are known even when there are none.
func keyNames(maps ...namedValue) ([]string, []fieldError) {
	keys := []string{}
	var errs []fieldError
	for _, f := range maps {
		if f.value == nil {
			continue
		}
		m, ok := f.value.(map[string]any)
		if !ok {
			errs = append(errs, fieldError{msg: fmt.Sprintf("%s: must be a map of keys to values, got %s", f.name, kindOf(f.value))})
			continue
		}
		for k := range m {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys), errs
}

// manifestKind is the kind of the object s was read from, for messages.
func (s *Secret) manifestKind() string {
	if s.Encrypted != nil && s.Encrypted.By == EncryptedBySealedSecrets {
		return kindSealedSecret
	}
	return "Secret"
}
