package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/httpapi"
	"github.com/pomocore/pomocore/internal/eventually"
	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/learn"
	"github.com/pomocore/pomocore/sqlite"
)

// sourceOf returns the source recorded on the categorized_data row of
// (app, url) in the SQLite store of dataDir ("" when there is none).
func sourceOf(t *testing.T, dataDir, app, url string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "pomocore.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var src string
	err = db.QueryRow(`SELECT source FROM categorized_data WHERE app = ? AND url = ? ORDER BY id LIMIT 1`, app, url).Scan(&src)
	if err != nil && err != sql.ErrNoRows {
		t.Fatal(err)
	}
	return src
}

// writeTestModel trains a model on the built-in patterns and on a site
// no pattern knows, labelled Design, and writes it to a file.
func writeTestModel(t *testing.T) string {
	t.Helper()
	var labels []classify.Example
	for i := range 40 {
		labels = append(labels, classify.Example{App: "Google Chrome", URL: fmt.Sprintf("https://qqzz.example/board/%d", i),
			Title: "qqzz board", Category: "Design"})
	}
	m, _, err := learn.TrainModel(classify.ExamplesFromPatterns(classify.DefaultPatterns(), pomocore.Uncategorized), labels,
		learn.Config{}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if p := m.Predict("Google Chrome", "https://qqzz.example/other/1", "w"); p.Category != "Design" || p.Confidence < 0.6 {
		t.Fatalf("the test model predicts %+v for the site, want Design with confidence >= 0.6", p)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func metricsOf(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestRunAnswersUnknownsWithTheModelThenPromotesAndReverts: `run` with a
// model file answers an activity no pattern knows with the model (source
// model in categorized_data, the model's category on the leaderboards);
// with POMOCORE_LEARN_PROMOTE, two different activities of the site
// answered alike make it a pattern, so that the next one is a pattern hit;
// `patterns learned` lists it and `patterns revert` removes it.
func TestRunAnswersUnknownsWithTheModelThenPromotesAndReverts(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{
		"REDIS_ADDR": srv.Addr(), "POMOCORE_DATA_DIR": dataDir, "POMOCORE_BLOCK": "20ms", "POMOCORE_HTTP_ADDR": anyPort,
		"POMOCORE_MODEL_FILE": writeTestModel(t), "POMOCORE_MODEL_THRESHOLD": "0.6",
		"POMOCORE_LEARN_PROMOTE": "true", "POMOCORE_LEARN_MIN_COUNT": "2", "POMOCORE_LEARN_MIN_CONFIDENCE": "0.6",
	}
	ctx := context.Background()
	ts := time.Now().Add(-time.Hour)
	seoul, _ := time.LoadLocation("Asia/Seoul")
	day := pomocore.PeriodsAt(ts, seoul).Day
	stop, logs := startRun(t, env)
	defer stop()
	httpAddr := httpAddrOf(t, logs)
	send := func(user, url string) {
		t.Helper()
		e := contractEntry(user, "Google Chrome", url, 10, ts, false)
		e[5] = "qqzz " + url // the title: activities differ by it (the LLM and the promoter see no path)
		if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "pattern_match_stream", Values: e}).Err(); err != nil {
			t.Fatal(err)
		}
		waitDrained(t, rdb, "pattern_match_stream", "pattern_match_group", logs)
	}
	send("m1", "https://qqzz.example/a")
	if got := rdb.ZScore(ctx, "leaderboard:Design:"+day, "m1").Val(); got != 10 {
		t.Fatalf("the model's answer: Design = %v, want 10\n%s", got, logs.String())
	}
	if src := sourceOf(t, dataDir, "Google Chrome", "https://qqzz.example/a"); src != string(pomocore.SourceModel) {
		t.Errorf("categorized_data source = %q, want model", src)
	}
	// A second different activity of the site, answered alike: promoted.
	send("m2", "https://qqzz.example/b")
	n := 0
	if !eventually.Within(30*time.Second, func() bool {
		n++
		url := fmt.Sprintf("https://qqzz.example/c%d", n)
		send("m3", url)
		return sourceOf(t, dataDir, "Google Chrome", url) == string(pomocore.SourceDomain)
	}) {
		t.Fatalf("the site never became a pattern hit:\n%s", logs.String())
	}
	m := metricsOf(t, httpAddr)
	for _, want := range []string{"pomocore_learn_promotions_total 1", "pomocore_model_loaded 1", "pomocore_model_answers_total"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(m, "pomocore_model_answers_total 0\n") {
		t.Error("pomocore_model_answers_total is 0")
	}
	stop()

	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := patternsCmd(ctx, args, envOf(map[string]string{"POMOCORE_DATA_DIR": dataDir}), &out, &out)
		return out.String(), err
	}
	out, err := run("learned")
	if err != nil || !strings.Contains(out, "qqzz.example") || !strings.Contains(out, "Design") || !strings.Contains(out, "learned") {
		t.Fatalf("patterns learned: %v\n%s", err, out)
	}
	if out, err := run("revert", "qqzz.example"); err != nil {
		t.Fatalf("revert: %v\n%s", err, out)
	}
	st, err := sqlite.Open(ctx, sqlite.Config{Dir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ps, _ := st.LoadPatterns(ctx)
	for _, p := range ps {
		if slices.Contains(p.DomainPatterns, "qqzz.example") {
			t.Errorf("qqzz.example still in %s after the revert", p.Category)
		}
	}
	// The record stays, as reverted, so that promotion never adds it again.
	if ls, _ := st.LearnedPatterns(ctx); len(ls) != 1 || ls[0].Origin != learn.OriginReverted {
		t.Errorf("learned patterns after the revert: %+v; want the one, reverted", ls)
	}
}

// TestUnknownsPanelIsFedByThePipelineAndAcceptingAddsThePattern: an
// activity that fell to the default is listed by GET /api/v1/unknowns;
// accepting a category for it (with the admin token) adds the pattern,
// and the app's next event is a pattern hit at once.
func TestUnknownsPanelIsFedByThePipelineAndAcceptingAddsThePattern(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{
		"REDIS_ADDR": srv.Addr(), "POMOCORE_DATA_DIR": dataDir, "POMOCORE_BLOCK": "20ms", "POMOCORE_HTTP_ADDR": anyPort,
		"POMOCORE_ADMIN_TOKEN": "s3cret-admin", "POMOCORE_MODEL_THRESHOLD": "1",
	}
	ctx := context.Background()
	ts := time.Now().Add(-time.Hour)
	seoul, _ := time.LoadLocation("Asia/Seoul")
	day := pomocore.PeriodsAt(ts, seoul).Day
	stop, logs := startRun(t, env)
	defer stop()
	httpAddr := httpAddrOf(t, logs)
	send := func(user string) {
		t.Helper()
		if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "pattern_match_stream",
			Values: contractEntry(user, "Qqxy Toolbox", "", 12, ts, false)}).Err(); err != nil {
			t.Fatal(err)
		}
		waitDrained(t, rdb, "pattern_match_stream", "pattern_match_group", logs)
	}
	send("u1")
	send("u2")
	resp, err := http.Get("http://" + httpAddr + "/api/v1/unknowns")
	if err != nil {
		t.Fatal(err)
	}
	var rows []httpapi.UnknownActivity
	err = json.NewDecoder(resp.Body).Decode(&rows)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].App != "Qqxy Toolbox" || rows[0].Count != 2 || rows[0].Seconds != 24 ||
		rows[0].Sources[pomocore.SourceDefault] != 2 {
		t.Fatalf("unknowns = %+v, want Qqxy Toolbox twice (24s, default)", rows)
	}
	accept := func(token string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, "http://"+httpAddr+"/api/v1/unknowns/accept",
			strings.NewReader(`{"app":"Qqxy Toolbox","category":"Productivity"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := accept("wrong"); code != http.StatusUnauthorized {
		t.Errorf("accept with a wrong token: %d, want 401", code)
	}
	if code := accept("s3cret-admin"); code != http.StatusOK {
		t.Fatalf("accept: %d, want 200\n%s", code, logs.String())
	}
	send("u3")
	if got := rdb.ZScore(ctx, "leaderboard:Productivity:"+day, "u3").Val(); got != 12 {
		t.Errorf("the next event after accepting: Productivity = %v, want 12 (a pattern hit)", got)
	}
	if src := sourceOf(t, dataDir, "Qqxy Toolbox", ""); src != string(pomocore.SourceApp) {
		t.Errorf("categorized_data source = %q, want app", src)
	}
	stop()
	st, err := sqlite.Open(ctx, sqlite.Config{Dir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ps, _ := st.LoadPatterns(ctx)
	i := slices.IndexFunc(ps, func(p pomocore.CategoryPattern) bool { return p.Category == "Productivity" })
	if i < 0 || !slices.Contains(ps[i].AppPatterns, "Qqxy Toolbox") {
		t.Errorf("Productivity's app patterns lack the accepted one")
	}
	if strings.Contains(logs.String(), "s3cret-admin") {
		t.Error("the admin token is in the log")
	}
}

// `pomocore eval -model` answers what the patterns do not know with the
// model, as run does, and says how many rows each source decided.
func TestEvalWithAModelAnswersWhatThePatternsDoNotKnow(t *testing.T) {
	model := writeTestModel(t)
	file := filepath.Join(t.TempDir(), "set.jsonl")
	os.WriteFile(file, []byte(`{"app":"Google Chrome","url":"https://qqzz.example/x","title":"qqzz board","category":"Design"}
{"app":"Xcode","url":"","title":"","category":"Development"}
`), 0o644)
	eval := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := evalCmd(append(args, file), &out, &errOut); err != nil {
			t.Fatalf("eval %v: %v\n%s", args, err, errOut.String())
		}
		return out.String()
	}
	if out := eval(); !strings.Contains(out, "accuracy: 50.0% (1 of 2)") || !strings.Contains(out, "by source: pattern 1, builtin 0, model 0, default 1") {
		t.Errorf("without a model:\n%s", out)
	}
	if out := eval("-model", model, "-threshold", "0.6"); !strings.Contains(out, "accuracy: 100.0% (2 of 2)") ||
		!strings.Contains(out, "by source: pattern 1, builtin 0, model 1, default 0") {
		t.Errorf("with the model:\n%s", out)
	}
	var out, errOut bytes.Buffer
	if err := evalCmd([]string{"-model", model, "-threshold", "0", file}, &out, &errOut); err == nil {
		t.Error("-threshold 0 accepted")
	}
}
