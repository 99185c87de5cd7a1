// Package akv is an in-memory HTTPS server that speaks the Azure Key Vault secrets data plane,
// for tests that drive the real SDK (github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets)
// and the real credentials of azidentity when Azure cannot be reached.
//
// It is a test double shaped by recordings, not Azure. Its specification is AKV-SHAPES.md and
// the traffic Microsoft's SDK test suites recorded against the live service (the corpus
// under shared/corpus/akv-recordings). TestReplayRecordings sends every recorded request to a
// fresh server and compares status, body shape, error codes and messages, and headers; the
// entries it does not reproduce are listed there with the reason.
//
// # What it serves
//
//   - HTTPS on a loopback address with a self-signed ECDSA P-256 certificate for 127.0.0.1, ::1
//     and localhost, made at New (CertPEM, CertPool, HTTPClient). HTTP/1.1 only.
//   - Challenge authentication: a request without a bearer token is answered 401 with
//     WWW-Authenticate `Bearer authorization="https://login.microsoftonline.com/{tenant}",
//     resource="https://vault.azure.net"` and the 2026 AKV10000 body, before its body is read.
//     Accepted tokens: the static one of Credential, and those the server's token endpoint
//     issued for the resource https://vault.azure.net (expiring after 3599 s). Any other token
//     is a 401 too.
//   - Secrets: set (PUT, a new 32-hex version each time, 200), get (latest with an empty
//     version or a trailing slash, or by version), update properties (PATCH; omitted fields
//     kept, tags replaced wholesale, no value returned), list secrets and list versions with
//     maxresults (1–25, default 25) and nextLink paging, delete (soft delete of the whole name),
//     get and list deleted, recover, purge (204 without Content-Type or Content-Length),
//     backup and restore (all versions, original version ids and timestamps).
//   - Names match ^[0-9a-zA-Z-]{1,127}$ and are case-insensitive: stored under the upper-cased
//     name, shown in the spelling first used, listed in upper-cased order. Versions list in
//     version-id order. Ids are https://{request Host}/secrets/{name}/{version}.
//   - $skiptoken values in the service's own format (a base64url JSON NextMarker naming the
//     next item's upper-cased name); tokens the service issued decode here too.
//   - Errors in the service's envelope, wording as recorded: 401 Unauthorized, 403 Forbidden /
//     SecretDisabled for reading a disabled version, 404 SecretNotFound (both wordings),
//     405 MethodNotAllowed for PUT /secrets/, 409 Conflict with innererror
//     ObjectIsDeletedButRecoverable (PUT of a soft-deleted name), ObjectIsBeingDeleted and
//     ObjectIsBeingRecovered (see Propagation), 409 Conflict for a restore into a used name,
//     400 "Malformed backup blob", 400 BadParameter for outContentType (this server holds no
//     PFX secrets), 429 Throttled.
//   - Limits: a value over MaxValueBytes (25 KB, counted in UTF-8 bytes), more than MaxTags
//     tags, an invalid name ("The request URI contains an invalid name: …", from an issue),
//     a missing api-version (any value is accepted) and maxresults outside 1–25 are 400
//     BadParameter. Only the invalid-name wording is on record; the others are ours and say
//     what failed without quoting the value.
//   - Headers of §0 on every vault answer: Cache-Control, Pragma, Expires,
//     Strict-Transport-Security, X-Content-Type-Options, x-ms-keyvault-region ("local"),
//     x-ms-keyvault-service-version, x-ms-keyvault-network-info, a fresh x-ms-request-id, and
//     x-ms-client-request-id echoed. Bodies are compact JSON in the recorded key order, with an
//     exact Content-Length, and (like the service) <, > and & unescaped.
//   - Throttling: Options.WriteLimit writes (PUT, PATCH, DELETE, POST that passed
//     authentication) per Options.Window over a sliding window; more get 429 Throttled with the
//     recorded message and Retry-After in whole seconds (at least 1) until the window frees.
//     The one real 429 on record had no Retry-After; ours lets the SDK's retry policy wait the
//     right time. Inject answers the next n requests with 429 or 503 (Retry-After optional).
//   - Propagation (Options.Propagation, SetPropagation): Azure applies deletes, recovers and
//     purges asynchronously. With n > 0, after a DELETE the next n requests for the deleted
//     view (GET /deletedsecrets/{name}) answer 404 and a PUT answers 409 ObjectIsBeingDeleted;
//     after a recover, requests for the secret (GET, PATCH, DELETE, backup) answer 404 and a
//     PUT 409 ObjectIsBeingRecovered; after a purge, restores of the name answer 409 Conflict. Each
//     such answer uses up one of the n. Lists, purge and recover are not delayed. With 0
//     (the default) every change is visible at once.
//   - Microsoft Entra ID, as much as MSAL for Go needs with a custom authority host and
//     instance discovery disabled: GET /{tenant}/v2.0/.well-known/openid-configuration and
//     POST /{tenant}/oauth2/v2.0/token (client credentials with client_secret, or a
//     client_assertion JWT as workload identity sends; its signature is not checked, see
//     FederatedToken). Errors carry the AADSTS codes Entra ID uses for a wrong tenant
//     (90002), client id (700016) or secret (7000215); the secret is never echoed. Also the
//     v1 endpoint POST /{tenant}/oauth2/token (client credentials with a resource instead of a
//     scope, numbers as strings, expires_on), which ADAL (go-autorest's adal) posts to.
//   - A Proxy (StartProxy): an HTTPS proxy through which programs that sign in only at
//     https://login.microsoftonline.com and read https://NAME.vault.azure.net (External
//     Secrets Operator's azurekv provider) reach the server unmodified, with HTTPS_PROXY and
//     SSL_CERT_FILE. It terminates TLS for those names with a certificate the server's own
//     certificate issued, serves their requests in process, and refuses every other host.
//   - A request log (Requests, Counts) with time, method, path, status and whether it was a
//     write. Bodies, tokens and values are never logged, and no error message quotes a value.
//
// # What it does not do
//
//   - Keys, certificates, managed HSM, the management plane (ARM), RBAC or access policies:
//     every token the server accepts may do everything. Certificate-backed secrets (managed,
//     kid) do not exist, so outContentType always fails.
//   - Instance discovery (MSAL asks login.microsoftonline.com, which is unreachable: clients
//     must set DisableInstanceDiscovery), token caching headers, PoP tokens, managed identity
//     (IMDS), client certificate credentials, CAE claims challenges.
//   - Expiry dates (exp, nbf) are stored and returned but, as in the recordings, do not block
//     reads. Scheduled purge dates are reported but never reached.
//   - Wording not on record is ours: the 401 for an unknown or expired token, the BadParameter
//     messages above, 404 for an unknown version of a known name ("A secret with (name/id)
//     {name}/{version} …"), 404 "Deleted Secret not found" when purging a name that is not
//     soft-deleted, and the ObjectIsBeingDeleted message (the keys recording's wording with
//     "Secret"). Listing the versions of an unknown name answers an empty list.
//   - The service's short pages (it may return fewer than maxresults items and still give a
//     nextLink) are not imitated: pages are full.
//   - Backups are sealed with a key of this server instance: a blob restores into the server
//     that made it (also after Reset), not into another one.
package akv
