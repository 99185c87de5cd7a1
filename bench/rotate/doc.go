// Package rotate benchmarks `secretshift rotate --policy rotation.yaml` against Vault's KV v2
// engine on this machine, side by side with what it is compared with:
//
//   - a rotation of every entry against the loop people run today, one entry at a time:
//     `openssl rand`, a read of the entry with curl, jq to set the new password, and a
//     check-and-set write with curl (what `vault kv patch -method=rw` sends);
//   - a scheduled `--due` run over entries of which none is due, against one LIST pass over
//     their metadata (a recursive LIST plus a metadata read per entry, 16 at a time): the least
//     any tool must do to learn each entry's age.
//
// Everything lives in the _test.go files and runs with `make bench`, or:
//
//	go test -run '^$' -bench . -benchtime 1x -count 1 ./bench/rotate
//
// See bench/README.md for what each number means. The benchmark needs Linux (peak RSS and CPU
// times come from rusage and /proc), bash, openssl, curl and jq; it builds the secretshift and
// vault-testserver binaries itself and starts every server on 127.0.0.1.
package rotate
