// Package benchkit holds what the benchmarks under bench/ share: the seeded corpus of Secrets
// they migrate (Generate, WriteCorpus, StatsOf), a runner that times a command from outside and
// samples its peak RSS (Run), CPU-time helpers (rusage and /proc), and building the binaries
// under test (Build).
//
// It is not a benchmark itself and is not shipped; the benchmarks import it from their
// _test.go files. The process helpers need Linux (proc_linux.go); the corpus is portable.
package benchkit
