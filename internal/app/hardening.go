package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/redis"
)

// usageLogIDs is implemented by stores that list their newest usage-log
// ids (sqlite.Store, mongo.Store): where a vanished group was.
type usageLogIDs interface {
	NewestUsageLogIDs(ctx context.Context, limit int) ([]pomocore.ObjectID, error)
}

// resumeScan bounds the usage logs resumePosition looks at.
const resumeScan = 1000

// resumePosition is the reader's Resume: the stream id of the newest usage
// log in the store, where a vanished group is recreated when Redis
// recorded no position ("" when unknown).
//
// Usage logs the pipeline created carry an id derived from their stream
// entry id and the partition (pomocore.ObjectIDFromEntryID), from which
// the entry id is read back; the newest such id among the store's newest
// resumeScan usage logs is the position (pomocore.NewestEntryID). An id
// the main server created (entries that name their pomodoroUsageLogId:
// the given-ids mode) says nothing about the stream, and a store holding
// only those yields "" (the reader then stops, or obeys
// POMOCORE_GROUP_RECREATE_AT).
func (a *App) resumePosition(ctx context.Context) (string, error) {
	st := a.st
	if st == nil {
		st = a.deps.Store
	}
	lister, ok := st.(usageLogIDs)
	if !ok {
		return "", nil
	}
	ids, err := lister.NewestUsageLogIDs(ctx, resumeScan)
	if err != nil {
		return "", fmt.Errorf("the store's newest usage logs: %w", err)
	}
	return pomocore.NewestEntryID(ids, uint8(min(max(a.cfg.Pipeline.Partition, 0), 63))), nil
}

// claimPartition records in the store that this input stream, of this
// Redis and database (partitionSource), owns the settings' partition,
// refusing to start when another source does; a store that does not
// answer is waited for, as at every start-up step.
func (a *App) claimPartition(ctx context.Context, st Store) error {
	pc, ok := st.(pipeline.PartitionClaimer)
	if !ok {
		return nil
	}
	partition := uint8(min(max(a.cfg.Pipeline.Partition, 0), 255))
	src := a.partitionSource()
	var taken error
	err := a.waitFor(ctx, "partition claim", func(ctx context.Context) error {
		err := pc.ClaimPartition(ctx, partition, src)
		if errors.Is(err, pipeline.ErrPartitionTaken) {
			taken = err
			return nil
		}
		return err
	})
	switch {
	case taken != nil:
		return fmt.Errorf("POMOCORE_PARTITION=%d: %w; %s", a.cfg.Pipeline.Partition, taken, partitionHint(taken))
	case err != nil:
		return fmt.Errorf("POMOCORE_PARTITION=%d: claiming the partition for %v: %w", a.cfg.Pipeline.Partition, src, err)
	}
	a.log.Info("partition claimed", "partition", a.cfg.Pipeline.Partition, "stream", src.Stream, "redis", src.Redis, "db", src.DB)
	return nil
}

// partitionSource is this instance's input stream as partition claims
// record it. The Redis is named by POMOCORE_REDIS_IDENTITY, else by its
// addresses as configured (the Sentinel master's name in sentinel mode;
// "embedded" for the embedded one, which lives and dies with the process).
// Not the server's run_id: it changes with every restart of the server,
// and the claim would then refuse the very source that made it.
func (a *App) partitionSource() pipeline.PartitionSource {
	cfg := a.cfg
	name := cfg.RedisIdentity
	switch {
	case name != "":
	case len(cfg.Redis.Addrs) == 0:
		name = "embedded"
	case cfg.Redis.Mode == redis.Sentinel:
		name = "sentinel:" + cfg.Redis.MasterName
	default:
		addrs := make([]string, len(cfg.Redis.Addrs))
		for i, addr := range cfg.Redis.Addrs {
			addrs[i] = strings.ToLower(strings.TrimSpace(addr))
		}
		slices.Sort(addrs)
		name = strings.Join(addrs, ",")
		if cfg.Redis.Mode == redis.Cluster {
			name = "cluster:" + name
		}
	}
	return pipeline.PartitionSource{Redis: name, DB: cfg.Redis.DB, Stream: cfg.Reader.Stream}
}

// partitionHint says what to set when the partition is taken.
func partitionHint(taken error) string {
	var e *pipeline.PartitionTakenError
	if errors.As(taken, &e) && e.Owner.Stream == e.Claimer.Stream && e.Owner.DB == e.Claimer.DB && e.Owner.Redis != e.Claimer.Redis {
		return fmt.Sprintf("if Redis %q and %q are one server under two names, set POMOCORE_REDIS_IDENTITY to one name on every instance reading it "+
			"and delete the claim; otherwise set POMOCORE_PARTITION to a partition no other source claims", e.Owner.Redis, e.Claimer.Redis)
	}
	return "set POMOCORE_PARTITION to a partition no other source claims"
}
