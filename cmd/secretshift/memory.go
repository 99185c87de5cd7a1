package main

import (
	"math"
	"runtime/debug"
)

// memoryLimit is the Go memory limit in force — GOMEMLIMIT, or the one main took from the
// container's memory limit — or 0 when there is none.
func memoryLimit() int64 {
	limit := debug.SetMemoryLimit(-1) // -1 reads it
	if limit <= 0 || limit == math.MaxInt64 {
		return 0
	}
	return limit
}

// valuesBudgetFor is the default budget of values kept in memory (leanSource) under a memory
// limit: a quarter of it, at most defaultValuesBudget MiB, at least 1 MiB.
func valuesBudgetFor(limit int64) int64 {
	budget := int64(defaultValuesBudget) << 20
	if limit > 0 {
		budget = max(min(budget, limit/4), 1<<20)
	}
	return budget
}

// logMemoryLimit says, at -v, which memory limit the run keeps to.
func (f *factory) logMemoryLimit() {
	if limit := memoryLimit(); limit > 0 {
		budget, _ := valuesBudget() // a bad value is reported by the command that reads values
		f.logger().Info("memory limit", "gomemlimit_mib", limit>>20, "values_in_memory_mib", budget>>20)
	}
}
