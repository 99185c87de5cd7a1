// Package azurekv benchmarks `secretshift migrate --to azurekv` on this machine against the
// local Key Vault server (internal/testenv/akv), which runs inside the benchmark process:
//
//   - under the vault's write limit (300 writes per 10 s) with injected 429 bursts: the whole
//     command's wall time against the least time the limit allows, and from the server's request
//     log the most writes that reached it in any 10 s window;
//   - with no limit: the whole command's Secrets per second against a raw azsecrets SetSecret
//     loop at the same concurrency writing the same values, and an unchanged re-run.
//
// Everything lives in the _test.go files and runs with `make bench`, or:
//
//	go test -run '^$' -bench . -benchtime 1x -count 1 ./bench/azurekv
//
// See bench/README.md for what each number means. The benchmark needs Linux (peak RSS and CPU
// times come from rusage and /proc); it builds the secretshift binary itself.
package azurekv
