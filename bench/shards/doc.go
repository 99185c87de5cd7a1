// Package shards benchmarks a sharded migration, `secretshift migrate --to vault --shard I/N`
// run as N processes at once, against the same migration run as one process: the wall time
// from outside (first start to last exit) and the CPU time of the secretshift processes (user +
// system, from each one's rusage), the target being that 4 shards add at most 10 % of CPU time
// over one process.
//
// Everything lives in the _test.go files and runs with `make bench`, or:
//
//	go test -run '^$' -bench . -benchtime 1x -count 1 ./bench/shards
//
// See bench/README.md for what each number means. It needs Linux (CPU times come from rusage
// and /proc); it builds the secretshift and vault-testserver binaries itself and starts every
// server on 127.0.0.1.
package shards
