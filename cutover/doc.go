// Package cutover hands Secrets that were migrated into a store to the External Secrets
// Operator (or the sealed-secrets controller) in place: the Secret never disappears and its bytes never change, so no pod that
// starts during the cut-over finds it missing.
//
// For each selected Secret, Run
//
//  1. reads the store's copy now and compares it with the live Secret by keyed fingerprint
//     (type, key set, every byte); a copy that differs, a Secret owned by another controller,
//     or one the store does not hold is refused and left untouched;
//  2. checks, for the whole selection and before the first change, that ESO's CRDs are served,
//     its controller Deployment is Available, the store answers, and that our credentials may
//     patch Secrets and create ExternalSecrets and SecretStores (SelfSubjectAccessReview);
//     every failure is listed at once and nothing is changed;
//  3. applies the SecretStore and an ExternalSecret with creationPolicy Owner (server-side
//     apply, field manager "secretshift"). ESO v0.16 adopts an existing Secret that no
//     controller owns in place under that policy: same UID, the managed label first, then an
//     ownerReference to the ExternalSecret with controller: true;
//  4. waits (bounded) until the ExternalSecret is Ready and owns the Secret, compares the live
//     Secret with the source fingerprint again, and records provenance annotations on it
//     (AnnotationCutover, the source fingerprint and its key id, the store address, the run).
//
// Every step is an audit record: the intent before the change, the outcome after. A cut-over
// keeps no state of its own that matters: each run reads where every Secret stands (owned or
// not, annotated or not) and goes on from there, so the same command run again after a crash
// finishes the job; the journal records what each run did.
//
// Once ESO owns a Secret, deleting its ExternalSecret deletes the Secret (the garbage
// collector follows the ownerReference; deletionPolicy Retain is about the provider's data,
// not about that). Rollback therefore deletes the ExternalSecret with propagationPolicy
// Orphan, waits until it is gone and the ownerReference released, and then removes ESO's
// labels and the provenance annotations: the Secret stays, a plain one again.
//
// Stores whose copies are SealedSecrets (providers.ClusterObjecter) are handed to the
// sealed-secrets controller the same way: the Secret is first annotated
// sealedsecrets.bitnami.com/managed: "true" (without it the controller leaves an existing Secret
// alone), then its SealedSecret is applied and must become Synced and own the Secret.
//
// Nothing here deletes a Secret. Values exist only in memory: reports, errors and audit
// records carry names, key names and keyed fingerprints.
package cutover

import "github.com/secretshift/secretshift/providers"

// Annotations a cut-over records on each Secret it hands over. They hold no value: the
// fingerprint is keyed.
const (
	// AnnotationCutover marks a Secret secretshift handed to a controller; the value names it.
	AnnotationCutover = providers.AnnotationCutover
	// AnnotationFingerprint is the keyed fingerprint of the source Secret's type and data.
	AnnotationFingerprint = providers.AnnotationFingerprint
	// AnnotationFingerprintKey names the key of AnnotationFingerprint.
	AnnotationFingerprintKey = providers.AnnotationFingerprintKey
	// AnnotationStore is the store address the controller reads, e.g. vault:secret/shop/db.
	AnnotationStore = providers.AnnotationCutoverStore
	// AnnotationRunID is the secretshift run that handed the Secret over.
	AnnotationRunID = "secretshift.io/cutover-run"
	// ControllerESO is the value of AnnotationCutover for the External Secrets Operator.
	ControllerESO = "external-secrets"
)

// provenanceAnnotations are every annotation a cut-over writes; rollback removes them.
var provenanceAnnotations = []string{AnnotationCutover, AnnotationFingerprint, AnnotationFingerprintKey, AnnotationStore, AnnotationRunID}
