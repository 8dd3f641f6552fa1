package learn_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/internal/eventually"
	"github.com/pomocore/pomocore/learn"
	"github.com/pomocore/pomocore/learn/learntest"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func clock() func() time.Time {
	now := t0
	return func() time.Time { now = now.Add(time.Second); return now }
}

// operatorPatterns are a deployment's category_pattern documents: words the
// model can generalise from, and an operator's app pattern "zork mail" in
// Meetings.
func operatorPatterns() []pomocore.CategoryPattern {
	return []pomocore.CategoryPattern{
		{Category: "Design", AppPatterns: []string{"zork paint", "zork sketch", "zork draw", "zork vector", "zork pixel"},
			DomainPatterns: []string{"paintzork.com"}},
		{Category: "Development", AppPatterns: []string{"qux code", "qux studio", "qux compiler", "qux debugger", "qux shell"},
			DomainPatterns: []string{"quxhub.com", "quxlab.com"}},
		{Category: "Meetings", AppPatterns: []string{"zork mail"}, DomainPatterns: []string{"meetzork.com"}},
		{Category: "Game", AppPatterns: []string{"wib quest", "wib kart", "wib chess", "wib golf", "wib poker"}},
		{Category: pomocore.Uncategorized},
	}
}

func newTrainer(t *testing.T, store *learntest.Memory, sink learn.ModelSink, labels bool) *learn.Trainer {
	t.Helper()
	deps := learn.TrainerDeps{Patterns: store, Sink: sink, Now: clock()}
	if labels {
		deps.Labels = store
	}
	tr, err := learn.NewTrainer(learn.Config{}, deps)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestTrainerTrainsOnPatternsAndTrustedLabelsAndHandsOverTheModel(t *testing.T) {
	store := learntest.NewMemory(operatorPatterns())
	// LLM answers teach what no pattern says: pages of blorp.example are games.
	for _, p := range []string{"a", "b", "c", "d", "e", "f"} {
		store.AddLLMLabel("Google Chrome", "https://blorp.example/"+p, "Blorp level "+p, "Game")
	}
	store.AddLLMLabel("Mystery", "", "", pomocore.Uncategorized) // the default teaches nothing
	for range 3 {
		store.AddLLMLabel("Google Chrome", "https://blorp.example/a", "Blorp level a", "Game") // seen again: counted once
	}
	sink := &learntest.Sink{}
	r, err := newTrainer(t, store, sink, true).Retrain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m, n := sink.Model()
	if n != 1 || m == nil {
		t.Fatalf("the sink got %d models", n)
	}
	if r.PatternExamples != 20 || r.LabelExamples != 9 || r.Distinct != 26 || r.HeldOut == 0 || r.Unseen.Examples+r.Revisits.Examples != r.HeldOut {
		t.Errorf("report %+v: want 20 pattern examples, 9 label examples, 26 distinct, some held out", r)
	}
	if r.TrainedAt.IsZero() || r.Classes != 4 || r.Temperature <= 0 {
		t.Errorf("report %+v", r)
	}
	if slices.Contains(m.Classes(), pomocore.Uncategorized) {
		t.Errorf("the model learnt the default category: %v", m.Classes())
	}
	if p := m.Predict("Safari", "https://blorp.example/zz", ""); p.Category != "Game" {
		t.Errorf("a page of blorp.example: %+v, want Game from the labels", p)
	}
	if p := m.Predict("Zork Paint 2024.1", "", ""); p.Category != "Design" {
		t.Errorf("Zork Paint 2024.1: %+v, want Design from the patterns", p)
	}
}

func TestTrainerSavesEachModel(t *testing.T) {
	store := learntest.NewMemory(operatorPatterns())
	sink := &learntest.Sink{}
	var saved []*classify.Model
	tr, err := learn.NewTrainer(learn.Config{}, learn.TrainerDeps{Patterns: store, Sink: sink, Now: clock(),
		Save: func(m *classify.Model) error { saved = append(saved, m); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Retrain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m, _ := sink.Model(); len(saved) != 1 || saved[0] != m {
		t.Fatalf("saved %d models, want the one the sink got", len(saved))
	}
}

func TestTrainerKeepsTheModelWhenTrainingFails(t *testing.T) {
	store := learntest.NewMemory(operatorPatterns())
	sink := &learntest.Sink{}
	tr := newTrainer(t, store, sink, true)
	if _, err := tr.Retrain(context.Background()); err != nil {
		t.Fatal(err)
	}
	first, _ := sink.Model()
	down := errors.New("store down")
	store.SetFail(down)
	if _, err := tr.Retrain(context.Background()); !errors.Is(err, down) {
		t.Fatalf("got %v, want the store's error", err)
	}
	if m, n := sink.Model(); n != 1 || m != first {
		t.Errorf("the sink got %d models after a failed training; want the first kept", n)
	}
	if last, runs, failures := tr.Last(); runs != 2 || failures != 1 || last.TrainedAt.IsZero() {
		t.Errorf("Last: %+v, runs %d, failures %d", last, runs, failures)
	}
}

func TestTrainerRetrainsAtEachTick(t *testing.T) {
	store := learntest.NewMemory(operatorPatterns())
	sink := &learntest.Sink{}
	tr := newTrainer(t, store, sink, false)
	ctx, cancel := context.WithCancel(context.Background())
	ticks := make(chan time.Time)
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx, ticks) }()
	ticks <- t0
	ticks <- t0 // the second is taken only once the first training is done
	if !eventually.Within(10*time.Second, func() bool { _, n := sink.Model(); return n == 2 }) {
		_, n := sink.Model()
		t.Fatalf("%d models after two ticks", n)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
}

func TestTrainerSwapsTheModelIntoTheChain(t *testing.T) {
	store := learntest.NewMemory(operatorPatterns())
	ps, _ := store.LoadPatterns(context.Background())
	m, err := classify.Build(ps, pomocore.Uncategorized)
	if err != nil {
		t.Fatal(err)
	}
	// Calibrated on the few examples held out of this small set, the model
	// is less sure than 0.9.
	chain := classify.NewChain(m, nil, classify.ChainConfig{Categories: pomocore.DefaultTaxonomy().Categories, ModelThreshold: 0.6})
	defer chain.Close()
	for _, p := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		store.AddLLMLabel("Google Chrome", "https://blorp.example/"+p, "Blorp level "+p, "Game")
	}
	// A new page of a site the LLM answered about: no pattern knows it.
	if got := chain.Classify("Google Chrome", "https://blorp.example/zz", "Blorp level zz"); got.Source != pomocore.SourceDefault {
		t.Fatalf("before training: %+v", got)
	}
	if _, err := newTrainer(t, store, chain, true).Retrain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := chain.Classify("Google Chrome", "https://blorp.example/zz", "Blorp level zz"); got != (pomocore.Classification{Category: "Game", Source: pomocore.SourceModel}) {
		t.Fatalf("after training: %+v, want Game from the model", got)
	}
}

func TestLabelExamplesSkipUnknownAndDefaultCategories(t *testing.T) {
	ps := learntest.NewMemory(operatorPatterns())
	patterns, _ := ps.LoadPatterns(context.Background())
	var def, design pomocore.ObjectID
	for _, p := range patterns {
		switch p.Category {
		case pomocore.Uncategorized:
			def = p.ID
		case "Design":
			design = p.ID
		}
	}
	docs := []pomocore.CategorizedData{{App: "a", CategoryID: design}, {App: "b", CategoryID: def}, {App: "c"}, {App: "d", CategoryID: pomocore.ObjectID{1}}}
	got := learn.LabelExamples(docs, patterns, pomocore.Uncategorized)
	if len(got) != 1 || got[0].App != "a" || got[0].Category != "Design" {
		t.Fatalf("got %+v, want only the Design label", got)
	}
}

func TestConfigValidateNamesTheField(t *testing.T) {
	if err := learn.DefaultConfig().Validate(); err != nil {
		t.Fatalf("the defaults: %v", err)
	}
	for field, set := range map[string]func(*learn.Config){
		"Interval":       func(c *learn.Config) { c.Interval = time.Second },
		"Threshold":      func(c *learn.Config) { c.Threshold = 1.5 },
		"HoldOutPercent": func(c *learn.Config) { c.HoldOutPercent = 90 },
		"MinCount":       func(c *learn.Config) { c.MinCount = 1 },
		"MinConfidence":  func(c *learn.Config) { c.MinConfidence = -1 },
		"MaxCandidates":  func(c *learn.Config) { c.MaxCandidates = -3 },
		"MaxLabels":      func(c *learn.Config) { c.MaxLabels = 0 },
	} {
		cfg := learn.DefaultConfig()
		set(&cfg)
		err := cfg.Validate()
		var ce *learn.ConfigError
		if !errors.As(err, &ce) || ce.Field != field {
			t.Errorf("%s: got %v", field, err)
		}
	}
}

func TestMemoryPassesTheLearnedLogContract(t *testing.T) {
	learntest.RunLearnedLog(t, func(t *testing.T) learn.LearnedLog { return learntest.NewMemory(nil) })
}

// Promotion.

func newPromoter(t *testing.T, store *learntest.Memory, cfg learn.Config) *learn.Promoter {
	t.Helper()
	p, err := learn.NewPromoter(cfg, learn.PromoterDeps{Editor: learn.NewEditor(store, nil), Log: store, Now: clock()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// answer is an answer about one activity (key) of a domain (host) or app.
func answer(key, app, host, category string, src pomocore.Source, conf float64) classify.Answered {
	return classify.Answered{Key: key, App: app, Host: host, Category: category, Source: src, Confidence: conf}
}

// matcherOf builds the matcher of the store's current patterns.
func matcherOf(t *testing.T, store *learntest.Memory) *classify.Matcher {
	t.Helper()
	ps, err := store.LoadPatterns(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m, err := classify.Build(ps, pomocore.Uncategorized)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPromotionAfterNConsistentAnswers(t *testing.T) {
	store := learntest.NewMemory(operatorPatterns())
	p := newPromoter(t, store, learn.Config{Promote: true})
	ctx := context.Background()
	for i, k := range []string{"a", "b", "c", "d"} {
		src := pomocore.SourceLLM
		if i%2 == 1 {
			src = pomocore.SourceModel
		}
		p.Observe(answer(k, "Chrome", "blorp.example", "Game", src, 0.97))
		p.Observe(answer(k, "Chrome", "blorp.example", "Game", src, 0.97)) // the same activity again
	}
	if got, err := p.Promote(ctx); err != nil || len(got) != 0 {
		t.Fatalf("after 4 different activities: promoted %+v, %v; want none before 5", got, err)
	}
	p.Observe(answer("e", "Chrome", "blorp.example", "Game", pomocore.SourceLLM, 1))
	got, err := p.Promote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := learn.Learned{Kind: learn.KindDomain, Pattern: "blorp.example", Category: "Game", Origin: learn.OriginLearned,
		Answers: 5, LLMAnswers: 3, ModelAnswers: 2, MinConfidence: 0.97}
	if len(got) != 1 || got[0].At.IsZero() || got[0].CategoryID.IsZero() {
		t.Fatalf("promoted %+v", got)
	}
	got[0].At, got[0].CategoryID = time.Time{}, pomocore.ObjectID{}
	if got[0] != want {
		t.Fatalf("promoted %+v, want %+v", got[0], want)
	}
	if c := matcherOf(t, store).Classify("Safari", "https://blorp.example/other", ""); c.Category != "Game" || c.Source != pomocore.SourceDomain {
		t.Errorf("after promotion the patterns give %+v", c)
	}
	listed, err := p.List(ctx)
	if err != nil || len(listed) != 1 || listed[0].Pattern != "blorp.example" || listed[0].Origin != learn.OriginLearned {
		t.Errorf("listed %+v, %v", listed, err)
	}
	if again, err := p.Promote(ctx); err != nil || len(again) != 0 {
		t.Errorf("promoted again: %+v, %v", again, err)
	}
}

func TestPromotionOfAnAppUsesItsNameWithoutVersions(t *testing.T) {
	store := learntest.NewMemory(operatorPatterns())
	p := newPromoter(t, store, learn.Config{Promote: true, MinCount: 2})
	p.Observe(answer("1", "Blorp Studio 2024.1", "", "Design", pomocore.SourceLLM, 1))
	p.Observe(answer("2", "Blorp Studio 2025.2", "", "Design", pomocore.SourceLLM, 1))
	got, err := p.Promote(context.Background())
	if err != nil || len(got) != 1 || got[0].Kind != learn.KindApp || got[0].Pattern != "blorp studio" {
		t.Fatalf("promoted %+v, %v", got, err)
	}
	if c := matcherOf(t, store).Classify("Blorp Studio 2026", "", ""); c.Category != "Design" || c.Source != pomocore.SourceApp {
		t.Errorf("after promotion the patterns give %+v", c)
	}
}

func TestNoPromotionOnInconsistentAnswers(t *testing.T) {
	store := learntest.NewMemory(operatorPatterns())
	p := newPromoter(t, store, learn.Config{Promote: true, MinCount: 3})
	p.Observe(answer("a", "", "blorp.example", "Game", pomocore.SourceLLM, 1))
	p.Observe(answer("b", "", "blorp.example", "Design", pomocore.SourceModel, 0.99))
	for _, k := range []string{"c", "d", "e", "f"} {
		p.Observe(answer(k, "", "blorp.example", "Game", pomocore.SourceLLM, 1))
	}
	if got, err := p.Promote(context.Background()); err != nil || len(got) != 0 {
		t.Fatalf("promoted %+v, %v: the answers disagreed", got, err)
	}
	if store.Upserts() != 0 {
		t.Errorf("%d pattern writes", store.Upserts())
	}
}

func TestNoPromotionFromAnswersBelowTheConfidence(t *testing.T) {
	store := learntest.NewMemory(operatorPatterns())
	p := newPromoter(t, store, learn.Config{Promote: true, MinCount: 2})
	p.Observe(answer("a", "", "blorp.example", "Game", pomocore.SourceModel, 0.94))
	p.Observe(answer("b", "", "blorp.example", "Game", pomocore.SourceModel, 0.91))
	if got, err := p.Promote(context.Background()); err != nil || len(got) != 0 {
		t.Fatalf("promoted %+v, %v from answers below 0.95", got, err)
	}
}

func TestNoPromotionOfABareWordHost(t *testing.T) {
	store := learntest.NewMemory(operatorPatterns())
	p := newPromoter(t, store, learn.Config{Promote: true, MinCount: 2})
	p.Observe(answer("a", "Google Chrome", "newtab", "Browsing", pomocore.SourceLLM, 1))
	p.Observe(answer("b", "Google Chrome", "newtab", "Browsing", pomocore.SourceLLM, 1))
	if got, err := p.Promote(context.Background()); err != nil || len(got) != 0 {
		t.Fatalf("promoted %+v, %v: a bare word would match path segments", got, err)
	}
}

func TestPromotionIsOffByDefault(t *testing.T) {
	store := learntest.NewMemory(operatorPatterns())
	p := newPromoter(t, store, learn.Config{})
	for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
		p.Observe(answer(k, "", "blorp.example", "Game", pomocore.SourceLLM, 1))
	}
	if got, err := p.Promote(context.Background()); err != nil || len(got) != 0 || store.Upserts() != 0 {
		t.Fatalf("promoted %+v, %v with promotion off", got, err)
	}
}

func TestPromotionNeverOverridesAnOperatorPattern(t *testing.T) {
	store := learntest.NewMemory(operatorPatterns())
	p := newPromoter(t, store, learn.Config{Promote: true, MinCount: 2})
	// The operator has "zork mail" in Meetings; the answers say Design.
	p.Observe(answer("a", "Zork Mail", "", "Design", pomocore.SourceLLM, 1))
	p.Observe(answer("b", "zork  mail", "", "Design", pomocore.SourceLLM, 1))
	// And meetzork.com in Meetings: a subdomain is decided by it.
	p.Observe(answer("c", "", "app.meetzork.com", "Design", pomocore.SourceLLM, 1))
	p.Observe(answer("d", "", "app.meetzork.com", "Design", pomocore.SourceLLM, 1))
	got, err := p.Promote(context.Background())
	if err != nil || len(got) != 0 {
		t.Fatalf("promoted %+v, %v over the operator's patterns", got, err)
	}
	if store.Upserts() != 0 {
		t.Errorf("%d pattern writes", store.Upserts())
	}
	if c := matcherOf(t, store).Classify("Zork Mail", "", ""); c.Category != "Meetings" {
		t.Errorf("the operator's pattern now gives %+v", c)
	}
}

func TestRevertRemovesOnlyTheLearnedPattern(t *testing.T) {
	store := learntest.NewMemory(operatorPatterns())
	p := newPromoter(t, store, learn.Config{Promote: true, MinCount: 2})
	ctx := context.Background()
	for _, k := range []string{"a", "b"} {
		p.Observe(answer(k, "", "blorp.example", "Game", pomocore.SourceLLM, 1))
		p.Observe(answer(k, "", "wibble.example", "Game", pomocore.SourceLLM, 1))
	}
	if got, err := p.Promote(ctx); err != nil || len(got) != 2 {
		t.Fatalf("promoted %+v, %v", got, err)
	}
	l, err := p.Revert(ctx, learn.KindDomain, "BLORP.example")
	if err != nil || l.Pattern != "blorp.example" {
		t.Fatalf("revert: %+v, %v", l, err)
	}
	m := matcherOf(t, store)
	if c := m.Classify("", "https://blorp.example/", ""); c.Source != pomocore.SourceDefault {
		t.Errorf("the reverted pattern still classifies: %+v", c)
	}
	if c := m.Classify("", "https://wibble.example/", ""); c.Category != "Game" {
		t.Errorf("the other learned pattern is gone: %+v", c)
	}
	for _, app := range []string{"wib quest", "wib poker"} {
		if c := m.Classify(app, "", ""); c.Category != "Game" || c.Source != pomocore.SourceApp {
			t.Errorf("the operator's %q is gone: %+v", app, c)
		}
	}
	listed, err := p.List(ctx)
	if err != nil || len(listed) != 1 || listed[0].Pattern != "wibble.example" {
		t.Errorf("listed %+v, %v", listed, err)
	}
	if _, err := p.Revert(ctx, learn.KindApp, "wib quest"); !errors.Is(err, learn.ErrNotLearned) {
		t.Errorf("reverting an operator's pattern: %v, want ErrNotLearned", err)
	}
	if c := matcherOf(t, store).Classify("wib quest", "", ""); c.Category != "Game" {
		t.Errorf("the operator's pattern is gone after a refused revert: %+v", c)
	}
}

func TestFailedPatternWriteLeavesNoRecord(t *testing.T) {
	store := learntest.NewMemory(operatorPatterns())
	p := newPromoter(t, store, learn.Config{Promote: true, MinCount: 2})
	p.Observe(answer("a", "", "blorp.example", "Game", pomocore.SourceLLM, 1))
	p.Observe(answer("b", "", "blorp.example", "Game", pomocore.SourceLLM, 1))
	store.SetFail(errors.New("down"))
	if _, err := p.Promote(context.Background()); err == nil {
		t.Fatal("promotion with the store down succeeded")
	}
	store.SetFail(nil)
	if listed, _ := p.List(context.Background()); len(listed) != 0 {
		t.Errorf("records left: %+v", listed)
	}
}

// fallback answers every query with one category.
type fallback string

func (f fallback) Categorize(ctx context.Context, qs []classify.Query) ([]string, error) {
	out := make([]string, len(qs))
	for i := range out {
		out[i] = string(f)
	}
	return out, nil
}

func TestPromotionFromTheChainsLLMAnswers(t *testing.T) {
	store := learntest.NewMemory(operatorPatterns())
	p := newPromoter(t, store, learn.Config{Promote: true})
	chain := classify.NewChain(matcherOf(t, store), fallback("Game"), classify.ChainConfig{
		Categories: pomocore.DefaultTaxonomy().Categories, OnAnswer: p.Observe})
	defer chain.Close()
	for _, page := range []string{"1", "2", "3", "4", "5"} {
		chain.Classify("Google Chrome", "https://www.blorp.example/level/"+page, "Blorp level "+page)
	}
	if !eventually.Within(10*time.Second, func() bool { return chain.Stats().Answered == 5 }) {
		t.Fatalf("the LLM answered %+v", chain.Stats())
	}
	got, err := p.Promote(context.Background())
	if err != nil || len(got) != 1 || got[0].Pattern != "blorp.example" || got[0].LLMAnswers != 5 {
		t.Fatalf("promoted %+v, %v", got, err)
	}
	chain.SetMatcher(matcherOf(t, store))
	if c := chain.Classify("Safari", "https://blorp.example/level/9", ""); c != (pomocore.Classification{Category: "Game", Source: pomocore.SourceDomain}) {
		t.Errorf("after promotion: %+v", c)
	}
}

// An operator's revert is final: the answers that promoted a pattern, given
// again, do not promote it again.
func TestRevertedPatternIsNotPromotedAgain(t *testing.T) {
	store := learntest.NewMemory(operatorPatterns())
	p := newPromoter(t, store, learn.Config{Promote: true, MinCount: 2})
	ctx := context.Background()
	observe := func() {
		for _, k := range []string{"a", "b"} {
			p.Observe(answer(k, "", "blorp.example", "Game", pomocore.SourceLLM, 1))
		}
	}
	observe()
	if got, err := p.Promote(ctx); err != nil || len(got) != 1 {
		t.Fatalf("promoted %+v, %v", got, err)
	}
	if _, err := p.Revert(ctx, learn.KindDomain, "blorp.example"); err != nil {
		t.Fatal(err)
	}
	observe()
	if got, err := p.Promote(ctx); err != nil || len(got) != 0 {
		t.Fatalf("promoted again after the revert: %+v, %v", got, err)
	}
	if c := matcherOf(t, store).Classify("", "https://blorp.example/", ""); c.Source != pomocore.SourceDefault {
		t.Errorf("the reverted pattern classifies again: %+v", c)
	}
	if listed, err := p.List(ctx); err != nil || len(listed) != 0 {
		t.Errorf("listed %+v, %v; want none", listed, err)
	}
	if _, err := p.Revert(ctx, learn.KindDomain, "blorp.example"); !errors.Is(err, learn.ErrNotLearned) {
		t.Errorf("reverting twice: %v, want ErrNotLearned", err)
	}
}
