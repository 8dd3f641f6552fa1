package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/httpapi"
	"github.com/pomocore/pomocore/redis"
	"github.com/pomocore/pomocore/route"
)

// partitioned returns cfg reading its partition stream when the input is
// partitioned (POMOCORE_PARTITIONS > 1), and the source stream it is
// routed from ("" when not partitioned). The dead-letter stream stays the
// source's (Complete derived it before).
func partitioned(cfg Config) (Config, string) {
	if cfg.Partitions <= 1 {
		return cfg, ""
	}
	source := cfg.Reader.Stream
	if cfg.Committer.DeadStream == "" {
		cfg.Committer.DeadStream = pomocore.DeadStream(source)
	}
	cfg.Reader.Stream = redis.PartitionStream(source, int(cfg.Pipeline.Partition))
	return cfg, source
}

// recordScope scopes the commit's applied records to this process's
// partition stream when the input is partitioned (redis.CommitterConfig.
// RecordScope): the partitions commit onto the same leaderboards, each at
// its own pace.
func (c *Config) recordScope() string {
	if c.Partitions > 1 {
		return c.Reader.Stream
	}
	return ""
}

// validatePartitions checks POMOCORE_PARTITIONS against the settings it
// depends on.
func (c *Config) validatePartitions(bad func(env, format string, args ...any)) {
	if c.Partitions < 1 || c.Partitions > route.MaxPartitions {
		bad("POMOCORE_PARTITIONS", "%d: want 1..%d", c.Partitions, route.MaxPartitions)
		return
	}
	if c.Partitions == 1 {
		return
	}
	if int(c.Pipeline.Partition) >= c.Partitions {
		bad("POMOCORE_PARTITION", "%d: want 0..%d with POMOCORE_PARTITIONS=%d", c.Pipeline.Partition, c.Partitions-1, c.Partitions)
	}
	if c.Shadow {
		bad("POMOCORE_PARTITIONS", "%d: shadow mode reads the live stream itself; partitioning is not for a shadow", c.Partitions)
	}
	if len(c.Redis.Addrs) == 0 {
		bad("POMOCORE_PARTITIONS", "%d: needs REDIS_ADDR (the embedded Redis serves one process)", c.Partitions)
	}
}

// Source returns the main server's stream the input is routed from when
// it is partitioned ("" otherwise).
func (a *App) Source() string { return a.source }

// NewRouter returns the router of the partitioned input (POMOCORE_PARTITIONS
// > 1) and its source reader, for the lag metric; nil when the input is not
// partitioned.
func (a *App) NewRouter() (*route.Router, *redis.RouteSource, error) {
	if a.source == "" {
		return nil, nil, nil
	}
	rdb, err := a.Redis()
	if err != nil {
		return nil, nil, err
	}
	cfg := a.cfg
	src := redis.NewRouteSource(rdb, a.source, cfg.Reader.Group, cfg.Reader.StartID, 0)
	r, err := route.New(route.Config{Partitions: cfg.Partitions, Batch: cfg.Pipeline.BatchSize, Block: min(cfg.Pipeline.Block, time.Second),
		Timeout: cfg.Pipeline.Shutdown(), Log: a.log.With("role", "router", "source", a.source)},
		src, redis.NewPartitionWriter(rdb, a.source, cfg.Partitions), redis.NewRouteLease(rdb, a.source, 0))
	if err != nil {
		return nil, nil, fmt.Errorf("POMOCORE_PARTITIONS: %w", err)
	}
	return r, src, nil
}

// startRouter runs this process's router candidate when the input is
// partitioned, with its metrics; stop ends it, after it has finished its
// batch and released the role.
func (a *App) startRouter(ctx context.Context) (stop func(), err error) {
	r, src, err := a.NewRouter()
	if err != nil || r == nil {
		return func() {}, err
	}
	a.reg.MustRegister(httpapi.NewRouteCollector(r.Stats(), src, a.cfg.Partitions))
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = r.Run(ctx) })
	a.log.Info("router candidate running", "source", a.source, "partitions", a.cfg.Partitions, "partition stream", a.cfg.Reader.Stream)
	return func() { cancel(); wg.Wait() }, nil
}
