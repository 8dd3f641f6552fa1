package redis_test

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/redis"
)

// A shadow run reads the live stream in its own group and commits the same
// activities before (or after) the live service does. With its own state
// namespace, the live committer never takes an activity the shadow
// committed for a producer retry (which would lose it from the live
// leaderboards), the shadow's intents never stand for live entries, and
// the shadow emits no session event; each still deduplicates its own
// retries. On a real redis-server, in one script and in three steps.
func TestShadowNamespaceKeepsLiveDedupApart(t *testing.T) {
	for _, three := range []bool{false, true} {
		name := map[bool]string{false: "one-script", true: "three-steps"}[three]
		t.Run(name, func(t *testing.T) {
			srv := redistest.Start(t)
			rdb := srv.Client(t)
			ctx := context.Background()
			const shadowGroup, shadowBoard, liveBoard = "pomocore_shadow", "pomocore-shadow:Development:2026-11-24", "leaderboard:Development:2026-11-24"
			if err := rdb.XGroupCreateMkStream(ctx, stream, shadowGroup, "0").Err(); err != nil {
				t.Fatal(err)
			}
			ids := deliver(t, rdb, 2) // creates the live group g and reads into it
			if err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: shadowGroup, Consumer: "s", Streams: []string{stream, ">"}, Block: -1}).Err(); err != nil {
				t.Fatal(err)
			}
			newC := redis.NewCommitter
			if three {
				newC = redis.NewThreeStepCommitter
			}
			shadow, err := newC(rdb, redis.CommitterConfig{Stream: stream, Group: shadowGroup, DeadStream: stream + ":shadow-dead",
				SessionStream: session, DedupWindow: 2 * time.Hour, Namespace: "shadow:" + shadowGroup, NoSessionEvents: true})
			if err != nil {
				t.Fatal(err)
			}
			live := newCommitterWith(t, rdb, three)

			// The shadow commits both entries first: the second is the
			// producer's retry of the first activity.
			res, err := shadow.Commit(ctx, []pipeline.CommitEntry{activity(ids[0], "k1", shadowBoard, 10, true), activity(ids[1], "k1", shadowBoard, 10, true)})
			if err != nil || res.Applied != 2 || res.Duplicates != 1 {
				t.Fatalf("shadow commit = %+v, %v; want 2 applied, 1 duplicate (its own dedup)", res, err)
			}
			for _, k := range []string{redis.SeenKey(stream, "", "k1"), redis.StateKey(stream, "", "intent"), redis.StateKey(stream, "", "tokens")} {
				if n := rdb.Exists(ctx, k).Val(); n != 0 {
					t.Errorf("the shadow wrote the live committer's %s", k)
				}
			}
			if k := redis.SeenKey(stream, "shadow:"+shadowGroup, "k1"); rdb.Exists(ctx, k).Val() != 1 {
				t.Errorf("the shadow's own seen key %s is missing", k)
			}
			if n := rdb.XLen(ctx, session).Val(); n != 0 {
				t.Errorf("session events after the shadow = %d, want 0", n)
			}

			// The live service commits the same activity: it counts once.
			res, err = live.Commit(ctx, []pipeline.CommitEntry{activity(ids[0], "k1", liveBoard, 10, true), activity(ids[1], "k1", liveBoard, 10, true)})
			if err != nil || res.Applied != 2 || res.Duplicates != 1 {
				t.Fatalf("live commit = %+v, %v; want 2 applied, 1 duplicate", res, err)
			}
			if got := rdb.ZScore(ctx, liveBoard, "u").Val(); got != 10 {
				t.Errorf("live board = %v, want 10: the shadow's commit must not make the live one a duplicate", got)
			}
			if got := rdb.ZScore(ctx, shadowBoard, "u").Val(); got != 10 {
				t.Errorf("shadow board = %v, want 10", got)
			}
			if n := rdb.XLen(ctx, session).Val(); n != 1 {
				t.Errorf("session events = %d, want 1 (the live one)", n)
			}
			for _, g := range []string{group, shadowGroup} {
				if p := rdb.XPending(ctx, stream, g).Val(); p.Count != 0 {
					t.Errorf("pending in %s = %d, want 0", g, p.Count)
				}
			}
		})
	}
}

// A namespace must keep the state keys in the stream's slot.
func TestCommitterNamespaceRefusesBraces(t *testing.T) {
	err := redis.CommitterConfig{Stream: stream, Group: group, DeadStream: dead, SessionStream: session, Namespace: "a{b}"}.Validate()
	if err == nil {
		t.Fatal("a namespace with braces was accepted")
	}
	if got := redis.StateKey("pattern_match_stream", "shadow:g", "intent"); got != "{pattern_match_stream}:shadow:g:intent" {
		t.Errorf("StateKey = %q", got)
	}
	if got := redis.SeenKeys("pattern_match_stream", "shadow:g")[7]; got != "{pattern_match_stream:shadow:g:seen:07}" {
		t.Errorf("SeenKeys = %q", got)
	}
	if got := redis.SeenKeys("a{b}", "")[0]; got != "{a(b):seen:00}" {
		t.Errorf("SeenKeys of a stream with braces = %q: each shard must keep a hash tag of its own", got)
	}
}
