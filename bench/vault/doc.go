// Package vault benchmarks `secretshift migrate --to vault` on this machine against what it is
// compared with: the raw KV v2 write rate of the same server (the ceiling), the shell loop people
// run today (kubectl | jq | an HTTP write per Secret), and itself with and without the audit log.
//
// Everything lives in the _test.go files and runs with `make bench`, or:
//
//	go test -run '^$' -bench . -benchtime 1x -count 1 ./bench/vault
//
// See bench/README.md for what each number means. The benchmarks need Linux (peak RSS and CPU
// times come from rusage and /proc), bash, kubectl, jq and curl; they build the secretshift and
// vault-testserver binaries themselves and start every server on 127.0.0.1.
package vault
