package redis_test

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/redis"
)

// addActivity adds an entry naming activity key (its pomodoroUsageLogId)
// to the test stream and returns its id.
func addActivity(t *testing.T, rdb goredis.UniversalClient, key string) string {
	t.Helper()
	vals := []string{"userId", "u"}
	if key != "" {
		vals = append(vals, "pomodoroUsageLogId", key)
	}
	id, err := rdb.XAdd(context.Background(), &goredis.XAddArgs{Stream: stream, Values: vals}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// retryCounts commits a producer retry of key (a new stream entry) and
// reports whether it added to board.
func retryCounts(t *testing.T, rdb goredis.UniversalClient, c *redis.Committer, key, board string) bool {
	t.Helper()
	ctx := context.Background()
	id := addActivity(t, rdb, key)
	if _, err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: group, Consumer: "pomocore", Streams: []string{stream, ">"}, Count: 1, Block: -1}).Result(); err != nil {
		t.Fatal(err)
	}
	before, _ := rdb.ZScore(ctx, board, "u").Result()
	if _, err := c.Commit(ctx, []pipeline.CommitEntry{activity(id, key, board, 5, false)}); err != nil {
		t.Fatal(err)
	}
	after, _ := rdb.ZScore(ctx, board, "u").Result()
	return after != before
}

// An activity recorded by Adopt is a duplicate for a later retry within
// the window, on every backend; Adopt is idempotent.
func TestAdoptedActivityRetryIsDuplicate(t *testing.T) {
	committerBackends(t, func(t *testing.T, rdb goredis.UniversalClient) {
		ctx := context.Background()
		if err := rdb.XGroupCreateMkStream(ctx, stream, group, "$").Err(); err != nil {
			t.Fatal(err)
		}
		const k1, k2 = "65a000000000000000000001", "65a000000000000000000002"
		old := addActivity(t, rdb, k1)
		// The old service counted it and acknowledged it.
		if err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: group, Consumer: "data-server", Streams: []string{stream, ">"}, Count: 1, Block: -1}).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.XAck(ctx, stream, group, old).Err(); err != nil {
			t.Fatal(err)
		}
		c := newCommitter(t, rdb)
		n, err := c.Adopt(ctx, []redis.Adopted{{ID: old, Key: k1}})
		if err != nil || n != 1 {
			t.Fatalf("Adopt = %d, %v; want 1 recorded", n, err)
		}
		if n, err := c.Adopt(ctx, []redis.Adopted{{ID: old, Key: k1}}); err != nil || n != 0 {
			t.Fatalf("Adopt again = %d, %v; want 0 recorded", n, err)
		}
		board := "leaderboard:Development:2026-11-24"
		if retryCounts(t, rdb, c, k1, board) {
			t.Error("a retry of an adopted activity counted")
		}
		if !retryCounts(t, rdb, c, k2, board) {
			t.Error("an activity never adopted did not count")
		}
	})
}

// AdoptGroup records the group's acknowledged entries, decides the pending
// ones by the usage log (Counted: recorded and acknowledged; Uncounted and
// undecidable: left pending), reports each, and records nothing more when
// run again.
func TestAdoptGroupDecidesPendingByUsageLog(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	if err := rdb.XGroupCreateMkStream(ctx, stream, group, "$").Err(); err != nil {
		t.Fatal(err)
	}
	const acked, counted, uncounted, unknown = "65a000000000000000000001", "65a000000000000000000002", "65a000000000000000000003", "65a000000000000000000004"
	ids := map[string]string{}
	for _, k := range []string{acked, counted, uncounted, unknown, ""} {
		ids[k] = addActivity(t, rdb, k)
	}
	// The old service read them all and acknowledged the first only.
	if err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: group, Consumer: "data-server", Streams: []string{stream, ">"}, Count: 10, Block: -1}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XAck(ctx, stream, group, ids[acked]).Err(); err != nil {
		t.Fatal(err)
	}
	// Added after the old service stopped: not its history.
	addActivity(t, rdb, "65a000000000000000000005")
	decide := func(_ context.Context, keys []string) (map[string]redis.Verdict, error) {
		return map[string]redis.Verdict{counted: redis.Counted, uncounted: redis.Uncounted}, nil
	}
	c := newCommitter(t, rdb)
	rep, err := c.AdoptGroup(ctx, decide)
	if err != nil {
		t.Fatal(err)
	}
	want := redis.AdoptReport{LastDelivered: ids[""], Scanned: 5, Acknowledged: 1, PendingCounted: 1, PendingUncounted: 1, PendingUnknown: 2, Recorded: 2}
	if rep != want {
		t.Fatalf("report %+v, want %+v", rep, want)
	}
	pend, err := rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: stream, Group: group, Start: "-", End: "+", Count: 10}).Result()
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, p := range pend {
		left = append(left, p.ID)
	}
	if wantLeft := []string{ids[uncounted], ids[unknown], ids[""]}; len(left) != 3 || left[0] != wantLeft[0] || left[1] != wantLeft[1] || left[2] != wantLeft[2] {
		t.Errorf("pending after adopt %v, want %v", left, wantLeft)
	}
	if rep, err := c.AdoptGroup(ctx, decide); err != nil || rep.Recorded != 0 {
		t.Errorf("second AdoptGroup: recorded %d, %v; want 0", rep.Recorded, err)
	}
	// Move the group past the old entries so retries are read next.
	if err := rdb.XGroupSetID(ctx, stream, group, "$").Err(); err != nil {
		t.Fatal(err)
	}
	board := "leaderboard:Development:2026-11-24"
	for _, k := range []string{acked, counted} {
		if retryCounts(t, rdb, c, k, board) {
			t.Errorf("a retry of %s (counted by the old service) counted again", k)
		}
	}
	if !retryCounts(t, rdb, c, uncounted, board) {
		t.Error("a retry of an activity the old service did not count did not count")
	}
	nc, err := redis.NewCommitter(rdb, redis.CommitterConfig{Stream: stream, Group: "nope", DeadStream: dead, SessionStream: session, DedupWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.AdoptGroup(ctx, decide); !errors.Is(err, redis.ErrNoGroup) {
		t.Errorf("AdoptGroup of a missing group: %v, want ErrNoGroup", err)
	}
}

// categoriesOf is usage logs' categoryIds in memory.
type categoriesOf map[pomocore.ObjectID]pomocore.ObjectID

func (c categoriesOf) UsageLogCategories(_ context.Context, ids []pomocore.ObjectID) (map[pomocore.ObjectID]pomocore.ObjectID, error) {
	out := map[pomocore.ObjectID]pomocore.ObjectID{}
	for _, id := range ids {
		if cat, ok := c[id]; ok {
			out[id] = cat
		}
	}
	return out, nil
}

// A log with a categoryId was counted, one without was not; a key with no
// log, or that is no ObjectID, is unknown; without logs nothing is decided.
func TestDecideByCategory(t *testing.T) {
	counted, uncounted, missing := pomocore.ObjectID{1}, pomocore.ObjectID{2}, pomocore.ObjectID{3}
	logs := categoriesOf{counted: {9}, uncounted: {}}
	keys := []string{counted.Hex(), uncounted.Hex(), missing.Hex(), "not-an-id"}
	got, err := redis.DecideByCategory(logs)(context.Background(), keys)
	want := map[string]redis.Verdict{counted.Hex(): redis.Counted, uncounted.Hex(): redis.Uncounted}
	if err != nil || !maps.Equal(got, want) {
		t.Errorf("decided %v, %v; want %v", got, err, want)
	}
	if got, err := redis.DecideByCategory(nil)(context.Background(), keys); err != nil || len(got) != 0 {
		t.Errorf("without logs: %v, %v", got, err)
	}
}
