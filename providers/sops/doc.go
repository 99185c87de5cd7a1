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
// # Who can decrypt
//
// A run encrypts every file to one set of recipients, decided at Open. Recipients given by
// flags (or $SOPS_AGE_RECIPIENTS) come first; without them, those of the creation rule of
// <out>/.sops.yaml that sops itself picks for the files (sops' config package resolves it, for
// the path <namespace>/<name>.yaml relative to the folder of .sops.yaml, so a second run without
// flags keeps the recipients of the first); without a rule, the age key in --sops-age-key-file,
// generated (like age-keygen) on the first write when it does not exist. That is the only case a
// key is generated in, and Notes says so. A rule naming recipients secretshift cannot encrypt to
// (AWS or GCP KMS, several key groups) is an error.
//
// Changing who can decrypt existing files is never a side effect. Recipients given that differ
// from those of secretshift's rule are refused at Open unless --sops-update-keys is given; then
// the rule is updated, Read reports each file encrypted to other recipients with
// Stored.Rewrite, and Write of the same values re-wraps its data key for the new recipients,
// keeping the values and the MAC, as `sops updatekeys` does. Without the flag, a file encrypted
// to other recipients than the run's keeps them, also when its values change (they are
// encrypted under its own data key, as `sops edit` does), and Notes counts such files. Rules
// secretshift did not write are never edited: recipients that differ from such a rule are
// refused with or without the flag.
//
// A saved plan records the recipients, the hash of .sops.yaml and --sops-update-keys
// (providers.Pinned); applying it encrypts to exactly those, and refuses when .sops.yaml changed
// the recipients since (see UsePin).
//
// # Reading back
//
// Reading back needs an identity: the age key file given with --sops-age-key-file, then sops' own
// lookup (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, <user config dir>/sops/age/keys.txt, SSH keys, key
// commands; GnuPG, Vault and Azure credentials for those recipients). With an identity, Read
// decrypts, verifies the MAC and returns the values. Without one, Read returns the metadata and
// the fingerprint recorded at write time only, and the file is compared by that fingerprint. A
// file edited after encryption, or not SOPS at all, is returned with Stored.Problem and its
// version only: it is replaced only by a Write that names that version (--overwrite).
//
// # The folder
//
// Open checks that the folder (or the folder it is to be created in) is a folder this process
// can write, so that a read-only or misnamed folder is one error before any Secret. The first
// write of a run locks the folder (<out>/.secretshift.lock, kept after the run; Close releases
// it, as does the end of the process) and removes the temporary files a killed run left
// (.<name>.yaml.tmp-<digits>). Files are written atomically (a temporary file in the same folder,
// then rename), mode 0600, in folders created 0700: the files hold only ciphertext, but their
// readable metadata still maps which Secrets exist, so they are kept as private as the rest of a
// working copy until Git publishes them (Git records neither mode).
package sops
