package main

import (
	"bytes"
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/internal/redistest"
)

// TestRebuildRestoresLeaderboards lets the pipeline build the leaderboards,
// damages them, and rebuilds them from the usage logs.
func TestRebuildRestoresLeaderboards(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	stop, logs := startRun(t, map[string]string{
		"REDIS_ADDR": srv.Addr(), "POMOCORE_DATA_DIR": dataDir, "POMOCORE_BLOCK": "20ms",
	})
	ctx := context.Background()
	seoul, _ := time.LoadLocation("Asia/Seoul")
	// Three days of 2026-W47 (Mon 16 .. Sun 22 November) in Seoul, noon.
	for i, day := range []string{"2026-11-16", "2026-11-18", "2026-11-22"} {
		d, _ := time.ParseInLocation(time.DateOnly, day, seoul)
		for _, e := range [][]string{
			contractEntry("ann", "Xcode", "", float64(100+i), d.Add(12*time.Hour), false),
			contractEntry("bob", "Steam", "", 50, d.Add(13*time.Hour), false),
		} {
			if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "pattern_match_stream", Values: e}).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitDrained(t, rdb, "pattern_match_stream", "pattern_match_group", logs)
	stop()
	snapshot := func() map[string][]goredis.Z {
		out := map[string][]goredis.Z{}
		keys, _ := rdb.Keys(ctx, "leaderboard:*").Result()
		for _, k := range keys {
			out[k] = rdb.ZRangeWithScores(ctx, k, 0, -1).Val()
		}
		return out
	}
	want := snapshot()
	// Damage: an inflated score, a stray member, a lost key.
	rdb.ZIncrBy(ctx, "leaderboard:Development:2026-W47", 999, "ann")
	rdb.ZAdd(ctx, "leaderboard:Game:2026-11-18", goredis.Z{Score: 1, Member: "mallory"})
	rdb.Del(ctx, "leaderboard:work:2026-11-16")
	var out, errOut bytes.Buffer
	err := leaderboardCmd(ctx, []string{"rebuild", "-from", "2026-11-16", "-to", "2026-11-22"},
		envOf(map[string]string{"REDIS_ADDR": srv.Addr(), "POMOCORE_DATA_DIR": dataDir}), &out, &errOut)
	if err != nil {
		t.Fatalf("rebuild: %v\n%s%s", err, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "7 days, 1 whole weeks") || !strings.Contains(out.String(), "2026-M11") {
		t.Errorf("rebuild output:\n%s", out.String())
	}
	got := snapshot()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after the rebuild:\n%v\nwant\n%v", got, want)
	}
	if rdb.Exists(ctx, "{leaderboard:Development:2026-W47}:rebuild-tmp").Val() != 0 {
		t.Error("a temporary key was left behind")
	}
}
