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
//   - tamper: the full tamper matrix (package tamper) over the log of a real migration (the
//     secretshift binary migrating the quick-start demo to SOPS files three times) and over a
//     larger log written through the audit package, each case checked by audit.VerifySet and
//     by `secretshift audit verify`. `go test ./reliability/tamper` runs a reduced matrix.
//
// A section reports what ran, how many cases, how many passed, and its seeds and durations. A
// section that did not run is absent from the report, never shown as passing. Later work (crash
// trials, a fault proxy, disk faults, the bad-input checklist) adds a Section of its own.
package reliability
