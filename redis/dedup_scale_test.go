package redis_test

import (
	"context"
	"fmt"
	"strconv"
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

// deliverIDs adds entries with the given ids and reads every entry not
// delivered yet into consumer c (creating the group at 0 if missing).
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
	// Everything not delivered yet (a group just created: the whole stream).
	if err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: group, Consumer: "c", Streams: []string{stream, ">"}, Block: -1}).Err(); err != nil {
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
			// The key of the activity after g.n; one not kept only moves g
			// on (formatting the millions of ids left out is what took the
			// time, under -race).
			hex := strconv.FormatInt(g.n+1, 16)
			key := zeros[:24-len(hex)] + hex
			if keep != nil && !keep(key) {
				g.n++
				continue
			}
			id := g.next()
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

// zeros pads the activity keys of traffic to 24 hex digits.
const zeros = "000000000000000000000000"

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
// million activities in between, of which the 1/64 in the activity's own
// shard are sent (the rest could not change what it remembers; see
// onlyShardOf).
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
	retryCountsOnce(t, rdb, c, c, g, 25*time.Minute, onlyShardOf("0123456789abcdef01234567"))
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

// What remembering an activity costs in Redis memory in the seen shards,
// as SeenBytesPerActivity states (the capacity plan's figure, a Cluster's
// form): 100,000 activities with 24-character pomodoroUsageLogIds,
// committed in three steps (the claims a Cluster keeps), MEMORY USAGE of
// every shard.
func TestSeenMemoryPerActivity(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	c, err := redis.NewThreeStepCommitter(rdb, defaultDedup())
	if err != nil {
		t.Fatal(err)
	}
	g := &clockIDs{start: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC), rate: 1667}
	n := traffic(t, rdb, c, g, 60*time.Second, nil)
	var bytes int64
	for _, k := range redis.SeenKeys(stream, "") {
		bytes += rdb.MemoryUsage(context.Background(), k, 0).Val()
	}
	per := float64(bytes) / float64(n)
	t.Logf("%d activities: %d bytes in %d shards, %.1f bytes each", n, bytes, redis.SeenShards, per)
	if per > redis.SeenBytesPerActivity || per < redis.SeenBytesPerActivity*0.9 {
		t.Errorf("%.1f bytes per activity; SeenBytesPerActivity says %d", per, redis.SeenBytesPerActivity)
	}
}

// mainServerIDs hands out the pomodoroUsageLogIds one main-server process
// makes (Spring's ObjectIds: the second, 5 bytes per process, a counter
// from a random start), for entries of g: the id of the activity of the
// entry g hands out next.
type mainServerIDs struct {
	g       *clockIDs
	process [5]byte
	counter uint32
}

// next returns the next activity's id.
func (m *mainServerIDs) next() string {
	sec := uint32(m.g.start.Unix() + int64(float64(m.g.n)/m.g.rate))
	m.counter = (m.counter + 1) & 0xffffff
	var id [12]byte
	id[0], id[1], id[2], id[3] = byte(sec>>24), byte(sec>>16), byte(sec>>8), byte(sec)
	copy(id[4:9], m.process[:])
	id[9], id[10], id[11] = byte(m.counter>>16), byte(m.counter>>8), byte(m.counter)
	return fmt.Sprintf("%x", id[:])
}

// What remembering an activity as a bit costs (a single server's form),
// as SeenBitmapBytesPerActivity states: 100,000 activities with the ids
// one main-server process makes at 1,667 a second, MEMORY USAGE of every
// seen bitmap; the seen shards stay empty. Then a retry of the first one,
// a minute later, is a duplicate.
func TestSeenBitmapMemoryPerActivity(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	c, err := redis.NewCommitter(rdb, defaultDedup())
	if err != nil {
		t.Fatal(err)
	}
	g := &clockIDs{start: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC), rate: 1667}
	oids := &mainServerIDs{g: g, process: [5]byte{0x5e, 0x1f, 0x02, 0xa7, 0x33}, counter: 0xfff000}
	var first string
	n := 0
	for n < 100_020 {
		var entries []pipeline.CommitEntry
		var ids []string
		for len(entries) < 2000 {
			key := oids.next()
			if first == "" {
				first = key
			}
			id := g.next()
			ids = append(ids, id)
			entries = append(entries, pipeline.CommitEntry{ID: id, DedupKey: key})
		}
		deliverIDs(t, rdb, ids)
		if res, err := c.Commit(ctx, entries); err != nil || res.Applied != len(entries) || res.Duplicates != 0 {
			t.Fatalf("commit of %d = %+v, %v", len(entries), res, err)
		}
		n += len(entries)
		if err := rdb.XTrimMaxLen(ctx, stream, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if k := rdb.Exists(ctx, redis.SeenKeys(stream, "")...).Val(); k != 0 {
		t.Errorf("%d seen shards exist: ObjectIds are kept as bits on a single server", k)
	}
	var bytes int64
	bitmaps := rdb.Keys(ctx, "{"+stream+"}:seen:*").Val()
	for _, k := range bitmaps {
		bytes += rdb.MemoryUsage(ctx, k, 0).Val()
	}
	per := float64(bytes) / float64(n)
	t.Logf("%d activities: %d bytes in %d bitmaps, %.2f bytes each", n, bytes, len(bitmaps), per)
	if per > redis.SeenBitmapBytesPerActivity || per < redis.SeenBitmapBytesPerActivity*0.5 {
		t.Errorf("%.2f bytes per activity; SeenBitmapBytesPerActivity says %v", per, redis.SeenBitmapBytesPerActivity)
	}
	id := g.next()
	deliverIDs(t, rdb, []string{id})
	if res, err := c.Commit(ctx, []pipeline.CommitEntry{{ID: id, DedupKey: first}}); err != nil || res.Duplicates != 1 {
		t.Errorf("retry of the first activity = %+v, %v: want a duplicate", res, err)
	}
}

// onlyShardOf keeps the activities that share key's seen shard: the only
// ones that can change what that shard remembers of key (the others are
// in other keys), so a test of key's retry may leave the rest out.
func onlyShardOf(key string) func(string) bool {
	shard := redis.SeenShard(key)
	return func(k string) bool { return redis.SeenShard(k) == shard }
}

// A producer retry 30 minutes later counts once with the default settings
// at 1,667 and at 20,000 events/s (36 million activities in between; the
// 1/64 of them in the activity's own shard are sent, the rest could not
// change it), on one server and on a Cluster.
func TestProducerRetry30MinutesLaterCountsOnceAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("short: half a million activities")
	}
	for _, rate := range []float64{1667, 20000} {
		t.Run(fmt.Sprintf("%.0f/s", rate), func(t *testing.T) {
			rdb := redistest.Start(t).Client(t)
			c, err := redis.NewCommitter(rdb, defaultDedup())
			if err != nil {
				t.Fatal(err)
			}
			g := &clockIDs{start: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC), rate: rate}
			retryCountsOnce(t, rdb, c, c, g, 30*time.Minute, onlyShardOf("0123456789abcdef01234567"))
		})
	}
	t.Run("cluster 1667/s", func(t *testing.T) {
		rdb := redistest.StartCluster(t, 3, 0).Client(t)
		c, err := redis.NewCommitter(rdb, defaultDedup())
		if err != nil {
			t.Fatal(err)
		}
		g := &clockIDs{start: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC), rate: 1667}
		retryCountsOnce(t, rdb, c, c, g, 30*time.Minute, onlyShardOf("0123456789abcdef01234567"))
	})
}

// The seen shards are spread over the slots, so that a Cluster spreads
// them over its masters: no key holds every activity.
func TestSeenShardsHaveSlotsOfTheirOwn(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0).Client(t)
	ctx := context.Background()
	slots := map[int64]bool{}
	masters := map[string]bool{}
	for _, k := range redis.SeenKeys("pattern_match_stream", "") {
		slots[c.ClusterKeySlot(ctx, k).Val()] = true
		m, err := c.MasterForKey(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		masters[m.Options().Addr] = true
	}
	if len(slots) < redis.SeenShards-2 || len(masters) != 3 {
		t.Errorf("%d shards in %d slots on %d of 3 masters", redis.SeenShards, len(slots), len(masters))
	}
}

// The producer's retry 29 minutes later counts once whatever happened in
// between: another instance (the other way of committing), a restart, the
// consumer group destroyed and recreated (the first entry delivered again
// is a duplicate of itself), on every backend.
func TestProducerRetryCountsOnceAcrossInstancesRestartsAndARecreatedGroup(t *testing.T) {
	committerBackends(t, func(t *testing.T, rdb goredis.UniversalClient) {
		ctx := context.Background()
		_, three := rdb.(threeSteps)
		board := "leaderboard:Development:2026-11-24"
		g := &clockIDs{start: time.Now().Add(-time.Hour), rate: 10}
		first, retry := g.next(), ""
		g.skip(29 * time.Minute)
		retry = g.next()
		newC := func(threeSteps bool) *redis.Committer {
			newC := redis.NewCommitter
			if threeSteps {
				newC = redis.NewThreeStepCommitter
			}
			c, err := newC(rdb, defaultDedup())
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		deliverIDs(t, rdb, []string{first})
		if res, err := newC(three).Commit(ctx, []pipeline.CommitEntry{activity(first, "x", board, 60, true)}); err != nil || res.Duplicates != 0 {
			t.Fatalf("first = %+v, %v", res, err)
		}
		// The group destroyed and recreated from the start: the first entry
		// comes again, with the retry.
		if err := rdb.XGroupDestroy(ctx, stream, group).Err(); err != nil {
			t.Fatal(err)
		}
		deliverIDs(t, rdb, []string{retry}) // the group again, from 0: both delivered
		for i, id := range []string{first, retry} {
			res, err := newC(i == 0 != three).Commit(ctx, []pipeline.CommitEntry{activity(id, "x", board, 60, true)})
			if err != nil || res.Applied != 1 || res.Duplicates != 1 {
				t.Errorf("%s after the group was recreated = %+v, %v; want a duplicate", id, res, err)
			}
		}
		if got := rdb.ZScore(ctx, board, "u").Val(); got != 60 {
			t.Errorf("score %v, want 60", got)
		}
		if n := rdb.XLen(ctx, session).Val(); n != 1 {
			t.Errorf("%d session events, want 1", n)
		}
		if p := rdb.XPending(ctx, stream, group).Val(); p.Count != 0 {
			t.Errorf("%d pending", p.Count)
		}
	})
}

// A commit killed after its claims, or after applying (claims confirmed,
// nothing acknowledged), with the producer's retry committed by another
// instance meanwhile, and the group destroyed and recreated at the end:
// the activity counts once, and no entry stays pending.
func TestDedupSurvivesCrashesMidCommit(t *testing.T) {
	eachKeyKind(t, testDedupSurvivesCrashesMidCommit)
}

func testDedupSurvivesCrashesMidCommit(t *testing.T, key func(string) string) {
	x := key("x")
	for _, crash := range []string{"after claim", "after apply"} {
		t.Run(crash, func(t *testing.T) {
			committerBackends(t, func(t *testing.T, rdb goredis.UniversalClient) {
				ctx := context.Background()
				board := "leaderboard:Game:2026-11-24"
				g := &clockIDs{start: time.Now().Add(-time.Hour), rate: 10}
				e1 := g.next()
				g.skip(10 * time.Minute)
				e2 := g.next()
				deliverIDs(t, rdb, []string{e1, e2})
				dying, err := redis.NewThreeStepCommitter(rdb, defaultDedup())
				if err != nil {
					t.Fatal(err)
				}
				first := []pipeline.CommitEntry{activity(e1, x, board, 60, true)}
				if crash == "after claim" {
					err = dying.CrashAfterClaim(ctx, first)
				} else {
					err = dying.CrashAfterApply(ctx, first)
				}
				if err != nil {
					t.Fatal(err)
				}
				other := newCommitter(t, rdb)
				if res, err := other.Commit(ctx, []pipeline.CommitEntry{activity(e2, x, board, 60, true)}); err != nil || res.Duplicates != 1 {
					t.Errorf("the retry while the first is in flight = %+v, %v; want a duplicate", res, err)
				}
				if _, err := newCommitter(t, rdb).Commit(ctx, first); err != nil {
					t.Fatal(err)
				}
				if err := rdb.XGroupDestroy(ctx, stream, group).Err(); err != nil {
					t.Fatal(err)
				}
				deliverIDs(t, rdb, nil) // the group again, from 0: every entry delivered again
				res, err := other.Commit(ctx, []pipeline.CommitEntry{activity(e1, x, board, 60, true), activity(e2, x, board, 60, true)})
				if err != nil || res.Applied != 2 || res.Duplicates != 2 {
					t.Errorf("both delivered again = %+v, %v; want 2 duplicates", res, err)
				}
				if got := rdb.ZScore(ctx, board, "u").Val(); got != 60 {
					t.Errorf("score %v, want 60: once", got)
				}
				if n := rdb.XLen(ctx, session).Val(); n != 1 {
					t.Errorf("%d session events, want 1", n)
				}
				if p := rdb.XPending(ctx, stream, group).Val(); p.Count != 0 {
					t.Errorf("%d pending", p.Count)
				}
			})
		})
	}
}
