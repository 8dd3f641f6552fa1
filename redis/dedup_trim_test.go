package redis_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/redis"
)

// A committer trims a seen shard (forgets the claims below the window,
// and past its cap) about once per second of stream time, not in every
// batch: claims below the window are ignored anyway, and a
// ZREMRANGEBYSCORE and a ZCARD per shard per batch were a share of
// dedup's cost (issue 29 item 3). The trims resume as stream time moves.
func TestSeenShardsTrimmedOncePerSecondOfStreamTime(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	c, err := redis.NewCommitter(rdb, redis.CommitterConfig{Stream: stream, Group: group, DeadStream: dead, SessionStream: session,
		DedupWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	g := &clockIDs{start: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), rate: 10000}
	key := 0
	commit := func() {
		t.Helper()
		ids := make([]string, 100)
		for i := range ids {
			ids[i] = g.next()
		}
		deliverIDs(t, rdb, ids)
		entries := make([]pipeline.CommitEntry, len(ids))
		for i, id := range ids {
			entries[i] = activity(id, "act"+strconv.Itoa(key), "b", 1, false)
			key++
		}
		if res, err := c.Commit(ctx, entries); err != nil || res.Applied != len(ids) || res.Duplicates != 0 {
			t.Fatalf("commit = %+v, %v", res, err)
		}
	}
	trims := func() int { return redistest.CommandCalls(t, rdb)["zremrangebyscore"] }

	before := trims()
	for range 10 { // 1,000 entries in 0.1 s of stream time
		commit()
	}
	if n := trims() - before; n < 1 || n > redis.SeenShards {
		t.Errorf("10 batches within 0.1 s of stream time trimmed %d times, want each shard at most once (<= %d)", n, redis.SeenShards)
	}
	mid := trims()
	g.skip(2 * time.Second)
	commit()
	if trims() == mid {
		t.Error("no trim after 2 s of stream time")
	}
	if got := rdb.ZScore(ctx, "b", "u").Val(); got != 1100 {
		t.Errorf("score = %v, want 1100", got)
	}
}
