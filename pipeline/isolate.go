package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pomocore/pomocore/internal/backoff"
)

// The poison rules' thresholds: isolateAfter is how many failures in a
// row, each while the store answered its probe, make a store call of
// several records be retried a record at a time (1 when the call holds a
// suspect); poisonTries is how many such failures of a record saved alone
// set it aside; maxSoloFails bounds the entries remembered as refused
// alone without evidence.
const (
	isolateAfter = 3
	poisonTries  = 3
	maxSoloFails = 10000
)

// verdict is what saving one record came to.
type verdict int

const (
	// stored: the record was saved.
	stored verdict = iota
	// unjudged: the store refused the record saved alone, but stored
	// nothing else meanwhile (it may refuse every write: a full disk);
	// its entry is left pending, not judged.
	unjudged
	// failsAlone: the store refused the record saved alone while it
	// stored others; its entry fails on its own.
	failsAlone
)

// outcome is one record's verdict, with the store's last error when it
// was refused.
type outcome struct {
	verdict verdict
	err     error
}

// subject is who a record is, for the poison rules.
type subject struct {
	// id is the entry's id: a record refused alone without evidence is
	// remembered by it until it comes back.
	id string
	// suspect is set for an entry delivered more than Config.MaxDeliveries
	// times: a failing call that holds one is isolated at once.
	suspect bool
}

// isolatingStore is the Store as the pipeline uses it: it saves records in
// calls of the adaptive batch size (telling the sizer how long each took),
// retries failures with backoff, and isolates the records the store
// refuses on their own, returning a verdict per record. The rules
// (TestPoisonRules is their specification):
//   - a call that fails while the store answers its health probe
//     (StorePinger) with an error that is not a timeout nor
//     ErrStoreCannotWrite is a healthy failure; anything else (an outage, a
//     timeout, a full disk, a store that cannot be probed) is retried,
//     with backoff, as long as it lasts and never judges a record;
//   - a call of several records that failed isolateAfter times in a row
//     healthily (once, when it holds a suspect) is retried a record at a
//     time, for the rest of the save;
//   - a record that failed poisonTries times in a row healthily saved alone
//     is set aside, and the save goes on with the others;
//   - a record set aside fails on its own (failsAlone) when the store
//     stored other records meanwhile: during this save, or, for one
//     remembered from an earlier save, since then; otherwise it is
//     unjudged, and remembered;
//   - a call that timed out is retried no sooner than it ran: the server
//     may still be running it.
//
// Called from one goroutine at a time (the store stage, or process).
type isolatingStore struct {
	store  Store
	sizer  *batchSizer
	retry  backoff.Policy
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
	log    *slog.Logger
	failed func(err error) // told of every failed call

	// saves counts successful calls; soloFails remembers the entries
	// refused alone without evidence, with saves then.
	saves     atomic.Uint64
	mu        sync.Mutex
	soloFails map[string]uint64
}

// save saves recs (who[i] is recs[i]'s entry) and returns the verdict of
// each. It fails only when ctx ends first; nothing may then be assumed of
// the records.
func (s *isolatingStore) save(ctx context.Context, recs []Record, who []subject) ([]outcome, error) {
	out := make([]outcome, len(recs))
	aside := false // some records were set aside
	startSaves := s.saves.Load()
	failures, healthy := 0, 0
	isolate := false
	for i := 0; i < len(recs); {
		n := min(s.sizer.size(), len(recs)-i)
		if isolate {
			n = 1
		}
		callStart := s.now()
		err := s.call(ctx, recs[i:i+n])
		took := s.now().Sub(callStart)
		s.sizer.observe(took, n, err)
		if err == nil {
			s.saves.Add(1)
			if failures > 0 {
				s.log.Info("store recovered", "attempts", failures+1)
			}
			i += n
			failures, healthy = 0, 0
			continue
		}
		failures++
		s.failed(err)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("store: %w (gave up: %w)", err, ctx.Err())
		}
		if s.answers(ctx, err) {
			healthy++
		} else {
			healthy = 0
		}
		switch {
		case n == 1 && healthy >= poisonTries:
			// Set aside; judged once the others were tried.
			out[i], aside = outcome{verdict: failsAlone, err: err}, true
			i++
			failures, healthy = 0, 0
			continue
		case n > 1 && !isolate && (healthy >= isolateAfter || healthy > 0 && anySuspect(who[i:i+n])):
			s.log.Warn("store call keeps failing while the store answers; saving the batch a record at a time to find the entries that fail on their own",
				"records", n, "err", err)
			isolate, healthy = true, 0
		}
		d := s.retry.Wait(failures)
		if isTimeout(err) && took > d {
			// The server may still be running the call the client gave
			// up on (FerretDB 1.24 may run one well past its maxTimeMS):
			// a retry at once would stack a second one beside it, and
			// under load every call then times out. Wait as long as it
			// ran.
			d = took
		}
		s.log.Warn("store failed; entries stay pending, retrying", "err", err, "attempt", failures, "backoff", d, "records", n)
		if err := s.sleep(ctx, d); err != nil {
			return nil, fmt.Errorf("store: gave up: %w", err)
		}
	}
	if aside {
		s.judge(out, who, startSaves)
	}
	return out, nil
}

// call makes one store call and returns when it does or when ctx ends,
// whichever comes first: a store that ignores its context (a driver stuck
// on a connection, a server that never answers) cannot hold a shutdown
// past ShutdownTimeout. An abandoned call goes on in the background and
// its records count as unstored: nothing of them is acknowledged.
func (s *isolatingStore) call(ctx context.Context, recs []Record) error {
	done := make(chan error, 1)
	go func() { done <- s.store.Save(ctx, recs) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		select {
		case err := <-done:
			return err
		default:
		}
		return fmt.Errorf("store call abandoned: %w", ctx.Err())
	}
}

// judge decides the records set aside (failsAlone in out): each keeps
// failsAlone when the store stored other records meanwhile (during this
// save, which began at startSaves, or since the record was remembered),
// and becomes unjudged, remembered, otherwise.
func (s *isolatingStore) judge(out []outcome, who []subject, startSaves uint64) {
	saves := s.saves.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range out {
		if out[i].verdict != failsAlone {
			continue
		}
		id := who[i].id
		since, remembered := s.soloFails[id]
		if saves > startSaves || (remembered && saves > since) {
			delete(s.soloFails, id)
			continue
		}
		if len(s.soloFails) >= maxSoloFails {
			clear(s.soloFails)
		}
		s.soloFails[id] = saves
		out[i].verdict = unjudged
	}
}

func anySuspect(who []subject) bool {
	for _, w := range who {
		if w.suspect {
			return true
		}
	}
	return false
}

// answers reports whether the store answers its health probe after a
// failed call with err: a failure then is not the store's outage. A
// timeout or ErrStoreCannotWrite never counts as an entry's fault, nor
// does any failure of a store that cannot be probed.
func (s *isolatingStore) answers(ctx context.Context, err error) bool {
	if isTimeout(err) || errors.Is(err, ErrStoreCannotWrite) {
		return false
	}
	pinger, ok := s.store.(StorePinger)
	return ok && pinger.Ping(ctx) == nil
}

// isTimeout reports whether err is a timeout (a context deadline, or an
// I/O deadline).
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &t) && t.Timeout())
}
