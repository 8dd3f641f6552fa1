package pipeline

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/pomocore/pomocore"
)

// commit commits b's entries (after its records are stored), retrying until
// it succeeds or ctx ends, and reports the batch.
func (p *Pipeline) commit(ctx context.Context, b *preparedBatch) error {
	commitStart := p.deps.Now()
	var res CommitResult
	entries := b.Entries
	if len(b.pending)+len(b.held) > 0 {
		// Entries that failed on their own under the delivery limit stay
		// pending, and so do those held to wait for their answer.
		entries = make([]CommitEntry, 0, len(b.Entries))
		for i, e := range b.Entries {
			if !b.pending[i] && !b.held[i] {
				entries = append(entries, e)
			}
		}
	}
	if err := p.retry(ctx, "commit", &p.stats.commitErrors, func() error {
		for {
			part, err := p.deps.Committer.Commit(ctx, entries)
			res = addResults(res, part)
			if errors.Is(err, ErrGroupMissing) {
				// The group vanished with the entries' pending state; whatever of
				// this batch is still in the stream is delivered again once the
				// reader recreates the group, so drop the batch here.
				p.log.Warn("consumer group missing at commit; batch will be redelivered", "entries", len(b.Entries))
				return nil
			}
			if err != nil || len(part.Blocked) == 0 {
				return err
			}
			// Entries blocked by a wrong-type key are committed again as
			// dead letters; dead letters blocked (by a wrong-type
			// dead-letter stream) stay pending. The second round blocks
			// dead letters only, so this ends.
			if entries = p.blocked(b, entries, part.Blocked); len(entries) == 0 {
				return nil
			}
		}
	}); err != nil {
		return err
	}
	p.done(b)
	end := p.deps.Now()
	report := b.report
	report.Commit, report.Took = end.Sub(commitStart), end.Sub(b.start)
	report.Applied, report.Skipped, report.Deleted, report.Duplicates = res.Applied, res.Skipped, b.deleted, res.Duplicates
	report.BatchSize, report.LeftPending = p.sizer.size(), len(b.pending)
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

// blocked turns the entries the committer reported blocked (why, by
// entry id) into dead letters of kind "wrong_type_key" and returns them to
// be committed again, so that one bad key stops only its own entries;
// entries that were dead letters already (their dead-letter stream is the
// wrong-typed key) are left pending instead, counted in LeftPending, and
// logged.
func (p *Pipeline) blocked(b *preparedBatch, entries []CommitEntry, why map[string]string) (again []CommitEntry) {
	stuck := 0
	var reasons []string
	for _, e := range entries {
		reason, ok := why[e.ID]
		if !ok {
			continue
		}
		if !slices.Contains(reasons, reason) {
			reasons = append(reasons, reason)
		}
		if e.Dead != nil && e.Increment == nil && e.SessionEnd == nil {
			stuck++
			p.stuck.add(e, p.fresh, p.deps.Now())
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
	slices.Sort(reasons)
	p.log.Error("a key holds the wrong type: its entries are dead-lettered (or, when the dead-letter stream is that key, left pending and committed again every "+
		p.cfg.retryMax.String()+" until it is fixed); the others were committed",
		"blocked", reasons, "dead_lettered", len(again), "left_pending", stuck)
	return again
}

// maxStuck bounds the blocked dead letters held for retry; more are left
// pending unheld, for a consumer to reclaim after ClaimIdle.
const maxStuck = 10000

// stuckLetters holds the dead letters that a wrong-typed dead-letter
// stream blocked: pending, kept fresh (so that no consumer reclaims them
// meanwhile), and committed again by the read loop every
// Config.retryMax (retryStuck), so that each is dead-lettered within
// retryMax plus one read (Config.Block) of the key being fixed, instead
// of a ClaimIdle and a reclaim scan later. Safe for concurrent use.
type stuckLetters struct {
	mu      sync.Mutex
	entries []stuckLetter
	next    time.Time // of the next retry
}

// stuckLetter is a held dead letter and its freshness hold.
type stuckLetter struct {
	entry   CommitEntry
	release func()
}

// add holds e, unless maxStuck are held.
func (s *stuckLetters) add(e CommitEntry, fresh *freshness, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries) >= maxStuck {
		return
	}
	if len(s.entries) == 0 {
		s.next = time.Time{} // set by the next retryStuck
	}
	s.entries = append(s.entries, stuckLetter{entry: e, release: fresh.hold(now, []string{e.ID})})
}

// due takes the held letters when a retry is due at now, setting the next
// one every later; nil otherwise.
func (s *stuckLetters) due(now time.Time, every time.Duration) []stuckLetter {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries) == 0 {
		return nil
	}
	if s.next.IsZero() {
		s.next = now.Add(every)
	}
	if now.Before(s.next) {
		return nil
	}
	s.next = now.Add(every)
	out := s.entries
	s.entries = nil
	return out
}

// putBack holds again letters taken by due that are still blocked.
func (s *stuckLetters) putBack(letters []stuckLetter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = append(letters, s.entries...)
}

// drop lets go of every held letter (shutdown: they stay pending).
func (s *stuckLetters) drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.entries {
		l.release()
	}
	s.entries = nil
}

// retryStuck commits again, when a retry is due, the dead letters a
// wrong-typed dead-letter stream blocked, Config.BatchSize at a time;
// those still blocked (or whose commit failed) are held for the next
// retry.
func (p *Pipeline) retryStuck(ctx context.Context) {
	letters := p.stuck.due(p.deps.Now(), p.cfg.retryMax)
	if len(letters) == 0 {
		return
	}
	var kept []stuckLetter
	var res CommitResult
	var failed error
	for chunk := range slices.Chunk(letters, p.cfg.BatchSize) {
		if failed != nil {
			kept = append(kept, chunk...)
			continue
		}
		entries := make([]CommitEntry, len(chunk))
		for i, l := range chunk {
			entries[i] = l.entry
		}
		part, err := p.deps.Committer.Commit(ctx, entries)
		if err != nil {
			failed = err
			kept = append(kept, chunk...)
			continue
		}
		res = addResults(res, part)
		for _, l := range chunk {
			if _, blocked := part.Blocked[l.entry.ID]; blocked {
				kept = append(kept, l)
			} else {
				l.release()
			}
		}
	}
	p.stuck.putBack(kept)
	p.stats.committed.Add(int64(res.Applied))
	p.stats.skipped.Add(int64(res.Skipped))
	if done := len(letters) - len(kept); done > 0 {
		p.log.Info("dead letters blocked by a wrong-type key went through", "dead_lettered", done, "still_blocked", len(kept))
	}
	if failed != nil && ctx.Err() == nil {
		p.log.Warn("committing blocked dead letters again failed; retrying", "err", failed, "in", p.cfg.retryMax)
	}
}

// addResults adds two commit results.
func addResults(a, b CommitResult) CommitResult {
	return CommitResult{Applied: a.Applied + b.Applied, Skipped: a.Skipped + b.Skipped, Duplicates: a.Duplicates + b.Duplicates}
}
