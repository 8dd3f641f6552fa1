package redis_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/redis"
)

// clockIDs hands out stream entry ids as Redis would give them to a
// producer sending rate entries a second from start: the injected id
// generator of the tests below (time in a stream id is Redis's).
type clockIDs struct {
	start time.Time
	rate  float64
	n     int64 // entries handed out
	ms    int64 // of the last id
	seq   int64
}

// next returns the id of the next entry.
func (g *clockIDs) next() string {
	ms := g.start.UnixMilli() + int64(float64(g.n)*1000/g.rate)
	if ms == g.ms {
		g.seq++
	} else {
		g.ms, g.seq = ms, 0
	}
	g.n++
	return fmt.Sprintf("%d-%d", g.ms, g.seq)
}

// skip moves the generator d later without handing out ids.
func (g *clockIDs) skip(d time.Duration) { g.n += int64(d.Seconds() * g.rate) }

// deliverIDs adds entries with the given ids and reads them into consumer c.
func deliverIDs(t testing.TB, rdb goredis.UniversalClient, ids []string) {
	t.Helper()
	ctx := context.Background()
	if err := rdb.XGroupCreateMkStream(ctx, stream, group, "0").Err(); err != nil && !goredis.HasErrorPrefix(err, "BUSYGROUP") {
		t.Fatal(err)
	}
	p := rdb.Pipeline()
	for _, id := range ids {
		p.XAdd(ctx, &goredis.XAddArgs{Stream: stream, ID: id, Values: []string{"n", "1"}})
	}
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: group, Consumer: "c", Streams: []string{stream, ">"}, Count: int64(len(ids)), Block: -1}).Err(); err != nil {
		t.Fatal(err)
	}
}

// defaultDedup is the committer configuration of `pomocore run` with its
// default settings, as far as deduplication goes (POMOCORE_DEDUP_WINDOW
// 2h, POMOCORE_DEDUP_MAX left at its default).
func defaultDedup() redis.CommitterConfig {
	return redis.CommitterConfig{Stream: stream, Group: group, DeadStream: dead, SessionStream: session, DedupWindow: 2 * time.Hour}
}

// traffic commits the activities of the d that follow at g's rate through
// c, in commits of up to 10,000 entries, each entry naming an activity of
// its own; keep (when not nil) picks the activities actually sent. It
// trims the stream behind it, as POMOCORE_TRIM_INPUT does.
func traffic(t testing.TB, rdb goredis.UniversalClient, c *redis.Committer, g *clockIDs, d time.Duration, keep func(key string) bool) int {
	t.Helper()
	ctx := context.Background()
	total := int(d.Seconds() * g.rate)
	sent := 0
	for done := 0; done < total; {
		var entries []pipeline.CommitEntry
		var ids []string
		for ; done < total && len(entries) < 10_000; done++ {
			id := g.next()
			key := fmt.Sprintf("%024x", g.n)
			if keep != nil && !keep(key) {
				continue
			}
			ids = append(ids, id)
			entries = append(entries, pipeline.CommitEntry{ID: id, DedupKey: key})
		}
		if len(entries) == 0 {
			continue
		}
		deliverIDs(t, rdb, ids)
		res, err := c.Commit(ctx, entries)
		if err != nil || res.Applied != len(entries) || res.Duplicates != 0 {
			t.Fatalf("traffic commit of %d = %+v, %v", len(entries), res, err)
		}
		sent += len(entries)
		if err := rdb.XTrimMaxLen(ctx, stream, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	return sent
}

// retryCountsOnce commits activity key at g's time, lets traffic run for
// later at g's rate, then commits the producer's retry of key under a new
// stream id, and fails unless the retry adds nothing.
func retryCountsOnce(t *testing.T, rdb goredis.UniversalClient, first, second *redis.Committer, g *clockIDs, later time.Duration, keep func(string) bool) {
	t.Helper()
	ctx := context.Background()
	const key, board = "0123456789abcdef01234567", "leaderboard:Development:2026-11-24"
	commitKey := func(c *redis.Committer) pipeline.CommitResult {
		t.Helper()
		id := g.next()
		deliverIDs(t, rdb, []string{id})
		res, err := c.Commit(ctx, []pipeline.CommitEntry{activity(id, key, board, 600, true)})
		if err != nil || res.Applied != 1 {
			t.Fatalf("commit of %s = %+v, %v", key, res, err)
		}
		return res
	}
	commitKey(first)
	n := traffic(t, rdb, first, g, later, keep)
	if res := commitKey(second); res.Duplicates != 1 {
		t.Errorf("the retry %v later, after %d other activities, = %+v: counted twice", later, n, res)
	}
	if got := rdb.ZScore(ctx, board, "u").Val(); got != 600 {
		t.Errorf("score %v, want 600: the activity once", got)
	}
	if n := rdb.XLen(ctx, session).Val(); n != 1 {
		t.Errorf("%d session events, want 1", n)
	}
}

// At 100,000 users with one event a minute (1,667 events/s), a producer
// retry 25 minutes later counts once with the default settings: 2.5
// million activities are committed in between.
func TestProducerRetry25MinutesLaterAt1667PerSecondCountsOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("short: 2.5 million activities")
	}
	rdb := redistest.Start(t).Client(t)
	c, err := redis.NewCommitter(rdb, defaultDedup())
	if err != nil {
		t.Fatal(err)
	}
	g := &clockIDs{start: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC), rate: 1667}
	retryCountsOnce(t, rdb, c, c, g, 25*time.Minute, nil)
}

// Two instances whose clocks differ by hours share the dedup state: the
// one ahead does not forget what the other remembered, and what the one
// behind remembers is not taken as expired (27 item 7).
func TestDedupIgnoresTheInstancesClocks(t *testing.T) {
	committerBackends(t, func(t *testing.T, rdb goredis.UniversalClient) {
		ctx := context.Background()
		wall := time.Now()
		behind, ahead := defaultDedup(), defaultDedup()
		behind.Now = func() time.Time { return wall.Add(-5 * time.Hour) }
		ahead.Now = func() time.Time { return wall.Add(5 * time.Hour) }
		_, three := rdb.(threeSteps)
		newC := redis.NewCommitter
		if three {
			newC = redis.NewThreeStepCommitter
		}
		b, err := newC(rdb, behind)
		if err != nil {
			t.Fatal(err)
		}
		a, err := newC(rdb, ahead)
		if err != nil {
			t.Fatal(err)
		}
		board := "leaderboard:Game:2026-11-24"
		commit := func(c *redis.Committer, key string) pipeline.CommitResult {
			t.Helper()
			ids := deliver(t, rdb, 1)
			res, err := c.Commit(ctx, []pipeline.CommitEntry{activity(ids[0], key, board, 5, false)})
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		commit(b, "x")
		commit(a, "y") // the instance ahead commits something else
		if res := commit(b, "x"); res.Duplicates != 1 {
			t.Errorf("retry of x on the instance behind = %+v: forgotten", res)
		}
		if res := commit(a, "x"); res.Duplicates != 1 {
			t.Errorf("retry of x on the instance ahead = %+v: counted twice", res)
		}
		if res := commit(b, "y"); res.Duplicates != 1 {
			t.Errorf("retry of y on the instance behind = %+v: counted twice", res)
		}
		if got := rdb.ZScore(ctx, board, "u").Val(); got != 10 {
			t.Errorf("score = %v, want 10: x and y once each", got)
		}
	})
}
