package accuracy_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/internal/accuracy"
	"github.com/pomocore/pomocore/internal/legacy"
	"github.com/pomocore/pomocore/internal/redistest"
)

var (
	full       = flag.Bool("accuracy.full", false, "run the full accuracy measurement (minutes): go test ./internal/accuracy -run TestAccuracyFull -accuracy.full -timeout 60m -v")
	nEntries   = flag.Int("accuracy.entries", 5000, "entries of the full measurement")
	nUsers     = flag.Int("accuracy.users", 40, "users of the full measurement")
	seed       = flag.Uint64("accuracy.seed", 24, "seed of the traffic")
	minLatency = flag.Duration("accuracy.min-latency", 400*time.Millisecond, "the fake LLM's shortest answer time")
	maxLatency = flag.Duration("accuracy.max-latency", 900*time.Millisecond, "the fake LLM's longest answer time")
	rate       = flag.Float64("accuracy.rate", 100, "entries a second the producer sends (0: all at once)")
	out        = flag.String("accuracy.out", "", "write the Markdown table of the full measurement to this file")
)

var sources = []string{"blind", "labeled", "production-derived"}

func productionPatterns(t *testing.T) []pomocore.CategoryPattern {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "main-server-category-patterns.json"))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := classify.ParsePatterns(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 19 {
		t.Fatalf("production has 19 categories, the file %d", len(ps))
	}
	return ps
}

func rows(t *testing.T) []accuracy.Row {
	t.Helper()
	rs, err := accuracy.LoadRows(filepath.Join("..", "..", "testdata"), sources)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func endpoint(t *testing.T, o *accuracy.Oracle, lo, hi time.Duration) (*accuracy.Endpoint, string) {
	t.Helper()
	e := &accuracy.Endpoint{Oracle: o, MinLatency: lo, MaxLatency: hi}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return e, srv.URL + "/v1/"
}

// TestLegacySimulationHandMade: on six activities whose outcome is known
// by hand, the simulation of the deployed service scores exactly what it
// should: a known app right, kafka.apache.org AFK through the substring
// "afk", an unknown app asked once per distinct (app, title, url) and its
// answer served from the cache, and Uncategorized without an LLM.
func TestLegacySimulationHandMade(t *testing.T) {
	ts := float64(time.Date(2025, 10, 20, 10, 0, 0, 0, accuracy.Seoul()).Unix())
	e := func(user, app, url, title string, d int, truth string) accuracy.Entry {
		return accuracy.Entry{UserID: user, App: app, URL: url, Title: title, Duration: d, Timestamp: ts, Truth: truth}
	}
	entries := []accuracy.Entry{ // batches of two: [1 2] [3 4] [5 6]
		e("u1", "Code", "", "main.go — api", 100, "Development"),
		e("u1", "Zzz Ledger Pro", "", "Q3 budget", 30, "Finance"),
		e("u1", "Google Chrome", "https://kafka.apache.org/documentation/", "Apache Kafka", 50, "Development"),
		e("u2", "Zzz Ledger Pro", "", "Q3 budget", 20, "Finance"), // the cache
		e("u2", "Zzz Ledger Pro", "", "Q4 budget", 10, "Finance"), // asked again: another title
		e("u2", "Google Chrome", "https://github.com/a/b", "a/b", 40, "Development"),
	}
	tax := pomocore.DefaultTaxonomy()
	truth := accuracy.Truth(entries)
	ep, base := endpoint(t, accuracy.NewOracle(entries), 0, 0)
	cfg := accuracy.LegacyConfig{Patterns: productionPatterns(t), BaseURL: base, Batch: 2}
	board, work, st, err := accuracy.SimulateLegacy(context.Background(), entries, cfg, tax)
	if err != nil {
		t.Fatal(err)
	}
	want := accuracy.Board{
		{User: "u1", Category: "Development", Day: "2025-10-20"}: 100, {User: "u1", Category: "AFK", Day: "2025-10-20"}: 50,
		{User: "u1", Category: "Finance", Day: "2025-10-20"}: 30, {User: "u2", Category: "Finance", Day: "2025-10-20"}: 30,
		{User: "u2", Category: "Development", Day: "2025-10-20"}: 40,
	}
	if !reflect.DeepEqual(board, want) {
		t.Errorf("board:\n got %v\nwant %v", board, want)
	}
	if st.Calls != 2 || ep.Calls() != 2 || ep.Items() != 2 || st.CacheHits != 1 || st.Patterned != 3 || st.Failures != 0 {
		t.Errorf("calls %d (endpoint %d, items %d), cache hits %d, patterned %d, failures %d; want 2 (2, 2), 1, 3, 0",
			st.Calls, ep.Calls(), ep.Items(), st.CacheHits, st.Patterned, st.Failures)
	}
	s := accuracy.Compare(truth, board, work, legacyWork)
	if s.Right != 0.8 || s.WorkRight != 0.8 || s.WorkExtra != 0 || s.Uncategorized != 0 || s.Seconds != 250 || s.BoardSeconds != 250 {
		t.Errorf("with the LLM: %+v; want right 0.8 (200 of 250 s), work right 0.8, no extra, no Uncategorized", s)
	}

	// The deployed prompt offers no Finance here: its answer is
	// Uncategorized, cached like any other.
	ep.Reset()
	cfg.Offered = []string{"Development", "AFK"}
	board, work, st, err = accuracy.SimulateLegacy(context.Background(), entries, cfg, tax)
	if err != nil {
		t.Fatal(err)
	}
	s = accuracy.Compare(truth, board, work, legacyWork)
	if s.Right != 0.56 || s.Uncategorized != 0.24 || st.Calls != 2 || ep.Calls() != 2 || st.CacheHits != 1 {
		t.Errorf("Finance not offered: %+v, %d calls (endpoint %d), %d cache hits; want right 0.56, Uncategorized 0.24, 2 calls, 1 cache hit",
			s, st.Calls, ep.Calls(), st.CacheHits)
	}

	cfg.BaseURL, cfg.Offered = "", nil
	board, work, st, err = accuracy.SimulateLegacy(context.Background(), entries, cfg, tax)
	if err != nil {
		t.Fatal(err)
	}
	s = accuracy.Compare(truth, board, work, legacyWork)
	if s.Right != 0.56 || s.Uncategorized != 0.24 || st.Calls != 0 {
		t.Errorf("without the LLM: %+v, %d calls; want right 0.56 (140 of 250 s), Uncategorized 0.24, no call", s, st.Calls)
	}
}

func legacyWork(c string) bool {
	for _, w := range legacy.WorkCategories {
		if w == c {
			return true
		}
	}
	return false
}

// TestTrafficShape: the traffic is deterministic, every entry is valid as
// the main server sends it, each upload is one session whose last entry
// alone ends it and whose seconds fill the session, and titles vary
// between sightings of the same activity.
func TestTrafficShape(t *testing.T) {
	rs := rows(t)
	cfg := accuracy.TrafficConfig{Entries: 600, Users: 6, Seed: 3}
	a, err := accuracy.Generate(rs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := accuracy.Generate(rs, cfg)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave two traffics")
	}
	c, _ := accuracy.Generate(rs, accuracy.TrafficConfig{Entries: 600, Users: 6, Seed: 4})
	if reflect.DeepEqual(a, c) {
		t.Fatal("another seed gave the same traffic")
	}
	v := pomocore.NewValidator(pomocore.Limits{}, accuracy.Seoul(), func() time.Time { return time.Date(2025, 10, 25, 0, 0, 0, 0, time.UTC) })
	entries := a.Entries()
	if len(entries) < 600 {
		t.Fatalf("%d entries, want >= 600", len(entries))
	}
	users := map[string]bool{}
	for _, up := range a.Uploads {
		secs := 0
		for i, e := range up {
			if e.IsEnd != (i == len(up)-1) {
				t.Fatalf("upload of %s session %d: entry %d isEnd %v", e.UserID, e.Session, i, e.IsEnd)
			}
			if e.UserID != up[0].UserID || e.Session != up[0].Session || e.SessionDate != up[0].SessionDate {
				t.Fatalf("an upload mixes sessions: %+v and %+v", up[0], e)
			}
			secs += e.Duration
			users[e.UserID] = true
			fs := make([]string, 0, 24)
			for _, f := range e.Fields() {
				fs = append(fs, f.(string))
			}
			act, err := v.Parse("1-1", fs)
			if err != nil {
				t.Fatalf("entry %+v: %v", e, err)
			}
			if act.Duration != float64(e.Duration) || act.Timestamp != e.Timestamp || act.App != e.App || act.Title != e.Title {
				t.Fatalf("entry %+v parsed as %+v", e, act)
			}
		}
		if secs != up[0].SessionMinutes*60 {
			t.Errorf("session of %d minutes holds %d s", up[0].SessionMinutes, secs)
		}
	}
	if len(users) != 6 {
		t.Errorf("%d users, want 6", len(users))
	}
	// Sightings of one app or site by one user: repeated, and their titles
	// differ on most sightings.
	type key struct{ user, app, host string }
	titles, sightings := map[key]map[string]bool{}, map[key]int{}
	for _, e := range entries {
		k := key{e.UserID, e.App, accuracy.Host(e.URL)}
		if titles[k] == nil {
			titles[k] = map[string]bool{}
		}
		titles[k][e.Title] = true
		sightings[k]++
	}
	var repeated, distinct, total int
	for k, n := range sightings {
		if n > 1 {
			repeated += n
			distinct += len(titles[k])
		}
		total += n
	}
	if float64(repeated) < 0.8*float64(total) {
		t.Errorf("%d of %d sightings come back to an app or site seen before by that user, want most", repeated, total)
	}
	if float64(distinct) < 0.4*float64(repeated) || distinct == repeated {
		t.Errorf("%d distinct titles in %d repeated sightings: want titles to vary, with some exact repeats", distinct, repeated)
	}
}

// TestAccuracySmall runs the whole measurement in small (a few hundred
// entries, a fast fake LLM) and checks the harness itself: every entry
// counted once on the leaderboards of the real pipeline (their total is
// the ground truth's), the work board is the sum of the work categories,
// nothing dead-lettered, and the legacy simulation counts every second.
func TestAccuracySmall(t *testing.T) {
	srv := redistest.Start(t)
	tr, err := accuracy.Generate(rows(t), accuracy.TrafficConfig{Entries: 300, Users: 5, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	res, truth, boards := measure(t, tr, srv.Addr(), 5*time.Millisecond, 20*time.Millisecond, 0, 200*time.Millisecond)
	tax := pomocore.DefaultTaxonomy()
	for _, r := range res {
		if math.Abs(r.Score.BoardSeconds-r.Score.Seconds) > 1e-6 {
			t.Errorf("%s: the leaderboards hold %.1f s, the ground truth %.1f s", r.Name, r.Score.BoardSeconds, r.Score.Seconds)
		}
		if r.Score.Right <= 0 || r.Score.Right > 1 || r.Calls > r.Items {
			t.Errorf("%s: %+v, %d calls for %d items", r.Name, r.Score, r.Calls, r.Items)
		}
	}
	var workSum float64
	for c, v := range boards["pomocore"] {
		if tax.IsWork(c.Category) {
			workSum += v
		}
	}
	if w := boards["pomocore work"].Total(); math.Abs(w-workSum) > 1e-6 {
		t.Errorf("the work board holds %.1f s, the work categories %.1f s", w, workSum)
	}
	if truth.Total() == 0 {
		t.Fatal("no traffic")
	}
}

// TestAccuracyFull is the full measurement of BENCHMARKS.md ("Right
// category before it counts"); it runs with -accuracy.full only.
func TestAccuracyFull(t *testing.T) {
	if !*full {
		t.Skip("the full accuracy measurement runs with -accuracy.full")
	}
	srv := redistest.Start(t)
	tr, err := accuracy.Generate(rows(t), accuracy.TrafficConfig{Entries: *nEntries, Users: *nUsers, Seed: *seed})
	if err != nil {
		t.Fatal(err)
	}
	res, truth, boards := measure(t, tr, srv.Addr(), *minLatency, *maxLatency, *rate, 2*(*maxLatency))
	var b bytes.Buffer
	accuracy.WriteTable(&b, res)
	fmt.Fprintln(&b)
	accuracy.WriteBreakdown(&b, truth, boards, []string{"pomocore", "legacy", "legacy prompt"})
	t.Log("\n" + b.String())
	if *out != "" {
		if err := os.WriteFile(*out, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// measure runs pomocore (the application of the default settings, LLM on)
// and the legacy simulation over tr against one fake endpoint, and returns
// their results, the truth and their boards ("pomocore", "pomocore work",
// "legacy", "legacy work").
func measure(t *testing.T, tr *accuracy.Traffic, redisAddr string, lo, hi time.Duration, rate float64, quiet time.Duration) ([]accuracy.Result, accuracy.Board, map[string]accuracy.Board) {
	t.Helper()
	ctx := context.Background()
	entries := tr.Entries()
	truth := accuracy.Truth(entries)
	oracle := accuracy.NewOracle(entries)
	ep, base := endpoint(t, oracle, lo, hi)
	patterns := productionPatterns(t)
	tax := pomocore.DefaultTaxonomy()
	boards := map[string]accuracy.Board{}

	board, work, st, err := accuracy.RunPomocore(ctx, accuracy.RunConfig{
		RedisAddr: redisAddr, DataDir: t.TempDir(), BaseURL: base, Patterns: patterns, Rate: rate, Quiet: quiet,
		Idle: func(q time.Duration) bool { return ep.InFlight() == 0 && time.Since(ep.LastStart()) >= q },
	}, tr)
	if err != nil {
		t.Fatal(err)
	}
	if st.Dead != 0 {
		t.Errorf("pomocore dead-lettered %d entries", st.Dead)
	}
	boards["pomocore"], boards["pomocore work"] = board, work
	pom := accuracy.Result{Name: "pomocore", Score: accuracy.Compare(truth, board, work, tax.IsWork),
		Calls: ep.Calls(), Items: ep.Items(), Entries: len(entries), Elapsed: st.Drained}
	t.Logf("pomocore: %d entries, acknowledged in %v, endpoint idle at %v; oracle misses %d; metrics %v",
		st.Entries, st.Elapsed.Round(time.Millisecond), st.Drained.Round(time.Millisecond), oracle.Misses.Load(), st.Metrics)

	ep.Reset()
	oracle.Misses.Store(0)
	board, work, lst, err := accuracy.SimulateLegacy(ctx, entries, accuracy.LegacyConfig{Patterns: patterns, BaseURL: base}, tax)
	if err != nil {
		t.Fatal(err)
	}
	boards["legacy"], boards["legacy work"] = board, work
	leg := accuracy.Result{Name: "deployed service (simulated)", Score: accuracy.Compare(truth, board, work, legacyWork),
		Calls: ep.Calls(), Items: ep.Items(), Entries: len(entries), Elapsed: lst.Elapsed}
	if lst.Failures != 0 || oracle.Misses.Load() != 0 {
		t.Errorf("legacy: %d failed calls, %d questions the oracle could not answer exactly", lst.Failures, oracle.Misses.Load())
	}
	ep.Reset()
	board, work, pst, err := accuracy.SimulateLegacy(ctx, entries, accuracy.LegacyConfig{Patterns: patterns, BaseURL: base,
		Offered: accuracy.DeployedPromptCategories}, tax)
	if err != nil {
		t.Fatal(err)
	}
	boards["legacy prompt"], boards["legacy prompt work"] = board, work
	legPrompt := accuracy.Result{Name: "deployed service (simulated), its prompt's categories", Score: accuracy.Compare(truth, board, work, legacyWork),
		Calls: ep.Calls(), Items: ep.Items(), Entries: len(entries), Elapsed: pst.Elapsed}
	t.Logf("traffic: %d entries, %d uploads, %d distinct (app, url, title), %.0f s; production's patterns decide %.1f%% of the seconds "+
		"(%.1f%% of those right); legacy: %d patterned, %d cache hits, %d calls",
		len(entries), len(tr.Uploads), tr.Variants, truth.Total(), 100*lst.PatternedSeconds/truth.Total(),
		100*lst.PatternedRight/max(1, lst.PatternedSeconds), lst.Patterned, lst.CacheHits, lst.Calls)
	return []accuracy.Result{pom, leg, legPrompt}, truth, boards
}
