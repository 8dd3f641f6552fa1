package main

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/eventually"
	"github.com/pomocore/pomocore/internal/llmtest"
	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/sqlite"
)

// An LLM answer is stored when it arrives, not when the activity is seen
// again: the activity counted before the answer came (no wait), and a
// restarted process knows the answer without asking again. (The main
// server's categorized_data carries it with IsLLMBased at once.)
func TestLLMAnswerIsKeptWhenItArrivesNotWhenSeenAgain(t *testing.T) {
	fake := &llmtest.Server{Answer: llmtest.Always("Finance")}
	api := httptest.NewServer(fake)
	defer api.Close()
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{
		"REDIS_ADDR": srv.Addr(), "POMOCORE_DATA_DIR": dataDir, "POMOCORE_BLOCK": "20ms",
		"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": api.URL + "/v1/",
		"POMOCORE_LLM_WAIT": "0", "POMOCORE_LLM_LINGER": "0",
	}
	ctx := context.Background()
	ts := time.Now().Add(-time.Hour)
	day := pomocore.PeriodsAt(ts, mustSeoul(t)).Day
	send := func(logs *syncBuffer, user string) {
		t.Helper()
		if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "pattern_match_stream",
			Values: contractEntry(user, "Zzz Ledger Pro", "", 10, ts, false)}).Err(); err != nil {
			t.Fatal(err)
		}
		waitDrained(t, rdb, "pattern_match_stream", "pattern_match_group", logs)
	}

	stop, logs := startRun(t, env)
	send(logs, "first")
	st, err := sqlite.Open(ctx, sqlite.Config{Dir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var kept []pomocore.CategorizedData
	if !eventually.Within(20*time.Second, func() bool {
		kept, err = st.LLMAnswers(ctx, 10)
		return err == nil && len(kept) == 1
	}) {
		t.Fatalf("the LLM's answer was not stored when it arrived: %+v, %v (calls %d)\n%s", kept, err, fake.Calls.Load(), logs.String())
	}
	stop()
	if got := rdb.ZScore(ctx, "leaderboard:Uncategorized:"+day, "first").Val(); got != 10 {
		t.Errorf("first sighting with no wait: Uncategorized = %v, want 10", got)
	}

	stop2, logs2 := startRun(t, env)
	send(logs2, "restarted")
	stop2()
	if got := rdb.ZScore(ctx, "leaderboard:Finance:"+day, "restarted").Val(); got != 10 {
		t.Errorf("after a restart: Finance = %v, want 10 from the kept answer", got)
	}
	if n := fake.Calls.Load(); n != 1 {
		t.Errorf("LLM calls = %d, want 1 (the restarted process knew the answer)", n)
	}
}

func mustSeoul(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
