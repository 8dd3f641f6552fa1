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

var _ pipeline.Toucher = (*redis.Reader)(nil)

// Issue 19 item 12: a batch that outlived the claim idle was reclaimed and
// redone by another consumer (and by the process itself). Touch resets an
// entry's idle time without counting a delivery, so a touched entry is not
// reclaimable at the claim idle while an untouched one is.
func TestTouchedEntryIsNotReclaimedAtClaimIdle(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	slow := newReader(t, rdb, "slow")
	other := newReader(t, rdb, "other")
	touched := xadd(t, rdb, "userId", "u1")
	untouched := xadd(t, rdb, "userId", "u2")
	msgs, err := slow.Read(ctx, 10, -1)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("read %d, %v", len(msgs), err)
	}
	// Both look idle for a minute, as in a batch stuck in a slow store.
	for _, id := range []string{touched, untouched} {
		if err := rdb.Do(ctx, "XCLAIM", stream, group, "slow", 0, id, "IDLE", 60_000, "JUSTID").Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := slow.Touch(ctx, []string{touched}); err != nil {
		t.Fatal(err)
	}
	claimed, _, err := other.Claim(ctx, 30*time.Second, "0-0", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(claimed) != 1 || claimed[0].ID != untouched {
		t.Fatalf("claimed %+v at 30s idle, want only the untouched %s", claimed, untouched)
	}
	ext, err := rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: stream, Group: group, Start: touched, End: touched, Count: 1}).Result()
	if err != nil || len(ext) != 1 {
		t.Fatalf("pending of %s: %v, %v", touched, ext, err)
	}
	if ext[0].Consumer != "slow" || ext[0].RetryCount != 1 || ext[0].Idle >= 30*time.Second {
		t.Fatalf("touched entry: consumer %s, deliveries %d, idle %v; want slow, 1 (a touch is no delivery), fresh",
			ext[0].Consumer, ext[0].RetryCount, ext[0].Idle)
	}
	// An id no longer pending is left alone.
	if err := rdb.XAck(ctx, stream, group, touched).Err(); err != nil {
		t.Fatal(err)
	}
	if err := slow.Touch(ctx, []string{touched}); err != nil {
		t.Fatalf("touching an acknowledged entry: %v", err)
	}
	if n, _ := rdb.XPending(ctx, stream, group).Result(); n.Count != 1 {
		t.Fatalf("pending after touching an acknowledged entry: %d, want 1 (the claimed one)", n.Count)
	}
}
