package pipeline_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/eventually"
	"github.com/pomocore/pomocore/pipeline"
)

// awaitedAnswer is an answer on its way that a test gives by hand.
type awaitedAnswer struct {
	done chan struct{}
	cat  string
	ok   bool
}

func (a *awaitedAnswer) Done() <-chan struct{} { return a.done }
func (a *awaitedAnswer) Result() (pomocore.Classification, bool) {
	select {
	case <-a.done:
	default:
		return pomocore.Classification{}, false
	}
	if !a.ok {
		return pomocore.Classification{Category: pomocore.Uncategorized, Source: pomocore.SourceDefault}, false
	}
	return pomocore.Classification{Category: a.cat, Source: pomocore.SourceLLM}, true
}

// decider decides the apps of fixedClassifier at once and awaits answer
// for "Zzz Unknown"; once answered, it decides that app too.
type decider struct {
	fixedClassifier
	mu     sync.Mutex
	answer *awaitedAnswer
	asked  int
}

func newDecider() *decider {
	return &decider{fixedClassifier: fixedClassifier{"Xcode": "Development", "Steam": "Game"},
		answer: &awaitedAnswer{done: make(chan struct{})}}
}

func (d *decider) Decide(app, url, title string) (pomocore.Classification, pomocore.Awaited) {
	if app != "Zzz Unknown" {
		return d.Classify(app, url, title), nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asked++
	if cls, ok := d.answer.Result(); ok {
		return cls, nil
	}
	return pomocore.Classification{Category: pomocore.Uncategorized, Source: pomocore.SourceDefault}, d.answer
}

func (d *decider) give(cat string, ok bool) {
	d.answer.cat, d.answer.ok = cat, ok
	close(d.answer.done)
}

// orderCheck is a store that records, at each save of the unknown
// activity, how many session events were emitted already.
type orderCheck struct {
	pipeline.Store
	e      *env
	mu     sync.Mutex
	before []int64
}

func (o *orderCheck) Save(ctx context.Context, recs []pipeline.Record) error {
	for _, r := range recs {
		if r.Activity.App == "Zzz Unknown" {
			n := int64(o.e.mem.Len(session))
			o.mu.Lock()
			o.before = append(o.before, n)
			o.mu.Unlock()
		}
	}
	return o.Store.Save(ctx, recs)
}

func newDecideEnv(t *testing.T, wait time.Duration) (*env, *decider, *orderCheck) {
	t.Helper()
	cfg := pipeline.Config{DecideWait: wait, Block: time.Millisecond}
	e := newEnv(t, "c1", cfg)
	oc := &orderCheck{Store: e.store, e: e}
	e.st = oc
	e.build("c1", cfg)
	d := newDecider()
	e.p.SetRules(d, e.ids)
	return e, d, oc
}

// The deployed service asks its LLM before it counts: an activity nothing
// local decides is not counted as Uncategorized while its answer is on the
// way. It waits, unacknowledged, while the rest of its batch commits; the
// session end behind it waits too, so the main server, scoring the session
// when the session event arrives, reads the final usage log.
func TestMainServerSessionScoreReadsTheLLMsCategoryNotUncategorized(t *testing.T) {
	e, d, oc := newDecideEnv(t, time.Hour)
	ts := e.now.Add(-time.Minute)
	day := pomocore.PeriodsAt(ts, seoul).Day
	e.add(event("u", "Xcode", 10, ts, false)...)
	e.add(event("u", "Zzz Unknown", 20, ts, false)...)
	e.add(event("u", "Steam", 5, ts, true)...)
	stop := sync.OnceValue(e.runUntilCommitted(1))
	defer func() { _ = stop() }()
	if got := e.score("leaderboard:Development:"+day, "u"); got != 10 {
		t.Fatalf("the decided activity: Development = %v, want 10", got)
	}
	if n := e.pending(); n != 2 {
		t.Errorf("pending = %d, want 2 (the unknown activity and its session's end wait)", n)
	}
	if n := e.mem.Len(session); n != 0 {
		t.Errorf("%d session events before the session's unknown activity was decided", n)
	}
	if got := e.score("leaderboard:Uncategorized:"+day, "u"); got != 0 {
		t.Errorf("Uncategorized = %v while the answer was on its way", got)
	}
	d.give("Design", true)
	if !eventually.Within(30*time.Second, func() bool { return e.pending() == 0 }) {
		t.Fatalf("still pending after the answer: %d", e.pending())
	}
	if got := e.score("leaderboard:Design:"+day, "u"); got != 20 {
		t.Errorf("Design = %v, want 20 (the LLM's answer)", got)
	}
	if got := e.score("leaderboard:Game:"+day, "u"); got != 5 {
		t.Errorf("the session end's own activity: Game = %v, want 5", got)
	}
	if got := e.score("leaderboard:Uncategorized:"+day, "u"); got != 0 {
		t.Errorf("Uncategorized = %v", got)
	}
	if n := e.mem.Len(session); n != 1 {
		t.Errorf("session events = %d, want 1", n)
	}
	oc.mu.Lock()
	before := oc.before
	oc.mu.Unlock()
	if len(before) == 0 || before[0] != 0 {
		t.Errorf("session events emitted before the unknown activity's usage log was stored: %v", before)
	}
	snap, _ := e.store.Snapshot(context.Background())
	for _, l := range snap.UsageLogs {
		if l.Duration == 20 && l.CategoryID != e.ids["Design"] {
			t.Errorf("the unknown activity's usage log has category %v, want Design's", l.CategoryID)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// Past the wait, an activity counts as the default, as it did before.
func TestAnActivityPastItsWaitCountsAsTheDefault(t *testing.T) {
	e, _, _ := newDecideEnv(t, 50*time.Millisecond) // the test clock moves 1ms a reading
	ts := e.now.Add(-time.Minute)
	day := pomocore.PeriodsAt(ts, seoul).Day
	e.add(event("u", "Zzz Unknown", 20, ts, true)...)
	stop := e.runUntilCommitted(1)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := e.score("leaderboard:Uncategorized:"+day, "u"); got != 20 {
		t.Errorf("Uncategorized = %v, want 20 once the wait passed", got)
	}
	if n := e.mem.Len(session); n != 1 {
		t.Errorf("session events = %d, want 1", n)
	}
}

// A crash while entries wait loses and doubles nothing: they were never
// acknowledged, and a restarted consumer decides them once.
func TestACrashWhileEntriesWaitLosesAndDoublesNothing(t *testing.T) {
	e, _, _ := newDecideEnv(t, time.Hour)
	ts := e.now.Add(-time.Minute)
	day := pomocore.PeriodsAt(ts, seoul).Day
	e.add(event("u", "Xcode", 10, ts, false)...)
	e.add(event("u", "Zzz Unknown", 20, ts, false)...)
	e.add(event("u", "Steam", 5, ts, true)...)
	stop := e.runUntilCommitted(1)
	if err := stop(); err != nil { // the process goes away while two entries wait
		t.Fatal(err)
	}
	if n := e.pending(); n != 2 {
		t.Fatalf("pending after the stop = %d, want 2", n)
	}
	// The same consumer starts again; the answer is known by now.
	e.build("c1", pipeline.Config{DecideWait: time.Hour, Block: time.Millisecond})
	d := newDecider()
	d.give("Design", true)
	e.p.SetRules(d, e.ids)
	stop = e.runUntilCommitted(2)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]float64{"Development": 10, "Design": 20, "Game": 5, "Uncategorized": 0} {
		if got := e.score("leaderboard:"+key+":"+day, "u"); got != want {
			t.Errorf("%s = %v, want %v", key, got, want)
		}
	}
	if n := e.mem.Len(session); n != 1 {
		t.Errorf("session events = %d, want 1", n)
	}
	if n := e.pending(); n != 0 {
		t.Errorf("pending = %d", n)
	}
}
