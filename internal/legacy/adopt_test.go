package legacy_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/legacy"
	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/redis"
)

// The switch from the deployed service (the stand-in) to pomocore on the
// same group, with `pomocore cutover adopt` (redis.Committer.AdoptGroup)
// between: the old service is stopped by a SIGTERM during its
// acknowledgements with a backlog (counted entries left pending), then
// pomocore adopts the group's history, claims what is still pending, reads
// the backlog and the producer's retries of activities the old service
// counted. Every activity counts once.
func TestSwitchWithAdoptCountsEveryActivityOnce(t *testing.T) {
	switchCounts(t, true)
}

// switchCounts plays the switch, with the adopt step or without it (which
// counts the retries and the pending entries twice).
func switchCounts(t *testing.T, adopt bool) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	bg := context.Background()
	const stream, group = "pattern_match_stream", "pattern_match_group"
	svc := &legacy.Service{Client: rdb, Patterns: []pomocore.CategoryPattern{{Category: "Development", AppPatterns: []string{"xcode"}}}}
	if err := svc.EnsureGroup(bg); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	ulid := func(i int) string { return fmt.Sprintf("65a0000000000000%08x", i) }
	user := func(i int) string { return "u" + strconv.Itoa(i) }
	add := func(i int) {
		t.Helper()
		if err := rdb.XAdd(bg, &goredis.XAddArgs{Stream: stream, Values: []string{"userId", user(i), "app", "Xcode",
			"duration", "10", "timestamp", strconv.FormatInt(at.Unix(), 10), "pomodoroUsageLogId", ulid(i)}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	const read, backlog = 20, 10
	for i := range read + backlog {
		add(i)
	}
	// The old service reads a batch, counts it, and is stopped after five
	// acknowledgements: 15 counted entries stay pending, 10 unread.
	ctx, sigterm := context.WithCancel(bg)
	acked := 0
	if _, err := svc.Step(ctx, read, 0, func(string) bool {
		if acked == 5 {
			sigterm()
		}
		acked++
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if p := rdb.XPending(bg, stream, group).Val(); p.Count != read-5 {
		t.Fatalf("pending after the SIGTERM = %d, want %d", p.Count, read-5)
	}
	// The producer retries three activities the old service counted (two
	// acknowledged, one pending) under new stream ids, after the switch.
	retried := []int{0, 1, 12}
	c, err := redis.NewCommitter(rdb, redis.CommitterConfig{Stream: stream, Group: group, DeadStream: stream + ":dead",
		SessionStream: "session_score_stream", DedupWindow: 35 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if adopt {
		// The deployed service writes the usage log's categoryId before it
		// counts: every entry it read has one.
		counted := map[string]bool{}
		for i := range read {
			counted[ulid(i)] = true
		}
		decide := func(_ context.Context, keys []string) (map[string]redis.Verdict, error) {
			out := map[string]redis.Verdict{}
			for _, k := range keys {
				if counted[k] {
					out[k] = redis.Counted
				} else {
					out[k] = redis.Uncounted
				}
			}
			return out, nil
		}
		rep, err := c.AdoptGroup(bg, decide)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Acknowledged != 5 || rep.PendingCounted != read-5 || rep.PendingUncounted != 0 || rep.PendingUnknown != 0 || rep.Recorded != read {
			t.Errorf("adopt report %+v, want 5 acknowledged, 15 pending counted, 20 recorded", rep)
		}
	}
	for _, i := range retried {
		add(i)
	}
	// pomocore: claims what the old consumer left pending, then reads on.
	var msgs []goredis.XMessage
	claimed, _, err := rdb.XAutoClaim(bg, &goredis.XAutoClaimArgs{Stream: stream, Group: group, Consumer: "pomocore", Start: "0-0", Count: 1000}).Result()
	if err != nil {
		t.Fatal(err)
	}
	msgs = append(msgs, claimed...)
	fresh, err := rdb.XReadGroup(bg, &goredis.XReadGroupArgs{Group: group, Consumer: "pomocore", Streams: []string{stream, ">"}, Count: 1000, Block: -1}).Result()
	if err != nil {
		t.Fatal(err)
	}
	msgs = append(msgs, fresh[0].Messages...)
	entries := make([]pipeline.CommitEntry, len(msgs))
	for j, m := range msgs {
		u, _ := m.Values["userId"].(string)
		k, _ := m.Values["pomodoroUsageLogId"].(string)
		entries[j] = pipeline.CommitEntry{ID: m.ID, DedupKey: k,
			Increment: &pipeline.Increment{Keys: legacy.Keys("Development", at)[:1], Member: u, Delta: 10}}
	}
	if _, err := c.Commit(bg, entries); err != nil {
		t.Fatal(err)
	}
	board := legacy.Keys("Development", at)[0]
	for i := range read + backlog {
		if got := rdb.ZScore(bg, board, user(i)).Val(); got != 10 {
			t.Errorf("%s (%s): %v seconds, want 10: counted once", user(i), map[bool]string{true: "read by the old service", false: "backlog"}[i < read], got)
		}
	}
	if p := rdb.XPending(bg, stream, group).Val(); p.Count != 0 {
		t.Errorf("pending after pomocore's commit = %d, want 0", p.Count)
	}
}
