package pipeline

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pomocore/pomocore"
)

// Observer is told what the pipeline does, for metrics. Its methods are
// called from the pipeline's goroutine and must not block.
type Observer interface {
	// BatchDone reports a committed batch.
	BatchDone(r BatchReport)
	// CallFailed reports a failed call of the store ("store"), of the
	// commit ("commit") or a failed read of the stream ("read").
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
	// Quarantined counts the rejected entries that were dead letters
	// already (dead.* fields): acknowledged with no effect, never
	// dead-lettered again (see DeadFieldPrefix).
	Quarantined int
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
	// Held counts the entries held to wait for their answer (see
	// Config.DecideWait): not committed with this batch; each comes back in
	// a later batch's WaitOutcomes.
	Held int
	// Overflow counts the activities whose answer was on its way but that
	// counted as the default at once, Config.MaxWaiting being held already.
	Overflow int
	// WaitOutcomes counts, in a batch of entries let go after waiting, how
	// each wait ended: "answered", "failed" (the classifier gave up),
	// "expired" (Config.DecideWait passed; counted as the default) or
	// "session" (a session end that waited for its session's activities).
	WaitOutcomes map[string]int
}

// Unknown is an activity of a batch that no pattern decided.
type Unknown struct {
	App, URL       string
	Classification pomocore.Classification
	// Seconds is the activity's duration.
	Seconds float64
}

// decided reports whether src is a pattern's (the app trie, the domain
// automaton, a title rule or the built-in set).
func decided(src pomocore.Source) bool { return src.Pattern() }

type noObserver struct{}

func (noObserver) BatchDone(BatchReport) {}

func (noObserver) CallFailed(string, error) {}

// Stats counts what a Pipeline did since it started. Read it with Snapshot.
type Stats struct {
	read, committed, skipped, dead, deleted, storeErrors, commitErrors, batches atomic.Int64
	duplicates, unknownFields                                                   atomic.Int64
	// leftPending counts entries that failed on their own under the
	// delivery limit.
	leftPending atomic.Int64
	// sizer holds the adaptive batch size.
	sizer *batchSizer

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
		UnknownFields: s.unknownFields.Load(), DeadByKind: kinds, BatchSize: s.batchSize(),
		LeftPending: s.leftPending.Load(),
	}
}

// batchSize returns the adaptive batch size (0 without a pipeline).
func (s *Stats) batchSize() int64 {
	if s.sizer == nil {
		return 0
	}
	return int64(s.sizer.size())
}
