package learn

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pomocore/pomocore/classify"
)

// promoteGap is the least time between two promotion checks a Loop makes
// on observed answers (a check with nothing ready costs a pass over the
// candidates).
const promoteGap = time.Second

// LoopDeps are the parts of a Loop.
type LoopDeps struct {
	// Trainer retrains the model (required).
	Trainer *Trainer
	// TrainFirst trains a model when Run starts (there is none yet).
	TrainFirst bool
	// Interval is how often the model is retrained and promotion checked
	// (none when 0).
	Interval time.Duration
	// Promoter promotes consistent answers (nil: no promotion).
	Promoter *Promoter
	// Promoted is told, after a check that added patterns, that the
	// category_pattern documents changed (the wiring swaps the rules in).
	Promoted func(ctx context.Context, added []Learned)
	// Logger logs (default discard).
	Logger *slog.Logger
}

// Loop is the running learning loop: it trains the model at start when
// there is none, retrains it every interval, and promotes answers the
// chain reports (Observe) at most once a second, and every interval.
type Loop struct {
	deps       LoopDeps
	poke       chan struct{}
	promotions atomic.Int64
}

// NewLoop returns the loop of deps.
func NewLoop(deps LoopDeps) *Loop {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Promoted == nil {
		deps.Promoted = func(context.Context, []Learned) {}
	}
	return &Loop{deps: deps, poke: make(chan struct{}, 1)}
}

// Observe counts an answer for promotion and asks for a check; it does not
// block, so it can be the chain's OnAnswer (classify.Chain.SetOnAnswer).
// Without a Promoter it does nothing.
func (l *Loop) Observe(ans classify.Answered) {
	if l.deps.Promoter == nil {
		return
	}
	l.deps.Promoter.Observe(ans)
	select {
	case l.poke <- struct{}{}:
	default:
	}
}

// Promotions returns how many patterns the loop's promotions added.
func (l *Loop) Promotions() int64 { return l.promotions.Load() }

// Run runs the loop until ctx ends, then returns ctx's error once its
// work has stopped. Failures are logged; the model and patterns in use are
// kept.
func (l *Loop) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if l.deps.TrainFirst {
		wg.Go(func() { l.trainFirst(ctx) })
	}
	if l.deps.Interval > 0 {
		wg.Go(func() {
			t := time.NewTicker(l.deps.Interval)
			defer t.Stop()
			_ = l.deps.Trainer.Run(ctx, t.C)
		})
	}
	if l.deps.Promoter != nil {
		wg.Go(func() { l.promoteLoop(ctx) })
	}
	<-ctx.Done()
	wg.Wait()
	return ctx.Err()
}

func (l *Loop) trainFirst(ctx context.Context) {
	log := l.deps.Logger
	r, err := l.deps.Trainer.Retrain(ctx)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("training the local model failed: unknown activities go to the LLM or the default", "err", err)
		}
		return
	}
	log.Info("local model trained from the store", "report", r.String(), "distrusted_labels", r.DistrustedLabels,
		"unseen_coverage", r.Unseen.Coverage, "unseen_precision", r.Unseen.AccuracyAbove,
		"revisit_coverage", r.Revisits.Coverage, "revisit_precision", r.Revisits.AccuracyAbove)
}

// promoteLoop promotes when answers were observed (at most every
// promoteGap) and every interval (none when 0), until ctx ends.
func (l *Loop) promoteLoop(ctx context.Context) {
	var tick <-chan time.Time
	if l.deps.Interval > 0 {
		t := time.NewTicker(l.deps.Interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		case <-l.poke:
		}
		l.promote(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(promoteGap):
		}
	}
}

// promote adds the patterns ready for promotion and tells Promoted.
func (l *Loop) promote(ctx context.Context) {
	added, err := l.deps.Promoter.Promote(ctx)
	l.promotions.Add(int64(len(added)))
	if err != nil && ctx.Err() == nil {
		l.deps.Logger.Warn("learn: promotion failed", "err", err)
	}
	if len(added) > 0 {
		l.deps.Promoted(ctx, added)
	}
}
