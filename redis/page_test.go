package redis_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/redis"
)

// The live page's figures, the same for every replica: the group's
// processed entries (also where the server does not count entries read,
// as miniredis), the dead letters, one timeline sample per 10 s bucket
// whichever replica offers it (the older ones deleted), and the sums of
// leaderboards in any slot.
func TestPageFigures(t *testing.T) {
	committerBackends(t, func(t *testing.T, rdb goredis.UniversalClient) {
		ctx := context.Background()
		ids := deliver(t, rdb, 5)
		if err := rdb.XAck(ctx, stream, group, ids[:2]...).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: dead, Values: []string{"k", "v"}}).Err(); err != nil {
			t.Fatal(err)
		}
		p := redis.NewPageFigures(rdb, stream, group, dead)
		processed, n, err := p.Counts(ctx, 0, 3)
		if err != nil || processed != 2 || n != 1 {
			t.Errorf("Counts = %d processed, %d dead, %v; want 2, 1", processed, n, err)
		}

		t0 := time.Unix(1_800_000_000, 0)
		for _, s := range []pomocore.PageSample{{At: t0, Processed: 1, Lag: 4}, {At: t0.Add(5 * time.Second), Processed: 9}} {
			if _, err := p.Timeline(ctx, s, t0); err != nil {
				t.Fatal(err)
			}
		}
		got, err := p.Timeline(ctx, pomocore.PageSample{At: t0.Add(10 * time.Second), Processed: 3, Lag: 2}, t0)
		want := []pomocore.PageSample{{At: t0, Processed: 1, Lag: 4}, {At: t0.Add(10 * time.Second), Processed: 3, Lag: 2}}
		if err != nil || len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("Timeline = %+v, %v; want %+v (the second sample of a bucket is not kept)", got, err, want)
		}
		got, err = p.Timeline(ctx, pomocore.PageSample{At: t0.Add(20 * time.Second), Processed: 3}, t0.Add(10*time.Second))
		if err != nil || len(got) != 2 || got[0].At != t0.Add(10*time.Second) {
			t.Errorf("Timeline from t0+10s = %+v, %v", got, err)
		}
		if n, err := rdb.ZCard(ctx, "{"+stream+"}:page:timeline").Result(); err != nil || n != 2 {
			t.Errorf("timeline holds %d samples (%v), want the 2 of the window", n, err)
		}

		if err := rdb.ZAdd(ctx, "lb:Development:2026-12-06", goredis.Z{Member: "a", Score: 1500.25}, goredis.Z{Member: "b", Score: 300}).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.ZAdd(ctx, "lb:Game:2026-12-06", goredis.Z{Member: "c", Score: 900}).Err(); err != nil {
			t.Fatal(err)
		}
		sums, err := p.Sums(ctx, []string{"lb:Development:2026-12-06", "lb:Nope", "lb:Game:2026-12-06"})
		if err != nil || len(sums) != 3 || sums[0] != 1800.25 || sums[1] != 0 || sums[2] != 900 {
			t.Errorf("Sums = %v, %v; want [1800.25 0 900]", sums, err)
		}
		// A sum is kept for SumTTL for every replica; a large board is read
		// in chunks.
		if err := rdb.ZIncrBy(ctx, "lb:Game:2026-12-06", 100, "c").Err(); err != nil {
			t.Fatal(err)
		}
		big := make([]goredis.Z, 4500)
		for i := range big {
			big[i] = goredis.Z{Member: strconv.Itoa(i), Score: 2}
		}
		if err := rdb.ZAdd(ctx, "lb:SNS:2026-12-06", big...).Err(); err != nil {
			t.Fatal(err)
		}
		sums, err = redis.NewPageFigures(rdb, stream, group, dead).Sums(ctx, []string{"lb:Game:2026-12-06", "lb:SNS:2026-12-06"})
		if err != nil || len(sums) != 2 || sums[0] != 900 || sums[1] != 9000 {
			t.Errorf("Sums = %v, %v; want [900 (cached) 9000]", sums, err)
		}
		if ttl, err := rdb.TTL(ctx, "{lb:Game:2026-12-06}:pagesum").Result(); err != nil || ttl <= 0 || ttl > redis.SumTTL {
			t.Errorf("the cached sum's TTL is %v (%v), want at most %v", ttl, err, redis.SumTTL)
		}
	})
}
