package redis_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/internal/logtest"
	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/redis"
)

// entry is a commit entry adding seconds to u's score on board.
func entry(id, board string, seconds float64) pipeline.CommitEntry {
	return pipeline.CommitEntry{ID: id, Increment: &pipeline.Increment{Keys: []string{board}, Member: "u", Delta: seconds}}
}

// Issue 19 item 1: XGROUP DESTROY while running recreated the group at 0,
// and every entry was processed, and every leaderboard cell counted, again.
func TestGroupDestroyedWhileRunningIsRecreatedWhereItWas(t *testing.T) {
	for _, mode := range []string{"one-script", "three-steps"} {
		t.Run(mode, func(t *testing.T) {
			rdb := redistest.Start(t).Client(t)
			ctx := context.Background()
			log, logs := logtest.Logger()
			r, err := redis.NewReader(rdb, redis.ReaderConfig{Stream: stream, Group: group, Consumer: "c1", Log: log})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.EnsureGroup(ctx); err != nil {
				t.Fatal(err)
			}
			c := newCommitterWith(t, rdb, mode == "three-steps")
			for range 5 {
				xadd(t, rdb, "userId", "u")
			}
			msgs, err := r.Read(ctx, 10, -1)
			if err != nil || len(msgs) != 5 {
				t.Fatalf("read %d, %v", len(msgs), err)
			}
			var batch []pipeline.CommitEntry
			for _, m := range msgs {
				batch = append(batch, entry(m.ID, "board", 1))
			}
			if _, err := c.Commit(ctx, batch); err != nil {
				t.Fatal(err)
			}
			late := xadd(t, rdb, "userId", "late")
			if err := rdb.XGroupDestroy(ctx, stream, group).Err(); err != nil {
				t.Fatal(err)
			}
			msgs, err = r.Read(ctx, 100, -1)
			if err != nil {
				t.Fatalf("read after XGROUP DESTROY: %v", err)
			}
			if len(msgs) != 1 || msgs[0].ID != late {
				t.Fatalf("read %d entries after XGROUP DESTROY, want only the one not committed (%s): %+v", len(msgs), late, msgs)
			}
			if _, err := c.Commit(ctx, []pipeline.CommitEntry{entry(late, "board", 1)}); err != nil {
				t.Fatal(err)
			}
			if got := rdb.ZScore(ctx, "board", "u").Val(); got != 6 {
				t.Errorf("board score = %v, want 6 (5 before, 1 after; nothing twice)", got)
			}
			if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "vanished") {
				t.Errorf("no error-level log of the recreation: %q", logs.String())
			}
		})
	}
}

// A Reader that never saw the group, finding it and its recorded position
// gone, stops with an error that says what to do, unless told where.
func TestGroupVanishedWithNoPositionStopsUnlessTold(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	first := xadd(t, rdb, "userId", "a")
	second := xadd(t, rdb, "userId", "b")
	cfg := redis.ReaderConfig{Stream: stream, Group: group, Consumer: "c1", Log: slog.New(slog.DiscardHandler)}

	r, _ := redis.NewReader(rdb, cfg)
	_, err := r.Read(ctx, 10, -1)
	if !errors.Is(err, redis.ErrGroupVanished) || !errors.Is(err, pipeline.ErrGroupMissing) {
		t.Fatalf("read = %v, want ErrGroupVanished and pipeline.ErrGroupMissing", err)
	}
	if !strings.Contains(err.Error(), "XGROUP CREATE") {
		t.Errorf("error %q does not say what to do", err)
	}
	if n, _ := rdb.Exists(ctx, redis.CommittedKey(stream)).Result(); n != 0 {
		t.Errorf("the failed read wrote a position")
	}
	if _, _, err := r.Claim(ctx, 0, "0-0", 10); !errors.Is(err, redis.ErrGroupVanished) {
		t.Errorf("claim = %v, want ErrGroupVanished", err)
	}

	resumed := cfg
	resumed.Resume = func(context.Context) (string, error) { return first, nil }
	r, _ = redis.NewReader(rdb, resumed)
	msgs, err := r.Read(ctx, 10, -1)
	if err != nil || len(msgs) != 1 || msgs[0].ID != second {
		t.Fatalf("read with Resume at %s = %+v, %v; want only %s", first, msgs, err, second)
	}

	if err := rdb.XGroupDestroy(ctx, stream, group).Err(); err != nil {
		t.Fatal(err)
	}
	rdb.Del(ctx, redis.CommittedKey(stream))
	newOnly := cfg
	newOnly.RecreateAt = redis.RecreateNew
	r, _ = redis.NewReader(rdb, newOnly)
	if msgs, err := r.Read(ctx, 10, -1); err != nil || len(msgs) != 0 {
		t.Fatalf("read with RecreateAt $ = %+v, %v; want nothing", msgs, err)
	}
	third := xadd(t, rdb, "userId", "c")
	if msgs, err := r.Read(ctx, 10, -1); err != nil || len(msgs) != 1 || msgs[0].ID != third {
		t.Fatalf("read = %+v, %v; want %s", msgs, err, third)
	}

	bad := cfg
	bad.RecreateAt = "1-0"
	if _, err := redis.NewReader(rdb, bad); err == nil {
		t.Error("RecreateAt 1-0 accepted")
	}
}

// A group missing at start while a commit was recorded vanished while no
// process ran: EnsureGroup recreates it where it was, not at StartID.
func TestEnsureGroupRecreatesAVanishedGroupWhereItWas(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	r := newReader(t, rdb, "c1")
	xadd(t, rdb, "userId", "a")
	msgs, _ := r.Read(ctx, 10, -1)
	if _, err := newCommitter(t, rdb).Commit(ctx, []pipeline.CommitEntry{entry(msgs[0].ID, "board", 1)}); err != nil {
		t.Fatal(err)
	}
	rdb.XGroupDestroy(ctx, stream, group)
	next := xadd(t, rdb, "userId", "b")
	r2 := newReader(t, rdb, "c2") // a fresh process
	msgs, err := r2.Read(ctx, 10, -1)
	if err != nil || len(msgs) != 1 || msgs[0].ID != next {
		t.Fatalf("fresh reader read %+v, %v; want only %s", msgs, err, next)
	}
}

// readBefore is a go-redis hook that, before the first command it sees
// other than XINFO, lets a consumer read an entry: what a consumer does
// between the janitor's listing and its deletion.
type readBefore struct {
	rdb  goredis.UniversalClient
	done bool
}

func (h *readBefore) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (h *readBefore) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}
func (h *readBefore) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if !h.done && cmd.Name() != "xinfo" {
			h.done = true
			h.rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: group, Consumer: "victim", Streams: []string{stream, ">"}, Count: 1, Block: -1})
		}
		return next(ctx, cmd)
	}
}

// Issue 19 item 5: the janitor listed consumers, then deleted one that had
// taken entries in between, and its pending entries with it.
func TestConsumerJanitorNeverDeletesAConsumerThatJustTookEntries(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	newReader(t, rdb, "me")
	if err := rdb.XGroupCreateConsumer(ctx, stream, group, "victim").Err(); err != nil {
		t.Fatal(err)
	}
	id := xadd(t, rdb, "userId", "u")
	janitorClient := srv.Client(t)
	janitorClient.AddHook(&readBefore{rdb: rdb})
	j, err := redis.NewReader(janitorClient, redis.ReaderConfig{Stream: stream, Group: group, Consumer: "me"})
	if err != nil {
		t.Fatal(err)
	}
	n, err := j.RemoveIdleConsumers(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: stream, Group: group, Start: "-", End: "+", Count: 10}).Result()
	if n != 0 || len(p) != 1 || p[0].ID != id || p[0].Consumer != "victim" {
		t.Errorf("removed %d consumers, pending %+v; want none removed and %s still pending for victim", n, p, id)
	}
	// Once idle with nothing pending, it goes.
	rdb.XAck(ctx, stream, group, id)
	if n, err := j.RemoveIdleConsumers(ctx, 0); err != nil || n != 1 {
		t.Errorf("removed %d, %v; want the idle victim removed", n, err)
	}
}

// Issue 19 item 1, found by the chaos harness: entries in flight at
// another consumer when the group is destroyed were below the recorded
// position (the largest acknowledged id) and never delivered again. The
// mark is a low-water mark: the group is recreated below the oldest entry
// still pending, the in-flight entries come again, and entries committed
// above them are acknowledged without effects (their activity is in the
// dedup window).
func TestGroupDestroyedWithEntriesInFlightElsewhereLosesNone(t *testing.T) {
	for _, mode := range []string{"one-script", "three-steps"} {
		t.Run(mode, func(t *testing.T) {
			rdb := redistest.Start(t).Client(t)
			ctx := context.Background()
			reader := func(consumer string) *redis.Reader {
				r, err := redis.NewReader(rdb, redis.ReaderConfig{Stream: stream, Group: group, Consumer: consumer,
					Log: slog.New(slog.DiscardHandler)})
				if err != nil {
					t.Fatal(err)
				}
				if err := r.EnsureGroup(ctx); err != nil {
					t.Fatal(err)
				}
				return r
			}
			slow, fast := reader("slow"), reader("fast")
			c := newCommitterWith(t, rdb, mode == "three-steps")
			keyed := func(id string, n int) pipeline.CommitEntry {
				e := entry(id, "board", 1)
				e.DedupKey = fmt.Sprintf("log-%d", n)
				return e
			}
			ids := map[string]int{}
			for i := range 6 {
				ids[xadd(t, rdb, "userId", "u")] = i
			}
			inFlight, err := slow.Read(ctx, 3, -1)
			if err != nil || len(inFlight) != 3 {
				t.Fatalf("slow read %d, %v", len(inFlight), err)
			}
			done, err := fast.Read(ctx, 3, -1)
			if err != nil || len(done) != 3 {
				t.Fatalf("fast read %d, %v", len(done), err)
			}
			var batch []pipeline.CommitEntry
			for _, m := range done {
				batch = append(batch, keyed(m.ID, ids[m.ID]))
			}
			if _, err := c.Commit(ctx, batch); err != nil {
				t.Fatal(err)
			}
			if err := rdb.XGroupDestroy(ctx, stream, group).Err(); err != nil {
				t.Fatal(err)
			}
			again, err := fast.Read(ctx, 100, -1)
			if err != nil {
				t.Fatalf("read after XGROUP DESTROY: %v", err)
			}
			got := map[string]bool{}
			batch = batch[:0]
			for _, m := range again {
				got[m.ID] = true
				batch = append(batch, keyed(m.ID, ids[m.ID]))
			}
			for _, m := range inFlight {
				if !got[m.ID] {
					t.Errorf("entry %s, in flight at another consumer, not delivered again", m.ID)
				}
			}
			res, err := c.Commit(ctx, batch)
			if err != nil {
				t.Fatal(err)
			}
			if score := rdb.ZScore(ctx, "board", "u").Val(); score != 6 {
				t.Errorf("board score = %v, want 6 (each entry once); commit %+v", score, res)
			}
		})
	}
}
