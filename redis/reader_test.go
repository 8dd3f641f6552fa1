package redis_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/redis"
)

// backend is a Redis under test: a client and a way to age pending entries.
type backend struct {
	name string
	rdb  goredis.UniversalClient
	// age makes entries pending now look idle for d.
	age func(d time.Duration)
}

func readerBackends(t *testing.T, f func(t *testing.T, b backend)) {
	// Reset the idle time of every pending entry to d with XCLAIM IDLE,
	// keeping its owner and without counting a delivery.
	ageOn := func(rdb goredis.UniversalClient) func(d time.Duration) {
		return func(d time.Duration) {
			ctx := context.Background()
			ps, _ := rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: stream, Group: group, Start: "-", End: "+", Count: 1000}).Result()
			for _, p := range ps {
				rdb.Do(ctx, "XCLAIM", stream, group, p.Consumer, 0, p.ID, "IDLE", d.Milliseconds(), "JUSTID")
			}
		}
	}
	t.Run("redis-server", func(t *testing.T) {
		rdb := redistest.Start(t).Client(t)
		f(t, backend{name: "redis-server", rdb: rdb, age: ageOn(rdb)})
	})
	t.Run("cluster", func(t *testing.T) {
		if testing.Short() {
			t.Skip("short: no cluster")
		}
		rdb := redistest.StartCluster(t, 3, 0).Client(t)
		f(t, backend{name: "cluster", rdb: rdb, age: ageOn(rdb)})
	})
	t.Run("miniredis", func(t *testing.T) {
		m := miniredis.RunT(t)
		rdb := goredis.NewClient(&goredis.Options{Addr: m.Addr()})
		t.Cleanup(func() { _ = rdb.Close() })
		var offset time.Duration // miniredis's clock runs ahead by the total aging
		f(t, backend{name: "miniredis", rdb: rdb, age: func(d time.Duration) {
			offset += d
			m.SetTime(time.Now().Add(offset))
		}})
	})
}

func newReader(t *testing.T, rdb goredis.UniversalClient, consumer string) *redis.Reader {
	t.Helper()
	r, err := redis.NewReader(rdb, redis.ReaderConfig{Stream: stream, Group: group, Consumer: consumer})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.EnsureGroup(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

func xadd(t *testing.T, rdb goredis.UniversalClient, fields ...string) string {
	t.Helper()
	// Raw XADD keeps duplicated field names, as a producer may send them.
	args := []any{"XADD", stream, "*"}
	for _, f := range fields {
		args = append(args, f)
	}
	id, err := rdb.Do(context.Background(), args...).Text()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestReaderContract(t *testing.T) {
	readerBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		rdb := b.rdb
		// Written before the group exists: must still be read (group at 0).
		first := xadd(t, rdb, "userId", "u1", "duration", "1", "duration", "2")
		r := newReader(t, rdb, "c1")
		xadd(t, rdb, "userId", "u2")
		xadd(t, rdb, "userId", "u3")

		msgs, err := r.Read(ctx, 2, -1)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 2 || msgs[0].ID != first || msgs[0].Deliveries != 1 {
			t.Fatalf("read = %+v", msgs)
		}
		if got := msgs[0].Fields; len(got) != 6 || got[2] != "duration" || got[3] != "1" || got[4] != "duration" || got[5] != "2" {
			t.Errorf("fields = %q, want duplicates in order", got)
		}
		msgs, _ = r.Read(ctx, 10, -1)
		if len(msgs) != 1 {
			t.Fatalf("second read = %d entries, want 1", len(msgs))
		}
		msgs, err = r.Read(ctx, 10, 20*time.Millisecond)
		if err != nil || len(msgs) != 0 {
			t.Fatalf("empty blocking read = %v, %v", msgs, err)
		}

		// A blocked read is woken by an XADD.
		got := make(chan []string, 1)
		go func() {
			m, err := r.Read(ctx, 10, 5*time.Second)
			if err != nil || len(m) != 1 {
				got <- nil
				return
			}
			got <- m[0].Fields
		}()
		// The XADD may land before or during the block: either way the read
		// returns it.
		xadd(t, rdb, "userId", "late")
		if f := <-got; len(f) != 2 || f[1] != "late" {
			t.Errorf("woken read = %q", f)
		}

		// A restarted consumer of the same name re-reads its own pending
		// entries, now delivered twice.
		r2 := newReader(t, rdb, "c1")
		msgs, err = r2.Pending(ctx, "0", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 4 || msgs[0].ID != first || msgs[0].Deliveries != 2 {
			t.Fatalf("pending = %+v, want 4 entries delivered twice", msgs)
		}
		after, _ := r2.Pending(ctx, msgs[1].ID, 10)
		if len(after) != 2 {
			t.Errorf("pending after %s = %d, want 2", msgs[1].ID, len(after))
		}

		// Another consumer reclaims entries idle longer than minIdle.
		other := newReader(t, rdb, "c2")
		claimed, _, err := other.Claim(ctx, time.Minute, "0-0", 10)
		if err != nil || len(claimed) != 0 {
			t.Fatalf("claim of fresh entries = %v, %v", claimed, err)
		}
		b.age(2 * time.Minute)
		claimed, next, err := other.Claim(ctx, time.Minute, "0-0", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(claimed) != 4 || next != "0-0" || claimed[0].Deliveries != 3 || len(claimed[0].Fields) != 6 {
			t.Fatalf("claimed = %+v next %s", claimed, next)
		}

		// An entry deleted while pending comes back Deleted.
		if err := rdb.XDel(ctx, stream, first).Err(); err != nil {
			t.Fatal(err)
		}
		own, err := other.Pending(ctx, "0", 10)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case b.name == "miniredis" && len(own) == 3 && !own[0].Deleted:
			// miniredis leaves deleted entries out of the history instead
			// of returning them with nil fields, as Redis does.
		case len(own) != 4 || !own[0].Deleted || own[1].Deleted:
			t.Errorf("pending after XDEL = %+v", own)
		}

		// XAUTOCLAIM reports a deleted entry and Redis drops it from the PEL
		// (on redis-server, the aging XCLAIM may already have dropped it).
		b.age(2 * time.Minute)
		claimed, _, err = newReader(t, rdb, "c3").Claim(ctx, time.Minute, "0-0", 10)
		if err != nil {
			t.Fatal(err)
		}
		deleted := 0
		for _, m := range claimed {
			if m.Deleted {
				deleted++
				if m.ID != first {
					t.Errorf("deleted %s, want %s", m.ID, first)
				}
			}
		}
		if deleted > 1 || len(claimed)-deleted != 3 {
			t.Errorf("claim after XDEL = %+v, want 3 entries (and the deleted one reported)", claimed)
		}
		if p := rdb.XPending(ctx, stream, group).Val(); b.name == "redis-server" && p.Count != 3 {
			t.Errorf("pending after the claim = %d, want 3: the deleted entry is gone", p.Count)
		}
	})
}

func TestReaderRecreatesVanishedGroup(t *testing.T) {
	readerBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		r := newReader(t, b.rdb, "c1")
		// Redis restarted without persistence: stream and group are gone.
		if err := b.rdb.FlushAll(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		xadd(t, b.rdb, "userId", "after-restart")
		msgs, err := r.Read(ctx, 10, -1)
		if err != nil {
			t.Fatalf("read after the group vanished: %v", err)
		}
		if len(msgs) != 1 {
			t.Errorf("read %d entries, want the one written after the restart", len(msgs))
		}
		if err := b.rdb.XGroupDestroy(ctx, stream, group).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Pending(ctx, "0", 10); err != nil {
			t.Fatalf("pending after XGROUP DESTROY: %v", err)
		}
		if _, _, err := r.Claim(ctx, time.Second, "0-0", 10); err != nil {
			t.Fatalf("claim: %v", err)
		}
	})
}

func TestReaderRemovesIdleConsumers(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	r := newReader(t, rdb, "me")
	for _, c := range []string{"gone", "busy"} {
		if err := rdb.XGroupCreateConsumer(ctx, stream, group, c).Err(); err != nil {
			t.Fatal(err)
		}
	}
	xadd(t, rdb, "userId", "u")
	if _, err := newReader(t, rdb, "busy").Read(ctx, 1, -1); err != nil {
		t.Fatal(err)
	}
	n, err := r.RemoveIdleConsumers(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	cs, _ := rdb.XInfoConsumers(ctx, stream, group).Result()
	if n != 1 || len(cs) != 1 || cs[0].Name != "busy" {
		t.Errorf("removed %d, left %+v; want only 'gone' removed (busy has pending)", n, cs)
	}
	if _, err := redis.NewReader(rdb, redis.ReaderConfig{}); err == nil {
		t.Error("empty config accepted")
	}
}

func TestTrimConsumedKeepsWhatAnyGroupNeeds(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	r := newReader(t, rdb, "c1")
	var ids []string
	for i := 0; i < 6; i++ {
		ids = append(ids, xadd(t, rdb, "userId", "u"))
	}
	// Another group (another consumer of the stream) has read only 2.
	if err := rdb.XGroupCreate(ctx, stream, "other", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "other", Consumer: "x", Streams: []string{stream, ">"}, Count: 2, Block: -1}).Result(); err != nil {
		t.Fatal(err)
	}
	rdb.XAck(ctx, stream, "other", ids[0], ids[1])
	// Ours read all 6 and acknowledged the first 4.
	msgs, _ := r.Read(ctx, 10, -1)
	for _, m := range msgs[:4] {
		rdb.XAck(ctx, stream, group, m.ID)
	}
	n, err := r.TrimConsumed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || rdb.XLen(ctx, stream).Val() != 4 {
		t.Errorf("trimmed %d, left %d; want 2 trimmed (the other group still needs the rest)", n, rdb.XLen(ctx, stream).Val())
	}
	if err := rdb.XGroupDestroy(ctx, stream, "other").Err(); err != nil {
		t.Fatal(err)
	}
	if n, _ := r.TrimConsumed(ctx); n != 2 || rdb.XLen(ctx, stream).Val() != 2 {
		t.Errorf("trimmed %d, left %d; want the 2 ours still has pending left", n, rdb.XLen(ctx, stream).Val())
	}
}

func TestTrimConsumedAlsoTrimsTheSessionStream(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	r, err := redis.NewReader(rdb, redis.ReaderConfig{Stream: stream, Group: group, Consumer: "c", AlsoTrim: []string{"sessions", "no-such-stream"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "sessions", Values: []string{"userId", "u"}})
	}
	if n, err := r.TrimConsumed(ctx); err != nil || n != 0 {
		t.Fatalf("without a group on sessions: trimmed %d, %v", n, err)
	}
	rdb.XGroupCreate(ctx, "sessions", "session_score_group", "0")
	got, _ := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "session_score_group", Consumer: "main", Streams: []string{"sessions", ">"}, Count: 2, Block: -1}).Result()
	for _, m := range got[0].Messages {
		rdb.XAck(ctx, "sessions", "session_score_group", m.ID)
	}
	if n, err := r.TrimConsumed(ctx); err != nil || n != 2 || rdb.XLen(ctx, "sessions").Val() != 1 {
		t.Errorf("trimmed %d (%v), left %d; want the 2 the main server acknowledged", n, err, rdb.XLen(ctx, "sessions").Val())
	}
}

// The main server created leaderboard_group on the input stream and never
// reads it: trimming waits for it only when not told to ignore it, and for
// at most the maximum age when one is set; a group not ignored is always
// waited for.
func TestMainServerUnreadLeaderboardGroupDoesNotStallTrimming(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	base := time.Now()
	var ids []string
	for i := range 6 {
		id, err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: stream, ID: strconv.FormatInt(base.Add(time.Duration(i)*time.Hour).UnixMilli(), 10) + "-0",
			Values: []string{"userId", "u"}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rdb.XGroupCreate(ctx, stream, "leaderboard_group", "0").Err(); err != nil {
		t.Fatal(err)
	}
	read := func(r *redis.Reader, n int) {
		msgs, err := r.Read(ctx, n, -1)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			rdb.XAck(ctx, stream, group, m.ID)
		}
	}
	plain := newReader(t, rdb, "c")
	read(plain, 4)
	if n, err := plain.TrimConsumed(ctx); err != nil || n != 0 {
		t.Fatalf("not ignored: trimmed %d, %v; want 0 (leaderboard_group needs everything)", n, err)
	}
	// Ignored, with a maximum age: entries older than it go, for the
	// ignored group; our group still needs ids[4:].
	now := base.Add(150 * time.Minute) // ids[0..2] are older than 1h
	aged, err := redis.NewReader(rdb, redis.ReaderConfig{Stream: stream, Group: group, Consumer: "c",
		TrimIgnoreGroups: []string{"leaderboard_group"}, TrimMaxAge: time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := aged.TrimConsumed(ctx); err != nil || n != 2 {
		t.Fatalf("ignored for 1h: trimmed %d, %v; want 2 (ids[0], ids[1] are over 1h old)", n, err)
	}
	ignored, err := redis.NewReader(rdb, redis.ReaderConfig{Stream: stream, Group: group, Consumer: "c", TrimIgnoreGroups: []string{"leaderboard_group"}})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := ignored.TrimConsumed(ctx); err != nil || n != 2 {
		t.Fatalf("ignored: trimmed %d, %v; want the 2 more our group acknowledged", n, err)
	}
	if first := rdb.XRange(ctx, stream, "-", "+").Val(); len(first) != 2 || first[0].ID != ids[4] {
		t.Errorf("left %v, want ids[4:] (our group has not read them)", first)
	}
	if _, err := redis.NewReader(rdb, redis.ReaderConfig{Stream: stream, Group: group, Consumer: "c", TrimMaxAge: -1}); err == nil {
		t.Error("negative max age accepted")
	}
}
