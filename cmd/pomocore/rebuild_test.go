package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
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
	damaged := snapshot()
	env := envOf(map[string]string{"REDIS_ADDR": srv.Addr(), "POMOCORE_DATA_DIR": dataDir})
	// A dry run says what would change, and changes nothing.
	var out, errOut bytes.Buffer
	if err := leaderboardCmd(ctx, []string{"rebuild", "-from", "2026-11-16", "-to", "2026-11-22", "-dry-run"}, env, &out, &errOut); err != nil {
		t.Fatalf("rebuild -dry-run: %v\n%s%s", err, out.String(), errOut.String())
	}
	for _, want := range []string{"leaderboard:Development:2026-W47", "leaderboard:Game:2026-11-18", "leaderboard:work:2026-11-16", "dry run: nothing written"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dry run does not name %s:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "leaderboard:Game:2026-11-16") {
		t.Errorf("dry run lists a board that does not change:\n%s", out.String())
	}
	if got := snapshot(); !reflect.DeepEqual(got, damaged) {
		t.Errorf("the dry run wrote:\n%v\nwant\n%v", got, damaged)
	}
	out.Reset()
	errOut.Reset()
	err := leaderboardCmd(ctx, []string{"rebuild", "-from", "2026-11-16", "-to", "2026-11-22"}, env, &out, &errOut)
	if err != nil {
		t.Fatalf("rebuild: %v\n%s%s", err, out.String(), errOut.String())
	}
	checkPlainProgress(t, errOut.String())
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

// checkPlainProgress checks the progress written off a terminal: plain
// lines (no carriage return), never going backwards, ending at 100%.
func checkPlainProgress(t *testing.T, text string) {
	t.Helper()
	if strings.Contains(text, "\r") {
		t.Errorf("progress off a terminal writes \\r:\n%q", text)
	}
	last := -1
	for _, line := range strings.Split(text, "\n") {
		var pct int
		if _, err := fmt.Sscanf(line, "rebuild: %d%%", &pct); err != nil {
			continue
		}
		if pct < last {
			t.Errorf("progress goes back from %d%% to %d%%:\n%s", last, pct, text)
		}
		last = pct
	}
	if last != 100 {
		t.Errorf("progress ends at %d%%, want 100%%:\n%s", last, text)
	}
}

// A rebuild that would empty live boards is refused: with no store setting
// (the default data directory of wherever it runs), from a store it has
// just created, or from no usage logs where the live boards hold scores.
// -force does it anyway.
func TestRebuildRefusesToEmptyLiveBoards(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	t.Chdir(t.TempDir())
	live := []goredis.Z{{Score: 100, Member: "ann"}, {Score: 50, Member: "bob"}}
	rdb.ZAdd(ctx, "leaderboard:Development:2026-11-16", live...)
	rdb.ZAdd(ctx, "leaderboard:work:2026-11-16", live...)
	intact := func(what string) {
		t.Helper()
		if n := rdb.ZCard(ctx, "leaderboard:Development:2026-11-16").Val(); n != 2 {
			t.Fatalf("%s: the live board has %d members, want 2", what, n)
		}
	}
	rebuild := func(env map[string]string, extra ...string) (int, string) {
		env["REDIS_ADDR"] = srv.Addr()
		var out bytes.Buffer
		code := runMain(append([]string{"leaderboard", "rebuild", "-from", "2026-11-16", "-to", "2026-11-16"}, extra...), envOf(env), &out, &out)
		return code, out.String()
	}
	// No store setting: refused before anything is opened.
	if code, out := rebuild(map[string]string{}); code == 0 || !strings.Contains(out, "POMOCORE_DATA_DIR") {
		t.Errorf("no store setting: exit %d\n%s", code, out)
	}
	intact("no store setting")
	if _, err := os.Stat("pomocore-data"); err == nil {
		t.Error("the refused rebuild created ./pomocore-data")
	}
	// A store that does not exist yet.
	fresh := filepath.Join(t.TempDir(), "fresh")
	if code, out := rebuild(map[string]string{"POMOCORE_DATA_DIR": fresh}); code == 0 || !strings.Contains(out, "no store") {
		t.Errorf("new store: exit %d\n%s", code, out)
	}
	intact("new store")
	// An existing store with no usage logs in the range.
	existing := filepath.Join(t.TempDir(), "existing")
	var sink bytes.Buffer
	if code := runMain([]string{"patterns", "list"}, envOf(map[string]string{"POMOCORE_DATA_DIR": existing}), &sink, &sink); code != 0 {
		t.Fatalf("patterns list: %d\n%s", code, sink.String())
	}
	if code, out := rebuild(map[string]string{"POMOCORE_DATA_DIR": existing}); code == 0 || !strings.Contains(out, "0 usage logs") {
		t.Errorf("no usage logs: exit %d\n%s", code, out)
	}
	intact("no usage logs")
	// -force: the operator means it.
	if code, out := rebuild(map[string]string{"POMOCORE_DATA_DIR": existing}, "-force"); code != 0 {
		t.Errorf("-force: exit %d\n%s", code, out)
	}
	if n := rdb.Exists(ctx, "leaderboard:Development:2026-11-16").Val(); n != 0 {
		t.Errorf("-force left the board")
	}
}
