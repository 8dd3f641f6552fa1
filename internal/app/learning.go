package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync/atomic"

	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/httpapi"
	"github.com/pomocore/pomocore/learn"
	"github.com/pomocore/pomocore/pipeline"
)

// learning is the running learning loop of Run: the model in the chain,
// its trainer, the learn.Loop, and what the unknowns panel is fed.
type learning struct {
	a        *App
	chain    *classify.Chain
	trainer  *learn.Trainer
	unknowns *httpapi.Unknowns
	// editor edits the category_pattern documents (nil: the store cannot):
	// the one editor of promotions and accepted suggestions, which
	// serialises them.
	editor *learn.Editor
	// p is the pipeline whose rules a pattern change swaps (set by attach).
	p atomic.Pointer[pipeline.Pipeline]
	// loop trains, retrains and promotes (learn.Loop.Run, started with it).
	loop     *learn.Loop
	hasModel atomic.Bool
}

// startLearning loads the local model into chain, or has it trained, and
// runs the learn.Loop of the settings (training, and with
// POMOCORE_LEARN_PROMOTE promotion) until ctx ends.
// With POMOCORE_MODEL_FILE set and present, the model is that file's;
// otherwise one is trained from the store in the background (the pipeline
// starts without one) and, when the setting names a file, written there.
// Every POMOCORE_LEARN_INTERVAL (none when 0) the model is retrained and
// the file rewritten.
func (a *App) startLearning(ctx context.Context, chain *classify.Chain, st Store) (*learning, error) {
	cfg, log := a.cfg, a.log
	l := &learning{a: a, chain: chain, unknowns: httpapi.NewUnknowns(httpapi.UnknownsConfig{})}
	if ps, ok := st.(learn.PatternStore); ok {
		l.editor = learn.NewEditor(ps, nil)
	}
	lc := cfg.Learn
	deps := learn.TrainerDeps{Patterns: st, Sink: modelSink{l}, Default: a.tax.Default, Logger: log}
	if labels, ok := st.(learn.LabelSource); ok {
		deps.Labels = labels
	}
	if cfg.ModelFile != "" {
		deps.Save = func(m *classify.Model) error { _, err := learn.WriteModel(cfg.ModelFile, m); return err }
	}
	tr, err := learn.NewTrainer(lc, deps)
	if err != nil {
		return nil, fmt.Errorf("learning: %w", err)
	}
	l.trainer = tr
	loaded := false
	if cfg.ModelFile != "" {
		m, err := learn.ReadModel(cfg.ModelFile)
		switch {
		case err == nil:
			l.setModel(m)
			loaded = true
			log.Info("local model loaded", "file", cfg.ModelFile, "categories", len(m.Classes()), "examples", m.Examples(),
				"threshold", cfg.Learn.Threshold)
		case errors.Is(err, fs.ErrNotExist):
			log.Info("no model file yet: training one from the store", "file", cfg.ModelFile)
		case errors.Is(err, classify.ErrModelFormat):
			log.Info("the model file is of an older format: training a new one from the store", "file", cfg.ModelFile, "err", err)
		default:
			return nil, fmt.Errorf("POMOCORE_MODEL_FILE: %w", err)
		}
	}
	ld := learn.LoopDeps{Trainer: tr, TrainFirst: !loaded, Interval: cfg.Learn.Interval, Logger: log,
		Promoted: func(ctx context.Context, _ []learn.Learned) { l.reload(ctx) }}
	if cfg.Learn.Promote {
		llog, ok := st.(learn.LearnedLog)
		if !ok || l.editor == nil {
			return nil, errors.New("POMOCORE_LEARN_PROMOTE: this store cannot record learned patterns")
		}
		if ld.Promoter, err = learn.NewPromoter(lc, learn.PromoterDeps{Editor: l.editor, Log: llog, Logger: log}); err != nil {
			return nil, fmt.Errorf("learning: %w", err)
		}
	}
	l.loop = learn.NewLoop(ld)
	if cfg.Learn.Promote {
		chain.SetOnAnswer(l.loop.Observe)
		log.Info("promotion of consistent answers to patterns on", "min_count", cfg.Learn.MinCount, "min_confidence", cfg.Learn.MinConfidence)
	}
	go func() { _ = l.loop.Run(ctx) }()
	a.reg.MustRegister(httpapi.NewModelCollector(l.modelStats))
	return l, nil
}

// modelSink is the trainer's sink: the chain, noting that it has a model.
type modelSink struct{ l *learning }

func (s modelSink) SetModel(m *classify.Model) { s.l.setModel(m) }

func (l *learning) setModel(m *classify.Model) {
	l.chain.SetModel(m)
	l.hasModel.Store(m != nil)
}

// attach names the pipeline whose rules pattern changes swap at once, and
// gives it the rules in use (a change applied before it was attached).
func (l *learning) attach(p *pipeline.Pipeline) {
	ap := &l.a.applied
	ap.mu.Lock()
	defer ap.mu.Unlock()
	l.p.Store(p)
	p.SetRules(l.a.chain, ap.rules.IDs)
}

// observer returns the pipeline observer of Run: obs, plus what learning
// needs to see of each batch (the unknowns panel's feed).
func (l *learning) observer(obs pipeline.Observer) pipeline.Observer {
	return learningObserver{Observer: obs, u: l.unknowns}
}

type learningObserver struct {
	pipeline.Observer
	u *httpapi.Unknowns
}

func (o learningObserver) BatchDone(r pipeline.BatchReport) {
	o.Observer.BatchDone(r)
	for i := range r.Unknowns {
		u := &r.Unknowns[i]
		o.u.Observe(u.App, u.URL, u.Classification, u.Seconds)
	}
}

// reload applies a pattern change to the chain and the pipeline at once
// (applyPatterns; the periodic reload would, later); a failure keeps the
// current rules until then.
func (l *learning) reload(ctx context.Context) {
	if err := l.a.applyPatterns(ctx, l.p.Load(), "change"); err != nil {
		l.a.log.Warn("pattern reload after a change failed; the periodic reload will pick it up", "err", err)
	}
}

// patternEditor returns the HTTP API's pattern editor (nil when the store
// cannot edit patterns).
func (l *learning) patternEditor() httpapi.PatternEditor {
	if l.editor == nil {
		return nil
	}
	return patternEditor{l}
}

// patternEditor applies an accepted suggestion through the learning
// loop's learn.Editor (the rules of `pomocore patterns add`), then swaps the
// rules into the running pipeline at once.
type patternEditor struct{ l *learning }

// EditPatterns implements httpapi.PatternEditor.
func (e patternEditor) EditPatterns(ctx context.Context, pe classify.PatternEdit) error {
	if _, err := e.l.editor.Edit(ctx, pe); err != nil {
		return err
	}
	e.l.reload(ctx)
	return nil
}

// modelStats returns the learning loop's figures for the metrics.
func (l *learning) modelStats() httpapi.ModelStats {
	r, runs, failures := l.trainer.Last()
	c := l.chain.Stats()
	return httpapi.ModelStats{Unseen: r.Unseen, Revisits: r.Revisits, Examples: r.Distinct, TrainedAt: r.TrainedAt,
		Trainings: runs, Failures: failures, Loaded: l.hasModel.Load(), Answers: c.ModelAnswers,
		Abstentions: c.ModelAbstained, Promotions: l.loop.Promotions()}
}

// LearnedPatterns returns the patterns promotion added, oldest first, from
// the store of the settings.
func (a *App) LearnedPatterns(ctx context.Context) ([]learn.Learned, error) {
	p, err := a.learnedPromoter(ctx)
	if err != nil {
		return nil, err
	}
	return p.List(ctx)
}

// RevertLearned removes a learned pattern (learn.Promoter.Revert: of kind,
// or of either kind when kind is empty) and returns its record; running
// pipelines drop it at their next pattern reload.
func (a *App) RevertLearned(ctx context.Context, kind learn.Kind, pattern string) (learn.Learned, error) {
	p, err := a.learnedPromoter(ctx)
	if err != nil {
		return learn.Learned{}, err
	}
	return p.Revert(ctx, kind, pattern)
}

// learnedPromoter returns a promoter over the store of the settings for
// listing and reverting (promotion itself off).
func (a *App) learnedPromoter(ctx context.Context) (*learn.Promoter, error) {
	st, err := a.Store(ctx)
	if err != nil {
		return nil, err
	}
	llog, ok := st.(learn.LearnedLog)
	ps, ok2 := st.(learn.PatternStore)
	if !ok || !ok2 {
		return nil, errors.New("this store cannot record learned patterns")
	}
	lc := a.cfg.Learn
	lc.Promote = false
	return learn.NewPromoter(lc, learn.PromoterDeps{Editor: learn.NewEditor(ps, nil), Log: llog, Logger: a.log})
}
