package app

import (
	"context"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/httpapi"
	"github.com/pomocore/pomocore/redis"
)

// pageStore adapts the live page's figures in Redis to the HTTP API's
// port: every replica reads and writes the same keys.
type pageStore struct{ p *redis.PageFigures }

// newPageStore returns the page's figures of the configured stream, group
// and dead-letter stream.
func newPageStore(rdb goredis.UniversalClient, cfg Config) pageStore {
	dead := cfg.Committer.DeadStream
	if dead == "" {
		dead = cfg.Reader.Stream + ":dead"
	}
	return pageStore{redis.NewPageFigures(rdb, cfg.Reader.Stream, cfg.Reader.Group, dead)}
}

func (s pageStore) Counts(ctx context.Context, lag, pending int64) (processed, dead int64, err error) {
	return s.p.Counts(ctx, lag, pending)
}

func (s pageStore) Timeline(ctx context.Context, x httpapi.Sample, since time.Time) ([]httpapi.Sample, error) {
	ps, err := s.p.Timeline(ctx, redis.PageSample{At: x.At, Processed: x.Processed, Lag: x.Lag}, since)
	out := make([]httpapi.Sample, len(ps))
	for i, p := range ps {
		out[i] = httpapi.Sample{At: p.At, Processed: p.Processed, Lag: p.Lag}
	}
	return out, err
}

func (s pageStore) Sums(ctx context.Context, keys []string) ([]float64, error) {
	return s.p.Sums(ctx, keys)
}

// pageSampleEvery is how often each replica offers the page's timeline a
// sample (one per 10 s bucket is kept, whichever replica wrote it first).
const pageSampleEvery = 5 * time.Second
