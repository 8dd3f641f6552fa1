package legacy_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/legacy"
	"github.com/pomocore/pomocore/internal/redistest"
)

// TestStandInCountsTheBatchThenAcknowledgesOnACancellableContext: like
// the deployed service, the stand-in increments the whole batch it read,
// then acknowledges entry by entry on the same context; a SIGTERM (the
// context cancelled) during the acknowledgements leaves the rest of the
// batch counted but pending (the deployed service logs "Error
// acknowledging message ... context canceled" and stops).
func TestStandInCountsTheBatchThenAcknowledgesOnACancellableContext(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	bg := context.Background()
	svc := &legacy.Service{Client: rdb, Patterns: []pomocore.CategoryPattern{{Category: "Development", AppPatterns: []string{"xcode"}}}}
	if err := svc.EnsureGroup(bg); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	const n = 10
	for i := range n {
		if err := rdb.XAdd(bg, &goredis.XAddArgs{Stream: "pattern_match_stream", Values: []string{"userId", "u" + strconv.Itoa(i), "app", "Xcode",
			"duration", "10", "timestamp", strconv.FormatInt(at.Unix(), 10)}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	ctx, sigterm := context.WithCancel(bg)
	acked := 0
	ids, err := svc.Step(ctx, 100, 0, func(string) bool {
		if acked == 3 {
			sigterm() // SIGTERM after three acknowledgements
		}
		acked++
		return true
	})
	if err != nil {
		t.Fatalf("Step: %v (a cancelled acknowledgement is logged and skipped, as deployed)", err)
	}
	if len(ids) != n {
		t.Fatalf("read %d entries, want %d", len(ids), n)
	}
	board := rdb.ZRangeWithScores(bg, legacy.Keys("Development", at)[0], 0, -1).Val()
	if len(board) != n {
		t.Errorf("counted %d of the %d entries read, want all: the batch is incremented before any acknowledgement", len(board), n)
	}
	if p := rdb.XPending(bg, "pattern_match_stream", "pattern_match_group").Val(); p.Count != n-3 {
		t.Errorf("pending after the SIGTERM = %d, want %d counted but not acknowledged", p.Count, n-3)
	}
}

// usageLogs records, at each call, the categories it was given and how
// many members the board had then.
type usageLogs struct {
	rdb   *goredis.Client
	board string
	calls []map[string]string
	seen  []int64
}

func (u *usageLogs) SetCategories(ctx context.Context, categories map[string]string) error {
	u.calls = append(u.calls, categories)
	u.seen = append(u.seen, u.rdb.ZCard(ctx, u.board).Val())
	return nil
}

// TestStandInSetsTheUsageLogsBeforeItIncrements: like the deployed service
// (UpdateCategoryIDsBatch, then the increments), the stand-in gives the
// batch's categories by pomodoroUsageLogId to UsageLogs before it counts
// any entry of the batch; entries without a pomodoroUsageLogId are left
// out. What `pomocore cutover adopt` decides pending entries by.
func TestStandInSetsTheUsageLogsBeforeItIncrements(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	bg := context.Background()
	at := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	u := &usageLogs{rdb: rdb, board: legacy.Keys("Development", at)[0]}
	svc := &legacy.Service{Client: rdb, UsageLogs: u, Patterns: []pomocore.CategoryPattern{
		{Category: "Development", AppPatterns: []string{"xcode"}}, {Category: "Design", AppPatterns: []string{"figma"}}}}
	if err := svc.EnsureGroup(bg); err != nil {
		t.Fatal(err)
	}
	for i, f := range [][]string{{"app", "Xcode", "pomodoroUsageLogId", "a1"}, {"app", "Figma", "pomodoroUsageLogId", "a2"}, {"app", "Xcode"}} {
		f = append(f, "userId", "u"+strconv.Itoa(i), "duration", "10", "timestamp", strconv.FormatInt(at.Unix(), 10))
		if err := rdb.XAdd(bg, &goredis.XAddArgs{Stream: "pattern_match_stream", Values: f}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.Step(bg, 100, 0, nil); err != nil {
		t.Fatal(err)
	}
	if len(u.calls) != 1 || len(u.calls[0]) != 2 || u.calls[0]["a1"] != "Development" || u.calls[0]["a2"] != "Design" {
		t.Errorf("usage-log updates = %v, want one batch {a1: Development, a2: Design}", u.calls)
	}
	if len(u.seen) != 1 || u.seen[0] != 0 {
		t.Errorf("board members when the usage logs were set = %v, want 0: the usage logs first", u.seen)
	}
	if n := rdb.ZCard(bg, u.board).Val(); n != 2 {
		t.Errorf("Development board members = %d, want 2", n)
	}
}

// failingUsageLogs fails every update, as a MongoDB outage does.
type failingUsageLogs struct{}

func (failingUsageLogs) SetCategories(context.Context, map[string]string) error {
	return errors.New("mongo down")
}

// TestStandInIncrementsWhenTheUsageLogUpdateFails: like the deployed
// service, which logs a failed usage-log update and goes on, the stand-in
// counts and acknowledges the batch anyway (Step reports the error): the
// usage log then has no categoryId although the entry counted, the one
// case where `pomocore cutover adopt` takes a counted pending entry for an
// uncounted one.
func TestStandInIncrementsWhenTheUsageLogUpdateFails(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	bg := context.Background()
	at := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	svc := &legacy.Service{Client: rdb, UsageLogs: failingUsageLogs{}, Patterns: []pomocore.CategoryPattern{{Category: "Development", AppPatterns: []string{"xcode"}}}}
	if err := svc.EnsureGroup(bg); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XAdd(bg, &goredis.XAddArgs{Stream: "pattern_match_stream", Values: []string{"app", "Xcode", "pomodoroUsageLogId", "a1",
		"userId", "u1", "duration", "10", "timestamp", strconv.FormatInt(at.Unix(), 10)}}).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Step(bg, 100, 0, nil); err == nil || !strings.Contains(err.Error(), "mongo down") {
		t.Errorf("Step: %v, want the usage-log error reported", err)
	}
	if got := rdb.ZScore(bg, legacy.Keys("Development", at)[0], "u1").Val(); got != 10 {
		t.Errorf("u1: %v seconds, want 10: counted although the usage log was not updated", got)
	}
	if p := rdb.XPending(bg, "pattern_match_stream", "pattern_match_group").Val(); p.Count != 0 {
		t.Errorf("pending = %d, want 0: acknowledged anyway", p.Count)
	}
}
