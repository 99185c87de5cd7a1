// Package vaultapi is an in-memory server that speaks HashiCorp Vault's HTTP API for tests, backed by
// Vault's own key/value secrets engine.
//
// No Vault server binary can be built from the sources this project may fetch, but Vault's KV engine
// is published as its own module. This package mounts that engine and puts a thin HTTP front in
// front of it, so a client built on github.com/hashicorp/vault/api talks to the same engine code a
// real Vault runs.
//
// # What is Vault's code
//
//   - The KV secrets engine, versions 1 and 2: github.com/hashicorp/vault-plugin-secrets-kv
//     (kv.Factory). Every read, write, patch, list, delete, undelete, destroy, metadata and config
//     request under a KV mount, with its validation, check-and-set, version bookkeeping and error
//     texts, is answered by that engine.
//   - The plugin framework and the storage it runs on: github.com/hashicorp/vault/sdk (framework,
//     logical.InmemStorage).
//   - The mapping of engine results to HTTP status codes and bodies: logical.RespondErrorCommon,
//     logical.RespondError, logical.RespondErrorAndData, logical.LogicalResponseToHTTPResponse and
//     logical.HTTPSysInjector from the sdk, the same helpers Vault's HTTP layer calls.
//
// # What is ours
//
//   - HTTP routing: the method to operation mapping of Vault's http/logical.go (GET read, GET
//     ?list=true and LIST list, POST and PUT create or update chosen by the engine's existence
//     check, PATCH with application/merge-patch+json, DELETE delete), request body and query
//     parsing, the longest-prefix mount table, raw responses (the KV engine's 404 bodies for
//     deleted versions), the 32 MiB request size limit.
//   - Authentication: one root token, compared in constant time, sent as X-Vault-Token or
//     "Authorization: Bearer". Any other token, or none, is answered 403 "permission denied".
//     There are no policies: the root token may do everything.
//   - X-Vault-Namespace is ignored and echoed back, as Vault Community Edition does; every request
//     lands in the root namespace.
//   - The system endpoints, written after Vault's responses: sys/health, sys/seal-status,
//     sys/mounts (list, read, enable a kv mount, disable), sys/internal/ui/mounts/<path>,
//     sys/capabilities-self, sys/auth and auth/token/lookup-self. Only the "kv" engine (and the
//     "kv-v1" and "kv-v2" aliases) can be mounted. Leases, response wrapping, audit devices,
//     policies and other engines are not implemented.
//   - Test hooks: fault injection (Fault) and request counters (Stats).
//
// sys/health and sys/seal-status report version 1.21.4, the Vault release that ships this KV
// engine version (v0.25.0).
//
// The server binds only to loopback addresses and keeps all data in memory; Close discards it.
package vaultapi
