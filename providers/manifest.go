package providers

import "strings"

// Annotations secretshift adds to the Secret manifests it writes into manifest stores (SOPS
// files, the template of a SealedSecret). They hold no value: the fingerprint is keyed, and
// reveals nothing without the key.
const (
	// AnnotationManagedBy marks a manifest secretshift wrote; its value is ManagedByValue.
	AnnotationManagedBy = "secretshift.io/managed-by"
	// AnnotationFingerprint holds the keyed fingerprint (HMAC-SHA256) of the Secret's type and
	// values, so that a later run can tell an unchanged Secret without decrypting.
	AnnotationFingerprint = "secretshift.io/fingerprint"
	// AnnotationSourceUID holds the UID of the source Secret in its cluster.
	AnnotationSourceUID = "secretshift.io/source-uid"
	// AnnotationFingerprintKey names the HMAC key of AnnotationFingerprint (its key id).
	AnnotationFingerprintKey = "secretshift.io/fingerprint-key"
	// AnnotationJob names the secretshift job that wrote a manifest when it is not a
	// migration: JobRotate.
	AnnotationJob = "secretshift.io/job"
	// ProvenanceJob is the Payload.Provenance key naming the job that writes, and JobRotate
	// its value for a rotation.
	ProvenanceJob = "job"
	JobRotate     = "rotate"
	// AnnotationCutover marks a live Secret that `secretshift cutover` handed to a controller
	// (ESO); the value names the controller. verify compares such Secrets with the store.
	AnnotationCutover = "secretshift.io/cutover"
	// AnnotationCutoverStore is the store address a cut-over Secret's controller reads (the
	// target's String, e.g. vault:secret/shop/db).
	AnnotationCutoverStore = "secretshift.io/store"
	// ManagedByValue is the value of AnnotationManagedBy.
	ManagedByValue = "secretshift"
	// AnnotationPrefix starts every annotation secretshift writes.
	AnnotationPrefix = "secretshift.io/"
	// LastAppliedAnnotation is where kubectl apply keeps the whole applied object, values
	// included, in plain text. Manifest stores never copy it.
	LastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"
)

// ManifestAnnotations returns the annotations a manifest store writes for p: p's own, without
// kubectl's last-applied copy and without any earlier secretshift.io/ annotation, plus this
// write's provenance (managed-by, fingerprint, its key id, the source UID). The run id is left
// out: it would change the manifest on every run.
func ManifestAnnotations(p Payload) map[string]string {
	ann := make(map[string]string, len(p.Annotations)+4)
	for k, v := range p.Annotations {
		if k == LastAppliedAnnotation || strings.HasPrefix(k, AnnotationPrefix) {
			continue
		}
		ann[k] = v
	}
	ann[AnnotationManagedBy] = ManagedByValue
	if p.Fingerprint != "" {
		ann[AnnotationFingerprint] = p.Fingerprint
	}
	if p.FingerprintKeyID != "" {
		ann[AnnotationFingerprintKey] = p.FingerprintKeyID
	}
	if p.Ref.UID != "" {
		ann[AnnotationSourceUID] = p.Ref.UID
	}
	if p.Provenance[ProvenanceJob] == JobRotate {
		ann[AnnotationJob] = JobRotate
	}
	return ann
}
