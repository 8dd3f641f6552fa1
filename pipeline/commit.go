package pipeline

import (
	"context"
	"errors"
	"slices"
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
	p.log.Error("a key holds the wrong type: its entries are dead-lettered (or, when the dead-letter stream is that key, left pending until it is fixed); the others were committed",
		"blocked", reasons, "dead_lettered", len(again), "left_pending", stuck)
	return again
}

// addResults adds two commit results.
func addResults(a, b CommitResult) CommitResult {
	return CommitResult{Applied: a.Applied + b.Applied, Skipped: a.Skipped + b.Skipped, Duplicates: a.Duplicates + b.Duplicates}
}
