package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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
	// Sleep waits for d or until ctx ends (default: a timer); tests inject it.
	Sleep func(ctx context.Context, d time.Duration) error
	// Observer receives a report of every committed batch and every failed
	// store or commit call (default: none).
	Observer Observer
}

// Pipeline is the consumer loop: read, validate, classify, store, commit.
// One Pipeline is one consumer of the group; run several (processes) to
// share a stream.
//
// Poison entries. A delivery that failed because the store or Redis failed
// is not the entry's fault, and restarts during an outage add deliveries
// to every pending entry; so the delivery count alone never dead-letters an
// entry. An entry fails on its own when
//   - validating or classifying it panics (the panic is recovered), or
//   - the store refuses it saved alone: a store call that failed 3 times
//     in a row (once, when it holds an entry over Config.MaxDeliveries),
//     each time while the store answered its health probe (StorePinger)
//     with an error that is not a timeout, is retried a record at a time;
//     a record that fails 3 times in a row that way fails on its own if
//     the store stored other records meanwhile (in the same store call,
//     or since it last failed alone). Without that evidence (a store that
//     refuses every write while it answers pings: a full disk) it is left
//     pending and not judged.
//
// An entry that fails on its own is dead-lettered (kind
// too_many_deliveries) when it was delivered more than Config.MaxDeliveries
// times; otherwise it is left pending (not committed) and redelivered
// after Config.ClaimIdle with one delivery more, while the rest of its
// batch is stored and committed. Store outages (the probe fails), timeouts,
// and failures of a store that cannot be probed are retried with backoff
// as long as they last, whatever the delivery count; a call that timed out
// is retried no sooner than it ran (the server may still be running it).
// A commit (Redis) failure is always retried: it never makes an entry
// poison.
//
// Adaptive batch size. The size of reads and store calls follows the
// store's latency (Config.SlowStore): halved after a slow or timed-out
// call, the batch in hand included, grown back step by step when calls are
// fast; held where it is when halving did not shorten slow calls (a store
// slow per call, not per record).
//
// Entries in flight stay fresh. While a batch is read but not yet
// committed, its entries' idle time is reset every ClaimIdle/3 when the
// Reader is a Toucher, so that neither another consumer nor this one
// reclaims a batch that is only slow to store.
type Pipeline struct {
	cfg       Config
	deps      Deps
	validator *pomocore.Validator
	log       *slog.Logger
	stats     Stats
	rules     atomic.Pointer[rules]

	unknownMu   sync.Mutex
	unknownSeen map[string]bool // unknown field names warned about

	// fresh holds the entries of the batches read and not yet committed,
	// which keepFresh touches.
	fresh *freshness

	// saves counts successful store calls; soloFails remembers entries
	// refused saved alone with no evidence against them, with saves then
	// (see judge).
	saves     atomic.Uint64
	soloMu    sync.Mutex
	soloFails map[string]uint64

	sizer *batchSizer
}

// rules is a classifier with the category ids of the patterns it was built
// from, swapped as one by SetRules.
type rules struct {
	classifier Classifier
	ids        map[string]pomocore.ObjectID
}

// New returns a Pipeline, or an error naming what is missing or wrong.
func New(cfg Config, deps Deps) (*Pipeline, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("pipeline config: %w", err)
	}
	cfg = cfg.withDefaults()
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
	if deps.Sleep == nil {
		deps.Sleep = backoff.Sleep
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

		unknownSeen: map[string]bool{},
		fresh:       newFreshness(),
		soloFails:   map[string]uint64{},
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
		t := time.AfterFunc(p.cfg.ShutdownTimeout, cancelWork)
		context.AfterFunc(work, func() { t.Stop() })
	})
	defer stop()
	defer p.keepFresh(work)()

	if err := p.drainOwn(ctx, work); err != nil {
		return err
	}
	st := p.startStages(work)
	nextClaim := p.deps.Now()
	nextSummary := nextClaim.Add(time.Minute)
	var last StatsSnapshot
	cursor := "0-0"
	failures := 0
	scanned := false // a full reclaim scan ended and no read followed yet
	for ctx.Err() == nil {
		var msgs []Message
		var err error
		if now := p.deps.Now(); !now.Before(nextSummary) {
			last = p.logSummary(last)
			nextSummary = now.Add(time.Minute)
		}
		// Read only while fewer than maxInFlight batches are in flight: one
		// being committed, one stored or ready to be committed next.
		if err := st.acquire(ctx); err != nil {
			break
		}
		// Reclaim when it is time, but read at least once between two full
		// scans, so that a short interval cannot starve new entries.
		if now := p.deps.Now(); !now.Before(nextClaim) && !scanned {
			msgs, cursor, err = p.deps.Reader.Claim(work, p.cfg.ClaimIdle, cursor, p.sizer.size())
			if err == nil && cursor == "0-0" {
				nextClaim = now.Add(p.cfg.ClaimInterval)
				scanned = true
				p.removeIdleConsumers(work)
				p.trimInput(work)
			}
			if err == nil && len(msgs) > 0 {
				p.log.Info("reclaimed idle entries", "count", len(msgs))
			}
		} else {
			msgs, err = p.deps.Reader.Read(work, p.sizer.size(), p.cfg.Block)
			scanned = false
		}
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
			p.log.Warn("read failed; retrying", "err", err, "attempt", failures)
			if p.deps.Sleep(ctx, p.backoff(failures)) != nil {
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
			if p.deps.Sleep(ctx, p.backoff(failures)) != nil {
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
	b := p.prepareBatch(msgs)
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

// isolateAfter is how many failures in a row, each while the store
// answered its probe, make a store call of several records be retried a
// record at a time (1 when the call holds a suspect: an entry over the
// delivery limit); poisonTries is how many such failures of a record saved
// alone make it fail on its own.
const (
	isolateAfter = 3
	poisonTries  = 3
)

// store saves b's records in calls of the adaptive batch size, retrying
// failures until they succeed or ctx ends. A call that keeps failing while
// the store answers its probe is retried a record at a time, and a record
// that then keeps failing alone fails on its own (failedAlone): it is
// dead-lettered or left pending, and the others go on.
func (p *Pipeline) store(ctx context.Context, b *preparedBatch) error {
	storeStart := p.deps.Now()
	recs := b.Records
	var culprits map[int]error // record indexes set aside, with their error
	startSaves := p.saves.Load()
	failures, healthy := 0, 0
	isolate := false
	for i := 0; i < len(recs); {
		n := min(p.sizer.size(), len(recs)-i)
		if isolate {
			n = 1
		}
		callStart := p.deps.Now()
		err := p.deps.Store.Save(ctx, recs[i:i+n])
		took := p.deps.Now().Sub(callStart)
		p.sizer.observe(took, n, err)
		if err == nil {
			p.saves.Add(1)
			if failures > 0 {
				p.log.Info("store recovered", "attempts", failures+1)
			}
			i += n
			failures, healthy = 0, 0
			continue
		}
		failures++
		p.stats.storeErrors.Add(1)
		p.deps.Observer.CallFailed("store", err)
		if ctx.Err() != nil {
			return fmt.Errorf("store: %w (gave up: %w)", err, ctx.Err())
		}
		if p.storeAnswers(ctx, err) {
			healthy++
		} else {
			healthy = 0
		}
		switch {
		case n == 1 && healthy >= poisonTries:
			// Set aside; judged once the others were tried.
			if culprits == nil {
				culprits = map[int]error{}
			}
			culprits[i] = err
			i++
			failures, healthy = 0, 0
			continue
		case n > 1 && !isolate && (healthy >= isolateAfter || healthy > 0 && p.holdsSuspect(b, i, n)):
			p.log.Warn("store call keeps failing while the store answers; saving the batch a record at a time to find the entries that fail on their own",
				"records", n, "err", err)
			isolate, healthy = true, 0
		}
		d := p.backoff(failures)
		if isTimeout(err) && took > d {
			// The server may still be running the call the client gave
			// up on (FerretDB 1.24 may run one well past its maxTimeMS):
			// a retry at once would stack a second one beside it, and
			// under load every call then times out. Wait as long as it
			// ran.
			d = took
		}
		p.log.Warn("store failed; entries stay pending, retrying", "err", err, "attempt", failures, "backoff", d, "records", n)
		if err := p.deps.Sleep(ctx, d); err != nil {
			return fmt.Errorf("store: gave up: %w", err)
		}
	}
	if culprits != nil {
		p.judge(b, recs, culprits, startSaves)
		kept, idx := make([]Record, 0, len(recs)-len(culprits)), make([]int, 0, len(recs)-len(culprits))
		for i := range recs {
			if _, out := culprits[i]; !out {
				kept, idx = append(kept, recs[i]), append(idx, b.recEntry[i])
			}
		}
		b.Records, b.recEntry = kept, idx
	}
	b.report.Store = p.deps.Now().Sub(storeStart)
	return nil
}

// maxSoloFails bounds the entries remembered as failing alone without
// evidence.
const maxSoloFails = 10000

// judge decides the records of b set aside for failing alone (culprits,
// by record index, with their last error). A record fails on its own only
// when the store stored other records meanwhile: during this store call
// (startSaves is the count of successful store calls when it began), or,
// for one remembered from an earlier failure alone, since then. Without
// that evidence (a store that refuses every write while it answers pings,
// say a full disk) it is left pending and remembered, never dead-lettered.
func (p *Pipeline) judge(b *preparedBatch, recs []Record, culprits map[int]error, startSaves uint64) {
	saves := p.saves.Load()
	for i, err := range culprits {
		e := b.recEntry[i]
		m := p.message(b, e)
		b.report.BySource[recs[i].Classification.Source]--
		b.report.ByCategory[recs[i].Classification.Category]--
		p.soloMu.Lock()
		since, remembered := p.soloFails[m.ID]
		evidence := saves > startSaves || (remembered && saves > since)
		if evidence {
			delete(p.soloFails, m.ID)
		} else {
			if len(p.soloFails) >= maxSoloFails {
				clear(p.soloFails)
			}
			p.soloFails[m.ID] = saves
		}
		p.soloMu.Unlock()
		if !evidence {
			p.log.Warn("entry refused saved alone, but the store stored nothing else meanwhile: left pending, not judged",
				"entry", m.ID, "deliveries", m.Deliveries, "err", err)
			if b.pending == nil {
				b.pending = map[int]bool{}
			}
			b.pending[e] = true
			continue
		}
		if p.failedAlone(b, m, e, fmt.Errorf("the store refuses it saved alone while it stores others: %w", err)) {
			b.Entries[e] = p.rejected(m, "too_many_deliveries", p.poison(m, err))
			b.dead++
			b.report.DeadByKind["too_many_deliveries"]++
		}
	}
}

// message returns the message of b's entry i (a stand-in with the entry's
// id, over the delivery limit, when b was prepared without its messages).
func (p *Pipeline) message(b *preparedBatch, i int) *Message {
	if i < len(b.msgs) {
		return &b.msgs[i]
	}
	return &Message{ID: b.Entries[i].ID, Deliveries: p.cfg.MaxDeliveries + 1}
}

// holdsSuspect reports whether records [i, i+n) of b hold an entry over the
// delivery limit.
func (p *Pipeline) holdsSuspect(b *preparedBatch, i, n int) bool {
	for _, e := range b.recEntry[i : i+n] {
		if p.message(b, e).Deliveries > p.cfg.MaxDeliveries {
			return true
		}
	}
	return false
}

// storeAnswers reports whether the store answers its health probe after a
// failed call with err: a failure then is not the store's outage. A
// timeout never counts as an entry's fault, nor does any failure of a store
// that cannot be probed.
func (p *Pipeline) storeAnswers(ctx context.Context, err error) bool {
	if isTimeout(err) {
		return false
	}
	pinger, ok := p.deps.Store.(StorePinger)
	return ok && pinger.Ping(ctx) == nil
}

// isTimeout reports whether err is a timeout (a context deadline, or an
// I/O deadline).
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &t) && t.Timeout())
}

// retry calls f until it succeeds or ctx ends, backing off between tries.
func (p *Pipeline) retry(ctx context.Context, what string, errCount *atomic.Int64, f func() error) error {
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil {
			if attempt > 1 {
				p.log.Info(what+" recovered", "attempts", attempt)
			}
			return nil
		}
		errCount.Add(1)
		p.deps.Observer.CallFailed(what, err)
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w (gave up: %w)", what, err, ctx.Err())
		}
		d := p.backoff(attempt)
		p.log.Warn(what+" failed; entries stay pending, retrying", "err", err, "attempt", attempt, "backoff", d)
		if err := p.deps.Sleep(ctx, d); err != nil {
			return fmt.Errorf("%s: gave up: %w", what, err)
		}
	}
}

// backoff returns the wait before retry attempt n (1-based), from RetryMin
// to RetryMax.
func (p *Pipeline) backoff(n int) time.Duration {
	return backoff.Policy{Min: p.cfg.RetryMin, Max: p.cfg.RetryMax}.Wait(n)
}
