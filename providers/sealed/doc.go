// Package sealed writes Bitnami SealedSecret manifests, sealed with the public certificate of
// the sealed-secrets controller that runs in the cluster, with the library of
// github.com/bitnami/sealed-secrets itself (its SealedSecret type and its hybrid RSA-OAEP +
// AES-GCM sealing, labelled by scope). Nothing of the format is re-implemented here.
//
// # Certificate
//
// In kubeseal's order: --sealed-cert FILE|URL (also $SEALED_SECRETS_CERT), else fetched from
// the controller through the API server's service proxy (--sealed-controller-name, default
// sealed-secrets-controller, in --sealed-controller-namespace, default kube-system). A
// certificate that is not RSA, not valid yet or expired is refused when the provider opens,
// before anything is written. Plans show its SHA-256 fingerprint and expiry, and pin its public
// key: apply refuses a plan made for another key.
//
// # Layout
//
// One file per Secret, <out>/<namespace>/<name>.yaml, and <out>/kustomization.yaml listing
// every SealedSecret of the folder (brought up to date at the end of every run). With --sealed-out
// - the SealedSecrets go to standard output as one multi-document stream instead, and the report
// to standard error.
//
// The SealedSecret's spec.template carries the Secret's type, immutability, labels and
// annotations, without kubectl's last-applied copy (which holds the values in plain text) and
// with secretshift's provenance (providers.ManifestAnnotations: managed-by, the keyed
// fingerprint and its key id, the source UID), so that the Secret the controller makes says
// where it came from. The SealedSecret's own annotations hold the scope (the controller's
// sealedsecrets.bitnami.com/namespace-wide or cluster-wide) and the fingerprint of the public
// key it was sealed for (AnnotationSealedFor).
//
// # Re-runs
//
// Sealing is randomised, so a file is never compared by its bytes: a managed file whose
// recorded fingerprint equals the Secret's, sealed for the current key and scope, is unchanged
// and not rewritten. A rotated controller key or another scope re-seals; a changed Secret
// re-seals; a file secretshift did not write is a conflict unless --overwrite.
//
// # Verify
//
// Without the controller's private key a SealedSecret cannot be opened, so what is checked is
// its structure, scope, the key it was sealed for and the recorded fingerprint. With
// --sealed-private-key (PEM keys, or the key Secrets as `kubectl get secret -l
// sealedsecrets.bitnami.com/sealed-secrets-key -o yaml` saves them, as kubeseal
// --recovery-unseal reads them), every value is decrypted and compared byte for byte.
package sealed
