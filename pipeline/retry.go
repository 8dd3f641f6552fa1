package pipeline

// The retry of a failed call (read, store, commit) with its backoff.

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pomocore/pomocore/internal/backoff"
)

// retry calls f until it succeeds or ctx ends, backing off between tries.
func (p *Pipeline) retry(ctx context.Context, what string, errCount *atomic.Int64, f func() error) error {
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil {
			if attempt > 1 {
				p.log.Info(what+" recovered", "attempts", attempt)
			}
			return nil
		}
		errCount.Add(1)
		p.deps.Observer.CallFailed(what, err)
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w (gave up: %w)", what, err, ctx.Err())
		}
		d := p.backoff(attempt)
		p.log.Warn(what+" failed; entries stay pending, retrying", "err", err, "attempt", attempt, "backoff", d)
		if err := p.deps.sleep(ctx, d); err != nil {
			return fmt.Errorf("%s: gave up: %w", what, err)
		}
	}
}

// backoff returns the wait before retry attempt n (1-based), from retryMin
// to retryMax.
func (p *Pipeline) backoff(n int) time.Duration { return p.retryPolicy().Wait(n) }

// retryPolicy is the backoff between retries of a failed call.
func (p *Pipeline) retryPolicy() backoff.Policy {
	return backoff.Policy{Min: p.cfg.retryMin, Max: p.cfg.retryMax}
}
