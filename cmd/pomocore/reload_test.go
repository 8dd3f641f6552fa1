package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/eventually"
	"github.com/pomocore/pomocore/internal/redistest"
)

// TestPatternsReloadWithoutRestart changes category_pattern under a running
// pipeline and checks that the next entries are classified by the new
// patterns.
func TestPatternsReloadWithoutRestart(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	stop, logs := startRun(t, map[string]string{
		"REDIS_ADDR": srv.Addr(), "POMOCORE_DATA_DIR": dataDir, "POMOCORE_BLOCK": "20ms",
		"POMOCORE_PATTERN_RELOAD": "20ms",
	})
	defer stop()
	ctx := context.Background()
	ts := time.Now().Add(-time.Hour)
	seoul, _ := time.LoadLocation("Asia/Seoul")
	day := pomocore.PeriodsAt(ts, seoul).Day
	add := func(user string) {
		if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "pattern_match_stream",
			Values: contractEntry(user, "Zyxw Custom Tool", "", 7, ts, false)}).Err(); err != nil {
			t.Fatal(err)
		}
		waitDrained(t, rdb, "pattern_match_stream", "pattern_match_group", logs)
	}
	add("before")
	if got := rdb.ZScore(ctx, "leaderboard:Uncategorized:"+day, "before").Val(); got != 7 {
		t.Fatalf("before the change: Uncategorized = %v, want 7", got)
	}

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "pomocore.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE category_pattern SET app_patterns = json_insert(app_patterns, '$[#]', 'Zyxw Custom Tool') WHERE category = 'Game'`); err != nil {
		t.Fatal(err)
	}
	if !eventually.Within(30*time.Second, func() bool { return strings.Contains(logs.String(), "category patterns reloaded") }) {
		t.Fatalf("no reload logged:\n%s", logs.String())
	}
	add("after")
	if got := rdb.ZScore(ctx, "leaderboard:Game:"+day, "after").Val(); got != 7 {
		t.Errorf("after the change: Game = %v, want 7", got)
	}
}
