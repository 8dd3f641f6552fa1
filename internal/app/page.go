package app

import (
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/redis"
)

// newPageStore returns the page's figures of the configured stream, group
// and dead-letter stream (the HTTP API's PageStore): every replica reads
// and writes the same keys.
func newPageStore(rdb goredis.UniversalClient, cfg Config) *redis.PageFigures {
	dead := cfg.Committer.DeadStream
	if dead == "" {
		dead = pomocore.DeadStream(cfg.Reader.Stream)
	}
	return redis.NewPageFigures(rdb, cfg.Reader.Stream, cfg.Reader.Group, dead)
}

// pageSampleEvery is how often each replica offers the page's timeline a
// sample (one per 10 s bucket is kept, whichever replica wrote it first).
const pageSampleEvery = 5 * time.Second
