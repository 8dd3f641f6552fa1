package redis_test

import (
	"context"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/redis"
)

const (
	stream  = "in"
	group   = "g"
	dead    = "in:dead"
	session = "session_score_stream"
)

// committerBackends runs f against a real redis-server and miniredis.
func committerBackends(t *testing.T, f func(t *testing.T, rdb *goredis.Client)) {
	t.Run("redis-server", func(t *testing.T) {
		srv := redistest.Start(t)
		f(t, srv.Client(t))
	})
	t.Run("miniredis", func(t *testing.T) {
		m := miniredis.RunT(t)
		rdb := goredis.NewClient(&goredis.Options{Addr: m.Addr()})
		t.Cleanup(func() { _ = rdb.Close() })
		f(t, rdb)
	})
}

// deliver adds n entries and reads them into consumer c, returning ids.
func deliver(t *testing.T, rdb *goredis.Client, n int) []string {
	t.Helper()
	ctx := context.Background()
	if err := rdb.XGroupCreateMkStream(ctx, stream, group, "0").Err(); err != nil && !goredis.HasErrorPrefix(err, "BUSYGROUP") {
		t.Fatal(err)
	}
	var ids []string
	for i := 0; i < n; i++ {
		id, err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []string{"n", strconv.Itoa(i)}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if _, err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: group, Consumer: "c", Streams: []string{stream, ">"}, Count: int64(n), Block: -1}).Result(); err != nil {
		t.Fatal(err)
	}
	return ids
}

func newCommitter(t *testing.T, rdb *goredis.Client) *redis.Committer {
	t.Helper()
	c, err := redis.NewCommitter(rdb, redis.CommitterConfig{Stream: stream, Group: group, DeadStream: dead, SessionStream: session})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCommitterAppliesEffectsOnce(t *testing.T) {
	committerBackends(t, func(t *testing.T, rdb *goredis.Client) {
		ctx := context.Background()
		ids := deliver(t, rdb, 4)
		c := newCommitter(t, rdb)
		a, b := 0.1, 0.2
		daily := []string{"leaderboard:Development:2026-11-24", "leaderboard:work:2026-11-24"}
		entries := []pipeline.CommitEntry{
			{ID: ids[0], Increment: &pipeline.Increment{Keys: daily, Member: "u1", Delta: a}},
			{ID: ids[1], Increment: &pipeline.Increment{Keys: daily, Member: "u1", Delta: b},
				SessionEnd: &pipeline.SessionEnd{UserID: "u1", SessionDate: "2026-11-24", Session: 3}},
			{ID: ids[2], Increment: &pipeline.Increment{Keys: daily[:1], Member: "u2", Delta: 1e-7}},
			{ID: ids[3], Dead: &pipeline.DeadLetter{Reason: "duration: bad", Kind: "bad_duration", Fields: []string{"userId", "u3", "duration", "NaN"}}},
		}
		res, err := c.Commit(ctx, entries)
		if err != nil {
			t.Fatal(err)
		}
		if res.Applied != 4 || res.Skipped != 0 {
			t.Fatalf("first commit = %+v, want 4 applied", res)
		}
		// The same batch again (a redelivery, or a retry after a lost reply)
		// changes nothing.
		res, err = c.Commit(ctx, entries)
		if err != nil {
			t.Fatal(err)
		}
		if res.Applied != 0 || res.Skipped != 4 {
			t.Fatalf("second commit = %+v, want 4 skipped", res)
		}

		if got := rdb.ZScore(ctx, daily[0], "u1").Val(); got != a+b {
			t.Errorf("u1 Development = %.17g, want %.17g (the float sum, to the last bit)", got, a+b)
		}
		if got := rdb.ZScore(ctx, daily[1], "u1").Val(); got != a+b {
			t.Errorf("u1 work = %.17g", got)
		}
		if got := rdb.ZScore(ctx, daily[0], "u2").Val(); got != 1e-7 {
			t.Errorf("u2 = %.17g, want 1e-7", got)
		}
		if n := rdb.ZCard(ctx, daily[1]).Val(); n != 1 {
			t.Errorf("work board has %d members, want 1 (u2 is not work)", n)
		}
		ses := rdb.XRange(ctx, session, "-", "+").Val()
		if len(ses) != 1 || ses[0].Values["userId"] != "u1" || ses[0].Values["sessionDate"] != "2026-11-24" || ses[0].Values["session"] != "3" {
			t.Errorf("session stream = %+v, want one event u1 2026-11-24 3", ses)
		}
		dl := rdb.XRange(ctx, dead, "-", "+").Val()
		if len(dl) != 1 || dl[0].Values["dead.id"] != ids[3] || dl[0].Values["dead.reason"] != "duration: bad" ||
			dl[0].Values["dead.kind"] != "bad_duration" || dl[0].Values["userId"] != "u3" || dl[0].Values["duration"] != "NaN" {
			t.Errorf("dead stream = %+v", dl)
		}
		if p := rdb.XPending(ctx, stream, group).Val(); p.Count != 0 {
			t.Errorf("pending = %d, want 0", p.Count)
		}
	})
}

func TestCommitterSkipsEntriesAckedElsewhere(t *testing.T) {
	committerBackends(t, func(t *testing.T, rdb *goredis.Client) {
		ctx := context.Background()
		ids := deliver(t, rdb, 2)
		// Another consumer committed ids[0] first.
		if err := rdb.XAck(ctx, stream, group, ids[0]).Err(); err != nil {
			t.Fatal(err)
		}
		key := "leaderboard:Game:2026-W48"
		res, err := newCommitter(t, rdb).Commit(ctx, []pipeline.CommitEntry{
			{ID: ids[0], Increment: &pipeline.Increment{Keys: []string{key}, Member: "u", Delta: 100},
				SessionEnd: &pipeline.SessionEnd{UserID: "u", SessionDate: "2026-11-24", Session: 1}},
			{ID: ids[1], Increment: &pipeline.Increment{Keys: []string{key}, Member: "u", Delta: 5}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Applied != 1 || res.Skipped != 1 {
			t.Fatalf("commit = %+v, want 1 applied 1 skipped", res)
		}
		if got := rdb.ZScore(ctx, key, "u").Val(); got != 5 {
			t.Errorf("score = %v, want 5 (the skipped entry must not count)", got)
		}
		if n := rdb.XLen(ctx, session).Val(); n != 0 {
			t.Errorf("session events = %d, want 0 (the skipped entry's)", n)
		}
	})
}

func TestCommitterRefusesWrongTypeBeforeWriting(t *testing.T) {
	committerBackends(t, func(t *testing.T, rdb *goredis.Client) {
		ctx := context.Background()
		ids := deliver(t, rdb, 2)
		good, bad := "leaderboard:SNS:2026-M11", "leaderboard:Game:2026-M11"
		if err := rdb.Set(ctx, bad, "not a zset", 0).Err(); err != nil {
			t.Fatal(err)
		}
		_, err := newCommitter(t, rdb).Commit(ctx, []pipeline.CommitEntry{
			{ID: ids[0], Increment: &pipeline.Increment{Keys: []string{good}, Member: "u", Delta: 1}},
			{ID: ids[1], Increment: &pipeline.Increment{Keys: []string{bad}, Member: "u", Delta: 1}},
		})
		if err == nil {
			t.Fatal("commit onto a string key succeeded")
		}
		if rdb.Exists(ctx, good).Val() != 0 {
			t.Error("a failed commit applied some effects")
		}
		if p := rdb.XPending(ctx, stream, group).Val(); p.Count != 2 {
			t.Errorf("pending = %d, want 2: nothing may be acknowledged", p.Count)
		}
	})
}

func TestCommitterAggregatesLargeBatch(t *testing.T) {
	committerBackends(t, func(t *testing.T, rdb *goredis.Client) {
		ctx := context.Background()
		const n = 1000
		ids := deliver(t, rdb, n)
		entries := make([]pipeline.CommitEntry, n)
		want := map[string]float64{}
		for i, id := range ids {
			user := "u" + strconv.Itoa(i%7)
			d := float64(i%300) + 0.25
			entries[i] = pipeline.CommitEntry{ID: id, Increment: &pipeline.Increment{
				Keys: []string{"leaderboard:Design:2026-11-24", "leaderboard:Design:2026-W48"}, Member: user, Delta: d}}
			want[user] += d
		}
		res, err := newCommitter(t, rdb).Commit(ctx, entries)
		if err != nil || res.Applied != n {
			t.Fatalf("commit = %+v, %v", res, err)
		}
		for user, w := range want {
			got := rdb.ZScore(ctx, "leaderboard:Design:2026-W48", user).Val()
			if math.Abs(got-w) > 1e-9*w {
				t.Errorf("%s = %v, want %v", user, got, w)
			}
		}
	})
}

func TestCommitterEmptyBatch(t *testing.T) {
	c, err := redis.NewCommitter(goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"}), redis.CommitterConfig{Stream: "s", Group: "g", DeadStream: "d", SessionStream: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.Commit(context.Background(), nil); err != nil || res != (pipeline.CommitResult{}) {
		t.Fatalf("empty commit = %+v, %v", res, err)
	}
	if _, err := redis.NewCommitter(nil, redis.CommitterConfig{}); err == nil {
		t.Fatal("empty config accepted")
	}
}

func TestCommitterSetsRetention(t *testing.T) {
	committerBackends(t, func(t *testing.T, rdb *goredis.Client) {
		ctx := context.Background()
		ids := deliver(t, rdb, 2)
		if err := rdb.XAck(ctx, stream, group, ids[1]).Err(); err != nil { // committed elsewhere
			t.Fatal(err)
		}
		day, forever, skipped := "leaderboard:SNS:2026-11-24", "leaderboard:SNS:2026-M11", "leaderboard:Game:2026-11-24"
		_, err := newCommitter(t, rdb).Commit(ctx, []pipeline.CommitEntry{
			{ID: ids[0], Increment: &pipeline.Increment{Keys: []string{day, forever}, TTLs: []time.Duration{48 * time.Hour, 0}, Member: "u", Delta: 1}},
			{ID: ids[1], Increment: &pipeline.Increment{Keys: []string{skipped}, TTLs: []time.Duration{time.Hour}, Member: "u", Delta: 1}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if ttl := rdb.TTL(ctx, day).Val(); ttl <= 47*time.Hour || ttl > 48*time.Hour {
			t.Errorf("daily key TTL = %v, want ~48h", ttl)
		}
		if ttl := rdb.TTL(ctx, forever).Val(); ttl >= 0 {
			t.Errorf("key without retention has TTL %v", ttl)
		}
		if n := rdb.Exists(ctx, skipped).Val(); n != 0 {
			t.Errorf("a skipped entry's key was touched")
		}
	})
}

func TestCommitterCapsDeadLetters(t *testing.T) {
	committerBackends(t, func(t *testing.T, rdb *goredis.Client) {
		ctx := context.Background()
		ids := deliver(t, rdb, 300)
		c, err := redis.NewCommitter(rdb, redis.CommitterConfig{Stream: stream, Group: group, DeadStream: dead, SessionStream: session, DeadMaxLen: 100})
		if err != nil {
			t.Fatal(err)
		}
		var entries []pipeline.CommitEntry
		for _, id := range ids {
			entries = append(entries, pipeline.CommitEntry{ID: id, Dead: &pipeline.DeadLetter{Reason: "r", Kind: "k", Fields: []string{"a", "b"}}})
		}
		if _, err := c.Commit(ctx, entries); err != nil {
			t.Fatal(err)
		}
		if n := rdb.XLen(ctx, dead).Val(); n < 100 || n >= 300 {
			t.Errorf("dead letters kept = %d, want about 100 (MAXLEN ~)", n)
		}
	})
}
