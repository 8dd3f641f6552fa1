package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/backoff"
)

// ErrGroupMissing is the error kind adapters report when the consumer group
// (or its stream) no longer exists, e.g. after a Redis restart without
// persistence. The pipeline recreates the group instead of retrying.
var ErrGroupMissing = errors.New("consumer group missing")

// Config tunes the pipeline. The zero value of a field means its default;
// Validate reports values that cannot work.
type Config struct {
	// BatchSize is the most entries read and processed at once (default 2000).
	// A read returns what is there up to this, so batches follow the backlog:
	// small when the pipeline keeps up, full when it catches up.
	BatchSize int
	// Block is how long one read waits for new entries (default 1s). It also
	// bounds how long a shutdown waits for an idle read.
	Block time.Duration
	// ClaimIdle is how long an entry must be pending with another consumer
	// before this one reclaims it with XAUTOCLAIM (default 60s).
	ClaimIdle time.Duration
	// ClaimInterval is how often the pending entries of other consumers are
	// scanned (default ClaimIdle/2).
	ClaimInterval time.Duration
	// ConsumerIdle is how long another consumer must be idle, with nothing
	// pending, before it is removed from the group (default 1h); the check
	// runs with each full reclaim scan when the Reader supports it.
	ConsumerIdle time.Duration
	// MaxDeliveries is how many deliveries an entry may have before it is
	// suspected of being poison (default 10). A suspect is not dead-lettered
	// for its deliveries alone: restarts during a store or Redis outage add
	// deliveries that are not the entry's fault. It is processed as usual
	// and dead-lettered (kind too_many_deliveries) only when it fails on its
	// own: when the store refuses it saved alone (a batch of one) while the
	// store answers its health probe (StorePinger) and the failure is not a
	// timeout. See Pipeline for the whole rule.
	MaxDeliveries int64
	// SlowStore is the store-call latency the batch size adapts to (default
	// 2.5s, a quarter of the default store timeout; negative: no
	// adaptation, batches of BatchSize always). A Save that takes longer, or
	// times out, halves the size of the following reads and of the store
	// calls of the batch in hand (down to 1); one that takes less than half
	// of it grows the size back by BatchSize/32 (at least 1), up to
	// BatchSize. When a slow call at half the size took nearly as long, the
	// store is slow per call: the size is restored and slow calls leave it
	// alone until one times out. Stats and BatchReport show the current
	// size.
	SlowStore time.Duration
	// KeyPrefix prefixes leaderboard keys (default "leaderboard").
	KeyPrefix string
	// Location is the time zone of leaderboard periods (default Asia/Seoul,
	// the CONTRACT's).
	Location *time.Location
	// Limits bounds what the validator accepts.
	Limits pomocore.Limits
	// Partition is this input stream's number when the input is split over
	// several streams (0..63), mixed into derived usage-log ids.
	Partition uint8
	// RetryMin and RetryMax bound the backoff between retries of a failed
	// store or commit call (defaults 100ms and 5s).
	RetryMin, RetryMax time.Duration
	// ShutdownTimeout is how long, after the context is cancelled, the batch
	// in hand may take to store and commit (default 30s; negative: no time,
	// stop at once). Entries not committed by then stay pending and are
	// reclaimed later: none is lost.
	ShutdownTimeout time.Duration
	// DeadFieldsMax caps the fields copied into a dead letter (default 128).
	DeadFieldsMax int
	// Retention is how long leaderboard keys live after their last
	// increment, per period kind (0: forever, as the deployed system).
	Retention Retention
	// TrimInput deletes input entries every consumer group has read and
	// acknowledged, after each full reclaim scan (when the Reader can).
	TrimInput bool
}

// seoul is the CONTRACT's time zone; a fixed UTC+9 (Korea has no daylight
// saving time) where the zone database is missing.
var seoul = func() *time.Location {
	if l, err := time.LoadLocation("Asia/Seoul"); err == nil {
		return l
	}
	return time.FixedZone("KST", 9*60*60)
}()

// Retention sets the lifetime of daily, weekly and monthly leaderboard keys.
type Retention struct {
	Day, Week, Month time.Duration
}

func (c Config) withDefaults() Config {
	if c.BatchSize == 0 {
		c.BatchSize = 2000
	}
	if c.Block == 0 {
		c.Block = time.Second
	}
	if c.ClaimIdle == 0 {
		c.ClaimIdle = time.Minute
	}
	if c.ClaimInterval == 0 {
		c.ClaimInterval = c.ClaimIdle / 2
	}
	if c.MaxDeliveries == 0 {
		c.MaxDeliveries = 10
	}
	if c.ConsumerIdle == 0 {
		c.ConsumerIdle = time.Hour
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = pomocore.DefaultKeyPrefix
	}
	if c.Location == nil {
		c.Location = seoul
	}
	if c.RetryMin == 0 {
		c.RetryMin = 100 * time.Millisecond
	}
	if c.RetryMax == 0 {
		c.RetryMax = 5 * time.Second
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.DeadFieldsMax == 0 {
		c.DeadFieldsMax = 128
	}
	if c.SlowStore == 0 {
		c.SlowStore = 2500 * time.Millisecond
	}
	return c
}

// ConfigError is one setting of a Config that cannot work (the root
// package's, shared by every package's Validate).
type ConfigError = pomocore.ConfigError

// Validate reports settings that cannot work, each as a *ConfigError
// (joined).
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if c.BatchSize < 1 || c.BatchSize > 10000 {
		bad("BatchSize", "%d: want 1..10000", c.BatchSize)
	}
	if c.Block <= 0 {
		bad("Block", "%v: want > 0", c.Block)
	}
	if c.ClaimIdle < 100*time.Millisecond {
		// Shorter, consumers take each other's entries between the read
		// and the first touch of a batch, and deliveries are spent on it.
		bad("ClaimIdle", "%v: want >= 100ms", c.ClaimIdle)
	}
	if c.ClaimInterval <= 0 {
		bad("ClaimInterval", "%v: want > 0", c.ClaimInterval)
	}
	if c.ConsumerIdle <= 0 {
		bad("ConsumerIdle", "%v: want > 0", c.ConsumerIdle)
	}
	if c.MaxDeliveries < 1 {
		bad("MaxDeliveries", "%d: want >= 1", c.MaxDeliveries)
	}
	if c.Partition >= 64 {
		bad("Partition", "%d: want 0..63", c.Partition)
	}
	if c.SlowStore > 0 && c.SlowStore < time.Millisecond {
		bad("SlowStore", "%v: want >= 1ms, or negative for no adaptation", c.SlowStore)
	}
	if c.RetryMin <= 0 || c.RetryMax < c.RetryMin {
		bad("RetryMin", "retry backoff %v..%v: want 0 < min <= max", c.RetryMin, c.RetryMax)
	}
	for _, r := range []struct {
		field string
		d     time.Duration
		min   time.Duration
	}{{"Retention.Day", c.Retention.Day, 24 * time.Hour}, {"Retention.Week", c.Retention.Week, 7 * 24 * time.Hour},
		{"Retention.Month", c.Retention.Month, 31 * 24 * time.Hour}} {
		if r.d != 0 && r.d < r.min {
			bad(r.field, "%v: want 0 (forever) or at least %v, the period itself", r.d, r.min)
		}
	}
	if err := c.Limits.Validate(); err != nil {
		bad("Limits", "%v", err)
	}
	return errors.Join(errs...)
}

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

// Observer is told what the pipeline does, for metrics. Its methods are
// called from the pipeline's goroutine and must not block.
type Observer interface {
	// BatchDone reports a committed batch.
	BatchDone(r BatchReport)
	// CallFailed reports a failed call of the store ("store") or of the
	// commit ("commit").
	CallFailed(what string, err error)
}

// BatchReport describes one committed batch.
type BatchReport struct {
	// Size is the number of entries in the batch.
	Size int
	// Applied and Skipped are the commit's result.
	Applied, Skipped int
	// DeadByKind counts dead-lettered entries by InvalidError kind.
	DeadByKind map[string]int
	// Deleted counts entries trimmed from the stream while pending.
	Deleted int
	// Duplicates counts the committed entries whose activity had been
	// committed already under another entry (a producer retry): no effects.
	Duplicates int
	// UnknownFields counts the entries that had fields the CONTRACT does
	// not name (accepted and ignored).
	UnknownFields int
	// Classified counts stored activities by classification source and by
	// category.
	BySource   map[pomocore.Source]int
	ByCategory map[string]int
	// Unknowns are the stored activities no pattern decided (they fell to
	// the default category, or the model, the LLM or its cache answered),
	// in batch order, for the operator's unknowns panel and the learning
	// loop; nil when patterns decided every one (pattern hits cost
	// nothing here).
	Unknowns []Unknown
	// Took is the whole batch; Store and Commit its two calls (with retries).
	Took, Store, Commit time.Duration
	// Ages are the entries' ages at commit (commit time minus the stream
	// entry id's time), in the order of the batch.
	Ages []time.Duration
	// BatchSize is the adaptive batch size after this batch was stored
	// (see Config.SlowStore).
	BatchSize int
	// LeftPending counts entries that failed on their own under the
	// delivery limit: not committed, left pending to be redelivered (see
	// Pipeline).
	LeftPending int
}

// Unknown is an activity of a batch that no pattern decided.
type Unknown struct {
	App, URL       string
	Classification pomocore.Classification
	// Seconds is the activity's duration.
	Seconds float64
}

// decided reports whether src is a pattern's (the app trie, the domain
// automaton or a title rule).
func decided(src pomocore.Source) bool {
	return src == pomocore.SourceApp || src == pomocore.SourceDomain || src == pomocore.SourceTitle
}

type noObserver struct{}

func (noObserver) BatchDone(BatchReport)    {}
func (noObserver) CallFailed(string, error) {}

// Stats counts what a Pipeline did since it started. Read it with Snapshot.
type Stats struct {
	read, committed, skipped, dead, deleted, storeErrors, commitErrors, batches atomic.Int64
	duplicates, unknownFields                                                   atomic.Int64
	// batchSize is the adaptive batch size; leftPending counts entries that
	// failed on their own under the delivery limit.
	batchSize, leftPending atomic.Int64

	mu         sync.Mutex
	deadByKind map[string]int64
}

// StatsSnapshot is a copy of the counters.
type StatsSnapshot struct {
	Read, Committed, Skipped, Dead, Deleted int64
	StoreErrors, CommitErrors, Batches      int64
	Duplicates, UnknownFields               int64
	DeadByKind                              map[string]int64
	// BatchSize is the current adaptive batch size (Config.SlowStore).
	BatchSize int64
	// LeftPending counts entries left pending because they failed on
	// their own under the delivery limit.
	LeftPending int64
}

// Snapshot returns the current counters.
func (s *Stats) Snapshot() StatsSnapshot {
	s.mu.Lock()
	kinds := make(map[string]int64, len(s.deadByKind))
	for k, v := range s.deadByKind {
		kinds[k] = v
	}
	s.mu.Unlock()
	return StatsSnapshot{
		Read: s.read.Load(), Committed: s.committed.Load(), Skipped: s.skipped.Load(),
		Dead: s.dead.Load(), Deleted: s.deleted.Load(), StoreErrors: s.storeErrors.Load(),
		CommitErrors: s.commitErrors.Load(), Batches: s.batches.Load(), Duplicates: s.duplicates.Load(),
		UnknownFields: s.unknownFields.Load(), DeadByKind: kinds, BatchSize: s.batchSize.Load(),
		LeftPending: s.leftPending.Load(),
	}
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

	// inFlight holds the batches read and not yet committed, whose entries
	// keepFresh touches.
	inFlightMu sync.Mutex
	inFlight   map[*preparedBatch]struct{}

	// saves counts successful store calls; soloFails remembers entries
	// refused saved alone with no evidence against them, with saves then
	// (see judge).
	saves     atomic.Uint64
	soloMu    sync.Mutex
	soloFails map[string]uint64

	// adaptMu guards what adapt remembers: the size and latency of the
	// last slow successful call it halved after (shrunkFrom, shrunkTook),
	// and perCall, set when halving did not shorten the call.
	adaptMu    sync.Mutex
	shrunkFrom int
	shrunkTook time.Duration
	perCall    bool
}

// maxUnknownNames bounds the unknown field names warned about one by one
// (a hostile producer could send a new name with every entry).
const maxUnknownNames = 64

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
	p := &Pipeline{
		cfg:       cfg,
		deps:      deps,
		validator: pomocore.NewValidator(cfg.Limits, cfg.Location, deps.Now),
		log:       deps.Logger,
		stats:     Stats{deadByKind: map[string]int64{}},

		unknownSeen: map[string]bool{},
		inFlight:    map[*preparedBatch]struct{}{},
		soloFails:   map[string]uint64{},
	}
	p.stats.batchSize.Store(int64(cfg.BatchSize))
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
			msgs, cursor, err = p.deps.Reader.Claim(work, p.cfg.ClaimIdle, cursor, p.size())
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
			msgs, err = p.deps.Reader.Read(work, p.size(), p.cfg.Block)
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

// ConsumerJanitor is implemented by Readers that can remove consumers that
// left the group (dead processes under one-off names) once they are idle and
// own nothing. Called from the pipeline's goroutine only.
type ConsumerJanitor interface {
	RemoveIdleConsumers(ctx context.Context, idle time.Duration) (int, error)
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

// StreamTrimmer is implemented by Readers that can delete input entries
// every consumer group has consumed. Called from the pipeline's goroutine.
type StreamTrimmer interface {
	TrimConsumed(ctx context.Context) (int64, error)
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
		msgs, err := p.deps.Reader.Pending(work, after, p.size())
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

// preparedBatch is a prepared batch: the records to store and the commit entries,
// one per message, in message order.
type preparedBatch struct {
	Records []Record
	Entries []CommitEntry
	report  BatchReport
	dead    int
	deleted int
	msgs    []Message
	start   time.Time
	// recEntry is, for each record, the index of its message and commit
	// entry; pending marks the entries left pending (not committed)
	// because they failed on their own under the delivery limit.
	recEntry []int
	pending  map[int]bool
}

// prepareBatch validates and classifies msgs into the records to store and
// the commit entries, without any I/O.
func (p *Pipeline) prepareBatch(msgs []Message) *preparedBatch {
	rs := p.rules.Load()
	b := &preparedBatch{
		Records: make([]Record, 0, len(msgs)),
		Entries: make([]CommitEntry, 0, len(msgs)),
		report:  BatchReport{Size: len(msgs), DeadByKind: map[string]int{}, BySource: map[pomocore.Source]int{}, ByCategory: map[string]int{}},
	}
	for i := range msgs {
		m := &msgs[i]
		if m.Deleted {
			// Trimmed away while pending: nothing to process; acknowledge.
			b.Entries = append(b.Entries, CommitEntry{ID: m.ID})
			b.deleted++
			continue
		}
		if p.noteUnknownFields(m) {
			b.report.UnknownFields++
		}
		rec, entry, err := p.safePrepare(m, rs)
		var panicked *panicError
		if errors.As(err, &panicked) {
			if !p.failedAlone(b, m, len(b.Entries), err) {
				b.Entries = append(b.Entries, CommitEntry{ID: m.ID}) // left pending
				continue
			}
			err = p.poison(m, err)
		}
		if err != nil {
			var inv *pomocore.InvalidError
			kind := "invalid"
			if errors.As(err, &inv) {
				kind = inv.Kind
			}
			b.Entries = append(b.Entries, p.rejected(m, kind, err))
			b.dead++
			b.report.DeadByKind[kind]++
			continue
		}
		b.report.BySource[rec.Classification.Source]++
		b.report.ByCategory[rec.Classification.Category]++
		if !decided(rec.Classification.Source) {
			b.report.Unknowns = append(b.report.Unknowns, Unknown{App: rec.Activity.App, URL: rec.Activity.URL,
				Classification: rec.Classification, Seconds: rec.Activity.Duration})
		}
		b.recEntry = append(b.recEntry, len(b.Entries))
		b.Records = append(b.Records, rec)
		b.Entries = append(b.Entries, entry)
	}
	return b
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

// begin counts msgs as read and prepares them.
func (p *Pipeline) begin(msgs []Message) *preparedBatch {
	start := p.deps.Now()
	p.stats.read.Add(int64(len(msgs)))
	b := p.prepareBatch(msgs)
	b.msgs, b.start = msgs, start
	p.inFlightMu.Lock()
	p.inFlight[b] = struct{}{}
	p.inFlightMu.Unlock()
	return b
}

// done forgets b as in flight.
func (p *Pipeline) done(b *preparedBatch) {
	p.inFlightMu.Lock()
	delete(p.inFlight, b)
	p.inFlightMu.Unlock()
}

// Toucher is implemented by Readers that can reset the idle time of
// entries pending for this consumer without counting a delivery (Redis:
// XCLAIM <stream> <group> <consumer> 0 <id>... JUSTID), so that entries of
// a batch that is slow to store or commit are not reclaimed as abandoned.
// Touch may be called from its own goroutine, concurrently with the
// Reader's other methods. Ids no longer pending are left alone; an id
// another consumer reclaimed meanwhile may move back to this one (XCLAIM
// takes it), which is safe: the committer applies each entry's effects
// once, whoever commits it.
type Toucher interface {
	Touch(ctx context.Context, ids []string) error
}

// touchChunk bounds the ids of one Touch call.
const touchChunk = 1000

// keepFresh touches, every ClaimIdle/3, the entries of the batches in
// flight for longer than that, when the Reader is a Toucher; the returned
// function stops it and waits.
func (p *Pipeline) keepFresh(ctx context.Context) (stop func()) {
	t, ok := p.deps.Reader.(Toucher)
	if !ok {
		return func() {}
	}
	every := max(p.cfg.ClaimIdle/3, time.Millisecond)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		failing := false
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			var ids []string
			before := p.deps.Now().Add(-every)
			p.inFlightMu.Lock()
			for b := range p.inFlight {
				if !b.start.After(before) {
					for i := range b.msgs {
						if !b.msgs[i].Deleted { // nothing left to reclaim
							ids = append(ids, b.msgs[i].ID)
						}
					}
				}
			}
			p.inFlightMu.Unlock()
			var err error
			for chunk := range slices.Chunk(ids, touchChunk) {
				if err = t.Touch(ctx, chunk); err != nil {
					break
				}
			}
			switch {
			case err != nil && ctx.Err() == nil && !failing:
				p.log.Warn("touching the entries in flight failed; a slow batch may be reclaimed", "err", err)
			case err == nil && len(ids) > 0:
				p.log.Debug("touched the entries of slow batches in flight", "entries", len(ids))
			}
			failing = err != nil
		}
	}()
	return func() { cancel(); <-done }
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
		n := min(p.size(), len(recs)-i)
		if isolate {
			n = 1
		}
		callStart := p.deps.Now()
		err := p.deps.Store.Save(ctx, recs[i:i+n])
		took := p.deps.Now().Sub(callStart)
		p.adapt(took, n, err)
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

// StorePinger is implemented by stores that can say whether they answer at
// all (the health probe that tells a store outage from an entry the store
// refuses). Safe for concurrent use.
type StorePinger interface {
	Ping(ctx context.Context) error
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

// size returns the adaptive batch size.
func (p *Pipeline) size() int { return int(p.stats.batchSize.Load()) }

// adapt adjusts the batch size after a store call of n records that took
// took and returned err (see Config.SlowStore). Called from one goroutine
// at a time (the store stage, or process).
//
// Halving helps only when a call costs per record. When a slow call that
// succeeded at half the size of the one before took nearly as long (3/4 of
// it or more), its cost is per call (a collection scan, a slow round trip):
// the size goes back to what it was and slow successful calls no longer
// halve it (smaller calls would only make more of them) until a call times
// out. Timeouts always halve: a call that did not finish says nothing of
// how long it would have taken.
func (p *Pipeline) adapt(took time.Duration, n int, err error) {
	if p.cfg.SlowStore < 0 {
		return
	}
	p.adaptMu.Lock()
	defer p.adaptMu.Unlock()
	cur := p.size()
	next := cur
	switch {
	case isTimeout(err):
		next = max(1, min(cur, n)/2)
		p.perCall, p.shrunkFrom = false, 0
	case err == nil && took > p.cfg.SlowStore:
		if p.perCall {
			break
		}
		if p.shrunkFrom > 0 && n*2 <= p.shrunkFrom && took*4 >= p.shrunkTook*3 {
			next, p.perCall, p.shrunkFrom = max(cur, p.shrunkFrom), true, 0
			p.log.Info("store slow per call, not per record: batch size restored and held", "batch_size", next,
				"took", took, "records", n, "before", p.shrunkTook, "slow_store", p.cfg.SlowStore)
			break
		}
		next = max(1, min(cur, n)/2)
		p.shrunkFrom, p.shrunkTook = min(cur, n), took
	case err == nil && took < p.cfg.SlowStore/2:
		next = min(p.cfg.BatchSize, cur+max(1, p.cfg.BatchSize/32))
		p.shrunkFrom = 0
	}
	if next == cur {
		return
	}
	p.stats.batchSize.Store(int64(next))
	if next < cur {
		p.log.Info("store slow: batch size halved", "batch_size", next, "took", took, "records", n, "slow_store", p.cfg.SlowStore, "err", err)
	} else {
		p.log.Debug("store fast: batch size grown", "batch_size", next, "took", took)
	}
}

// commit commits b's entries (after its records are stored), retrying until
// it succeeds or ctx ends, and reports the batch.
func (p *Pipeline) commit(ctx context.Context, b *preparedBatch) error {
	commitStart := p.deps.Now()
	var res CommitResult
	entries := b.Entries
	if len(b.pending) > 0 {
		// Entries that failed on their own under the delivery limit stay
		// pending.
		entries = make([]CommitEntry, 0, len(b.Entries)-len(b.pending))
		for i, e := range b.Entries {
			if !b.pending[i] {
				entries = append(entries, e)
			}
		}
	}
	if err := p.retry(ctx, "commit", &p.stats.commitErrors, func() error {
		var err error
		var part CommitResult
		part, err = p.deps.Committer.Commit(ctx, entries)
		res = addResults(res, part)
		for round := 0; round < 2; round++ {
			// Entries blocked by a wrong-type key: commit them again as
			// dead letters (round 0); dead letters blocked by a wrong-type
			// dead-letter stream stay pending (see blocked).
			again, handled := p.blocked(b, entries, err)
			if !handled {
				break
			}
			entries, err = again, nil
			if len(entries) == 0 {
				break
			}
			part, err = p.deps.Committer.Commit(ctx, entries)
			res = addResults(res, part)
		}
		if errors.Is(err, ErrGroupMissing) {
			// The group vanished with the entries' pending state; whatever of
			// this batch is still in the stream is delivered again once the
			// reader recreates the group, so drop the batch here.
			p.log.Warn("consumer group missing at commit; batch will be redelivered", "entries", len(b.Entries))
			return nil
		}
		return err
	}); err != nil {
		return err
	}
	p.done(b)
	end := p.deps.Now()
	report := b.report
	report.Commit, report.Took = end.Sub(commitStart), end.Sub(b.start)
	report.Applied, report.Skipped, report.Deleted, report.Duplicates = res.Applied, res.Skipped, b.deleted, res.Duplicates
	report.BatchSize, report.LeftPending = p.size(), len(b.pending)
	p.stats.leftPending.Add(int64(len(b.pending)))
	report.Ages = make([]time.Duration, 0, len(b.msgs))
	for i := range b.msgs {
		if ms, _, err := pomocore.ParseEntryID(b.msgs[i].ID); err == nil {
			report.Ages = append(report.Ages, end.Sub(time.UnixMilli(int64(ms))))
		}
	}
	p.deps.Observer.BatchDone(report)
	p.stats.batches.Add(1)
	p.stats.committed.Add(int64(res.Applied))
	p.stats.skipped.Add(int64(res.Skipped))
	p.stats.dead.Add(int64(b.dead))
	p.stats.deleted.Add(int64(b.deleted))
	p.stats.duplicates.Add(int64(res.Duplicates))
	p.stats.unknownFields.Add(int64(report.UnknownFields))
	if res.Duplicates > 0 {
		p.log.Info("entries naming an activity committed already (a producer retry) were acknowledged without effects", "duplicates", res.Duplicates)
	}
	p.log.Debug("batch committed", "entries", len(b.msgs), "stored", len(b.Records), "applied", res.Applied,
		"skipped", res.Skipped, "dead", b.dead, "deleted", b.deleted, "took", report.Took)
	if res.Skipped > 0 {
		p.log.Info("entries already committed by another consumer were skipped", "skipped", res.Skipped)
	}
	return nil
}

// blockedEntries is implemented by a commit error that names entries the
// committer left out because a key they touch holds the wrong type (a
// string at a leaderboard key): every other entry was committed.
type blockedEntries interface {
	BlockedEntries() map[string]string
}

// blocked turns the entries err names as blocked into dead letters of kind
// "wrong_type_key" and returns them to be committed again, so that one bad
// key stops only its own entries; entries that were dead letters already
// (their dead-letter stream is the wrong-typed key) are left pending
// instead, counted in LeftPending, and logged. handled is false when err
// names no blocked entries.
func (p *Pipeline) blocked(b *preparedBatch, entries []CommitEntry, err error) (again []CommitEntry, handled bool) {
	var be blockedEntries
	if err == nil || !errors.As(err, &be) {
		return nil, false
	}
	why := be.BlockedEntries()
	stuck := 0
	for _, e := range entries {
		reason, ok := why[e.ID]
		if !ok {
			continue
		}
		if e.Dead != nil && e.Increment == nil && e.SessionEnd == nil {
			stuck++
			continue
		}
		for i := range b.msgs {
			if b.msgs[i].ID == e.ID {
				dl := p.deadLetter(&b.msgs[i], "wrong_type_key", errors.New("wrong_type_key: "+reason))
				again = append(again, CommitEntry{ID: e.ID, Dead: dl})
				b.report.DeadByKind["wrong_type_key"]++
				break
			}
		}
	}
	p.stats.dead.Add(int64(len(again)))
	p.stats.leftPending.Add(int64(stuck))
	p.log.Error("a key holds the wrong type: its entries are dead-lettered (or, when the dead-letter stream is that key, left pending until it is fixed); the others were committed",
		"err", err, "dead_lettered", len(again), "left_pending", stuck)
	return again, true
}

// addResults adds two commit results.
func addResults(a, b CommitResult) CommitResult {
	return CommitResult{Applied: a.Applied + b.Applied, Skipped: a.Skipped + b.Skipped, Duplicates: a.Duplicates + b.Duplicates}
}

// stages runs the store and the commit of successive batches overlapped:
// while batch k is committed, batch k+1 is stored and batch k+2 read and
// prepared. Batches are stored and committed in the order submitted, and a
// batch is committed only after its records are stored.
//
// acquire bounds the batches in flight, from read to committed, to three:
// the committer then always finds the next batch stored when it finishes
// one. With two, the next batch was read only as the one before it went to
// commit, and on a single Redis that read waited behind the commit's
// script, so the committer sat idle while that batch was prepared and
// stored (steady mode at 25,000 events/s on 2 cores: p99 event age 41-139
// ms over 8 runs with two; 21-45 ms in 10 of 11 runs with three; four did
// no better).
type stages struct {
	toStore, toCommit chan *preparedBatch
	failed            chan struct{}
	err               error
	once              sync.Once
	done              sync.WaitGroup

	mu       sync.Mutex
	inFlight int
	freed    chan struct{} // a slot was released (capacity 1: one acquirer)
}

// maxInFlight is how many batches may be in flight, from read to
// committed.
const maxInFlight = 3

// acquire takes a slot for the next read, waiting while maxInFlight
// batches are in flight. Only the read loop calls it.
func (s *stages) acquire(ctx context.Context) error {
	for {
		s.mu.Lock()
		if s.inFlight < maxInFlight {
			s.inFlight++
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()
		select {
		case <-s.freed:
		case <-s.failed:
			return s.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// release gives back a slot: a read brought nothing, or a batch is
// committed.
func (s *stages) release() {
	s.mu.Lock()
	s.inFlight--
	s.mu.Unlock()
	select {
	case s.freed <- struct{}{}:
	default:
	}
}

func (p *Pipeline) startStages(ctx context.Context) *stages {
	s := &stages{toStore: make(chan *preparedBatch, 1), toCommit: make(chan *preparedBatch, 1), failed: make(chan struct{}), freed: make(chan struct{}, 1)}
	fail := func(err error) {
		s.once.Do(func() { s.err = err; close(s.failed) })
	}
	s.done.Add(2)
	go func() {
		defer s.done.Done()
		defer close(s.toCommit)
		for b := range s.toStore {
			if err := p.store(ctx, b); err != nil {
				fail(err)
				return
			}
			select {
			case s.toCommit <- b:
			case <-s.failed:
				return
			}
		}
	}()
	go func() {
		defer s.done.Done()
		for b := range s.toCommit {
			if err := p.commit(ctx, b); err != nil {
				fail(err)
				return
			}
			s.release()
		}
	}()
	return s
}

// submit hands b to the store stage; it fails when a stage has failed.
func (s *stages) submit(b *preparedBatch) error {
	select {
	case s.toStore <- b:
		return nil
	case <-s.failed:
		return s.err
	}
}

// finish lets the batches in hand be stored and committed and returns the
// first stage error.
func (s *stages) finish() error {
	close(s.toStore)
	s.done.Wait()
	select {
	case <-s.failed:
		return s.err
	default:
		return nil
	}
}

// prepare validates and classifies one message into its record and its
// commit entry.
func (p *Pipeline) prepare(m *Message, rs *rules) (Record, CommitEntry, error) {
	a, err := p.validator.Parse(m.ID, m.Fields)
	if err != nil {
		return Record{}, CommitEntry{}, err
	}
	ulid := a.UsageLogID
	if ulid.IsZero() {
		if ulid, err = pomocore.ObjectIDFromEntryID(m.ID, p.cfg.Partition); err != nil {
			return Record{}, CommitEntry{}, &pomocore.InvalidError{Kind: "bad_entry_id", Detail: err.Error()}
		}
	}
	cls := rs.classifier.Classify(a.App, a.URL, a.Title)
	_, hasID := rs.ids[cls.Category]
	if !p.deps.Taxonomy.Has(cls.Category) || (len(rs.ids) > 0 && !hasID) {
		// Not a category, or one category_pattern lacks: the main server
		// could not name it, so it is recorded as the default.
		cls = pomocore.Classification{Category: p.deps.Taxonomy.Default, Source: pomocore.SourceDefault}
	}
	rec := Record{Activity: a, Classification: cls, CategoryID: rs.ids[cls.Category], UsageLogID: ulid}
	entry := CommitEntry{ID: m.ID}
	if !a.UsageLogID.IsZero() {
		entry.DedupKey = a.UsageLogID.Hex()
	}
	if a.Duration > 0 {
		entry.Increment = &Increment{Keys: p.keys(cls.Category, a.Time()), Member: a.UserID, Delta: a.Duration}
		if p.cfg.Retention != (Retention{}) {
			ttl := [3]time.Duration{p.cfg.Retention.Day, p.cfg.Retention.Week, p.cfg.Retention.Month}
			for i := range entry.Increment.Keys {
				entry.Increment.TTLs = append(entry.Increment.TTLs, ttl[i%3])
			}
		}
	}
	if a.IsEnd {
		entry.SessionEnd = &SessionEnd{UserID: a.UserID, SessionDate: a.SessionDate, Session: a.Session}
	}
	return rec, entry, nil
}

// panicError is a panic of the validator or the classifier on one entry.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string {
	return fmt.Sprintf("validating or classifying panicked: %v", e.value)
}

// safePrepare is prepare, with a panic turned into a *panicError: an entry
// that panics the validator or the classifier fails on its own.
func (p *Pipeline) safePrepare(m *Message, rs *rules) (rec Record, entry CommitEntry, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v, stack: debug.Stack()}
		}
	}()
	return p.prepare(m, rs)
}

// failedAlone handles an entry (message and commit entry index i of b)
// that failed on its own: over the delivery limit it is poison and the
// caller dead-letters it (true); under it, it is left pending, to be
// redelivered after ClaimIdle with one delivery more (false). Either way
// it is logged at error level.
func (p *Pipeline) failedAlone(b *preparedBatch, m *Message, i int, err error) bool {
	if m.Deliveries > p.cfg.MaxDeliveries {
		p.log.Error("poison entry: it fails on its own and was delivered more than the limit; dead-lettered as too_many_deliveries",
			"entry", m.ID, "deliveries", m.Deliveries, "limit", p.cfg.MaxDeliveries, "err", err, "stack", stackOf(err))
		return true
	}
	p.log.Error("entry fails on its own; left pending, redelivered after the claim idle time (dead-lettered once over the delivery limit)",
		"entry", m.ID, "deliveries", m.Deliveries, "limit", p.cfg.MaxDeliveries, "err", err, "stack", stackOf(err))
	if b.pending == nil {
		b.pending = map[int]bool{}
	}
	b.pending[i] = true
	return false
}

// poison is the dead-letter reason of a poison entry.
func (p *Pipeline) poison(m *Message, err error) error {
	return &pomocore.InvalidError{Kind: "too_many_deliveries",
		Detail: fmt.Sprintf("delivered %d times, more than the limit of %d, and fails on its own: %v", m.Deliveries, p.cfg.MaxDeliveries, err)}
}

func stackOf(err error) string {
	var pe *panicError
	if errors.As(err, &pe) {
		return string(pe.stack)
	}
	return ""
}

// keys returns the leaderboard keys an activity of category at t increments:
// the category's daily, weekly and monthly keys, and the work aggregate's
// when the category counts as work, in that order (day, week, month).
func (p *Pipeline) keys(category string, t time.Time) []string {
	per := pomocore.PeriodsAt(t, p.cfg.Location).All()
	n := 3
	work := p.deps.Taxonomy.IsWork(category)
	if work {
		n = 6
	}
	keys := make([]string, 0, n)
	for _, period := range per {
		keys = append(keys, pomocore.LeaderboardKey(p.cfg.KeyPrefix, category, period))
	}
	if work {
		for _, period := range per {
			keys = append(keys, pomocore.LeaderboardKey(p.cfg.KeyPrefix, p.deps.Taxonomy.WorkAggregate, period))
		}
	}
	return keys
}

// rejected returns the commit entry of a message that failed validation: a
// dead letter, and, when the entry ended a session whose user, session and
// date are valid, that session's end (its duration counts nowhere; the
// main server scores the session from the usage logs it has).
func (p *Pipeline) rejected(m *Message, kind string, reason error) CommitEntry {
	e := CommitEntry{ID: m.ID, Dead: p.deadLetter(m, kind, reason)}
	r := p.validator.Remains(m.Fields)
	if !r.UsageLogID.IsZero() {
		e.DedupKey = r.UsageLogID.Hex()
	}
	if r.EndsSession {
		e.SessionEnd = &SessionEnd{UserID: r.UserID, SessionDate: r.SessionDate, Session: r.Session}
	}
	return e
}

// noteUnknownFields reports whether m has fields the CONTRACT does not
// name, and warns once per such field name.
func (p *Pipeline) noteUnknownFields(m *Message) bool {
	found := false
	for i := 0; i+1 < len(m.Fields); i += 2 {
		name := m.Fields[i]
		if pomocore.IsField(name) {
			continue
		}
		found = true
		p.unknownMu.Lock()
		warn := !p.unknownSeen[name] && len(p.unknownSeen) < maxUnknownNames
		if warn {
			p.unknownSeen[name] = true
		}
		p.unknownMu.Unlock()
		if warn {
			p.log.Warn("input entries carry a field the contract does not name; accepted and ignored (warned once per name)",
				"field", pomocore.SanitizeText(name, 64), "entry", m.ID, "rejected", p.cfg.Limits.RejectUnknownFields)
		}
	}
	return found
}

func (p *Pipeline) deadLetter(m *Message, kind string, reason error) *DeadLetter {
	p.stats.mu.Lock()
	p.stats.deadByKind[kind]++
	p.stats.mu.Unlock()
	fields := m.Fields
	if max := 2 * p.cfg.DeadFieldsMax; len(fields) > max {
		fields = fields[:max]
	}
	return &DeadLetter{Reason: reason.Error(), Kind: kind, Fields: fields}
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
