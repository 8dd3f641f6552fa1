package pipeline

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// touchChunk bounds the ids of one Touch call.
const touchChunk = 1000

// freshness keeps entries read and not yet committed from looking idle, so
// that neither another consumer nor this one reclaims a batch that is only
// slow to store or commit. The pipeline holds the entries of each batch
// from its read until its commit (hold); run touches, every interval, the
// entries held for at least that long. Safe for concurrent use.
type freshness struct {
	mu   sync.Mutex
	held map[*heldEntries]struct{}
}

// heldEntries are the ids one hold keeps fresh, and since when.
type heldEntries struct {
	since time.Time
	ids   []string
}

func newFreshness() *freshness {
	return &freshness{held: map[*heldEntries]struct{}{}}
}

// hold keeps ids fresh, counting from since, until release is called
// (release may be called more than once).
func (f *freshness) hold(since time.Time, ids []string) (release func()) {
	h := &heldEntries{since: since, ids: ids}
	f.mu.Lock()
	f.held[h] = struct{}{}
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		delete(f.held, h)
		f.mu.Unlock()
	}
}

// due returns the ids held since before or earlier.
func (f *freshness) due(before time.Time) []string {
	var ids []string
	f.mu.Lock()
	defer f.mu.Unlock()
	for h := range f.held {
		if !h.since.After(before) {
			ids = append(ids, h.ids...)
		}
	}
	return ids
}

// run touches through t, every interval, the ids held for at least that
// long (on now's clock), in calls of at most touchChunk ids, until ctx
// ends or stop is called; stop waits for it. A failing Touch is logged
// once until one succeeds again.
func (f *freshness) run(ctx context.Context, t Toucher, every time.Duration, now func() time.Time, log *slog.Logger) (stop func()) {
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
			ids := f.due(now().Add(-every))
			var err error
			for chunk := range slices.Chunk(ids, touchChunk) {
				if err = t.Touch(ctx, chunk); err != nil {
					break
				}
			}
			switch {
			case err != nil && ctx.Err() == nil && !failing:
				log.Warn("touching the entries in flight failed; a slow batch may be reclaimed", "err", err)
			case err == nil && len(ids) > 0:
				log.Debug("touched the entries of slow batches in flight", "entries", len(ids))
			}
			failing = err != nil
		}
	}()
	return func() { cancel(); <-done }
}
