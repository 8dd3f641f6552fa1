// Package backoff is the project's one retry policy: exponential waits with
// jitter, and a wait that ends with its context.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy is exponential backoff: the wait before retry attempt n (1-based)
// is Min doubled n-1 times, capped at Max, drawn uniformly from the upper
// half of that (jitter, so that instances failing together do not retry
// together). The zero value waits nothing.
type Policy struct {
	Min, Max time.Duration
}

// Wait returns the wait before retry attempt n (1-based).
func (p Policy) Wait(n int) time.Duration {
	d := p.Min
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// Sleep waits for d, or until ctx ends (then it returns ctx's error).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
