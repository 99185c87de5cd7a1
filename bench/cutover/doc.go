// Package cutover benchmarks `secretshift cutover` (the engine, in process) against the recipe it
// replaces — delete the original Secrets, then `kubectl apply -k` the generated manifests —
// on the test kube-apiserver with the real ESO controller and the Vault test server: wall time
// from the first apply to the last Secret handed over, and the seconds a poller found Secrets
// absent.
//
//	go test -run '^$' -bench . -benchtime 1x -count 1 ./bench/cutover
//
// SECRETSHIFT_BENCH_SECRETS=N hands over N Secrets per contender (default 1,000, in 10
// namespaces). Needs kubectl on PATH and the test servers of `make tools`.
package cutover
