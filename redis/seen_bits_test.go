package redis_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/redis"
)

// oidWithCounter returns the ObjectId of one main-server process and
// second with the given 3-byte counter.
func oidWithCounter(counter int) string {
	return fmt.Sprintf("65f1a2b3be4c02a733%06x", counter)
}

// The edges of the seen bitmaps, each committed once and then re-sent by
// the producer: the last bit of a bitmap and the first of the next (bytes
// 255 and 0), the counter's largest and smallest values, more claims in
// one bitmap than the script reads at once (1,000), and a retry whose hex
// digits are upper case. Every retry is a duplicate, whichever way (one
// script, three steps) each commit takes.
func TestSeenBitmapEdgesCountOnce(t *testing.T) {
	var keys []string
	for _, c := range []int{0x0007ff, 0x000800, 0xffffff, 0x000000} {
		keys = append(keys, oidWithCounter(c))
	}
	for c := 0x001000; c < 0x001000+1500; c++ { // one bitmap, 1,500 claims
		keys = append(keys, oidWithCounter(c))
	}
	for _, way := range []struct {
		name              string
		first, retryThree bool
	}{{"one script, then three steps", false, true}, {"three steps, then one script", true, false}, {"one script twice", false, false}} {
		t.Run(way.name, func(t *testing.T) {
			rdb := redistest.Start(t).Client(t)
			ctx := context.Background()
			board := "leaderboard:Development:2026-11-24"
			commit := func(three bool, keys []string) pipeline.CommitResult {
				t.Helper()
				ids := deliver(t, rdb, len(keys))
				entries := make([]pipeline.CommitEntry, len(keys))
				for i, k := range keys {
					entries[i] = activity(ids[i], k, board, 1, false)
				}
				res, err := newCommitterWith(t, rdb, three).Commit(ctx, entries)
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			if res := commit(way.first, keys); res.Applied != len(keys) || res.Duplicates != 0 {
				t.Fatalf("first commit = %+v, want %d applied, none a duplicate", res, len(keys))
			}
			retry := append([]string{strings.ToUpper(keys[0])}, keys[1:]...)
			// And one activity never seen, beside each edge.
			retry = append(retry, oidWithCounter(0x0007fe), oidWithCounter(0x001000+1500))
			if res := commit(way.retryThree, retry); res.Applied != len(retry) || res.Duplicates != len(keys) {
				t.Errorf("retry = %+v, want %d applied, %d duplicates", res, len(retry), len(keys))
			}
			if got, want := rdb.ZScore(ctx, board, "u").Val(), float64(len(keys)+2); got != want {
				t.Errorf("score = %v, want %v: each activity once", got, want)
			}
			if p := rdb.XPending(ctx, stream, group).Val(); p.Count != 0 {
				t.Errorf("%d pending", p.Count)
			}
		})
	}
}

// A shadow run's seen bitmaps are its own: what the live committer
// remembers as bits does not make the shadow's commit a duplicate, nor
// the other way round.
func TestSeenBitmapsKeepNamespacesApart(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	board := "leaderboard:Development:2026-11-24"
	k := oidWithCounter(42)
	for _, ns := range []string{"", "shadow:g", ""} {
		ids := deliver(t, rdb, 1)
		c := newCommitterIn(t, rdb, ns)
		res, err := c.Commit(ctx, []pipeline.CommitEntry{activity(ids[0], k, board, 1, false)})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: 0, false: 1}[ns == "shadow:g"]; ns != "" && res.Duplicates != want {
			t.Errorf("namespace %q: %+v, want %d duplicates", ns, res, want)
		}
	}
	if got := rdb.ZScore(ctx, board, "u").Val(); got != 2 {
		t.Errorf("score = %v, want 2: once live, once in the shadow's namespace, the live retry a duplicate", got)
	}
	if n := len(rdb.Keys(ctx, "{"+stream+"}:shadow:g:seen:*").Val()); n != 1 {
		t.Errorf("%d seen bitmaps in the shadow's namespace, want 1", n)
	}
}

// newCommitterIn returns a one-script committer with dedup on, in
// namespace ns.
func newCommitterIn(t *testing.T, rdb goredis.UniversalClient, ns string) *redis.Committer {
	t.Helper()
	c, err := redis.NewCommitter(rdb, redis.CommitterConfig{Stream: stream, Group: group, DeadStream: dead, SessionStream: session,
		DedupWindow: defaultDedup().DedupWindow, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
