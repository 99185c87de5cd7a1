package job

import (
	"context"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
)

// Limits bound how hard a job presses on a store.
type Limits struct {
	// Concurrency is the number of items in flight at once (default 16).
	Concurrency int
	// Rate is the number of items begun per second (0: no limit).
	Rate float64
}

// DefaultConcurrency is the number of items in flight when Limits does not say.
const DefaultConcurrency = 16

// Each runs fn over items with bounded concurrency and the rate limit. It stops at the first
// error fn returns, and returns the parent context's error when it was cancelled.
func Each[T any](parent context.Context, items []T, lim Limits, fn func(context.Context, T) error) error {
	g, ctx := errgroup.WithContext(parent)
	limit := lim.Concurrency
	if limit <= 0 {
		limit = DefaultConcurrency
	}
	g.SetLimit(limit)
	l := newLimiter(lim.Rate)
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if err := l.Wait(ctx); err != nil {
				return err
			}
			return fn(ctx, it)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return parent.Err()
}

func newLimiter(perSecond float64) *rate.Limiter {
	if perSecond <= 0 {
		return rate.NewLimiter(rate.Inf, 0)
	}
	return rate.NewLimiter(rate.Limit(perSecond), max(1, int(perSecond/10)))
}
