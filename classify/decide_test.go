package classify_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
)

// An unknown activity is not given the default while its answer is on the
// way: Decide hands the caller the answer to wait for, and it carries the
// LLM's category (the deployed service asks its LLM before it counts).
func TestDecideHandsOutTheLLMAnswerToWaitFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The LLM answers only once the test has seen the second sighting:
		// with no linger (ChainConfig's zero) an instant answer could land
		// before it, and the second Decide would rightly need no wait.
		release := make(chan struct{})
		f := &fakeFallback{answer: func(q classify.Query) (string, error) { <-release; return "Design", nil }}
		c := newChain(t, f, classify.ChainConfig{})
		cls, wait := c.Decide("Zzz Sketcher", "", "board 1")
		if wait == nil || cls.Source != pomocore.SourceDefault {
			t.Fatalf("Decide = %+v, %v: want the default and an answer to wait for", cls, wait)
		}
		// A second sighting while it is asked about shares the call.
		if _, again := c.Decide("Zzz Sketcher", "", "board 1"); again != wait {
			t.Errorf("a second sighting got its own wait: %v vs %v", again, wait)
		}
		close(release)
		<-wait.Done()
		got, ok := wait.Result()
		if !ok || got != (pomocore.Classification{Category: "Design", Source: pomocore.SourceLLM}) {
			t.Errorf("Result = %+v, %v", got, ok)
		}
		if n := f.calls.Load(); n != 1 {
			t.Errorf("calls = %d, want 1", n)
		}
		// Known now: no wait.
		if cls, wait := c.Decide("Zzz Sketcher", "", "board 1"); wait != nil || cls.Category != "Design" {
			t.Errorf("after the answer: %+v, %v", cls, wait)
		}
	})
}

// Unknowns seen within the linger share one call, up to Batch per call.
func TestUnknownsGatherIntoCallsOfUpToBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeFallback{answer: func(q classify.Query) (string, error) { return "Finance", nil }}
		c := newChain(t, f, classify.ChainConfig{Workers: 1, Batch: 30, Linger: 200 * time.Millisecond})
		var waits []pomocore.Awaited
		for i := range 70 {
			_, w := c.Decide("Zzz Ledger", fmt.Sprintf("https://zzz-%d.example/", i), "t")
			waits = append(waits, w)
			time.Sleep(time.Millisecond) // the unknowns trickle in, within the linger
		}
		for _, w := range waits {
			<-w.Done()
		}
		f.mu.Lock()
		n := len(f.seen)
		f.mu.Unlock()
		if calls := f.calls.Load(); calls != 3 || n != 70 {
			t.Errorf("%d calls for %d queries, want 3 calls (30+30+10)", calls, n)
		}
	})
}

// A lone unknown is asked about once the linger is over, not before.
func TestALoneUnknownWaitsOnlyTheLinger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeFallback{answer: func(q classify.Query) (string, error) { return "Finance", nil }}
		c := newChain(t, f, classify.ChainConfig{Linger: 150 * time.Millisecond})
		start := time.Now()
		_, w := c.Decide("Zzz Ledger", "", "t")
		<-w.Done()
		if took := time.Since(start); took != 150*time.Millisecond {
			t.Errorf("answered after %v, want the linger (150ms)", took)
		}
	})
}

// A call that fails for good tells its waiters so: the default, not ok.
func TestAFailedCallGivesItsWaitersTheDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeFallback{answer: func(q classify.Query) (string, error) { return "", errors.New("503") }}
		c := newChain(t, f, classify.ChainConfig{Retries: 1})
		_, w := c.Decide("Zzz Ledger", "", "t")
		<-w.Done()
		if got, ok := w.Result(); ok || got.Category != pomocore.Uncategorized || got.Source != pomocore.SourceDefault {
			t.Errorf("Result = %+v, %v; want the default, not ok", got, ok)
		}
		// Not remembered: asked again at the next sighting.
		if _, again := c.Decide("Zzz Ledger", "", "t"); again == nil {
			t.Error("a failed answer was remembered")
		}
	})
}

// While the breaker is open nothing waits: the activity counts as the
// default at once.
func TestNothingWaitsWhileTheBreakerIsOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeFallback{answer: func(q classify.Query) (string, error) { return "", errors.New("503") }}
		c := newChain(t, f, classify.ChainConfig{Retries: 0, BreakerFailures: 1, BreakerCooldown: time.Hour, Now: time.Now})
		_, w := c.Decide("Zzz One", "", "")
		<-w.Done()
		if !c.Stats().BreakerOpen {
			t.Fatal("breaker not open")
		}
		if cls, w := c.Decide("Zzz Two", "", ""); w != nil || cls.Source != pomocore.SourceDefault {
			t.Errorf("with the breaker open: %+v, %v", cls, w)
		}
	})
}

// Every answer is handed to Keep as it arrives, with the activity as
// reported, so that a store can keep it at once.
func TestEveryAnswerIsKeptAsItArrives(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var kept []classify.Answered
		f := &fakeFallback{answer: func(q classify.Query) (string, error) {
			if q.App == "Zzz Odd" {
				return "Not A Category", nil
			}
			return "Education", nil
		}}
		c := newChain(t, f, classify.ChainConfig{Keep: func(a []classify.Answered) {
			mu.Lock()
			defer mu.Unlock()
			kept = append(kept, a...)
		}})
		_, w1 := c.Decide("Zzz Tutor", "https://www.Zzz-tutor.example/lesson/1?x=y", "Lesson\u0007 one")
		_, w2 := c.Decide("Zzz Odd", "", "")
		<-w1.Done()
		<-w2.Done()
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(kept) != 2 {
			t.Fatalf("kept %d answers, want 2", len(kept))
		}
		byApp := map[string]classify.Answered{}
		for _, a := range kept {
			byApp[a.Reported.App] = a
		}
		a := byApp["Zzz Tutor"]
		want := classify.Reported{App: "Zzz Tutor", URL: "https://www.Zzz-tutor.example/lesson/1?x=y", Title: "Lesson\u0007 one"}
		if a.Reported != want || a.Category != "Education" || a.Source != pomocore.SourceLLM {
			t.Errorf("kept %+v", a)
		}
		if odd := byApp["Zzz Odd"]; odd.Category != pomocore.Uncategorized {
			t.Errorf("an answer outside the categories kept as %q, want the default", odd.Category)
		}
	})
}

// Close gives up what is still asked about: no waiter waits forever.
func TestCloseReleasesTheWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeFallback{answer: func(q classify.Query) (string, error) { return "Design", nil }, gate: make(chan struct{})}
		cfg := classify.ChainConfig{Categories: pomocore.DefaultTaxonomy().Categories,
			Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }}
		c := classify.NewChain(defaultMatcher(t), f, cfg)
		_, w := c.Decide("Zzz Sketcher", "", "")
		c.Close()
		<-w.Done()
		if _, ok := w.Result(); ok {
			t.Error("a call cut short by Close reported an answer")
		}
	})
}

// An activity the answer left out (an empty answer) is not answered: its
// waiter gets the default, and it is neither remembered nor kept, so the
// next sighting asks again; the others of the call are answered.
func TestAnActivityLeftOutOfTheAnswerIsAskedAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var kept atomic.Int64
		f := &fakeFallback{answer: func(q classify.Query) (string, error) {
			if q.App == "Zzz Skipped" {
				return "", nil
			}
			return "Design", nil
		}}
		c := newChain(t, f, classify.ChainConfig{Keep: func(a []classify.Answered) { kept.Add(int64(len(a))) }})
		_, skipped := c.Decide("Zzz Skipped", "", "")
		_, answered := c.Decide("Zzz Sketcher", "", "")
		<-skipped.Done()
		<-answered.Done()
		synctest.Wait()
		if _, ok := skipped.Result(); ok {
			t.Error("an activity left out of the answer counts as answered")
		}
		if got, ok := answered.Result(); !ok || got.Category != "Design" {
			t.Errorf("the other activity: %+v, %v", got, ok)
		}
		if n := kept.Load(); n != 1 {
			t.Errorf("kept %d answers, want 1", n)
		}
		if _, again := c.Decide("Zzz Skipped", "", ""); again == nil {
			t.Error("the left-out activity was remembered")
		}
	})
}
