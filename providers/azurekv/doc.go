// Package azurekv stores Secrets in Azure Key Vault through the azsecrets SDK, authenticated by
// azidentity's DefaultAzureCredential (environment, workload identity, managed identity, the
// Azure CLI), as every Azure tool is.
//
// # Layouts
//
// In the per-key layout (the default) every key of a Kubernetes Secret becomes one Key Vault
// secret; in the json layout a Secret becomes one Key Vault secret holding a JSON object of
// its keys, which ESO reads back key by key with remoteRef.property. A target's address is the
// Key Vault name for the json layout, and for the per-key layout the name with "{key}" where
// each key goes (shop--db--{key}).
//
// # Names
//
// Names come from the --azure-name template over .Namespace, .Name and .Key. Key Vault allows
// only [0-9a-zA-Z-] (1–127 characters) and compares names case-insensitively, so the rendered
// name is lowercased and every other character ('.', '_', ...) becomes '-'. Two sources mapped
// to one name anywhere in a plan are refused together with the pair named; the original
// namespace, name and key are kept in the secretshift-source tag.
//
// # Tags
//
// Every secret secretshift writes carries tags (Key Vault allows 15): managed-by=secretshift,
// secretshift-source (namespace/name[/key]), secretshift-target (the address), the keyed
// fingerprint and its key id, the run id, source-uid, source-cluster, source-type, the
// generation and the number of secrets in it (secretshift-generation, secretshift-keys), for
// the json layout the keys stored base64 (secretshift-base64-keys), and each
// Payload.Provenance entry as secretshift-<key>. Values that are not valid UTF-8 are stored
// base64 with content type "application/octet-stream; encoding=base64" (ESO decodes them with
// decodingStrategy: Base64); text is stored as it is with "text/plain; charset=utf-8".
//
// # Generations
//
// Key Vault has no check-and-set, and a per-key target is several secrets. Each write of a
// target is one generation: a number, one higher than the last, tagged on every secret it
// writes. A target's version is its latest generation; Write refuses (ErrConflict) when that
// is not the version the caller read, which is checked just before the first write (a narrow
// window, where Vault's check-and-set has none). A generation that holds fewer secrets than it
// should was interrupted: the next write of the same content finishes it without writing again
// what is already there, so a run killed half-way and run again adds no duplicate versions.
//
// # Soft delete, throttling
//
// A name held by soft delete cannot be written: it is a conflict with the exact hint, unless
// --azure-recover, which recovers it (waiting until the recovery is visible) and writes a new
// version over it. secretshift never purges. Writes pass a client-side limiter that never lets
// more than --azure-write-rate writes (300 per 10 s, the vault's limit) start in any window;
// 429 and 503 answers are retried a bounded number of times after their Retry-After, and a
// write that still fails says what was written before it.
package azurekv
