// Package sealed benchmarks `secretshift migrate --to sealed` on this machine against what it is
// compared with: the loop people run today (the real kubeseal, one process per Secret), and the
// floor of sealing itself (one hybrid RSA-OAEP + AES-GCM encryption per key, in process, with
// the sealed-secrets library), with a controller key made the way the controller makes its own.
//
// Everything lives in the _test.go files and runs with `make bench`, or:
//
//	go test -run '^$' -bench . -benchtime 1x -count 1 ./bench/sealed
//
// See bench/README.md for what each number means. The benchmark needs Linux (peak RSS and CPU
// times come from rusage and /proc), bash, and the pinned kubeseal in .tools/bin (make tools;
// $SECRETSHIFT_TOOLS_BIN overrides the folder). It builds the secretshift binary itself.
package sealed
