// Package sops stores Kubernetes Secrets as SOPS-encrypted Secret manifests in a folder laid out
// for Git, for Flux or Argo CD to decrypt in the cluster.
//
// Each Secret becomes <out>/<namespace>/<name>.yaml: a v1 Secret manifest whose data values
// (base64, so binary values stay byte-exact) are encrypted with sops' AES256-GCM under
// encrypted_regex ^(data|stringData)$, while apiVersion, kind, metadata and type stay readable
// for review. The sops MAC covers every value, encrypted or not, so the provenance annotations
// secretshift adds (a keyed fingerprint of the values, the source UID) cannot be changed without
// the change being detected. <out>/.sops.yaml gets a creation rule for these files so that a
// later `sops edit` by a person encrypts to the same recipients; other rules are kept.
//
// Encryption uses github.com/getsops/sops/v3 as a library, not the sops binary. Recipients:
// age (--age-recipient, $SOPS_AGE_RECIPIENTS), PGP (--sops-pgp), HashiCorp Vault Transit
// (--sops-vault-transit) and Azure Key Vault keys (--sops-azure-kv). The tests cover age, checking
// the files with the real sops binary both ways, and PGP through the local GnuPG keyring (as
// sops uses it) when gpg is installed. Vault Transit and Azure Key Vault go through the sops key
// sources unchanged but are not exercised by tests: no Vault transit engine and no Azure Key
// Vault keys endpoint is available to them.
//
// Reading back needs an identity: the age key file given with --sops-age-key-file, then sops' own
// lookup (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, <user config dir>/sops/age/keys.txt, SSH keys, key
// commands; GnuPG, Vault and Azure credentials for those recipients). With an identity, Read
// decrypts, verifies the MAC and returns the values; a file edited after encryption is reported
// as a conflict and never overwritten. Without one, Read returns the metadata and the fingerprint
// recorded at write time only.
//
// When no recipient is given at all, the age key in --sops-age-key-file is used, and generated
// (like age-keygen) on the first write when it does not exist yet; Notes tells what happened.
//
// Files are written atomically (a temporary file in the same folder, then rename), mode 0600, in
// folders created 0700: the files hold only ciphertext, but their readable metadata still maps
// which Secrets exist, so they are kept as private as the rest of a working copy until Git
// publishes them (Git records neither mode).
package sops
