package main

import (
	"bytes"
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/internal/eventually"
	"github.com/pomocore/pomocore/internal/llmtest"
	"github.com/pomocore/pomocore/internal/logtest"
	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/pipeline/storetest"
	"github.com/pomocore/pomocore/sqlite"
)

// llmRun is the setup the LLM end-to-end tests share: a fake OpenAI
// endpoint, a Redis server, a SQLite data directory and the settings that
// point `pomocore run` at them.
type llmRun struct {
	fake    *llmtest.Server
	rdb     *goredis.Client
	dataDir string
	env     map[string]string
	ts      time.Time // the time of the entries sent
	day     string    // the daily leaderboards' period of ts
}

// newLLMRun starts the fake endpoint answering with answer and a Redis
// server; extra settings are added to (or replace) the shared ones.
func newLLMRun(t *testing.T, answer func(string, []map[string]string) (int, string), extra map[string]string) *llmRun {
	t.Helper()
	fake := &llmtest.Server{Answer: answer}
	api := httptest.NewServer(fake)
	t.Cleanup(api.Close)
	srv := redistest.Start(t)
	r := &llmRun{fake: fake, rdb: srv.Client(t), dataDir: filepath.Join(t.TempDir(), "data"), ts: time.Now().Add(-time.Hour)}
	r.day = pomocore.PeriodsAt(r.ts, mustSeoul(t)).Day
	r.env = map[string]string{
		"REDIS_ADDR": srv.Addr(), "POMOCORE_DATA_DIR": r.dataDir, "POMOCORE_BLOCK": "20ms",
		"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": api.URL + "/v1/",
	}
	maps.Copy(r.env, extra)
	return r
}

// start runs `pomocore run` with the settings.
func (r *llmRun) start(t *testing.T) (stop func(), logs *logtest.Buffer) {
	t.Helper()
	return startRun(t, r.env)
}

// send adds one 10-second activity of app for user and waits until the
// run has consumed it.
func (r *llmRun) send(t *testing.T, logs *logtest.Buffer, user, app string) {
	t.Helper()
	if err := r.rdb.XAdd(context.Background(), &goredis.XAddArgs{Stream: "pattern_match_stream",
		Values: contractEntry(user, app, "", 10, r.ts, false)}).Err(); err != nil {
		t.Fatal(err)
	}
	waitDrained(t, r.rdb, "pattern_match_stream", "pattern_match_group", logs)
}

// score is user's seconds on the daily leaderboard of category.
func (r *llmRun) score(category, user string) float64 {
	return r.rdb.ZScore(context.Background(), "leaderboard:"+category+":"+r.day, user).Val()
}

// kept returns the LLM answers the run's SQLite store holds (at most 10),
// opening the store for the read only.
func (r *llmRun) kept(t *testing.T) ([]pomocore.CategorizedData, error) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Dir: r.dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	return st.LLMAnswers(ctx, 10)
}

// TestLLMFallbackEndToEnd: an unknown app waits for the LLM's answer and
// counts under it at first sight (as the deployed service, which asks
// before it counts), the LLM is asked once, later sightings get its answer
// from the cache (isLLMBased in categorized_data), and a restarted pipeline
// remembers the answer instead of asking again.
func TestLLMFallbackEndToEnd(t *testing.T) {
	r := newLLMRun(t, llmtest.Always("Finance"), map[string]string{"POMOCORE_HTTP_ADDR": anyPort})
	fake := r.fake

	stop, logs := r.start(t)
	httpAddr := httpAddrOf(t, logs)
	r.send(t, logs, "first", "Zzz Ledger Pro")
	deadline := time.Now().Add(20 * time.Second)
	if !eventually.Within(time.Until(deadline), func() bool { return fake.Calls.Load() >= 1 }) {
		t.Fatalf("the LLM was never asked:\n%s", logs.String())
	}
	// The answer lands in the cache shortly after the call: send until a
	// sighting is counted under it.
	if !eventually.Within(time.Until(deadline), func() bool {
		if r.score("Finance", "later") != 0 {
			return true
		}
		r.send(t, logs, "later", "Zzz Ledger Pro")
		return false
	}) {
		t.Fatalf("the LLM answer was never used:\n%s", logs.String())
	}
	if got := r.score("Finance", "first"); got != 10 {
		t.Errorf("first sighting: Finance = %v, want 10 (it waited for the LLM's answer)", got)
	}
	if got := r.score("Uncategorized", "first"); got != 0 {
		t.Errorf("first sighting: Uncategorized = %v, want 0", got)
	}
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"pomocore_llm_calls_total 1", "pomocore_llm_answered_total 1", "pomocore_llm_tokens_total 15",
		"pomocore_llm_breaker_open 0", `pomocore_classifications_by_source_total{source="cache"}`,
		`pomocore_classifications_by_source_total{source="llm"} 1`, `pomocore_llm_waits_total{outcome="held"} 1`,
		`pomocore_llm_waits_total{outcome="answered"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	stop()
	if n := fake.Calls.Load(); n != 1 {
		t.Errorf("LLM calls = %d, want 1", n)
	}
	answers, err := r.kept(t)
	if err != nil || len(answers) != 1 || answers[0].App != "Zzz Ledger Pro" {
		t.Fatalf("stored LLM answers = %+v, %v", answers, err)
	}

	// A new process remembers it: no further call.
	stop2, logs2 := r.start(t)
	r.send(t, logs2, "restarted", "Zzz Ledger Pro")
	stop2()
	if got := r.score("Finance", "restarted"); got != 10 {
		t.Errorf("after a restart: Finance = %v, want 10 from the remembered answer", got)
	}
	if n := fake.Calls.Load(); n != 1 {
		t.Errorf("LLM calls after the restart = %d, want still 1", n)
	}
	if strings.Contains(logs.String()+logs2.String(), "test-key") {
		t.Error("the API key is in the log")
	}
}

func TestPatternsSuggest(t *testing.T) {
	ctx := context.Background()
	dataDir, st := seededStore(t)
	patterns, _ := st.LoadPatterns(ctx)
	var finance pomocore.ObjectID
	for _, p := range patterns {
		if p.Category == "Finance" {
			finance = p.ID
		}
	}
	var recs []pipeline.Record
	for _, path := range []string{"/a", "/b", "/c"} {
		r := storetest.Rec("u", "Chrome", "https://zzz-bank.example"+path, "t", finance)
		r.Classification = pomocore.Classification{Category: "Finance", Source: pomocore.SourceLLM}
		recs = append(recs, r)
	}
	if err := st.Save(ctx, recs); err != nil {
		t.Fatal(err)
	}
	st.Close()
	var out, errOut bytes.Buffer
	env := envOf(map[string]string{"POMOCORE_DATA_DIR": dataDir, "POMOCORE_LOG_LEVEL": "warn"})
	if err := patternsCmd(ctx, []string{"suggest", "-min", "3"}, env, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if strings.TrimSpace(out.String()) != `{"category":"Finance","domainPattern":"zzz-bank.example","answers":3}` {
		t.Errorf("suggest = %q", out.String())
	}
	if err := patternsCmd(ctx, []string{"bogus"}, env, &out, &errOut); err == nil {
		t.Error("an unknown subcommand succeeded")
	}
}

func TestPatternsTools(t *testing.T) {
	run := patternsTool(t)
	if out, err := run("list"); err != nil || !strings.Contains(out, "Development") || !strings.Contains(out, "E-commerce & Shopping") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if out, err := run("add", "-category", "Game", "-app", "Zzz Quest", "-domain", "zzz-quest.example"); err != nil {
		t.Fatalf("add: %v %s", err, out)
	}
	// A pattern another category already has at the same priority is refused.
	if _, err := run("add", "-category", "Game", "-app", "Xcode"); err == nil {
		t.Error("a conflicting pattern was written")
	}
	exported, err := run("export")
	if err != nil || !strings.Contains(exported, `"Zzz Quest"`) || !strings.Contains(exported, `"zzz-quest.example"`) {
		t.Fatalf("export: %v", err)
	}
	if out, err := run("remove", "-category", "Game", "-app", "zzz quest"); err != nil {
		t.Fatalf("remove: %v %s", err, out)
	}
	exported2, _ := run("export")
	if strings.Contains(exported2, `"Zzz Quest"`) {
		t.Error("removed app still exported")
	}
	// Import the first export back: Zzz Quest returns, ids are kept.
	file := filepath.Join(t.TempDir(), "patterns.json")
	os.WriteFile(file, []byte(exported), 0o644)
	before, _ := run("list")
	if out, err := run("import", file); err != nil {
		t.Fatalf("import: %v %s", err, out)
	}
	after, _ := run("list")
	if idsOf(before) != idsOf(after) {
		t.Errorf("import changed category ids:\n%s\n%s", before, after)
	}
	if ex, _ := run("export"); !strings.Contains(ex, `"Zzz Quest"`) {
		t.Error("import did not restore the app")
	}
	if _, err := run("bogus"); err == nil {
		t.Error("unknown subcommand accepted")
	}
}

// idsOf returns the ID column of `patterns list`.
func idsOf(list string) string {
	var ids []string
	for _, line := range strings.Split(list, "\n") {
		f := strings.Fields(line)
		for _, w := range f {
			if len(w) == 24 {
				ids = append(ids, w)
			}
		}
	}
	return strings.Join(ids, ",")
}

// seededStore returns the data dir of a new SQLite store holding the
// built-in patterns, and the open store.
func seededStore(t *testing.T) (string, *sqlite.Store) {
	t.Helper()
	dataDir := filepath.Join(t.TempDir(), "data")
	st, err := sqlite.Open(context.Background(), sqlite.Config{Dir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SeedPatterns(context.Background(), classify.DefaultPatterns()); err != nil {
		t.Fatal(err)
	}
	return dataDir, st
}
