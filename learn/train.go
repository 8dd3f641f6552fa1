package learn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	// held out.
	PatternExamples, LabelExamples, Distinct, HeldOut int
	// HeldOutEval is the model trained without the held-out examples,
	// calibrated, measured on them: accuracy, expected calibration error,
	// and coverage and accuracy at the threshold.
	HeldOutEval classify.Evaluation
	// Temperature is the calibration temperature the model got.
	Temperature float64
	// Classes is how many categories the model can answer.
	Classes int
	// TrainedAt is when the training finished, Took how long it took.
	TrainedAt time.Time
	Took      time.Duration
}

// String summarises the report on one line.
func (r Report) String() string {
	return fmt.Sprintf("trained on %d pattern and %d label examples (%d distinct, %d categories, temperature %.2f); held out %d: %s",
		r.PatternExamples, r.LabelExamples, r.Distinct, r.Classes, r.Temperature, r.HeldOut, r.HeldOutEval)
}

// TrainModel trains a model from the pattern and label examples (each
// distinct example once): one trained without the held-out share measures accuracy and calibration on
// it and fits the temperature; the model returned is trained on all of
// them with that temperature. Pure and deterministic (now is only
// recorded in the report).
func TrainModel(patternExamples, labelExamples []classify.Example, cfg Config, now func() time.Time) (*classify.Model, Report, error) {
	cfg = cfg.withDefaults()
	start := now()
	all := dedupe(append(append([]classify.Example(nil), patternExamples...), labelExamples...))
	train, held := classify.SplitHoldOut(all, cfg.HoldOutPercent)
	r := Report{PatternExamples: len(patternExamples), LabelExamples: len(labelExamples), Distinct: len(all), HeldOut: len(held)}
	probe, err := classify.Train(train, cfg.Train)
	if err != nil {
		return nil, r, fmt.Errorf("learn: %w", err)
	}
	probe.Calibrate(held)
	r.HeldOutEval = classify.Evaluate(probe, held, cfg.Threshold)
	m, err := classify.Train(all, cfg.Train)
	if err != nil {
		return nil, r, fmt.Errorf("learn: %w", err)
	}
	m.SetTemperature(probe.Temperature())
	r.Temperature, r.Classes = m.Temperature(), len(m.Classes())
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
// unknown or the default gives none.
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

// TrainerDeps are what a Trainer reads from and writes to.
type TrainerDeps struct {
	// Patterns gives the category patterns (required).
	Patterns PatternReader
	// Labels gives the trusted labels (nil: patterns only).
	Labels LabelSource
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
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Patterns == nil || deps.Sink == nil {
		return nil, errors.New("learn: a trainer needs Patterns and Sink")
	}
	if deps.Default == "" {
		deps.Default = pomocore.Uncategorized
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	return &Trainer{cfg: cfg.withDefaults(), deps: deps}, nil
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
	if t.deps.Labels != nil && t.cfg.MaxLabels > 0 {
		docs, err := t.deps.Labels.TrustedLabels(ctx, t.cfg.MaxLabels)
		if err != nil {
			return Report{}, fmt.Errorf("learn: labels: %w", err)
		}
		labels = LabelExamples(docs, patterns, t.deps.Default)
	}
	m, r, err := TrainModel(classify.ExamplesFromPatterns(patterns, t.deps.Default), labels, t.cfg, t.deps.Now)
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
