package pipeline

import (
	"context"
	"time"
)

// Process runs one batch through validate, classify, store and commit, as
// Run does, for the tests of package pipeline_test.
func (p *Pipeline) Process(ctx context.Context, msgs []Message) error { return p.process(ctx, msgs) }

// WithRetry returns c with the backoff between retries of a failed store
// or commit call bounded by min and max (100ms and 5s in production).
func WithRetry(c Config, min, max time.Duration) Config {
	c.retryMin, c.retryMax = min, max
	return c
}

// WithSleep returns d with the wait between retries replaced by sleep.
func WithSleep(d Deps, sleep func(ctx context.Context, d time.Duration) error) Deps {
	d.sleep = sleep
	return d
}
