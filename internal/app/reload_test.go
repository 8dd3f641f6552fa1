package app

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/internal/logtest"
	"github.com/pomocore/pomocore/learn"
	"github.com/pomocore/pomocore/sqlite"
)

// stallingStore is a SQLite store whose LoadPatterns, when its context
// carries stallKey, reads and then holds its answer until release is
// closed (or the context ends): a pattern read that is slow to come back,
// with what the store held when it started. Other reads (the trainer's)
// go through.
type stallingStore struct {
	*sqlite.Store
	stalled chan struct{} // closed when the stalled read holds its answer
	release chan struct{}
}

// stallKey marks the context of the read a stallingStore holds.
type stallKey struct{}

func (s *stallingStore) LoadPatterns(ctx context.Context) ([]pomocore.CategoryPattern, error) {
	ps, err := s.Store.LoadPatterns(ctx)
	if ctx.Value(stallKey{}) != nil {
		close(s.stalled)
		select {
		case <-s.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return ps, err
}

// startReloadTest starts an App with its learning loop on st (a fresh
// SQLite store when nil), logging to the returned buffer.
func startReloadTest(t *testing.T, st Store) (*App, *classify.Chain, *learning, *logtest.Buffer) {
	t.Helper()
	log, logs := logtest.Logger()
	dir := filepath.Join(t.TempDir(), "data")
	a, chain, l := startLearningWith(t, Deps{Log: log, Store: st}, func(c *Config) { c.DataDir = dir })
	return a, chain, l, logs
}

// tickTwice gives reloadOn two ticks: when the second is taken, the first
// reload is done. It fails t when a tick is not taken within 10 seconds
// (a reload takes milliseconds; a read held back ends at loadPatterns'
// 30-second timeout).
func tickTwice(t *testing.T, tick chan<- time.Time, what string) {
	t.Helper()
	for range 2 {
		select {
		case tick <- time.Now():
		case <-time.After(10 * time.Second):
			t.Fatalf("the periodic reload did not take a tick in 10 s: %s", what)
		}
	}
}

// builds counts the pattern builds logged.
func builds(logs *logtest.Buffer) int { return strings.Count(logs.String(), "classifier ready") }

// A pattern change whose read of category_pattern is slow (the promotion
// path's reload, here held) holds back neither the periodic reload nor a
// later change it applies; and when the slow read comes back, the older
// set it read is not swapped in over the newer one.
func TestASlowChangeReloadHoldsBackNeitherThePeriodicReloadNorANewerSet(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sq, err := sqlite.Open(ctx, sqlite.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	st := &stallingStore{Store: sq, stalled: make(chan struct{}), release: make(chan struct{})}
	a, chain, l, logs := startReloadTest(t, st)
	ed := learn.NewEditor(sq, nil)
	if _, err := ed.Edit(ctx, classify.PatternEdit{Category: "Productivity", Apps: []string{"Qqxy Toolbox"}}); err != nil {
		t.Fatal(err)
	}
	changed := make(chan struct{})
	go func() { l.reload(context.WithValue(ctx, stallKey{}, true)); close(changed) }() // as learn.Loop's Promoted does
	<-st.stalled
	if _, err := ed.Edit(ctx, classify.PatternEdit{Category: "Finance", Apps: []string{"Zzyzx Ledger"}}); err != nil {
		t.Fatal(err)
	}
	tick := make(chan time.Time)
	go a.reloadOn(ctx, nil, tick)
	tickTwice(t, tick, "held back by the slow change reload\n"+logs.String())
	want := map[string]string{"Qqxy Toolbox": "Productivity", "Zzyzx Ledger": "Finance"}
	check := func(when string) {
		t.Helper()
		for app, cat := range want {
			if got := chain.Classify(app, "", ""); got != (pomocore.Classification{Category: cat, Source: pomocore.SourceApp}) {
				t.Errorf("%s: %s is %+v, want a %s pattern hit", when, app, got, cat)
			}
		}
	}
	check("after the periodic reload")
	close(st.release)
	<-changed
	check("after the slow read came back")
	if n := builds(logs); n != 2 {
		t.Errorf("%d pattern builds, want 2 (at start, and the periodic reload's)\n%s", n, logs.String())
	}
}

// A set a pattern edit applied is not built and swapped in again by the
// next periodic reload.
func TestASetAnEditAppliedIsNotReloadedAgainByTheNextTick(t *testing.T) {
	a, chain, l, logs := startReloadTest(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := l.patternEditor().EditPatterns(ctx, classify.PatternEdit{Category: "Productivity", Apps: []string{"Qqxy Toolbox"}}); err != nil {
		t.Fatal(err)
	}
	if n := builds(logs); n != 2 {
		t.Fatalf("%d pattern builds after an edit, want 2 (at start, and the edit's)\n%s", n, logs.String())
	}
	tick := make(chan time.Time)
	go a.reloadOn(ctx, nil, tick)
	tickTwice(t, tick, logs.String())
	if n := builds(logs); n != 2 {
		t.Errorf("%d pattern builds after the periodic reload, want still 2: the edit's set was built again\n%s", n, logs.String())
	}
	if got := chain.Classify("Qqxy Toolbox", "", ""); got != (pomocore.Classification{Category: "Productivity", Source: pomocore.SourceApp}) {
		t.Errorf("Qqxy Toolbox is %+v, want a Productivity pattern hit", got)
	}
}
