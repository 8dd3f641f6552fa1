package pipeline_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/pipeline/storetest"
)

// blockingCommitter commits every entry except those touching a key that
// holds the wrong type, which it reports in CommitResult.Blocked (as the
// Committer port states): entries incrementing badKey, and, with
// deadBlocked, dead letters (the dead-letter stream is the bad key).
type blockingCommitter struct {
	badKey      string
	deadBlocked bool

	mu        sync.Mutex
	committed map[string]pipeline.CommitEntry
}

func (c *blockingCommitter) Commit(_ context.Context, entries []pipeline.CommitEntry) (pipeline.CommitResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var res pipeline.CommitResult
	for _, e := range entries {
		why := ""
		switch {
		case e.Increment != nil && slices.Contains(e.Increment.Keys, c.badKey):
			why = "key " + c.badKey + " holds a string"
		case e.Dead != nil && c.deadBlocked:
			why = "key " + dead + " holds a string"
		}
		if why != "" {
			if res.Blocked == nil {
				res.Blocked = map[string]string{}
			}
			res.Blocked[e.ID] = why
			continue
		}
		c.committed[e.ID] = e
		res.Applied++
	}
	return res, nil
}

// Entries the Committer reports blocked by a wrong-type key are committed
// again as dead letters of kind wrong_type_key (none of their effects);
// dead letters blocked by a wrong-type dead-letter stream are left pending
// (counted in LeftPending); every other entry is committed once.
func TestBlockedEntriesAreDeadLetteredOrLeftPending(t *testing.T) {
	ts := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	const badKey = "leaderboard:Development:2026-11-24"
	msgs := []pipeline.Message{
		{ID: "1764000000000-1", Deliveries: 1, Fields: event("coder", "Xcode", 10, ts, false)},
		{ID: "1764000000000-2", Deliveries: 1, Fields: event("gamer", "Steam", 5, ts, false)},
		{ID: "1764000000000-3", Deliveries: 1, Fields: event("", "Xcode", 10, ts, false)}, // missing user: a dead letter
	}
	coder, gamer, invalid := msgs[0].ID, msgs[1].ID, msgs[2].ID
	for _, c := range []struct {
		name        string
		badKey      string
		deadBlocked bool
		// wantDead maps the committed dead letters to their kind;
		// wantApplied are the committed entries with effects.
		wantDead    map[string]string
		wantApplied []string
		wantPending int
	}{
		{"a leaderboard key", badKey, false,
			map[string]string{coder: "wrong_type_key", invalid: "missing_user"}, []string{gamer}, 0},
		{"the dead-letter stream", "", true,
			map[string]string{}, []string{coder, gamer}, 1},
		{"both", badKey, true,
			map[string]string{}, []string{gamer}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			cm := &blockingCommitter{badKey: c.badKey, deadBlocked: c.deadBlocked, committed: map[string]pipeline.CommitEntry{}}
			obs := &recordingObserver{}
			p, err := pipeline.New(pipeline.Config{Location: seoul}, pipeline.Deps{
				Reader: &countingReader{}, Store: storetest.NewMemory(), Committer: cm,
				Classifier: fixedClassifier{"Xcode": "Development", "Steam": "Game"}, Taxonomy: pomocore.DefaultTaxonomy(),
				Observer: obs,
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Process(context.Background(), msgs); err != nil {
				t.Fatal(err)
			}
			for _, id := range c.wantApplied {
				if e, ok := cm.committed[id]; !ok || e.Dead != nil || e.Increment == nil {
					t.Errorf("entry %s: committed %v as %+v, want with its increment", id, ok, e)
				}
			}
			for id, kind := range c.wantDead {
				if e, ok := cm.committed[id]; !ok || e.Dead == nil || e.Dead.Kind != kind || e.Increment != nil {
					t.Errorf("entry %s: committed %v as %+v, want a dead letter of kind %s and no increment", id, ok, e, kind)
				}
			}
			if n := len(cm.committed); n != len(c.wantApplied)+len(c.wantDead) {
				t.Errorf("%d entries committed, want %d: %v", n, len(c.wantApplied)+len(c.wantDead), cm.committed)
			}
			s := p.Stats().Snapshot()
			if s.LeftPending != int64(c.wantPending) || s.Committed != int64(len(cm.committed)) || s.CommitErrors != 0 {
				t.Errorf("stats %+v, want %d left pending, %d committed, no commit error", s, c.wantPending, len(cm.committed))
			}
			if s.Dead != int64(len(c.wantDead)) && c.wantPending == 0 {
				t.Errorf("stats: %d dead, want %d", s.Dead, len(c.wantDead))
			}
			if len(obs.reports) != 1 || obs.reports[0].DeadByKind["wrong_type_key"] != btoi(c.badKey != "") {
				t.Errorf("reports %+v, want one with %d wrong_type_key", obs.reports, btoi(c.badKey != ""))
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// onceReader delivers msgs at the first read; later reads wait Block and
// bring nothing, and no entry is ever reclaimed (as none is before
// ClaimIdle).
type onceReader struct {
	mu   sync.Mutex
	msgs []pipeline.Message
}

func (r *onceReader) Pending(context.Context, string, int) ([]pipeline.Message, error) {
	return nil, nil
}

func (r *onceReader) Claim(context.Context, time.Duration, string, int) ([]pipeline.Message, string, error) {
	return nil, "0-0", nil
}

func (r *onceReader) Read(ctx context.Context, _ int, block time.Duration) ([]pipeline.Message, error) {
	r.mu.Lock()
	msgs := r.msgs
	r.msgs = nil
	r.mu.Unlock()
	if len(msgs) > 0 {
		return msgs, nil
	}
	select {
	case <-time.After(block):
	case <-ctx.Done():
	}
	return nil, ctx.Err()
}

// Issue 27 item 9: a dead letter blocked by a wrong-typed dead-letter
// stream waited, after the key was fixed, until it was reclaimed (a full
// ClaimIdle, 84 s in the attack). It is now committed again every
// retryMax, so within retryMax plus one read of the fix, with no reclaim.
// Time is synctest's.
func TestBlockedDeadLetterGoesThroughSoonAfterTheKeyIsFixed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ts := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
		invalid := pipeline.Message{ID: "1764000000000-1", Deliveries: 1, Fields: event("", "Xcode", 10, ts, false)}
		cm := &blockingCommitter{deadBlocked: true, committed: map[string]pipeline.CommitEntry{}}
		const block, retryMax = time.Second, 5 * time.Second
		p, err := pipeline.New(pipeline.WithRetry(pipeline.Config{Location: seoul, Block: block, ClaimIdle: time.Minute}, 0, retryMax),
			pipeline.Deps{Reader: &onceReader{msgs: []pipeline.Message{invalid}}, Store: storetest.NewMemory(), Committer: cm,
				Classifier: fixedClassifier{"Xcode": "Development"}, Taxonomy: pomocore.DefaultTaxonomy()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		committed := func() bool {
			cm.mu.Lock()
			defer cm.mu.Unlock()
			_, ok := cm.committed[invalid.ID]
			return ok
		}
		time.Sleep(30 * time.Second) // blocked all along
		synctest.Wait()
		if committed() {
			t.Fatal("dead letter committed while its stream holds the wrong type")
		}
		cm.mu.Lock()
		cm.deadBlocked = false // the key is fixed
		cm.mu.Unlock()
		time.Sleep(retryMax + block + time.Second)
		synctest.Wait()
		if !committed() {
			t.Errorf("dead letter not committed %v after its stream was fixed (RetryMax %v, Block %v)", retryMax+block+time.Second, retryMax, block)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}
