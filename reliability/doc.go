// Package reliability is secretshift's reliability suite: the checks too slow or too
// open-ended for `make test`, run by `make reliability` (reliability/cmd/reliability), which
// writes reliability-report.md and reliability-report.json.
//
// Sections so far:
//
//   - fuzz: every fuzz target in FuzzTargets, each for FUZZTIME (default 2m) with `go test
//     -fuzz`. The normal `go test` runs their seed corpora only. A failing input is written by
//     the Go toolchain to the package's testdata/fuzz/<target>/ folder, where it stays as a
//     regression seed once the bug is fixed.
//
//   - tamper: the full tamper matrix (package tamper) over the log of a real migration (the
//     secretshift binary migrating the quick-start demo to SOPS files three times) and over a
//     larger log written through the audit package, each case checked by audit.VerifySet and
//     by `secretshift audit verify`. `go test ./reliability/tamper` runs a reduced matrix.
//
//   - crash: crash trials (package crash) for Vault, SOPS files and Sealed Secrets files (sealed
//     offline for a fresh key and certificate per run; byte-exact by unsealing every file with
//     the private key and `verify --sealed-private-key`): CRASH_TRIALS (default 20)
//     trials per store, each a fresh corpus of CRASH_SECRETS (default 2000) Secret manifests
//     migrated into a fresh store by the secretshift binary, SIGKILLed at a seeded moment
//     (CRASH_SEED, default the clock; printed in the report) between 5% and 95% of an
//     uncrashed calibration run, then run again to completion. A trial passes when nothing
//     is lost, nothing written twice (Vault: version 1 only; file stores: one migrate.write
//     success record, no stray file, kustomization.yaml lists exactly the files), every value is byte-exact,
//     `secretshift audit verify` passes and the audit trail names every write exactly once
//     as done. `go test ./reliability/crash` runs 2 trials of 200 Secrets per store.
//
//   - disk: disk faults (package disk) for SOPS files: a migration of 300 Secret manifests
//     (canary values planted) with its audit log, its journal or its output folder on a tmpfs
//     holding half of what an unfaulted run writes there, then each folder read-only (tmpfs
//     mounts in a private mount namespace, so the section needs root and unshare(1)). A case
//     passes when the run fails with an error, reports nothing done that is not a verified
//     file on record, wrote no file without its migrate.write intent in the log, leaked no
//     canary value, and the same command with the fault removed completes, `secretshift
//     verify` and `secretshift audit verify` exit 0. `go test ./reliability/disk` runs every
//     case on 120 Secrets.
//
//   - faults: network faults (package faults) for Vault: a migration of 300 Secret manifests
//     (canary values planted) through a fault proxy on 127.0.0.1 between the secretshift
//     binary and a vault-testserver, one case per fault: TCP resets and 503s on 5% of
//     requests, 429 bursts with Retry-After: 1, 10 s stalls, truncated answers to forwarded
//     writes, the server gone mid-run. A case passes when the run either finishes with every
//     Secret in Vault at version 1 and byte-exact, or stops non-zero with counts and a re-run
//     hint in its last lines; no run hangs past a bound, panics or leaks a canary; and the
//     same command without the fault completes with nothing lost, no Secret at a version
//     above 1, and `secretshift audit verify` exit 0. `go test ./reliability/faults` runs
//     every case on 100 Secrets.
//
//   - checklist: the bad-input and fault checklist (RELIABILITY.md §4, each row from a real
//     bug report), each row mapped to the tests that cover it (Checklist) and those tests run;
//     a row passes when every test of it passed and nothing of it is left uncovered (Gap).
//
// A section reports what ran, how many cases, how many passed, and its seeds and durations. A
// section that did not run is absent from the report, never shown as passing.
package reliability
