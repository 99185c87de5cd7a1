package kube

import (
	"fmt"
	"slices"
	"strings"
)

// Action says what a migration does with a Secret.
type Action string

const (
	// ActionMigrate: the Secret is plain application data nothing else manages; it should move.
	ActionMigrate Action = "migrate"
	// ActionSkip: the Secret must stay where it is; Decision.Reason says why.
	ActionSkip Action = "skip"
)

// Reason is the machine-readable cause of a skip. The names are part of the command line
// (--include) and of the -o json schema: they are stable and never renamed.
type Reason string

// Skip reasons, in the order Classify checks them: the first that applies is reported.
const (
	// ReasonServiceAccountToken: type kubernetes.io/service-account-token. The cluster issues it
	// for one ServiceAccount UID; a copy elsewhere is meaningless, and TokenRequest replaces it.
	ReasonServiceAccountToken Reason = "service-account-token"
	// ReasonBootstrapToken: type bootstrap.kubernetes.io/token, a node-join credential.
	ReasonBootstrapToken Reason = "bootstrap-token"
	// ReasonHelmRelease: type helm.sh/release.v1, or label owner=helm on a sh.helm.release.*
	// Secret. Helm's own release record, recreated by Helm on every upgrade.
	ReasonHelmRelease Reason = "helm-release"
	// ReasonSealedSecret: owned by a SealedSecret; the sealed manifest is the source of truth.
	ReasonSealedSecret Reason = "sealed-secret"
	// ReasonExternalSecrets: written by the External Secrets Operator (label
	// reconcile.external-secrets.io/managed or an ExternalSecret owner); already external.
	ReasonExternalSecrets Reason = "external-secrets"
	// ReasonCertManager: issued by cert-manager (a cert-manager.io/* annotation); it renews it.
	ReasonCertManager Reason = "cert-manager"
	// ReasonOwned: has ownerReferences; its owner's controller recreates or deletes it.
	ReasonOwned Reason = "owned"
	// ReasonSystemNamespace: lives in a control-plane namespace (kube-system, kube-public,
	// kube-node-lease).
	ReasonSystemNamespace Reason = "system-namespace"
	// ReasonEmpty: has no keys; there is nothing to move (kubeseal refuses such Secrets too).
	ReasonEmpty Reason = "empty"
)

// ControllerOwned reports whether r says a controller owns the Secret (ESO, the sealed-secrets
// controller or another owner): what a cut-over hands Secrets to, or must leave alone.
func (r Reason) ControllerOwned() bool {
	return r == ReasonExternalSecrets || r == ReasonSealedSecret || r == ReasonOwned
}

// Skip reasons of manifests whose values are ciphertext (Secret.Encrypted). They are checked
// before all others and cannot be included: there is no plain Secret to migrate.
const (
	// ReasonSOPSEncrypted: a Secret manifest already encrypted with SOPS.
	ReasonSOPSEncrypted Reason = "sops-encrypted"
	// ReasonSealedManifest: a SealedSecret manifest, which only the sealed-secrets controller
	// of its cluster can unseal. (ReasonSealedSecret is the Secret that controller produces.)
	ReasonSealedManifest Reason = "sealed-manifest"
)

// Reasons returns every skip reason ClassifyOptions.Include may name, in the order Classify
// checks them. EncryptedReasons are reported too, but never included.
func Reasons() []Reason {
	return []Reason{
		ReasonServiceAccountToken, ReasonBootstrapToken, ReasonHelmRelease, ReasonSealedSecret,
		ReasonExternalSecrets, ReasonCertManager, ReasonOwned, ReasonSystemNamespace, ReasonEmpty,
	}
}

// EncryptedReasons returns the skip reasons of encrypted manifests, which no option includes.
func EncryptedReasons() []Reason {
	return []Reason{ReasonSOPSEncrypted, ReasonSealedManifest}
}

// ParseReason returns the Reason named s, one of Reasons(). "system-namespaces" is accepted
// for ReasonSystemNamespace because that is how people say it on the command line.
func ParseReason(s string) (Reason, error) {
	s = strings.TrimSpace(s)
	if s == "system-namespaces" {
		return ReasonSystemNamespace, nil
	}
	if slices.Contains(EncryptedReasons(), Reason(s)) {
		return "", fmt.Errorf("skip reason %q cannot be included: the manifest holds ciphertext, not a plain Secret to migrate", s)
	}
	for _, r := range Reasons() {
		if string(r) == s {
			return r, nil
		}
	}
	names := make([]string, 0, len(Reasons()))
	for _, r := range Reasons() {
		names = append(names, string(r))
	}
	return "", fmt.Errorf("unknown skip reason %q: use one of %s", s, strings.Join(names, ", "))
}

// Decision is what Classify concluded about one Secret.
type Decision struct {
	Action Action `json:"action"`
	// Reason is empty for ActionMigrate.
	Reason Reason `json:"reason,omitempty"`
	// Message explains the decision in one sentence for people.
	Message string `json:"message"`
}

// DefaultSystemNamespaces are the control-plane namespaces skipped unless included.
var DefaultSystemNamespaces = []string{"kube-system", "kube-public", "kube-node-lease"}

// ClassifyOptions tune Classify.
type ClassifyOptions struct {
	// Include lists reasons that no longer cause a skip: the user wants those Secrets migrated.
	// A Secret is still skipped when a later reason applies to it.
	Include []Reason
	// SystemNamespaces replaces DefaultSystemNamespaces when not nil.
	SystemNamespaces []string
}

// Labels, annotations, types and owner kinds Classify recognises.
const (
	TypeServiceAccountToken = "kubernetes.io/service-account-token"
	TypeBootstrapToken      = "bootstrap.kubernetes.io/token"
	TypeHelmRelease         = "helm.sh/release.v1"

	labelESOManaged        = "reconcile.external-secrets.io/managed"
	certManagerAnnotPrefix = "cert-manager.io/"
	helmReleasePrefix      = "sh.helm.release."
)

// Classify decides whether s should be migrated. It reads metadata, type and the number of
// keys only, never a value. A Secret whose manifest holds ciphertext (Encrypted) is skipped
// for one of EncryptedReasons whatever opts include.
func Classify(s *Secret, opts ClassifyOptions) Decision {
	if s.Encrypted != nil {
		return encryptedDecision(s.Encrypted)
	}
	for _, r := range Reasons() {
		if slices.Contains(opts.Include, r) {
			continue
		}
		if msg, ok := skipBecause(r, s, opts); ok {
			return Decision{Action: ActionSkip, Reason: r, Message: msg}
		}
	}
	return Decision{Action: ActionMigrate, Message: "plain Secret that no controller manages"}
}

// encryptedDecision skips a Secret whose manifest holds ciphertext, whatever is included.
func encryptedDecision(e *Encrypted) Decision {
	if e.By == EncryptedBySealedSecrets {
		return Decision{Action: ActionSkip, Reason: ReasonSealedManifest,
			Message: "SealedSecret: only the sealed-secrets controller in its cluster can unseal the values; migrate the Secret it produces from the cluster instead"}
	}
	return Decision{Action: ActionSkip, Reason: ReasonSOPSEncrypted,
		Message: "already encrypted with SOPS, so the manifest holds ciphertext; decrypt it (sops --decrypt) to migrate the Secret"}
}

// skipBecause reports whether reason r applies to s, with the sentence that explains it.
func skipBecause(r Reason, s *Secret, opts ClassifyOptions) (string, bool) {
	switch r {
	case ReasonServiceAccountToken:
		if s.Type == TypeServiceAccountToken {
			sa := s.Annotations["kubernetes.io/service-account.name"]
			if sa == "" {
				sa = "(unnamed)"
			}
			return fmt.Sprintf("service-account token for ServiceAccount %s, issued by the cluster; use the TokenRequest API instead of copying it", sa), true
		}
	case ReasonBootstrapToken:
		if s.Type == TypeBootstrapToken {
			return "bootstrap token used to join nodes; it belongs to the cluster", true
		}
	case ReasonHelmRelease:
		if s.Type == TypeHelmRelease || (s.Labels["owner"] == "helm" && strings.HasPrefix(s.Name, helmReleasePrefix)) {
			return "Helm release record; Helm rewrites it on every upgrade", true
		}
	case ReasonSealedSecret:
		if o, ok := s.ownerOfKind(kindSealedSecret); ok {
			return fmt.Sprintf("produced by SealedSecret %s; the sealed manifest is already its source of truth", o.Name), true
		}
	case ReasonExternalSecrets:
		if _, ok := s.Labels[labelESOManaged]; ok {
			return "managed by the External Secrets Operator; it is already synced from an external store", true
		}
		if o, ok := s.ownerOfKind("ExternalSecret"); ok {
			return fmt.Sprintf("produced by ExternalSecret %s; it is already synced from an external store", o.Name), true
		}
	case ReasonCertManager:
		for k := range s.Annotations {
			if strings.HasPrefix(k, certManagerAnnotPrefix) {
				return "issued by cert-manager, which renews it", true
			}
		}
	case ReasonOwned:
		if len(s.Owners) > 0 {
			o := s.Owners[0]
			for _, c := range s.Owners {
				if c.Controller {
					o = c
					break
				}
			}
			return fmt.Sprintf("owned by %s/%s, whose controller recreates or deletes it", o.Kind, o.Name), true
		}
	case ReasonSystemNamespace:
		system := opts.SystemNamespaces
		if system == nil {
			system = DefaultSystemNamespaces
		}
		if slices.Contains(system, s.Namespace) {
			return fmt.Sprintf("in control-plane namespace %s", s.Namespace), true
		}
	case ReasonEmpty:
		if len(s.Data) == 0 {
			return "has no keys, so there is nothing to migrate", true
		}
	}
	return "", false
}

func (s *Secret) ownerOfKind(kind string) (Owner, bool) {
	for _, o := range s.Owners {
		if o.Kind == kind {
			return o, true
		}
	}
	return Owner{}, false
}
