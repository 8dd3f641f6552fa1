package pipeline_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/eventually"
	"github.com/pomocore/pomocore/internal/logtest"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/pipeline/storetest"
	"github.com/pomocore/pomocore/pipeline/streamtest"
)

const (
	stream  = "pattern_match_stream"
	group   = "pattern_match_group"
	dead    = stream + ":dead"
	session = "session_score_stream"
)

var seoul = mustLoc("Asia/Seoul")

func mustLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// fixedClassifier maps app names to categories; everything else is
// Uncategorized.
type fixedClassifier map[string]string

func (f fixedClassifier) Classify(app, _, _ string) pomocore.Classification {
	if c, ok := f[app]; ok {
		return pomocore.Classification{Category: c, Source: pomocore.SourceApp}
	}
	return pomocore.Classification{Category: pomocore.Uncategorized, Source: pomocore.SourceDefault}
}

// env is a pipeline over the in-memory stream fake (streamtest.Memory) and
// store (storetest.Memory): the adapters' own suites prove they behave
// as the fakes do.
type env struct {
	t      *testing.T
	mem    *streamtest.Memory
	store  *storetest.Memory
	now    time.Time
	sleeps atomic.Int64
	// longest is the longest backoff slept.
	longest atomic.Int64
	ticks   atomic.Int64
	p       *pipeline.Pipeline
	reader  *streamtest.Reader
	ids     map[string]pomocore.ObjectID
	// st, when set, is the store build gives the pipeline instead of store.
	st pipeline.Store
}

func newEnv(t *testing.T, consumer string, cfg pipeline.Config) *env {
	t.Helper()
	e := &env{t: t, mem: streamtest.NewMemory(nil), store: storetest.NewMemory(),
		now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	e.build(consumer, cfg)
	return e
}

func (e *env) build(consumer string, cfg pipeline.Config) {
	t := e.t
	t.Helper()
	reader := e.mem.Reader(stream, group, consumer)
	committer := e.mem.Committer(streamtest.CommitterConfig{Stream: stream, Group: group, DeadStream: dead, SessionStream: session,
		DedupWindow: 2 * time.Hour})
	e.ids = map[string]pomocore.ObjectID{}
	for i, c := range pomocore.DefaultTaxonomy().Categories {
		e.ids[c] = pomocore.ObjectID{byte(i + 1)}
	}
	if cfg.Location == nil {
		cfg.Location = seoul
	}
	e.reader = reader
	var st pipeline.Store = e.store
	if e.st != nil {
		st = e.st
	}
	var err error
	e.p, err = pipeline.New(cfg, pipeline.WithSleep(pipeline.Deps{
		Reader: reader, Store: st, Committer: committer,
		Classifier:  fixedClassifier{"Xcode": "Development", "Steam": "Game"},
		Taxonomy:    pomocore.DefaultTaxonomy(),
		CategoryIDs: e.ids,
		// The clock moves a millisecond per reading, so that intervals pass.
		Now: func() time.Time { return e.now.Add(time.Duration(e.ticks.Add(1)) * time.Millisecond) },
	}, func(ctx context.Context, d time.Duration) error {
		e.sleeps.Add(1)
		if int64(d) > e.longest.Load() {
			e.longest.Store(int64(d))
		}
		return ctx.Err()
	}))
	if err != nil {
		t.Fatal(err)
	}
}

// event returns CONTRACT fields for one activity.
func event(user, app string, duration float64, ts time.Time, end bool) []string {
	return []string{
		"userId", user, "app", app, "title", "t", "url", "",
		"duration", strconv.FormatFloat(duration, 'g', -1, 64),
		"timestamp", strconv.FormatInt(ts.Unix(), 10),
		"session", "2", "sessionDate", ts.In(seoul).Format(time.DateOnly), "sessionMinutes", "25",
		"isEnd", strconv.FormatBool(end),
	}
}

func (e *env) add(fields ...string) string {
	e.t.Helper()
	return e.mem.Add(stream, fields...)
}

// processNew reads everything new and processes it.
func (e *env) processNew() {
	e.t.Helper()
	ctx := context.Background()
	for {
		msgs, err := e.reader.Read(ctx, 100, -1)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(msgs) == 0 {
			return
		}
		if err := e.p.Process(ctx, msgs); err != nil {
			e.t.Fatal(err)
		}
	}
}

// runUntilCommitted runs the pipeline until it has committed n entries and
// returns a function that cancels it and returns Run's result. Progress is
// polled: it is the pipeline's own loop that moves, with nothing to signal.
func (e *env) runUntilCommitted(n int64) (stop func() error) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.p.Run(ctx) }()
	var early error
	returned := false
	if !eventually.Within(30*time.Second, func() bool {
		if e.p.Stats().Snapshot().Committed >= n {
			return true
		}
		select {
		case early = <-done:
			returned = true
		default:
		}
		return returned
	}) {
		cancel()
		e.t.Fatalf("only %d of %d entries committed in 30s", e.p.Stats().Snapshot().Committed, n)
	}
	if returned {
		cancel()
		e.t.Fatalf("Run returned early: %v", early)
	}
	return func() error {
		cancel()
		return <-done
	}
}

func (e *env) score(key, member string) float64 {
	e.t.Helper()
	return e.mem.Score(key, member)
}

func (e *env) pending() int64 {
	e.t.Helper()
	return int64(len(e.mem.Pending(stream, group)))
}

// entries returns the fields of the entries of an output stream.
func (e *env) entries(stream string) []map[string]string {
	var out []map[string]string
	for _, m := range e.mem.Entries(stream) {
		out = append(out, m.Values())
	}
	return out
}

func TestProcessCountsStoresAndEmits(t *testing.T) {
	e := newEnv(t, "c1", pipeline.Config{})
	// 2026-11-24 23:30 in Seoul is 14:30 UTC; 2026-11-24 15:30 UTC is
	// already the 25th in Seoul.
	ts1 := time.Date(2026, 11, 24, 14, 30, 0, 0, time.UTC)
	ts2 := time.Date(2026, 11, 24, 15, 30, 0, 0, time.UTC)
	e.add(event("u1", "Xcode", 100, ts1, false)...)
	e.add(event("u1", "Xcode", 50.5, ts2, true)...)
	e.add(event("u2", "Steam", 30, ts1, false)...)
	e.add(event("u2", "Unknown Thing", 0, ts1, false)...)
	e.processNew()

	for key, want := range map[string]float64{
		"leaderboard:Development:2026-11-24": 100,
		"leaderboard:Development:2026-11-25": 50.5,
		"leaderboard:Development:2026-W48":   150.5,
		"leaderboard:Development:2026-M11":   150.5,
		"leaderboard:work:2026-11-24":        100,
		"leaderboard:work:2026-W48":          150.5,
		"leaderboard:work:2026-M11":          150.5,
	} {
		if got := e.score(key, "u1"); got != want {
			t.Errorf("%s u1 = %v, want %v", key, got, want)
		}
	}
	if got := e.score("leaderboard:Game:2026-11-24", "u2"); got != 30 {
		t.Errorf("Game u2 = %v, want 30", got)
	}
	if got := e.score("leaderboard:work:2026-11-24", "u2"); got != 0 {
		t.Errorf("work u2 = %v, want 0 (Game is not work)", got)
	}
	if e.mem.Exists("leaderboard:Uncategorized:2026-11-24") {
		t.Errorf("a zero duration created a leaderboard entry")
	}
	ses := e.entries(session)
	if len(ses) != 1 || ses[0]["userId"] != "u1" || ses[0]["session"] != "2" || ses[0]["sessionDate"] != "2026-11-25" {
		t.Errorf("session events = %+v", ses)
	}
	snap, err := e.store.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.UsageLogs) != 4 {
		t.Fatalf("usage logs = %d, want 4", len(snap.UsageLogs))
	}
	if len(snap.Categorized) != 3 {
		t.Errorf("categorized data = %d, want 3 distinct (app,url,title)", len(snap.Categorized))
	}
	for _, l := range snap.UsageLogs {
		if l.UserID == "u2" && l.Duration == 30 && l.CategoryID != e.ids["Game"] {
			t.Errorf("Steam usage log categoryId = %v, want Game's", l.CategoryID)
		}
	}
	if e.pending() != 0 {
		t.Errorf("pending = %d, want 0", e.pending())
	}
}

func TestMalformedEntriesAreDeadLetteredNotCounted(t *testing.T) {
	e := newEnv(t, "c1", pipeline.Config{})
	ts := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	good := event("u1", "Xcode", 10, ts, false)
	set := func(name, value string) []string {
		out := append([]string(nil), good...)
		for i := 0; i < len(out); i += 2 {
			if out[i] == name {
				out[i+1] = value
			}
		}
		return out
	}
	cases := map[string][]string{
		"missing_user":    set("userId", ""),
		"bad_duration":    set("duration", "abc"),
		"nan":             set("duration", "NaN"),
		"inf":             set("duration", "Inf"),
		"negative":        set("duration", "-500"),
		"bad_timestamp":   set("timestamp", strconv.FormatInt(ts.UnixMilli(), 10)),
		"bad_int":         set("session", "two"),
		"bad_bool":        set("isEnd", "maybe"),
		"bad_date":        set("sessionDate", "24/11/2026"),
		"bad_object_id":   append(append([]string(nil), good...), "categorizedDataId", "xyz"),
		"duplicate_field": append(append([]string(nil), good...), "duration", "99999"),
		"oversized_field": set("title", strings.Repeat("가", 5000)),
		"invalid_utf8":    set("app", "X\xc3\x28code"),
		"control_chars":   set("userId", "u1\r\nX-Injected: 1"),
	}
	for _, fields := range cases {
		e.add(fields...)
	}
	e.add(good...)
	e.processNew()

	if got := e.score("leaderboard:Development:2026-11-24", "u1"); got != 10 {
		t.Errorf("score = %v, want 10: only the good entry counts", got)
	}
	dl := e.entries(dead)
	if len(dl) != len(cases) {
		t.Fatalf("dead letters = %d, want %d", len(dl), len(cases))
	}
	for _, m := range dl {
		if m["dead.reason"] == "" || m["dead.kind"] == "" || m["dead.id"] == "" {
			t.Errorf("dead letter without id/reason/kind: %+v", m)
		}
	}
	snap, _ := e.store.Snapshot(context.Background())
	if len(snap.UsageLogs) != 1 {
		t.Errorf("usage logs = %d, want 1", len(snap.UsageLogs))
	}
	if e.pending() != 0 {
		t.Errorf("pending = %d, want 0: dead letters are acknowledged", e.pending())
	}
	if got := e.p.Stats().Snapshot().Dead; got != int64(len(cases)) {
		t.Errorf("stats dead = %d", got)
	}
}

func TestStoreFailureAcknowledgesNothingUntilStored(t *testing.T) {
	e := newEnv(t, "c1", pipeline.Config{})
	ts := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	e.add(event("u1", "Xcode", 10, ts, true)...)
	e.store.FailNext(3, errors.New("store down"))
	msgs, err := e.reader.Read(context.Background(), 10, -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.p.Process(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	if got := e.sleeps.Load(); got != 3 {
		t.Errorf("backoff sleeps = %d, want 3 (one per failure)", got)
	}
	if got := e.score("leaderboard:Development:2026-11-24", "u1"); got != 10 {
		t.Errorf("score = %v, want 10 after recovery", got)
	}

	// A store that stays down until the context ends: nothing acknowledged,
	// nothing counted, the entry stays pending.
	e.add(event("u1", "Xcode", 7, ts, true)...)
	e.store.FailNext(1<<30, errors.New("store down"))
	msgs, _ = e.reader.Read(context.Background(), 10, -1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.p.Process(ctx, msgs); err == nil {
		t.Fatal("Process succeeded with the store down")
	}
	if got := e.score("leaderboard:Development:2026-11-24", "u1"); got != 10 {
		t.Errorf("score = %v, want still 10", got)
	}
	if e.pending() != 1 {
		t.Errorf("pending = %d, want 1", e.pending())
	}
	if n := e.mem.Len(session); n != 1 {
		t.Errorf("session events = %d, want 1", n)
	}
}

func TestRedeliveredBatchCountsOnce(t *testing.T) {
	e := newEnv(t, "c1", pipeline.Config{})
	ts := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	e.add(event("u1", "Xcode", 10, ts, true)...)
	msgs, _ := e.reader.Read(context.Background(), 10, -1)
	for i := 0; i < 3; i++ {
		if err := e.p.Process(context.Background(), msgs); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.score("leaderboard:Development:2026-11-24", "u1"); got != 10 {
		t.Errorf("score = %v, want 10", got)
	}
	if n := e.mem.Len(session); n != 1 {
		t.Errorf("session events = %d, want 1", n)
	}
	snap, _ := e.store.Snapshot(context.Background())
	if len(snap.UsageLogs) != 1 {
		t.Errorf("usage logs = %d, want 1", len(snap.UsageLogs))
	}
	if s := e.p.Stats().Snapshot(); s.Committed != 1 || s.Skipped != 2 {
		t.Errorf("stats = %+v, want 1 committed 2 skipped", s)
	}
}

func TestRunDrainsOwnPendingThenReadsAndStops(t *testing.T) {
	e := newEnv(t, "c1", pipeline.Config{Block: 10 * time.Millisecond})
	ts := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	for i := 0; i < 5; i++ {
		e.add(event("u"+strconv.Itoa(i), "Xcode", 1, ts, false)...)
	}
	// A previous run of consumer c1 read these five and died.
	if _, err := e.reader.Read(context.Background(), 5, -1); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		e.add(event("v"+strconv.Itoa(i), "Steam", 2, ts, false)...)
	}
	e.build("c1", pipeline.Config{Block: 10 * time.Millisecond})

	stop := e.runUntilCommitted(8)
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil on cancel", err)
	}
	if e.pending() != 0 {
		t.Errorf("pending = %d", e.pending())
	}
	for i := 0; i < 5; i++ {
		if got := e.score("leaderboard:Development:2026-11-24", "u"+strconv.Itoa(i)); got != 1 {
			t.Errorf("u%d = %v", i, got)
		}
	}
}

func TestRunReclaimsIdleEntriesOfOtherConsumers(t *testing.T) {
	e := newEnv(t, "dead-consumer", pipeline.Config{})
	ts := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	for i := 0; i < 4; i++ {
		e.add(event("u", "Xcode", 1, ts, false)...)
	}
	if _, err := e.reader.Read(context.Background(), 4, -1); err != nil {
		t.Fatal(err)
	}
	e.mem.Advance(2 * time.Minute) // the entries are now idle for two minutes
	e.build("survivor", pipeline.Config{Block: 10 * time.Millisecond, ClaimIdle: 30 * time.Second})
	stop := e.runUntilCommitted(4)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := e.score("leaderboard:Development:2026-11-24", "u"); got != 4 {
		t.Errorf("score = %v, want 4", got)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []pipeline.Config{
		{BatchSize: -1}, {BatchSize: 20000}, {MaxDeliveries: -1}, {Partition: 64},
		pipeline.WithRetry(pipeline.Config{}, time.Second, time.Millisecond), {Limits: pomocore.Limits{MaxDuration: -1}},
		{Retention: pipeline.Retention{Day: time.Hour}}, {Retention: pipeline.Retention{Month: 7 * 24 * time.Hour}},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if err := pipeline.DefaultConfig().Validate(); err != nil {
		t.Errorf("defaults rejected: %v", err)
	}
	if _, err := pipeline.New(pipeline.Config{}, pipeline.Deps{}); err == nil {
		t.Error("New without ports succeeded")
	}
}

func TestSetRulesAppliesToLaterBatches(t *testing.T) {
	e := newEnv(t, "c1", pipeline.Config{})
	ts := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	e.add(event("u1", "NewTool", 10, ts, false)...)
	e.processNew()
	newID := pomocore.ObjectID{0x77}
	e.p.SetRules(fixedClassifier{"NewTool": "Design"}, map[string]pomocore.ObjectID{"Design": newID})
	e.add(event("u1", "NewTool", 5, ts, false)...)
	e.processNew()
	if got := e.score("leaderboard:Uncategorized:2026-11-24", "u1"); got != 10 {
		t.Errorf("before the swap: Uncategorized = %v, want 10", got)
	}
	if got := e.score("leaderboard:Design:2026-11-24", "u1"); got != 5 {
		t.Errorf("after the swap: Design = %v, want 5", got)
	}
	snap, _ := e.store.Snapshot(context.Background())
	found := false
	for _, l := range snap.UsageLogs {
		found = found || (l.Duration == 5 && l.CategoryID == newID)
	}
	if !found {
		t.Error("the new rules' category id was not stored")
	}
}

type recordingObserver struct {
	reports []pipeline.BatchReport
	fails   []string
}

func (r *recordingObserver) BatchDone(b pipeline.BatchReport)  { r.reports = append(r.reports, b) }
func (r *recordingObserver) CallFailed(what string, err error) { r.fails = append(r.fails, what) }

func TestObserverSeesBatches(t *testing.T) {
	e := newEnv(t, "c1", pipeline.Config{})
	obs := &recordingObserver{}
	e.p, _ = pipeline.New(pipeline.Config{Location: seoul}, pipeline.WithSleep(pipeline.Deps{
		Reader: e.reader, Store: e.store, Committer: mustCommitter(e.mem),
		Classifier: fixedClassifier{"Xcode": "Development"}, Taxonomy: pomocore.DefaultTaxonomy(),
		CategoryIDs: e.ids, Observer: obs,
	}, func(ctx context.Context, d time.Duration) error { return ctx.Err() }))
	ts := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	e.add(event("u1", "Xcode", 10, ts, false)...)
	e.add(event("u1", "Nope", 10, ts, false)...)
	e.add(event("", "Xcode", 10, ts, false)...)
	e.store.FailNext(1, errors.New("down"))
	e.processNew()
	if len(obs.reports) != 1 || len(obs.fails) != 1 || obs.fails[0] != "store" {
		t.Fatalf("reports %+v fails %v", obs.reports, obs.fails)
	}
	r := obs.reports[0]
	if r.Size != 3 || r.Applied != 3 || r.DeadByKind["missing_user"] != 1 || r.BySource[pomocore.SourceApp] != 1 ||
		r.BySource[pomocore.SourceDefault] != 1 || r.ByCategory["Development"] != 1 || len(r.Ages) != 3 {
		t.Errorf("report = %+v", r)
	}
}

// mustCommitter returns a committer of mem without dedup by activity.
func mustCommitter(mem *streamtest.Memory) *streamtest.Committer {
	return mem.Committer(streamtest.CommitterConfig{Stream: stream, Group: group, DeadStream: dead, SessionStream: session})
}

func TestRetentionExpiresLeaderboardKeys(t *testing.T) {
	e := newEnv(t, "c1", pipeline.Config{Retention: pipeline.Retention{Day: 8 * 24 * time.Hour, Week: 5 * 7 * 24 * time.Hour}})
	ts := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	e.add(event("u1", "Xcode", 10, ts, false)...)
	e.processNew()
	for key, want := range map[string]time.Duration{
		"leaderboard:Development:2026-11-24": 8 * 24 * time.Hour,
		"leaderboard:work:2026-W48":          5 * 7 * 24 * time.Hour,
		"leaderboard:Development:2026-M11":   -1,
	} {
		got := e.mem.TTL(key)
		if (want < 0 && got >= 0) || (want > 0 && (got <= 0 || got > want)) {
			t.Errorf("%s TTL = %v, want %v", key, got, want)
		}
	}
}

func TestRunTrimsConsumedInput(t *testing.T) {
	e := newEnv(t, "c1", pipeline.Config{})
	ts := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	for i := 0; i < 5; i++ {
		e.add(event("u", "Xcode", 1, ts, false)...)
	}
	e.build("c1", pipeline.Config{Block: 10 * time.Millisecond, TrimInput: true, ClaimInterval: time.Millisecond})
	stop := e.runUntilCommitted(5)
	// The next full reclaim scan trims: wait for the stream to empty.
	if !eventually.Within(10*time.Second, func() bool { return e.mem.Len(stream) == 0 }) {
		t.Fatalf("stream still has %d entries", e.mem.Len(stream))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestRunLogsAMinuteSummary(t *testing.T) {
	e := newEnv(t, "c1", pipeline.Config{})
	log, buf := logtest.Logger()
	var clock atomic.Int64
	p, err := pipeline.New(pipeline.Config{Location: seoul, Block: 10 * time.Millisecond}, pipeline.Deps{
		Reader: e.reader, Store: e.store, Committer: mustCommitter(e.mem),
		Classifier: fixedClassifier{"Xcode": "Development"}, Taxonomy: pomocore.DefaultTaxonomy(), CategoryIDs: e.ids,
		Logger: log,
		// Every reading of the clock is 20 s later than the one before.
		Now: func() time.Time { return e.now.Add(time.Duration(clock.Add(1)) * 20 * time.Second) },
	})
	if err != nil {
		t.Fatal(err)
	}
	e.p = p
	e.add(event("u1", "Xcode", 10, e.now.Add(-time.Hour), false)...)
	stop := e.runUntilCommitted(1)
	// The summary may be logged while the batch is still being committed;
	// a later one reports the commit.
	if !eventually.Within(10*time.Second, func() bool { return strings.Contains(buf.String(), "committed=1") }) {
		t.Fatalf("no summary logged:\n%s", buf.String())
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "committed=1") {
		t.Errorf("summary:\n%s", buf.String())
	}
}

// The main server may add a field in a later release: the activity still
// counts, the field is counted; with strictness set it is dead-lettered.
func TestMainServerAddsAFieldActivityStillCounts(t *testing.T) {
	ts := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	e := newEnv(t, "c1", pipeline.Config{})
	e.add(append(event("u1", "Xcode", 10, ts, false), "clientVersion", "2.1")...)
	e.add(append(event("u1", "Xcode", 5, ts, false), "clientVersion", "2.1")...)
	e.processNew()
	if got := e.score("leaderboard:Development:2026-11-24", "u1"); got != 15 {
		t.Errorf("score = %v, want 15", got)
	}
	if s := e.p.Stats().Snapshot(); s.UnknownFields != 2 || s.Dead != 0 {
		t.Errorf("stats = %+v, want 2 entries with unknown fields, none dead", s)
	}
	strict := newEnv(t, "c1", pipeline.Config{Limits: pomocore.Limits{RejectUnknownFields: true}})
	strict.add(append(event("u1", "Xcode", 10, ts, false), "isAdmin", "true")...)
	strict.processNew()
	if got := strict.score("leaderboard:Development:2026-11-24", "u1"); got != 0 {
		t.Errorf("strict: score = %v, want 0", got)
	}
	if n := strict.mem.Len(dead); n != 1 {
		t.Errorf("strict: dead letters = %d, want 1", n)
	}
}

// The main server scores a session when its session-end event arrives:
// an isEnd entry rejected for its duration still ends the session (its
// duration counts nowhere), with exactly the three fields.
func TestMainServerScoresSessionWhoseLastActivityWasRejected(t *testing.T) {
	ts := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	e := newEnv(t, "c1", pipeline.Config{})
	e.add(event("u1", "Xcode", 10, ts, false)...)
	e.add(event("u1", "Xcode", -500, ts, true)...) // rejected, valid session: event
	e.add(event("", "Xcode", -500, ts, true)...)   // rejected, no user: none
	e.add(event("u2", "Xcode", 1e9, ts, false)...) // rejected, not the end: none
	e.processNew()
	ses := e.entries(session)
	if len(ses) != 1 {
		t.Fatalf("session events = %+v, want 1", ses)
	}
	if v := ses[0]; len(v) != 3 || v["userId"] != "u1" || v["sessionDate"] != "2026-11-24" || v["session"] != "2" {
		t.Errorf("session event = %v, want exactly userId u1, sessionDate 2026-11-24, session 2", v)
	}
	if got := e.score("leaderboard:Development:2026-11-24", "u1"); got != 10 {
		t.Errorf("score = %v, want 10: the rejected duration counts nowhere", got)
	}
	if n := e.mem.Len(dead); n != 3 {
		t.Errorf("dead letters = %d, want 3", n)
	}
}

// The main server's RedisStreamProducer re-sends a failed batch under new
// stream ids for up to 30 minutes: the same pomodoroUsageLogId counts once
// and ends its session once, also when it arrives in another batch.
func TestMainServerProducerRetryCountsOnceThroughThePipeline(t *testing.T) {
	ts := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	e := newEnv(t, "c1", pipeline.Config{})
	withID := func(f []string, ul string) []string { return append(f, "pomodoroUsageLogId", ul) }
	a, b := "68bd2c3f5e9a1b0012345678", "68bd2c3f5e9a1b0012345679"
	e.add(withID(event("u1", "Xcode", 10, ts, false), a)...)
	e.add(withID(event("u1", "Xcode", 20, ts, true), b)...)
	e.processNew()
	e.add(withID(event("u1", "Xcode", 10, ts, false), a)...)
	e.add(withID(event("u1", "Xcode", 20, ts, true), b)...)
	e.add(event("u1", "Xcode", 1, ts, false)...)
	e.processNew()
	if got := e.score("leaderboard:Development:2026-11-24", "u1"); got != 31 {
		t.Errorf("score = %v, want 31: each activity once", got)
	}
	if n := e.mem.Len(session); n != 1 {
		t.Errorf("session events = %d, want 1", n)
	}
	if s := e.p.Stats().Snapshot(); s.Duplicates != 2 {
		t.Errorf("duplicates = %d, want 2", s.Duplicates)
	}
	if e.pending() != 0 {
		t.Errorf("pending = %d", e.pending())
	}
}

// The main server names a usage log's category only through its
// categoryId: a category category_pattern lacks is recorded as the
// default, on the leaderboards and in the store, never without an id.
func TestMainServerNamesOnlyCategoriesWithADocument(t *testing.T) {
	ts := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	e := newEnv(t, "c1", pipeline.Config{})
	ids := map[string]pomocore.ObjectID{}
	for c, id := range e.ids {
		if c != "Game" {
			ids[c] = id
		}
	}
	e.p.SetRules(fixedClassifier{"Xcode": "Development", "Steam": "Game"}, ids)
	e.add(event("u1", "Steam", 30, ts, false)...)
	e.processNew()
	if got := e.score("leaderboard:Uncategorized:2026-11-24", "u1"); got != 30 {
		t.Errorf("Uncategorized = %v, want 30", got)
	}
	if got := e.score("leaderboard:Game:2026-11-24", "u1"); got != 0 {
		t.Errorf("Game = %v, want 0: it has no category_pattern document", got)
	}
	snap, _ := e.store.Snapshot(context.Background())
	if len(snap.UsageLogs) != 1 || snap.UsageLogs[0].CategoryID != e.ids["Uncategorized"] {
		t.Errorf("usage logs = %+v, want one with Uncategorized's id", snap.UsageLogs)
	}
}
