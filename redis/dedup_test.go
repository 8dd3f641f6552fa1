package redis_test

import (
	"context"
	"fmt"
	"hash/crc32"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/redis"
)

// activity is a commit entry of one activity: seconds on a board, an
// optional session end, and the activity's key (its pomodoroUsageLogId).
func activity(id, key, board string, seconds float64, end bool) pipeline.CommitEntry {
	e := pipeline.CommitEntry{ID: id, DedupKey: key, Increment: &pipeline.Increment{Keys: []string{board}, Member: "u", Delta: seconds}}
	if end {
		e.SessionEnd = &pipeline.SessionEnd{UserID: "u", SessionDate: "2026-11-24", Session: 1}
	}
	return e
}

// eachKeyKind runs f with each form of activity key the committer keeps
// apart: the main server's pomodoroUsageLogIds (ObjectIds, kept as bits on
// a single server), and any other string (kept in the seen shards); key
// maps a test's name for an activity to its key of that form.
func eachKeyKind(t *testing.T, f func(t *testing.T, key func(name string) string)) {
	t.Run("objectid", func(t *testing.T) {
		f(t, func(name string) string {
			// One main-server process, one second: neighbouring counters.
			return fmt.Sprintf("65f1a2b3be4c02a733%06x", crc32.ChecksumIEEE([]byte(name))&0x3fff)
		})
	})
	t.Run("other", func(t *testing.T) { f(t, func(name string) string { return name }) })
}

// The main server's RedisStreamProducer re-sends a failed batch for up to
// 30 minutes, under new stream ids: the same pomodoroUsageLogId must add its
// duration once and end its session once, on every backend and whichever
// way (one script or three steps) each commit takes.
func TestMainServerProducerRetryCountsOnce(t *testing.T) {
	eachKeyKind(t, func(t *testing.T, key func(string) string) {
		testMainServerProducerRetryCountsOnce(t, key)
	})
}

func testMainServerProducerRetryCountsOnce(t *testing.T, key func(string) string) {
	committerBackends(t, func(t *testing.T, rdb goredis.UniversalClient) {
		ctx := context.Background()
		board := "leaderboard:Development:2026-11-24"
		for w, three := range []bool{false, true} {
			ids := deliver(t, rdb, 3)
			k1, k2 := key("k1-"+string(rune('a'+w))), key("k2-"+string(rune('a'+w)))
			first := []pipeline.CommitEntry{activity(ids[0], k1, board, 10, true), activity(ids[1], k2, board, 20, false), activity(ids[2], "", board, 1, false)}
			if res, err := newCommitterWith(t, rdb, three).Commit(ctx, first); err != nil || res.Applied != 3 || res.Duplicates != 0 {
				t.Fatalf("first commit = %+v, %v", res, err)
			}
			// The retry: the same activities under new stream ids, plus one
			// duplicated inside the batch itself; the entry without a key
			// counts again (it is another stream entry, nothing names it).
			ids = deliver(t, rdb, 4)
			retry := []pipeline.CommitEntry{activity(ids[0], k1, board, 10, true), activity(ids[1], k2, board, 20, false),
				activity(ids[2], "", board, 1, false), activity(ids[3], k2, board, 20, false)}
			res, err := newCommitterWith(t, rdb, !three).Commit(ctx, retry)
			if err != nil || res.Applied != 4 || res.Duplicates != 3 {
				t.Fatalf("retry = %+v, %v; want 4 applied, 3 duplicates", res, err)
			}
			if p := rdb.XPending(ctx, stream, group).Val(); p.Count != 0 {
				t.Errorf("pending = %d: duplicates must be acknowledged", p.Count)
			}
		}
		if got := rdb.ZScore(ctx, board, "u").Val(); got != 2*(10+20+1+1) {
			t.Errorf("score = %v, want %v: each activity once, each key-less entry once", got, 2*(10+20+1+1))
		}
		if n := rdb.XLen(ctx, session).Val(); n != 2 {
			t.Errorf("session events = %d, want 2 (one per activity)", n)
		}
	})
}

// A dead-lettered activity re-sent by the producer is dead-lettered once.
func TestCommitterDedupsDeadLetters(t *testing.T) {
	committerBackends(t, func(t *testing.T, rdb goredis.UniversalClient) {
		ctx := context.Background()
		c := newCommitter(t, rdb)
		for range 2 {
			ids := deliver(t, rdb, 1)
			e := pipeline.CommitEntry{ID: ids[0], DedupKey: "bad", Dead: &pipeline.DeadLetter{Reason: "r", Kind: "bad_duration", Fields: []string{"duration", "x"}}}
			if _, err := c.Commit(ctx, []pipeline.CommitEntry{e}); err != nil {
				t.Fatal(err)
			}
		}
		if n := rdb.XLen(ctx, dead).Val(); n != 1 {
			t.Errorf("dead letters = %d, want 1", n)
		}
	})
}

// The window bounds the memory: an activity is remembered for the window
// of stream time (the entries' ids), then forgotten, and the shards hold
// only keys committed within it. The committer's clock plays no part.
func TestCommitterDedupWindowExpires(t *testing.T) {
	committerBackends(t, func(t *testing.T, rdb goredis.UniversalClient) {
		ctx := context.Background()
		_, three := rdb.(threeSteps)
		newC := redis.NewCommitter
		if three {
			newC = redis.NewThreeStepCommitter
		}
		frozen := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		c, err := newC(rdb, redis.CommitterConfig{Stream: stream, Group: group, DeadStream: dead, SessionStream: session,
			DedupWindow: time.Hour, Now: func() time.Time { return frozen }})
		if err != nil {
			t.Fatal(err)
		}
		g := &clockIDs{start: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), rate: 1}
		board := "leaderboard:Game:2026-11-24"
		commit := oneAtATime(t, rdb, c, g, board)
		commit("a")
		g.skip(59 * time.Minute)
		if res := commit("a"); res.Duplicates != 1 {
			t.Errorf("59 min later: %+v, want a duplicate", res)
		}
		commit("b")
		g.skip(2 * time.Minute)
		if res := commit("a"); res.Duplicates != 0 {
			t.Errorf("61 min later: %+v, want no duplicate (outside the window)", res)
		}
		if got := rdb.ZScore(ctx, board, "u").Val(); got != 15 {
			t.Errorf("score = %v, want 15", got)
		}
		var members []string
		for _, k := range redis.SeenKeys(stream, "") {
			members = append(members, rdb.ZRange(ctx, k, 0, -1).Val()...)
		}
		slices.Sort(members)
		if strings.Join(members, ",") != "a,b" {
			t.Errorf("seen = %v, want a and b only", members)
		}
		if ttl := rdb.PTTL(ctx, redis.SeenKey(stream, "", "a")).Val(); ttl <= 0 || ttl > time.Hour {
			t.Errorf("seen expires in %v, want within the window", ttl)
		}
	})
}

// Two instances committing different stream entries of the same activities
// at once (the producer's retry landing while the first is still being
// committed elsewhere): each activity counts once.
func TestCommitterConcurrentDuplicatesCountOnce(t *testing.T) {
	eachKeyKind(t, func(t *testing.T, key func(string) string) {
		testCommitterConcurrentDuplicatesCountOnce(t, key)
	})
}

func testCommitterConcurrentDuplicatesCountOnce(t *testing.T, key func(string) string) {
	committerBackends(t, func(t *testing.T, rdb goredis.UniversalClient) {
		ctx := context.Background()
		for round := range 10 {
			ids := deliver(t, rdb, 40)
			board := "leaderboard:Design:r" + string(rune('a'+round))
			var wg sync.WaitGroup
			for w := range 2 {
				c := newCommitterWith(t, rdb, w == 1)
				var entries []pipeline.CommitEntry
				for i := w * 20; i < w*20+20; i++ {
					entries = append(entries, activity(ids[i], key("act"+string(rune('a'+round))+string(rune('A'+i%20))), board, 1, false))
				}
				wg.Go(func() {
					for _, part := range [][]pipeline.CommitEntry{entries[:7], entries[7:]} {
						for {
							if _, err := c.Commit(ctx, part); err == nil {
								break
							}
						}
					}
				})
			}
			wg.Wait()
			if got := rdb.ZScore(ctx, board, "u").Val(); got != 20 {
				t.Fatalf("round %d: score %v, want 20: each of the 20 activities once", round, got)
			}
		}
	})
}

// With no window, deduplication by activity is off: each stream entry
// counts (the per-entry guarantee alone).
func TestCommitterDedupOff(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	c, err := redis.NewCommitter(rdb, redis.CommitterConfig{Stream: stream, Group: group, DeadStream: dead, SessionStream: session})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		ids := deliver(t, rdb, 1)
		if _, err := c.Commit(ctx, []pipeline.CommitEntry{activity(ids[0], "k", "b", 1, false)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := rdb.ZScore(ctx, "b", "u").Val(); got != 2 {
		t.Errorf("score = %v, want 2", got)
	}
	if n := rdb.Exists(ctx, redis.SeenKeys(stream, "")...).Val(); n != 0 {
		t.Error("seen shards exist with dedup off")
	}
}

// DedupMax bounds the memory: past DedupMax/SeenShards in a shard the
// oldest activities of that shard are forgotten.
func TestCommitterDedupMemoryIsBounded(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	c, err := redis.NewCommitter(rdb, redis.CommitterConfig{Stream: stream, Group: group, DeadStream: dead, SessionStream: session,
		DedupWindow: time.Hour, DedupMax: 5 * redis.SeenShards})
	if err != nil {
		t.Fatal(err)
	}
	shard := redis.SeenKey(stream, "", "k0")
	var keys []string
	for i := 0; len(keys) < 8; i++ {
		if k := "k" + strconv.Itoa(i); redis.SeenKey(stream, "", k) == shard {
			keys = append(keys, k)
		}
	}
	ids := deliver(t, rdb, 8)
	var entries []pipeline.CommitEntry
	for i, id := range ids {
		entries = append(entries, activity(id, keys[i], "b", 1, false))
	}
	if _, err := c.Commit(ctx, entries); err != nil {
		t.Fatal(err)
	}
	if n := rdb.ZCard(ctx, shard).Val(); n != 5 {
		t.Errorf("remembered %d, want 5", n)
	}
	if usage := rdb.MemoryUsage(ctx, shard, 0).Val(); usage > 5*200+200 {
		t.Errorf("seen uses %d bytes for 5 activities", usage)
	}
}

// A seen bitmap written last before the window's start is forgotten whole,
// as the seen shards forget claims below it: the next commit into it
// clears it first, so an activity outside the window counts again instead
// of coming back with its neighbour's write, and the neighbour is
// remembered from then on.
func TestForgottenSeenBitmapIsClearedBeforeItsNextWrite(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	c, err := redis.NewCommitter(rdb, redis.CommitterConfig{Stream: stream, Group: group, DeadStream: dead, SessionStream: session,
		DedupWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	g := &clockIDs{start: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), rate: 1}
	board := "leaderboard:Game:2026-11-24"
	a, b := "65f1a2b3be4c02a733000001", "65f1a2b3be4c02a733000101" // one bitmap, other bytes
	commit := oneAtATime(t, rdb, c, g, board)
	commit(a)
	g.skip(61 * time.Minute)
	if res := commit(b); res.Duplicates != 0 {
		t.Fatalf("b = %+v, want counted", res)
	}
	if res := commit(a); res.Duplicates != 0 {
		t.Errorf("a, 61 min after it was committed = %+v: want counted again (outside the window), not revived by b's write", res)
	}
	if res := commit(b); res.Duplicates != 1 {
		t.Errorf("b's retry = %+v, want a duplicate", res)
	}
	if got := rdb.ZScore(ctx, board, "u").Val(); got != 15 {
		t.Errorf("score = %v, want 15", got)
	}
}

// oneAtATime returns a commit of one activity through c: a new entry
// from g, delivered, naming key and adding 5 s to board.
func oneAtATime(t *testing.T, rdb goredis.UniversalClient, c *redis.Committer, g *clockIDs, board string) func(key string) pipeline.CommitResult {
	return func(key string) pipeline.CommitResult {
		t.Helper()
		id := g.next()
		deliverIDs(t, rdb, []string{id})
		res, err := c.Commit(context.Background(), []pipeline.CommitEntry{activity(id, key, board, 5, false)})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
}
