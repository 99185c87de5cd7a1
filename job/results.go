package job

import (
	"cmp"
	"slices"
	"sync"
)

// Progress is told how many items a run has and when each finishes (a progress bar).
type Progress interface {
	Start(total int)
	Done()
}

// Results collects what happened to each item of a run, from many workers at once: the items
// in the order they finished, a count per result, and ticks of the progress bar. R is the
// command's own result vocabulary (created, verified, rotated, ...).
type Results[T any, R comparable] struct {
	progress Progress

	mu     sync.Mutex
	items  []T
	counts map[R]int
}

// NewResults starts collecting for a run of total items; progress may be nil.
func NewResults[T any, R comparable](total int, progress Progress) *Results[T, R] {
	if progress != nil {
		progress.Start(total)
	}
	return &Results[T, R]{progress: progress, counts: map[R]int{}}
}

// Add records that item ended with result.
func (r *Results[T, R]) Add(item T, result R) {
	r.mu.Lock()
	r.items = append(r.items, item)
	r.counts[result]++
	r.mu.Unlock()
	if r.progress != nil {
		r.progress.Done()
	}
}

// Items returns the items, sorted by key (reports list objects in a stable order).
func (r *Results[T, R]) Items(key func(T) string) []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.items)
	slices.SortStableFunc(out, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
	return out
}

// Counts returns how many items ended with each result.
func (r *Results[T, R]) Counts() map[R]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[R]int, len(r.counts))
	for k, v := range r.counts {
		out[k] = v
	}
	return out
}

// Count returns how many items ended with result.
func (r *Results[T, R]) Count(result R) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[result]
}
