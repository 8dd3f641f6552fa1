package learn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
)

// Report is what one training measured, in numbers a metrics registry can
// export as gauges.
type Report struct {
	// PatternExamples and LabelExamples count the examples from category
	// patterns and from trusted labels, Distinct the different ones trained
	// on (a repeated activity counts once); HeldOut how many of those were
	// held out (classify.SplitByGroup: Unseen and Revisits).
	PatternExamples, LabelExamples, Distinct, HeldOut int
	// DistrustedLabels counts the labels left out because neither the LLM
	// gave them nor pomocore's patterns agree (TrustedExamples): the old
	// service's substring matches.
	DistrustedLabels int
	// Unseen is the model trained without the held-out examples,
	// calibrated, measured on the sites and apps held out whole (none of
	// their activities trained on): accuracy, expected calibration error,
	// and coverage and precision at the threshold. This is how the model
	// does on a site or app it has never seen.
	Unseen classify.Evaluation
	// Revisits is the same model measured on new activities (other titles
	// and pages) of the sites and apps it was trained on.
	Revisits classify.Evaluation
	// Temperature and NovelTemperature are the calibration temperatures
	// the model got, for activities it knows and novel ones
	// (classify.Model.Novel).
	Temperature, NovelTemperature float64
	// NovelCap bounds the confidence of novel activities: just below the
	// threshold when the held-out sites and apps could not show that the
	// model is right on what it never saw (it abstains there), else 1.
	NovelCap float64
	// Classes is how many categories the model can answer.
	Classes int
	// TrainedAt is when the training finished, Took how long it took.
	TrainedAt time.Time
	Took      time.Duration
}

// String summarises the report on one line, saying what its figures
// mean.
func (r Report) String() string {
	return fmt.Sprintf("trained on %d pattern and %d label examples (%d labels the patterns contradict left out; %d distinct, %d categories, temperatures %.2f known, %.2f novel, novel cap %.3f); "+
		"held out by site and app, at confidence >= %.2f: on unseen sites and apps (%d) answers %.1f%% and is right on %.1f%% of those; "+
		"on new activities of known ones (%d) answers %.1f%%, right on %.1f%%",
		r.PatternExamples, r.LabelExamples, r.DistrustedLabels, r.Distinct, r.Classes, r.Temperature, r.NovelTemperature, r.NovelCap, r.Unseen.Threshold,
		r.Unseen.Examples, 100*r.Unseen.Coverage, 100*r.Unseen.AccuracyAbove,
		r.Revisits.Examples, 100*r.Revisits.Coverage, 100*r.Revisits.AccuracyAbove)
}

// TrainModel trains a model from the pattern and label examples (each
// distinct example once): one trained without the held-out shares
// (classify.SplitByGroup: whole sites and apps, and new activities of the
// others) fits the temperatures on them and is measured on each; the
// model returned is trained on all of them with those temperatures. Pure
// and deterministic (now is only recorded in the report).
func TrainModel(patternExamples, labelExamples []classify.Example, cfg Config, now func() time.Time) (*classify.Model, Report, error) {
	cfg = cfg.withDefaults()
	start := now()
	all := dedupe(append(append([]classify.Example(nil), patternExamples...), labelExamples...))
	split := classify.SplitByGroup(all, cfg.HoldOutPercent)
	r := Report{PatternExamples: len(patternExamples), LabelExamples: len(labelExamples), Distinct: len(all),
		HeldOut: len(split.Unseen) + len(split.Revisits)}
	probe, err := classify.Train(split.Train, cfg.Train)
	if err != nil {
		return nil, r, fmt.Errorf("learn: %w", err)
	}
	held := append(slices.Clone(split.Unseen), split.Revisits...)
	probe.Calibrate(held)
	probe.KeepPrecision(held, cfg.Threshold, cfg.NovelPrecision)
	r.Unseen = classify.Evaluate(probe, split.Unseen, cfg.Threshold)
	r.Revisits = classify.Evaluate(probe, split.Revisits, cfg.Threshold)
	m, err := classify.Train(all, cfg.Train)
	if err != nil {
		return nil, r, fmt.Errorf("learn: %w", err)
	}
	m.SetTemperature(probe.Temperature(), probe.NovelTemperature())
	m.SetNovelCap(probe.NovelCap())
	r.Temperature, r.NovelTemperature, r.NovelCap, r.Classes = m.Temperature(), m.NovelTemperature(), m.NovelCap(), len(m.Classes())
	r.TrainedAt = now()
	r.Took = r.TrainedAt.Sub(start)
	return m, r, nil
}

// dedupe drops repeated examples (the same activity with the same label:
// categorized_data holds one document per activity seen), keeping the
// first of each, so that a frequent activity does not outweigh the rest.
func dedupe(examples []classify.Example) []classify.Example {
	seen := make(map[classify.Example]bool, len(examples))
	out := examples[:0]
	for _, ex := range examples {
		if !seen[ex] {
			seen[ex] = true
			out = append(out, ex)
		}
	}
	return out
}

// LabelExamples turns categorized_data documents into examples, naming
// their category by the patterns' ids; a document whose category is
// unknown or the default gives none. It trusts every document: see
// TrustedExamples.
func LabelExamples(docs []pomocore.CategorizedData, patterns []pomocore.CategoryPattern, defaultCategory string) []classify.Example {
	names := make(map[pomocore.ObjectID]string, len(patterns))
	for _, p := range patterns {
		names[p.ID] = p.Category
	}
	out := make([]classify.Example, 0, len(docs))
	for _, d := range docs {
		cat, ok := names[d.CategoryID]
		if !ok || d.CategoryID.IsZero() || cat == defaultCategory {
			continue
		}
		out = append(out, classify.Example{App: d.App, URL: d.URL, Title: d.Title, Category: cat})
	}
	return out
}

// TrustedExamples turns the categorized_data documents a LabelSource gave
// into the examples the model may learn from (LabelExamples), keeping only
// those whose category pomocore stands behind: an LLM's answer
// (IsLLMBased), or a category pomocore's own patterns give the activity,
// matched as pomocore matches them (classify.Build): the store's
// category_pattern (which holds operators' edits and accepted
// suggestions) first, the builtin set where those are silent. A document
// the old service's substring matcher classified (kafka.apache.org as AFK
// through "afk", fox.com as SNS through "x.com") is not trusted unless
// pomocore's patterns agree. It returns the examples and how many
// documents were left out for that reason.
func TrustedExamples(docs []pomocore.CategorizedData, patterns, builtin []pomocore.CategoryPattern, defaultCategory string) ([]classify.Example, int, error) {
	store, err := classify.Build(patterns, defaultCategory)
	if err != nil {
		return nil, 0, fmt.Errorf("learn: the store's patterns: %w", err)
	}
	fallback, err := classify.Build(builtin, defaultCategory)
	if err != nil {
		return nil, 0, fmt.Errorf("learn: the builtin patterns: %w", err)
	}
	var llm, other []pomocore.CategorizedData
	for _, d := range docs {
		if d.LLMBased {
			llm = append(llm, d)
		} else {
			other = append(other, d)
		}
	}
	out := LabelExamples(llm, patterns, defaultCategory)
	distrusted := 0
	for _, ex := range LabelExamples(other, patterns, defaultCategory) {
		got := store.Classify(ex.App, ex.URL, ex.Title)
		if got.Source == pomocore.SourceDefault {
			got = fallback.Classify(ex.App, ex.URL, ex.Title)
		}
		if got.Source == pomocore.SourceDefault || got.Category != ex.Category {
			distrusted++
			continue
		}
		out = append(out, ex)
	}
	return out, distrusted, nil
}

// TrainerDeps are what a Trainer reads from and writes to.
type TrainerDeps struct {
	// Patterns gives the category patterns (required).
	Patterns PatternReader
	// Labels gives the trusted labels (nil: patterns only); of those not
	// answered by the LLM, only the ones pomocore's patterns agree with
	// are learnt (TrustedExamples).
	Labels LabelSource
	// Builtin are the built-in patterns that speak where the store's are
	// silent, to check labels against (default classify.DefaultPatterns).
	Builtin []pomocore.CategoryPattern
	// Sink takes each model trained (required): the chain.
	Sink ModelSink
	// Save, when set, is called with each model after Sink took it, e.g.
	// to write the model file a restart loads; its error fails the
	// training (the sink keeps the new model).
	Save func(m *classify.Model) error
	// Default is the default category, never learnt (default
	// pomocore.Uncategorized).
	Default string
	// Now is the clock (default time.Now); Logger logs (default discard).
	Now    func() time.Time
	Logger *slog.Logger
}

// Trainer retrains the model on a schedule (Run) and on demand (Retrain),
// and hands each model to its sink. Safe for concurrent use: trainings run
// one at a time.
type Trainer struct {
	cfg  Config
	deps TrainerDeps

	train sync.Mutex // held during a training

	mu   sync.Mutex
	last Report
	runs int64
	errs int64
}

// NewTrainer returns a trainer; the config must be valid.
func NewTrainer(cfg Config, deps TrainerDeps) (*Trainer, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Patterns == nil || deps.Sink == nil {
		return nil, errors.New("learn: a trainer needs Patterns and Sink")
	}
	if deps.Default == "" {
		deps.Default = pomocore.Uncategorized
	}
	if deps.Builtin == nil {
		deps.Builtin = classify.DefaultPatterns()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	return &Trainer{cfg: cfg, deps: deps}, nil
}

// Retrain reads the patterns and labels, trains a model, gives it to the
// sink and returns the report. On error the sink keeps its model.
func (t *Trainer) Retrain(ctx context.Context) (Report, error) {
	t.train.Lock()
	defer t.train.Unlock()
	r, err := t.retrain(ctx)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.runs++
	if err != nil {
		t.errs++
		return r, err
	}
	t.last = r
	return r, nil
}

func (t *Trainer) retrain(ctx context.Context) (Report, error) {
	patterns, err := t.deps.Patterns.LoadPatterns(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("learn: patterns: %w", err)
	}
	var labels []classify.Example
	distrusted := 0
	if t.deps.Labels != nil && t.cfg.MaxLabels > 0 {
		docs, err := t.deps.Labels.TrustedLabels(ctx, t.cfg.MaxLabels)
		if err != nil {
			return Report{}, fmt.Errorf("learn: labels: %w", err)
		}
		if labels, distrusted, err = TrustedExamples(docs, patterns, t.deps.Builtin, t.deps.Default); err != nil {
			return Report{}, err
		}
	}
	m, r, err := TrainModel(classify.ExamplesFromPatterns(patterns, t.deps.Default), labels, t.cfg, t.deps.Now)
	r.DistrustedLabels = distrusted
	if err != nil {
		return r, err
	}
	if err := ctx.Err(); err != nil {
		return r, err
	}
	t.deps.Sink.SetModel(m)
	if t.deps.Save != nil {
		if err := t.deps.Save(m); err != nil {
			return r, fmt.Errorf("learn: saving the model: %w", err)
		}
	}
	return r, nil
}

// Last returns the report of the last successful training (zero before
// one), and how many trainings ran and failed.
func (t *Trainer) Last() (r Report, runs, failures int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last, t.runs, t.errs
}

// Run retrains at each tick until ctx is done (then it returns ctx's
// error); a failed training is logged and the model kept.
func (t *Trainer) Run(ctx context.Context, ticks <-chan time.Time) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticks:
			r, err := t.Retrain(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				t.deps.Logger.Warn("learn: retraining failed; the model is kept", "err", err)
				continue
			}
			t.deps.Logger.Info("learn: retrained", "report", r.String())
		}
	}
}
