package legacy_test

import (
	"context"
	"strconv"
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
