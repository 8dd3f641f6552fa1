package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/pipeline/storetest"
)

// probeStore is a store that can be down (Save and Ping fail), that
// refuses the records of one user while it is up (a document the store
// will not take: the entry fails on its own), and whose calls can be made
// slow or time out on purpose, on the env's clock.
type probeStore struct {
	*storetest.Memory
	e    *env
	down atomic.Bool
	// refuseAll makes every Save fail while Ping answers (a full disk).
	refuseAll atomic.Bool
	refuse    string
	// perRecord is the latency of one record, added to the env's clock.
	perRecord atomic.Int64 // milliseconds
	// perCall is the latency of one call whatever its size, added to the
	// env's clock.
	perCall atomic.Int64 // milliseconds
	// timeoutOver makes calls of more records than it time out (0: never).
	timeoutOver atomic.Int64
	// afterFail is called after each failed Save.
	afterFail func()

	mu    sync.Mutex
	calls []int // records per Save call
	pings int
}

func (s *probeStore) Save(ctx context.Context, recs []pipeline.Record) (err error) {
	s.mu.Lock()
	s.calls = append(s.calls, len(recs))
	s.mu.Unlock()
	defer func() {
		if err != nil && s.afterFail != nil {
			s.afterFail()
		}
	}()
	if s.e != nil {
		s.e.ticks.Add(s.perRecord.Load()*int64(len(recs)) + s.perCall.Load())
	}
	if s.down.Load() {
		return errors.New("store down")
	}
	if s.refuseAll.Load() {
		return errors.New("store: database or disk is full")
	}
	if n := s.timeoutOver.Load(); n > 0 && int64(len(recs)) > n {
		return fmt.Errorf("store: save: %w", context.DeadlineExceeded)
	}
	for i := range recs {
		if recs[i].Activity.UserID == s.refuse {
			return errors.New("store: document refused")
		}
	}
	return s.Memory.Save(ctx, recs)
}

func (s *probeStore) Ping(context.Context) error {
	s.mu.Lock()
	s.pings++
	s.mu.Unlock()
	if s.down.Load() {
		return errors.New("store down")
	}
	return nil
}

func (s *probeStore) callSizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.calls...)
}

// newProbeEnv is an env whose pipeline stores into a probeStore.
func newProbeEnv(t *testing.T, cfg pipeline.Config) (*env, *probeStore) {
	t.Helper()
	e := newEnv(t, "c1", cfg)
	st := &probeStore{Memory: e.store, e: e}
	e.st = st
	e.build("c1", cfg)
	return e, st
}

// readAll reads every new entry (up to 1,000).
func (e *env) readAll() []pipeline.Message {
	e.t.Helper()
	msgs, err := e.reader.Read(context.Background(), 1000, -1)
	if err != nil {
		e.t.Fatal(err)
	}
	return msgs
}

func withDeliveries(msgs []pipeline.Message, n int64) []pipeline.Message {
	out := append([]pipeline.Message(nil), msgs...)
	for i := range out {
		out[i].Deliveries = n
	}
	return out
}

func (e *env) deadLetters() map[string]int {
	e.t.Helper()
	kinds := map[string]int{}
	for _, m := range e.entries(dead) {
		kinds[m["dead.kind"]]++
	}
	return kinds
}

// A store outage across restarts (item 3 of issue 19): each restart
// delivers the pending entries again, far past MaxDeliveries, while the
// store is down; none of those deliveries is the entries' fault, so when
// the store is back every entry is stored and counted and none is
// dead-lettered.
func TestStoreOutageWithRestartsDeadLettersNothing(t *testing.T) {
	const n, restarts = 60, 6
	e, st := newProbeEnv(t, pipeline.Config{MaxDeliveries: 2})
	ts := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	for i := range n {
		e.add(event("u"+strconv.Itoa(i), "Xcode", 10, ts, i%10 == 0)...)
	}
	msgs := e.readAll()
	st.down.Store(true)
	for restart := 1; restart <= restarts; restart++ {
		// A process that dies while the store is down: its batch fails
		// until it is killed.
		ctx, cancel := context.WithCancel(context.Background())
		failures := 0
		st.afterFail = func() {
			if failures++; failures == 3 {
				cancel()
			}
		}
		if err := e.p.Process(ctx, withDeliveries(msgs, int64(restart))); err == nil {
			t.Fatal("Process succeeded with the store down")
		}
		cancel()
		e.build("c1", pipeline.Config{MaxDeliveries: 2}) // the restart
	}
	st.down.Store(false)
	st.afterFail = nil
	if err := e.p.Process(context.Background(), withDeliveries(msgs, restarts+1)); err != nil {
		t.Fatal(err)
	}
	if dl := e.deadLetters(); len(dl) != 0 {
		t.Errorf("dead letters after a store outage with %d restarts: %v; want none", restarts, dl)
	}
	snap, _ := e.store.Snapshot(context.Background())
	if len(snap.UsageLogs) != n {
		t.Errorf("usage logs = %d, want %d", len(snap.UsageLogs), n)
	}
	if got := e.score("leaderboard:Development:2026-11-24", "u7"); got != 10 {
		t.Errorf("score = %v, want 10", got)
	}
	if e.pending() != 0 {
		t.Errorf("pending = %d, want 0", e.pending())
	}
	if n := e.mem.Len(session); n != 6 {
		t.Errorf("session events = %d, want 6", n)
	}
}

// A poison entry (one the store refuses while it answers its probe),
// delivered more than MaxDeliveries times, is dead-lettered as
// too_many_deliveries, and the other entries of its batch, over the limit
// too, are stored and counted.
func TestPoisonEntryOverTheLimitIsDeadLetteredWhileOthersFlow(t *testing.T) {
	e, st := newProbeEnv(t, pipeline.Config{MaxDeliveries: 2})
	st.refuse = "poison"
	ts := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	for i := range 4 {
		e.add(event("u"+strconv.Itoa(i), "Xcode", 10, ts, false)...)
	}
	e.add(event("poison", "Xcode", 10, ts, true)...)
	e.add(event("u9", "Steam", 5, ts, false)...)
	if err := e.p.Process(context.Background(), withDeliveries(e.readAll(), 3)); err != nil {
		t.Fatal(err)
	}
	if dl := e.deadLetters(); len(dl) != 1 || dl["too_many_deliveries"] != 1 {
		t.Errorf("dead letters = %v, want one too_many_deliveries", dl)
	}
	snap, _ := e.store.Snapshot(context.Background())
	if len(snap.UsageLogs) != 5 {
		t.Errorf("usage logs = %d, want the 5 good ones", len(snap.UsageLogs))
	}
	if got := e.score("leaderboard:Game:2026-11-24", "u9"); got != 5 {
		t.Errorf("u9 = %v, want 5", got)
	}
	if got := e.score("leaderboard:Development:2026-11-24", "poison"); got != 0 {
		t.Errorf("poison scored %v", got)
	}
	if e.pending() != 0 {
		t.Errorf("pending = %d, want 0", e.pending())
	}
	// The poison entry ended a session: its end is still emitted.
	if n := e.mem.Len(session); n != 1 {
		t.Errorf("session events = %d, want 1", n)
	}
	if s := e.p.Stats().Snapshot(); s.Dead != 1 || s.Committed != 6 {
		t.Errorf("stats = %+v, want 1 dead and 6 committed", s)
	}
}

// A store that refuses every write while it answers its probe (a full
// disk: SELECT 1 works, writes do not) makes no entry poison, however
// often the entries were delivered: each is refused alone, but nothing
// else is stored either, so nothing is dead-lettered; all stay pending
// and are stored once the store writes again.
func TestStoreRefusingEveryWriteDeadLettersNothing(t *testing.T) {
	e, st := newProbeEnv(t, pipeline.Config{MaxDeliveries: 2})
	ts := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	for i := range 3 {
		e.add(event("u"+strconv.Itoa(i), "Xcode", 10, ts, false)...)
	}
	msgs := e.readAll()
	st.refuseAll.Store(true)
	for deliveries := int64(3); deliveries <= 5; deliveries++ {
		if err := e.p.Process(context.Background(), withDeliveries(msgs, deliveries)); err != nil {
			t.Fatal(err)
		}
		if dl := e.deadLetters(); len(dl) != 0 || e.pending() != 3 {
			t.Fatalf("delivery %d with every write refused: dead letters %v, pending %d; want none and 3", deliveries, dl, e.pending())
		}
	}
	st.refuseAll.Store(false)
	if err := e.p.Process(context.Background(), withDeliveries(msgs, 6)); err != nil {
		t.Fatal(err)
	}
	if e.pending() != 0 || len(e.deadLetters()) != 0 {
		t.Errorf("after the store writes again: pending %d, dead letters %v", e.pending(), e.deadLetters())
	}
	if got := e.score("leaderboard:Development:2026-11-24", "u2"); got != 10 {
		t.Errorf("u2 = %v, want 10", got)
	}
}

// A poison entry alone in its batch has no other record to show that the
// store takes writes: it is left pending the first time, and judged when
// it comes back after other entries were stored.
func TestLonePoisonEntryIsJudgedWhenItReturns(t *testing.T) {
	e, st := newProbeEnv(t, pipeline.Config{MaxDeliveries: 2})
	st.refuse = "poison"
	ts := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	e.add(event("poison", "Xcode", 10, ts, false)...)
	poison := e.readAll()
	if err := e.p.Process(context.Background(), withDeliveries(poison, 3)); err != nil {
		t.Fatal(err)
	}
	if e.pending() != 1 || len(e.deadLetters()) != 0 {
		t.Fatalf("alone: pending %d, dead letters %v; want it pending, not judged", e.pending(), e.deadLetters())
	}
	e.add(event("u1", "Xcode", 10, ts, false)...)
	if err := e.p.Process(context.Background(), e.readAll()); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Process(context.Background(), withDeliveries(poison, 4)); err != nil {
		t.Fatal(err)
	}
	if dl := e.deadLetters(); dl["too_many_deliveries"] != 1 || e.pending() != 0 {
		t.Errorf("on its return: dead letters %v, pending %d; want it dead-lettered", dl, e.pending())
	}
}

// Under the delivery limit, an entry that fails on its own is left
// pending (redelivered later with one delivery more) while the rest of
// its batch is committed.
func TestEntryFailingOnItsOwnUnderTheLimitIsLeftPending(t *testing.T) {
	e, st := newProbeEnv(t, pipeline.Config{MaxDeliveries: 5})
	st.refuse = "poison"
	ts := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	e.add(event("u1", "Xcode", 10, ts, false)...)
	poison := e.add(event("poison", "Xcode", 10, ts, false)...)
	e.add(event("u2", "Xcode", 10, ts, false)...)
	if err := e.p.Process(context.Background(), e.readAll()); err != nil {
		t.Fatal(err)
	}
	if dl := e.deadLetters(); len(dl) != 0 {
		t.Errorf("dead letters = %v, want none under the limit", dl)
	}
	if p := e.mem.Pending(stream, group); len(p) != 1 || p[0].ID != poison {
		t.Errorf("pending = %+v; want only the poison entry %s", p, poison)
	}
	if got := e.score("leaderboard:Development:2026-11-24", "u2"); got != 10 {
		t.Errorf("u2 = %v, want 10", got)
	}
	if s := e.p.Stats().Snapshot(); s.LeftPending != 1 || s.Committed != 2 {
		t.Errorf("stats = %+v, want 1 left pending, 2 committed", s)
	}
}

// An entry that panics the classifier fails on its own: left pending
// under the limit, dead-lettered as too_many_deliveries over it; the
// process does not crash and the other entries flow.
func TestPanickingEntryIsLeftPendingThenDeadLettered(t *testing.T) {
	e := newEnv(t, "c1", pipeline.Config{MaxDeliveries: 2})
	e.p.SetRules(panicky{fixedClassifier{"Xcode": "Development"}}, e.ids)
	ts := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	e.add(event("u1", "Xcode", 10, ts, false)...)
	e.add(event("u2", "Boom", 10, ts, false)...)
	msgs := e.readAll()
	if err := e.p.Process(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	if e.pending() != 1 || len(e.deadLetters()) != 0 {
		t.Fatalf("after the first delivery: pending %d, dead letters %v; want the panicking entry pending", e.pending(), e.deadLetters())
	}
	if err := e.p.Process(context.Background(), withDeliveries(msgs[1:], 3)); err != nil {
		t.Fatal(err)
	}
	if dl := e.deadLetters(); dl["too_many_deliveries"] != 1 || e.pending() != 0 {
		t.Errorf("over the limit: dead letters %v, pending %d; want it dead-lettered", dl, e.pending())
	}
	if got := e.score("leaderboard:Development:2026-11-24", "u1"); got != 10 {
		t.Errorf("u1 = %v, want 10", got)
	}
}

type panicky struct{ pipeline.Classifier }

func (p panicky) Classify(app, url, title string) pomocore.Classification {
	if app == "Boom" {
		panic("classifier bug")
	}
	return p.Classifier.Classify(app, url, title)
}

// A slow store shrinks the batch size (item 12): calls slower than
// SlowStore halve it, the batch in hand is stored in calls of the new
// size, and fast calls grow it back to BatchSize.
func TestBatchSizeAdaptsToASlowStore(t *testing.T) {
	cfg := pipeline.Config{BatchSize: 64, SlowStore: time.Second}
	e, st := newProbeEnv(t, cfg)
	obs := &recordingObserver{}
	e.p, _ = pipeline.New(pipeline.Config{BatchSize: 64, SlowStore: time.Second, Location: seoul}, pipeline.WithSleep(pipeline.Deps{
		Reader: e.reader, Store: st, Committer: mustCommitter(e.mem),
		Classifier: fixedClassifier{"Xcode": "Development"}, Taxonomy: pomocore.DefaultTaxonomy(),
		CategoryIDs: e.ids, Observer: obs,
		Now: func() time.Time { return e.now.Add(time.Duration(e.ticks.Load()) * time.Millisecond) },
	}, func(ctx context.Context, d time.Duration) error { return ctx.Err() }))
	ts := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	batch := func() {
		t.Helper()
		for i := range 64 {
			e.add(event("u"+strconv.Itoa(i), "Xcode", 1, ts, false)...)
		}
		if err := e.p.Process(context.Background(), e.readAll()); err != nil {
			t.Fatal(err)
		}
	}
	st.perRecord.Store(50) // 64 records: 3.2 s, slow
	batch()
	batch()
	sizes := st.callSizes()
	if sizes[0] != 64 || sizes[1] > 32 {
		t.Errorf("store calls %v: want 64, then at most 32", sizes)
	}
	slow := e.p.Stats().Snapshot().BatchSize
	if slow > 20 || slow < 1 {
		t.Errorf("batch size under a store taking 50 ms a record = %d, want 1..20 (calls under a second)", slow)
	}
	if r := obs.reports[len(obs.reports)-1]; r.BatchSize != int(slow) {
		t.Errorf("report batch size = %d, want %d", r.BatchSize, slow)
	}
	st.perRecord.Store(0)
	for range 30 {
		batch()
	}
	if got := e.p.Stats().Snapshot().BatchSize; got != 64 {
		t.Errorf("batch size after fast calls = %d, want back to 64", got)
	}
	if snap, _ := e.store.Snapshot(context.Background()); len(snap.UsageLogs) != 64*32 {
		t.Errorf("usage logs = %d, want %d", len(snap.UsageLogs), 64*32)
	}
}

// A store slow per call rather than per record (a collection scan per
// call: FerretDB checking a retried batch's duplicates) keeps its batch
// size: the chaos run on the MongoDB store stalled when every such call
// halved it down to one record, a scan per record (item 12). Halving once
// shows that the call did not get shorter; the size goes back and stays.
func TestBatchSizeHoldsWhenTheStoreIsSlowPerCall(t *testing.T) {
	e, st := newProbeEnv(t, pipeline.Config{BatchSize: 64, SlowStore: time.Second})
	st.perCall.Store(3000) // every call 3 s, slow, whatever its size
	ts := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	for range 3 {
		for i := range 64 {
			e.add(event("u"+strconv.Itoa(i), "Xcode", 1, ts, false)...)
		}
		if err := e.p.Process(context.Background(), e.readAll()); err != nil {
			t.Fatal(err)
		}
	}
	// 64 (slow: halved), 32 (as slow: restored), 32, then 64 and 64.
	if sizes := st.callSizes(); len(sizes) > 5 {
		t.Errorf("store calls %v for 3 batches of 64 at 3 s a call: want at most 5", sizes)
	}
	if got := e.p.Stats().Snapshot().BatchSize; got != 64 {
		t.Errorf("batch size = %d, want 64 (held: halving did not shorten the calls)", got)
	}
	// A timeout still halves it.
	st.timeoutOver.Store(16)
	for i := range 64 {
		e.add(event("v"+strconv.Itoa(i), "Xcode", 1, ts, false)...)
	}
	if err := e.p.Process(context.Background(), e.readAll()); err != nil {
		t.Fatal(err)
	}
	if got := e.p.Stats().Snapshot().BatchSize; got > 16 {
		t.Errorf("batch size after timeouts = %d, want <= 16", got)
	}
	if snap, _ := e.store.Snapshot(context.Background()); len(snap.UsageLogs) != 4*64 {
		t.Errorf("usage logs = %d, want %d", len(snap.UsageLogs), 4*64)
	}
}

// A store call that timed out is retried no sooner than it ran: the
// server may still be running it (FerretDB 1.24 may run a command well
// past its maxTimeMS), and an immediate retry stacked a second command
// beside the abandoned one; three processes doing so on a FerretDB under
// load made every call time out (item 12).
func TestTimedOutStoreCallIsRetriedNoSoonerThanItRan(t *testing.T) {
	e, st := newProbeEnv(t, pipeline.WithRetry(pipeline.Config{BatchSize: 8}, time.Millisecond, 2*time.Millisecond))
	st.perCall.Store(10_000) // each call runs 10 s on the clock
	st.timeoutOver.Store(4)  // and times out when over 4 records
	ts := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	for i := range 8 {
		e.add(event("u"+strconv.Itoa(i), "Xcode", 1, ts, false)...)
	}
	if err := e.p.Process(context.Background(), e.readAll()); err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(e.longest.Load()); got < 10*time.Second {
		t.Errorf("longest wait before a retry = %v, want >= 10s (as long as the timed-out call ran)", got)
	}
	if e.pending() != 0 {
		t.Errorf("pending %d, want 0", e.pending())
	}
}

// A batch whose store call times out is not retried whole forever: it is
// stored in smaller calls, and the batch size stays small for the next.
func TestTimedOutBatchIsStoredInSmallerCalls(t *testing.T) {
	e, st := newProbeEnv(t, pipeline.Config{BatchSize: 100, MaxDeliveries: 1})
	st.timeoutOver.Store(10)
	ts := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	for i := range 100 {
		e.add(event("u"+strconv.Itoa(i), "Xcode", 1, ts, false)...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	failures := 0
	st.afterFail = func() {
		if failures++; failures == 50 {
			cancel() // today's pipeline retries the whole batch forever
		}
	}
	// Over the delivery limit: timeouts are not the entries' fault either.
	if err := e.p.Process(ctx, withDeliveries(e.readAll(), 5)); err != nil {
		t.Fatalf("Process = %v after %d failed calls %v", err, failures, st.callSizes())
	}
	if e.pending() != 0 || len(e.deadLetters()) != 0 {
		t.Errorf("pending %d, dead letters %v; want all committed", e.pending(), e.deadLetters())
	}
	if got := e.p.Stats().Snapshot().BatchSize; got > 20 {
		t.Errorf("batch size after timeouts = %d, want <= 20 (calls over 10 records time out)", got)
	}
	if st.pings != 0 {
		t.Errorf("%d pings: a timeout needs no probe, it never makes an entry poison", st.pings)
	}
}

// touchReader hands out one batch of valid entries, then nothing (each
// read waits its block time), and records the ids it is asked to touch.
type touchReader struct {
	msgs    []pipeline.Message
	read    atomic.Bool
	mu      sync.Mutex
	touched map[string]int
}

func (r *touchReader) Pending(context.Context, string, int) ([]pipeline.Message, error) {
	return nil, nil
}

func (r *touchReader) Claim(context.Context, time.Duration, string, int) ([]pipeline.Message, string, error) {
	return nil, "0-0", nil
}

func (r *touchReader) Read(ctx context.Context, _ int, block time.Duration) ([]pipeline.Message, error) {
	if !r.read.Swap(true) {
		return r.msgs, nil
	}
	select {
	case <-time.After(block):
	case <-ctx.Done():
	}
	return nil, ctx.Err()
}

func (r *touchReader) Touch(_ context.Context, ids []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		r.touched[id]++
	}
	return nil
}

func (r *touchReader) touches() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.touched {
		out[k] = v
	}
	return out
}

// gatedStore holds every Save until release is closed.
type gatedStore struct {
	*storetest.Memory
	release chan struct{}
}

func (s *gatedStore) Save(ctx context.Context, recs []pipeline.Record) error {
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.Memory.Save(ctx, recs)
}

type okCommitter struct{ n atomic.Int64 }

func (c *okCommitter) Commit(_ context.Context, entries []pipeline.CommitEntry) (pipeline.CommitResult, error) {
	c.n.Add(int64(len(entries)))
	return pipeline.CommitResult{Applied: len(entries)}, nil
}

// Entries of a batch that takes longer to store than a third of ClaimIdle
// are touched (their idle time reset) every ClaimIdle/3 until committed,
// so that no reclaimer, this process's included, takes them as abandoned
// (item 12). The store is held by a gate; time is synctest's.
func TestSlowBatchEntriesAreTouchedUntilCommitted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ts := time.Now().Add(time.Minute) // the bubble's clock starts in 2000
		r := &touchReader{touched: map[string]int{}}
		for i := range 3 {
			r.msgs = append(r.msgs, pipeline.Message{ID: "1764000000000-" + strconv.Itoa(i), Deliveries: 1,
				Fields: event("u"+strconv.Itoa(i), "Xcode", 1, ts, false)})
		}
		st := &gatedStore{Memory: storetest.NewMemory(), release: make(chan struct{})}
		cm := &okCommitter{}
		const claimIdle = 30 * time.Second
		p, err := pipeline.New(pipeline.Config{ClaimIdle: claimIdle, ClaimInterval: time.Hour, Block: time.Second, Location: seoul},
			pipeline.Deps{Reader: r, Store: st, Committer: cm, Classifier: fixedClassifier{"Xcode": "Development"},
				Taxonomy: pomocore.DefaultTaxonomy()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		time.Sleep(claimIdle / 4) // synctest time: nothing due yet
		synctest.Wait()
		if n := len(r.touches()); n != 0 {
			t.Errorf("touched %d entries before a third of ClaimIdle", n)
		}
		time.Sleep(claimIdle)
		synctest.Wait()
		got := r.touches()
		for _, m := range r.msgs {
			if got[m.ID] < 2 {
				t.Errorf("entry %s touched %d times in ClaimIdle while its batch was being stored; want >= 2", m.ID, got[m.ID])
			}
		}
		close(st.release)
		synctest.Wait()
		if snap, _ := st.Memory.Snapshot(context.Background()); cm.n.Load() != 3 || len(snap.UsageLogs) != 3 {
			t.Fatalf("committed %d, stored %d; want 3 and 3", cm.n.Load(), len(snap.UsageLogs))
		}
		before := r.touches()
		time.Sleep(claimIdle)
		synctest.Wait()
		if after := r.touches(); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("entries touched after their commit: %v, then %v", before, after)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// vanishedReader is a Reader whose group vanished and that knows no
// position to recreate it at: its reads fail with ErrGroupMissing.
type vanishedReader struct {
	pipeline.Reader
	reads atomic.Int32
}

func (r *vanishedReader) Read(context.Context, int, time.Duration) ([]pipeline.Message, error) {
	r.reads.Add(1)
	return nil, fmt.Errorf("read: consumer group vanished and no position to recreate it at is known: %w", pipeline.ErrGroupMissing)
}

// Issue 19 item 1: the pipeline went on after its group vanished (the
// reader recreated it at 0 and everything was processed again). When the
// reader cannot recreate the group where it was, Run stops with its error
// (which says what to do) instead of retrying, and logs at error level.
func TestRunStopsWhenTheGroupVanishedWithNoKnownPosition(t *testing.T) {
	e := newEnv(t, "c1", pipeline.Config{})
	committer := mustCommitter(e.mem)
	r := &vanishedReader{Reader: e.reader}
	p, err := pipeline.New(pipeline.Config{Location: seoul}, pipeline.WithSleep(pipeline.Deps{
		Reader: r, Store: e.store, Committer: committer,
		Classifier: fixedClassifier{}, Taxonomy: pomocore.DefaultTaxonomy(), CategoryIDs: e.ids,
	}, func(ctx context.Context, _ time.Duration) error { return ctx.Err() }))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = p.Run(ctx)
	if !errors.Is(err, pipeline.ErrGroupMissing) || ctx.Err() != nil {
		t.Fatalf("Run: %v (context %v), want it to stop with ErrGroupMissing", err, ctx.Err())
	}
	if !strings.Contains(err.Error(), "no position") {
		t.Errorf("Run's error %q does not carry the reader's explanation", err)
	}
	if n := r.reads.Load(); n != 1 {
		t.Errorf("%d reads, want 1: a vanished group is not retried", n)
	}
}
