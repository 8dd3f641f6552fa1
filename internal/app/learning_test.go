package app

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/internal/eventually"
	"github.com/pomocore/pomocore/learn"
)

// startTestLearning opens an App on a fresh SQLite store with cfg's
// learning settings and starts its learning loop.
func startTestLearning(t *testing.T, edit func(*Config)) (*App, *classify.Chain, *learning) {
	t.Helper()
	return startLearningWith(t, Deps{}, func(c *Config) {
		c.DataDir = filepath.Join(t.TempDir(), "data")
		if edit != nil {
			edit(c)
		}
	})
}

// startLearningWith is startTestLearning with deps (the store, the log).
func startLearningWith(t *testing.T, deps Deps, edit func(*Config)) (*App, *classify.Chain, *learning) {
	t.Helper()
	cfg := Defaults()
	cfg.Learn.Interval = 0
	if edit != nil {
		edit(&cfg)
	}
	a, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := a.Store(ctx)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := a.Classifier(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l, err := a.startLearning(ctx, chain, st)
	if err != nil {
		t.Fatal(err)
	}
	return a, chain, l
}

// Without a model file, the model is trained from the store at start and
// written where POMOCORE_MODEL_FILE names; its held-out figures become
// metrics.
func TestLearningTrainsFromTheStoreAtStartAndWritesTheModelFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "model.json")
	a, _, l := startTestLearning(t, func(c *Config) { c.ModelFile = file })
	if !eventually.Within(time.Minute, func() bool { return l.hasModel.Load() }) {
		t.Fatal("no model after start")
	}
	if !eventually.Within(10*time.Second, func() bool { _, err := os.Stat(file); return err == nil }) {
		t.Fatal("the model file was not written")
	}
	if _, err := learn.ReadModel(file); err != nil {
		t.Fatalf("the written model does not read back: %v", err)
	}
	mfs, err := a.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if m.GetGauge() == nil {
				continue
			}
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			got[name] = m.GetGauge().GetValue()
		}
	}
	// The held-out figures are given apart for unseen sites and apps and
	// for revisits of known ones.
	if got["pomocore_model_loaded"] != 1 || got["pomocore_model_heldout_accuracy{held_out=revisit}"] <= 0 || got["pomocore_model_training_examples"] < 100 {
		t.Errorf("learning metrics: %v", got)
	}
	for _, held := range []string{"unseen", "revisit"} {
		if _, ok := got["pomocore_model_calibration_error{held_out="+held+"}"]; !ok {
			t.Errorf("no calibration error metric on %s: %v", held, got)
		}
	}
}

// A model file that is not a model stops the start: running without the
// model the operator asked for would change the classifications silently.
func TestLearningRefusesABadModelFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "model.json")
	os.WriteFile(file, []byte("not json"), 0o644)
	cfg := Defaults()
	cfg.DataDir, cfg.ModelFile = filepath.Join(t.TempDir(), "data"), file
	a, err := New(cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	st, _ := a.Store(ctx)
	chain, err := a.Classifier(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.startLearning(ctx, chain, st); err == nil {
		t.Fatal("a bad model file was accepted")
	}
}

// An accepted suggestion follows `patterns add`'s rules: a pattern that
// would sit in a second category is refused with classify.ErrNewConflict
// and nothing is written; a new one is written and classifies at once.
func TestAcceptedSuggestionIsRefusedOnConflictAndAppliedAtOnce(t *testing.T) {
	a, chain, l := startTestLearning(t, func(c *Config) { c.Learn.Threshold = 1 })
	ctx := context.Background()
	ed := l.patternEditor()
	if ed == nil {
		t.Fatal("no pattern editor on SQLite")
	}
	before, _ := a.st.LoadPatterns(ctx)
	err := ed.EditPatterns(ctx, classify.PatternEdit{Category: "Game", Apps: []string{"Xcode"}})
	if !errors.Is(err, classify.ErrNewConflict) {
		t.Fatalf("a conflicting pattern: %v, want ErrNewConflict", err)
	}
	if after, _ := a.st.LoadPatterns(ctx); classify.Fingerprint(after) != classify.Fingerprint(before) {
		t.Error("a refused edit wrote patterns")
	}
	if got := chain.Classify("Qqxy Toolbox", "", ""); got.Source != pomocore.SourceDefault {
		t.Fatalf("before: %+v", got)
	}
	if err := ed.EditPatterns(ctx, classify.PatternEdit{Category: "Productivity", Apps: []string{"Qqxy Toolbox"}}); err != nil {
		t.Fatal(err)
	}
	if got := chain.Classify("Qqxy Toolbox", "", ""); got != (pomocore.Classification{Category: "Productivity", Source: pomocore.SourceApp}) {
		t.Errorf("right after accepting: %+v, want a Productivity pattern hit", got)
	}
}
