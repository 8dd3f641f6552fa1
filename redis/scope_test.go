package redis_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/redis"
)

// Partition streams (POMOCORE_PARTITIONS) commit onto the same leaderboard
// keys, each at its own pace, under the source's entry ids. One stream's
// floor must neither hide a lagging stream's tokens (its entries would
// not count: the 2-partition bench on a Cluster lost 1-5% of every board)
// nor trim away its records (a retried apply would count twice).
func TestStreamsCommittingOneKeyKeepTheirOwnFloors(t *testing.T) {
	for _, mode := range []string{"three-steps", "cluster"} {
		t.Run(mode, func(t *testing.T) {
			var rdb goredis.UniversalClient
			if mode == "cluster" {
				rdb = redistest.StartCluster(t, 3, 0).Client(t)
			} else {
				rdb = redistest.Start(t).Client(t)
			}
			ctx := context.Background()
			key := "leaderboard:Development:2026-12-06"
			add := func(stream string, ms int64) pipeline.CommitEntry {
				t.Helper()
				rdb.XGroupCreateMkStream(ctx, stream, group, "0")
				id := strconv.FormatInt(ms, 10) + "-0"
				if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: stream, ID: id, Values: []string{"n", "1"}}).Err(); err != nil {
					t.Fatal(err)
				}
				if err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: group, Consumer: "c", Streams: []string{stream, ">"}, Block: -1}).Err(); err != nil {
					t.Fatal(err)
				}
				return pipeline.CommitEntry{ID: id, Increment: &pipeline.Increment{Keys: []string{key}, Member: "u", Delta: 1}}
			}
			committer := func(stream string) *redis.Committer {
				c, err := redis.NewThreeStepCommitter(rdb, redis.CommitterConfig{Stream: stream, Group: group,
					DeadStream: "in:dead", SessionStream: session, RecordScope: stream, DedupWindow: 2 * time.Hour})
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			a, b := committer("in:p00"), committer("in:p01")
			// Stream a runs ahead: commits at 5000 ms, one entry pending at
			// 6000, and trims: its floor is 6000.
			if _, err := a.Commit(ctx, []pipeline.CommitEntry{add("in:p00", 5000)}); err != nil {
				t.Fatal(err)
			}
			pendingA := add("in:p00", 6000)
			// Stream b lags: its entry at 1000 ms is applied and then its
			// process dies before acknowledging.
			lagging := add("in:p01", 1000)
			if err := b.CrashAfterApply(ctx, []pipeline.CommitEntry{lagging}); err != nil {
				t.Fatal(err)
			}
			if _, err := a.TrimApplied(ctx); err != nil {
				t.Fatal(err)
			}
			// b's entry is committed again (redelivered), and b's next one, at
			// 2000 ms, below a's floor.
			if _, err := committer("in:p01").Commit(ctx, []pipeline.CommitEntry{lagging}); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Commit(ctx, []pipeline.CommitEntry{add("in:p01", 2000)}); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Commit(ctx, []pipeline.CommitEntry{pendingA}); err != nil {
				t.Fatal(err)
			}
			if got := rdb.ZScore(ctx, key, "u").Val(); got != 4 {
				t.Errorf("score %v, want 4 (two entries of each stream, each once)", got)
			}
		})
	}
}
