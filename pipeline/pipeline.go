package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/backoff"
)

// Deps are the ports and services a Pipeline uses.
type Deps struct {
	Reader    Reader
	Store     Store
	Committer Committer
	// Classifier gives categories (replace it with Pipeline.SetRules).
	Classifier Classifier
	// Taxonomy lists the categories and which count as work.
	Taxonomy *pomocore.Taxonomy
	// CategoryIDs maps each category name to its category_pattern _id
	// (replace it with Pipeline.SetRules). When it is not empty, an activity
	// classified into a category without an id is recorded as the
	// taxonomy's default: the main server names categories only through
	// their category_pattern documents.
	CategoryIDs map[string]pomocore.ObjectID
	// Logger receives batch summaries and errors (default: discard).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// sleep waits for d or until ctx ends (default: a timer); tests inject
	// it through export_test.go.
	sleep func(ctx context.Context, d time.Duration) error
	// Observer receives a report of every committed batch and every failed
	// store or commit call (default: none).
	Observer Observer
}

// Pipeline is the consumer loop: read, validate, classify, store, commit.
// One Pipeline is one consumer of the group; run several (processes) to
// share a stream.
//
// Its parts, each in a file of its own:
//   - the stages (stages.go): the store and the commit of successive
//     batches overlap, three batches in flight;
//   - preparing a batch (prepare.go): validate and classify, without I/O;
//   - the isolating store (isolate.go): store calls of the adaptive batch
//     size, retried with backoff, and a verdict per record: an entry the
//     store refuses on its own is told from a store outage, a timeout or a
//     store refusing every write (TestPoisonRules states the rules);
//   - the batch sizer (sizer.go): the size of reads and store calls
//     follows the store's latency (Config.SlowStore);
//   - freshness (fresh.go): the entries of a batch read and not yet
//     committed are touched every ClaimIdle/3 when the Reader is a
//     Toucher, so that no consumer reclaims a batch only slow to store;
//   - the commit (commit.go): entries the Committer reports blocked are
//     dead-lettered or left pending, the others committed.
//
// Poison entries. The delivery count alone never dead-letters an entry:
// restarts during an outage add deliveries that are not its fault. An
// entry fails on its own when validating or classifying it panics, or when
// the isolating store finds that the store refuses it on its own. It is
// then dead-lettered (kind too_many_deliveries) when it was delivered
// more than Config.MaxDeliveries times, and otherwise left pending (not
// committed), redelivered after Config.ClaimIdle with one delivery more,
// while the rest of its batch is stored and committed. A commit (Redis)
// failure is always retried: it never makes an entry poison.
type Pipeline struct {
	cfg       Config
	deps      Deps
	validator *pomocore.Validator
	log       *slog.Logger
	stats     Stats
	rules     atomic.Pointer[rules]

	// The parts: sizer is the adaptive batch size; saver the store as the
	// pipeline uses it (adaptive call sizes, retries, poison isolation);
	// fresh holds the entries of the batches read and not yet committed,
	// which keepFresh touches; unknown warns of fields the CONTRACT does
	// not name.
	sizer   *batchSizer
	saver   *isolatingStore
	fresh   *freshness
	unknown *unknownFields
	// waiting holds the entries whose answer is on its way (nil when
	// Config.DecideWait is 0).
	waiting *waiting
	// stuck holds the dead letters a wrong-typed dead-letter stream
	// blocked, committed again every retryMax (commit.go).
	stuck stuckLetters
}

// rules is a classifier with the category ids of the patterns it was built
// from, swapped as one by SetRules.
type rules struct {
	classifier Classifier
	ids        map[string]pomocore.ObjectID
}

// New returns a Pipeline, or an error naming what is missing or wrong.
func New(cfg Config, deps Deps) (*Pipeline, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("pipeline config: %w", err)
	}
	var missing []error
	if deps.Reader == nil {
		missing = append(missing, errors.New("no reader"))
	}
	if deps.Store == nil {
		missing = append(missing, errors.New("no store"))
	}
	if deps.Committer == nil {
		missing = append(missing, errors.New("no committer"))
	}
	if deps.Classifier == nil {
		missing = append(missing, errors.New("no classifier"))
	}
	if deps.Taxonomy == nil {
		missing = append(missing, errors.New("no taxonomy"))
	}
	if err := errors.Join(missing...); err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.sleep == nil {
		deps.sleep = backoff.Sleep
	}
	if deps.Observer == nil {
		deps.Observer = noObserver{}
	}
	sizer := newBatchSizer(cfg.BatchSize, cfg.SlowStore, deps.Logger)
	p := &Pipeline{
		cfg:       cfg,
		deps:      deps,
		validator: pomocore.NewValidator(cfg.Limits, cfg.Location, deps.Now),
		log:       deps.Logger,
		stats:     Stats{deadByKind: map[string]int64{}, sizer: sizer},
		sizer:     sizer,
		fresh:     newFreshness(),
		unknown:   &unknownFields{log: deps.Logger, rejected: cfg.Limits.RejectUnknownFields, seen: map[string]bool{}},
	}
	p.saver = &isolatingStore{store: deps.Store, sizer: sizer, retry: p.retryPolicy(), now: deps.Now, sleep: deps.sleep,
		log: p.log, soloFails: map[string]uint64{}, failed: func(err error) {
			p.stats.storeErrors.Add(1)
			p.deps.Observer.CallFailed("store", err)
		}}
	if cfg.DecideWait > 0 {
		p.waiting = newWaiting(cfg.MaxWaiting, cfg.DecideWait, p.fresh)
	}
	p.SetRules(deps.Classifier, deps.CategoryIDs)
	return p, nil
}

// SetRules replaces the classifier and the category ids (after a reload of
// category_pattern); batches started afterwards use them. Safe to call from
// any goroutine while Run runs.
func (p *Pipeline) SetRules(c Classifier, categoryIDs map[string]pomocore.ObjectID) {
	p.rules.Store(&rules{classifier: c, ids: categoryIDs})
}

// Stats returns the pipeline's counters.
func (p *Pipeline) Stats() *Stats { return &p.stats }

// Run consumes until ctx is cancelled, then finishes the batch in hand
// (within Config.ShutdownTimeout) and returns nil. It first processes this
// consumer's own pending entries, then reclaims entries other consumers left
// idle, then reads new entries, reclaiming again every ClaimInterval.
// Errors of Redis or the store are retried with backoff; Run returns an
// error only when it cannot go on.
func (p *Pipeline) Run(ctx context.Context) error {
	// work outlives ctx by ShutdownTimeout so that the batch in hand can be
	// stored and committed after a SIGTERM.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(*p.cfg.ShutdownTimeout, cancelWork)
		context.AfterFunc(work, func() { t.Stop() })
	})
	defer stop()
	defer p.keepFresh(work)()

	if err := p.drainOwn(ctx, work); err != nil {
		return err
	}
	st := p.startStages(work)
	in := &intake{nextClaim: p.deps.Now(), cursor: "0-0"}
	nextSummary := in.nextClaim.Add(time.Minute)
	var last StatsSnapshot
	failures := 0
	for ctx.Err() == nil {
		if now := p.deps.Now(); !now.Before(nextSummary) {
			last = p.logSummary(last)
			nextSummary = now.Add(time.Minute)
		}
		// Read only while fewer than maxInFlight batches are in flight: one
		// being committed, one stored or ready to be committed next.
		if err := st.acquire(ctx); err != nil {
			break
		}
		p.retryStuck(work)
		// Entries whose answer came (or whose wait passed) go first.
		if rel := p.waiting.take(p.deps.Now()); len(rel) > 0 {
			if err := st.submit(p.beginReleased(rel)); err != nil {
				break
			}
			continue
		}
		msgs, err := p.fetch(work, in)
		if err != nil || len(msgs) == 0 {
			st.release()
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if errors.Is(err, ErrGroupMissing) {
				// The reader could not recreate the group where it was:
				// going on would process the stream again or skip some of
				// it. Stop, and let the operator choose (the error says how).
				p.log.Error("consumer group missing and not recreated: stopping", "err", err)
				_ = st.finish()
				return fmt.Errorf("read: %w", err)
			}
			failures++
			p.deps.Observer.CallFailed("read", err)
			p.log.Warn("read failed; retrying", "err", err, "attempt", failures)
			if p.deps.sleep(ctx, p.backoff(failures)) != nil {
				break
			}
			continue
		}
		failures = 0
		if len(msgs) == 0 {
			continue
		}
		if err := st.submit(p.begin(msgs)); err != nil {
			break
		}
	}
	// Entries still waiting, or blocked, stay pending, for a consumer to
	// read again.
	p.waiting.drop()
	p.stuck.drop()
	if err := st.finish(); err != nil {
		if work.Err() != nil {
			p.log.Warn("shutdown timeout: batches in hand left pending for reclaim")
			return nil
		}
		return err
	}
	p.log.Info("pipeline stopped", "stats", p.stats.Snapshot())
	return nil
}

// intake is where the loop takes its next messages from: reclaimed idle
// entries of other consumers, every ClaimInterval, or new entries.
type intake struct {
	nextClaim time.Time
	cursor    string // of the reclaim scan ("0-0": start again)
	scanned   bool   // a full reclaim scan ended and no read followed yet
}

// fetch returns the next messages: reclaimed ones when it is time (after
// a full scan, idle consumers are removed and consumed input trimmed),
// but read at least once between two full scans, so that a short interval
// cannot starve new entries; new ones otherwise.
func (p *Pipeline) fetch(ctx context.Context, in *intake) ([]Message, error) {
	now := p.deps.Now()
	if now.Before(in.nextClaim) || in.scanned {
		in.scanned = false
		return p.deps.Reader.Read(ctx, p.sizer.size(), p.cfg.Block)
	}
	msgs, cursor, err := p.deps.Reader.Claim(ctx, p.cfg.ClaimIdle, in.cursor, p.sizer.size())
	in.cursor = cursor
	if err != nil {
		return nil, err
	}
	if cursor == "0-0" {
		in.nextClaim = now.Add(p.cfg.ClaimInterval)
		in.scanned = true
		p.removeIdleConsumers(ctx)
		p.trimInput(ctx)
	}
	if len(msgs) > 0 {
		p.log.Info("reclaimed idle entries", "count", len(msgs))
	}
	return msgs, nil
}

// logSummary logs what the pipeline did since the previous summary (once a
// minute, at info level) and returns the counters for the next one.
func (p *Pipeline) logSummary(prev StatsSnapshot) StatsSnapshot {
	s := p.stats.Snapshot()
	if s.Read != prev.Read || s.Committed != prev.Committed || s.StoreErrors != prev.StoreErrors || s.CommitErrors != prev.CommitErrors {
		p.log.Info("pipeline summary (last minute)", "batches", s.Batches-prev.Batches, "read", s.Read-prev.Read,
			"committed", s.Committed-prev.Committed, "skipped", s.Skipped-prev.Skipped, "dead_lettered", s.Dead-prev.Dead,
			"deleted", s.Deleted-prev.Deleted, "store_errors", s.StoreErrors-prev.StoreErrors, "commit_errors", s.CommitErrors-prev.CommitErrors)
	}
	return s
}

func (p *Pipeline) removeIdleConsumers(ctx context.Context) {
	j, ok := p.deps.Reader.(ConsumerJanitor)
	if !ok {
		return
	}
	n, err := j.RemoveIdleConsumers(ctx, p.cfg.ConsumerIdle)
	switch {
	case err != nil:
		p.log.Warn("removing idle consumers failed", "err", err)
	case n > 0:
		p.log.Info("removed idle consumers with nothing pending", "count", n, "idle_over", p.cfg.ConsumerIdle)
	}
}

func (p *Pipeline) trimInput(ctx context.Context) {
	t, ok := p.deps.Reader.(StreamTrimmer)
	if !p.cfg.TrimInput || !ok {
		return
	}
	n, err := t.TrimConsumed(ctx)
	switch {
	case err != nil:
		p.log.Warn("trimming consumed input entries failed", "err", err)
	case n > 0:
		p.log.Debug("trimmed consumed input entries", "count", n)
	}
}

// drainOwn processes the entries this consumer already has pending (from a
// previous run under the same consumer name).
func (p *Pipeline) drainOwn(ctx, work context.Context) error {
	after := "0"
	failures := 0
	for ctx.Err() == nil {
		msgs, err := p.deps.Reader.Pending(work, after, p.sizer.size())
		if err != nil {
			failures++
			p.log.Warn("reading own pending entries failed; retrying", "err", err, "attempt", failures)
			if p.deps.sleep(ctx, p.backoff(failures)) != nil {
				return nil
			}
			continue
		}
		failures = 0
		if len(msgs) == 0 {
			return nil
		}
		p.log.Info("processing own pending entries", "count", len(msgs))
		if err := p.process(work, msgs); err != nil {
			if work.Err() != nil {
				return nil
			}
			return err
		}
		after = msgs[len(msgs)-1].ID
	}
	return nil
}

// process validates, classifies, stores and commits one batch of messages.
// It retries store and commit failures with backoff until they succeed or
// ctx ends; it returns an error only then (the entries stay pending).
func (p *Pipeline) process(ctx context.Context, msgs []Message) error {
	b := p.begin(msgs)
	defer p.done(b)
	if err := p.store(ctx, b); err != nil {
		return err
	}
	return p.commit(ctx, b)
}

// begin counts msgs as read, prepares them, and holds their entries
// fresh until the batch is done.
func (p *Pipeline) begin(msgs []Message) *preparedBatch {
	start := p.deps.Now()
	p.stats.read.Add(int64(len(msgs)))
	b := p.prepareBatch(msgs, nil)
	return p.started(b, msgs, start)
}

// beginReleased prepares the entries let go by waiting, with the
// classification each was given (the default when its wait passed or
// the classifier gave up), and holds them fresh until the batch is done.
func (p *Pipeline) beginReleased(rel []released) *preparedBatch {
	start := p.deps.Now()
	msgs := make([]Message, len(rel))
	given := make(map[string]pomocore.Classification, len(rel))
	outcomes := map[string]int{}
	for i, r := range rel {
		msgs[i] = r.msg
		cls := r.cls
		if r.outcome == waitExpired || r.outcome == waitFailed {
			cls = pomocore.Classification{Category: p.deps.Taxonomy.Default, Source: pomocore.SourceDefault}
		}
		given[r.msg.ID] = cls
		outcomes[r.outcome.String()]++
	}
	b := p.prepareBatch(msgs, given)
	b.report.WaitOutcomes = outcomes
	return p.started(b, msgs, start)
}

// started records b's messages and start, and holds its entries fresh.
func (p *Pipeline) started(b *preparedBatch, msgs []Message, start time.Time) *preparedBatch {
	b.msgs, b.start = msgs, start
	ids := make([]string, 0, len(msgs))
	for i := range msgs {
		if !msgs[i].Deleted { // nothing left to reclaim
			ids = append(ids, msgs[i].ID)
		}
	}
	b.release = p.fresh.hold(start, ids)
	return b
}

// done ends b's hold on its entries (committed, or given up).
func (p *Pipeline) done(b *preparedBatch) { b.release() }

// keepFresh touches, every ClaimIdle/3, the entries of the batches in
// flight for longer than that, when the Reader is a Toucher; the returned
// function stops it and waits.
func (p *Pipeline) keepFresh(ctx context.Context) (stop func()) {
	t, ok := p.deps.Reader.(Toucher)
	if !ok {
		return func() {}
	}
	return p.fresh.run(ctx, t, max(p.cfg.ClaimIdle/3, time.Millisecond), p.deps.Now, p.log)
}
