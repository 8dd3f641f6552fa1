package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/backoff"
)

// scriptedStore fails as told. Each call takes took on the clock (synctest's
// in these tests). Used from one goroutine.
type scriptedStore struct {
	refuse    map[string]bool // users refused while the store is up
	refuseAll bool            // every write refused while the store is up (a full disk)
	// full refuses these users' records with ErrStoreCannotWrite in calls
	// up to fullUntil (1-based; 0: always): the disk has room for the
	// others' small writes, not for theirs.
	full      map[string]bool
	fullUntil int
	downAt    []int // calls (1-based) during which the store is down
	// timeoutOver makes calls of more records than it time out (0: none).
	timeoutOver int
	took        time.Duration

	calls   []int // records per call
	starts  []time.Time
	ends    []time.Time
	pings   int
	downNow bool
}

func (s *scriptedStore) Save(_ context.Context, recs []Record) error {
	s.calls, s.starts = append(s.calls, len(recs)), append(s.starts, time.Now())
	time.Sleep(s.took)
	s.ends = append(s.ends, time.Now())
	s.downNow = slices.Contains(s.downAt, len(s.calls))
	switch {
	case s.downNow:
		return errors.New("store down")
	case s.timeoutOver > 0 && len(recs) > s.timeoutOver:
		return fmt.Errorf("save: %w", context.DeadlineExceeded)
	case s.refuseAll:
		return errors.New("database or disk is full")
	}
	for _, r := range recs {
		if s.full[r.Activity.UserID] && (s.fullUntil == 0 || len(s.calls) <= s.fullUntil) {
			return fmt.Errorf("database or disk is full (13): %w", ErrStoreCannotWrite)
		}
		if s.refuse[r.Activity.UserID] {
			return errors.New("document refused")
		}
	}
	return nil
}

// probedStore is a scriptedStore that answers its health probe while it
// is up.
type probedStore struct{ *scriptedStore }

func (s probedStore) Ping(context.Context) error {
	s.pings++
	if s.downNow {
		return errors.New("store down")
	}
	return nil
}

func newTestIsolatingStore(st Store, batch int) *isolatingStore {
	return &isolatingStore{store: st, sizer: newBatchSizer(batch, 2500*time.Millisecond, slog.New(slog.DiscardHandler)),
		retry: backoff.Policy{Min: 100 * time.Millisecond, Max: 5 * time.Second}, now: time.Now, sleep: backoff.Sleep,
		log: slog.New(slog.DiscardHandler), failed: func(error) {}, soloFails: map[string]uint64{}}
}

// TestPoisonRules is the specification of the poison rules: which records
// the isolating store sets aside and how it judges them. A row is one or
// more saves in a row through one store (what it remembers carries over),
// each a batch of users (one record each, its entry id the user's; the
// suspects were delivered more than the limit) and the verdict wanted for
// each record (nil: the save gives up when its context ends); calls is
// the records of each store call of the whole row. Time is synctest's:
// backoff waits pass at once.
func TestPoisonRules(t *testing.T) {
	const (
		S = stored
		U = unjudged
		F = failsAlone
	)
	type save struct {
		users    []string
		suspects []string
		want     []verdict
	}
	four := []string{"a", "bad", "c", "d"}
	for _, c := range []struct {
		name    string
		store   scriptedStore
		noProbe bool // the store cannot be probed
		saves   []save
		calls   []int
	}{
		{name: "a store that takes every record stores them in one call",
			saves: []save{{users: four, want: []verdict{S, S, S, S}}}, calls: []int{4}},
		{name: "an outage (the probe fails too) is retried as long as it lasts and judges nothing, whatever the deliveries",
			store: scriptedStore{downAt: []int{1, 2, 3, 4, 5, 6}},
			saves: []save{{users: four, suspects: four, want: []verdict{S, S, S, S}}}, calls: []int{4, 4, 4, 4, 4, 4, 4}},
		{name: "a store that cannot be probed is retried until the context ends and judges nothing",
			store: scriptedStore{refuse: map[string]bool{"bad": true}}, noProbe: true,
			saves: []save{{users: four, suspects: four, want: nil}}},
		{name: "timeouts are not the records' fault: retried in smaller calls, nothing judged",
			store: scriptedStore{timeoutOver: 1, refuse: map[string]bool{}},
			saves: []save{{users: four, suspects: four, want: []verdict{S, S, S, S}}}, calls: []int{4, 2, 1, 2, 1, 2, 1, 1}},
		{name: "a call failing 3 times while the store answers is retried a record at a time; the record refused 3 times alone fails on its own",
			store: scriptedStore{refuse: map[string]bool{"bad": true}},
			saves: []save{{users: four, want: []verdict{S, F, S, S}}}, calls: []int{4, 4, 4, 1, 1, 1, 1, 1, 1}},
		{name: "a call holding a suspect is retried a record at a time after one such failure",
			store: scriptedStore{refuse: map[string]bool{"bad": true}},
			saves: []save{{users: four, suspects: []string{"d"}, want: []verdict{S, F, S, S}}}, calls: []int{4, 1, 1, 1, 1, 1, 1}},
		{name: "the failures must be in a row: an outage between them starts the count again",
			store: scriptedStore{refuse: map[string]bool{"bad": true}, downAt: []int{2, 5}},
			saves: []save{{users: four, want: []verdict{S, F, S, S}}}, calls: []int{4, 4, 4, 4, 4, 4, 4, 4, 1, 1, 1, 1, 1, 1}},
		{name: "so must the failures of a record alone",
			store: scriptedStore{refuse: map[string]bool{"bad": true}, downAt: []int{6}},
			saves: []save{{users: four, want: []verdict{S, F, S, S}}}, calls: []int{4, 4, 4, 1, 1, 1, 1, 1, 1, 1, 1}},
		{name: "a store refusing every write while it answers (a full disk) judges nothing: no other record was stored",
			store: scriptedStore{refuseAll: true},
			saves: []save{{users: []string{"a", "b"}, suspects: []string{"a", "b"}, want: []verdict{U, U}}},
			calls: []int{2, 1, 1, 1, 1, 1, 1}},
		{name: "a record the store cannot write (its disk is full) is never judged, even while it stores smaller writes and the entries are suspects",
			store: scriptedStore{full: map[string]bool{"bad": true}},
			saves: []save{{users: four, suspects: four, want: nil}}},
		{name: "once the store can write again the batch is stored whole",
			store: scriptedStore{full: map[string]bool{"bad": true}, fullUntil: 6},
			saves: []save{{users: four, suspects: four, want: []verdict{S, S, S, S}}}, calls: []int{4, 4, 4, 4, 4, 4, 4}},
		{name: "a record refused alone in its batch is not judged, and is when it comes back after other records were stored",
			store: scriptedStore{refuse: map[string]bool{"bad": true}},
			saves: []save{{users: []string{"bad"}, want: []verdict{U}}, {users: []string{"a"}, want: []verdict{S}},
				{users: []string{"bad"}, want: []verdict{F}}},
			calls: []int{1, 1, 1, 1, 1, 1, 1}},
		{name: "a record refused alone again with nothing stored since stays unjudged",
			store: scriptedStore{refuse: map[string]bool{"bad": true}},
			saves: []save{{users: []string{"bad"}, want: []verdict{U}}, {users: []string{"bad"}, want: []verdict{U}},
				{users: []string{"a"}, want: []verdict{S}}, {users: []string{"bad"}, want: []verdict{F}},
				{users: []string{"bad"}, want: []verdict{U}}}},
		{name: "records stored after the one set aside count as evidence too",
			store: scriptedStore{refuse: map[string]bool{"a": true}},
			saves: []save{{users: []string{"a", "b"}, suspects: []string{"a"}, want: []verdict{F, S}}},
			calls: []int{2, 1, 1, 1, 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sc := c.store
				var st Store = probedStore{&sc}
				if c.noProbe {
					st = &sc
				}
				s := newTestIsolatingStore(st, 10)
				for k, sv := range c.saves {
					recs, who := make([]Record, len(sv.users)), make([]subject, len(sv.users))
					for i, u := range sv.users {
						recs[i] = Record{Activity: pomocore.Activity{UserID: u}}
						who[i] = subject{id: u, suspect: slices.Contains(sv.suspects, u)}
					}
					ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
					out, err := s.save(ctx, recs, who)
					cancel()
					if sv.want == nil {
						if err == nil || !errors.Is(err, context.DeadlineExceeded) {
							t.Fatalf("save %d = %v, %v; want it to give up with its context", k+1, out, err)
						}
						continue
					}
					if err != nil {
						t.Fatalf("save %d: %v", k+1, err)
					}
					got := make([]verdict, len(out))
					for i, o := range out {
						got[i] = o.verdict
						if (o.verdict == stored) != (o.err == nil) {
							t.Errorf("save %d, record %s: verdict %v with error %v", k+1, sv.users[i], o.verdict, o.err)
						}
					}
					if !slices.Equal(got, sv.want) {
						t.Errorf("save %d of %v: verdicts %v, want %v (calls %v)", k+1, sv.users, got, sv.want, sc.calls)
					}
				}
				if c.calls != nil && !slices.Equal(sc.calls, c.calls) {
					t.Errorf("store calls of %v records, want %v", sc.calls, c.calls)
				}
				if c.noProbe && slices.ContainsFunc(sc.calls, func(n int) bool { return n == 1 }) {
					t.Errorf("store calls %v: a store that cannot be probed was saved a record at a time", sc.calls)
				}
			})
		})
	}
}

// A call that timed out is retried no sooner than it ran (the server may
// still be running it), and calls are measured on the clock for the batch
// size.
func TestTimedOutCallIsRetriedNoSoonerThanItRan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sc := &scriptedStore{took: 10 * time.Second, timeoutOver: 4}
		s := newTestIsolatingStore(probedStore{sc}, 8)
		recs, who := make([]Record, 8), make([]subject, 8)
		for i := range recs {
			who[i].id = fmt.Sprint(i)
		}
		out, err := s.save(context.Background(), recs, who)
		if err != nil || slices.ContainsFunc(out, func(o outcome) bool { return o.verdict != stored }) {
			t.Fatalf("save = %v, %v; want every record stored", out, err)
		}
		if gap := sc.starts[1].Sub(sc.ends[0]); gap < 10*time.Second {
			t.Errorf("retried %v after a call that ran 10s and timed out, want >= 10s", gap)
		}
		if sc.pings != 0 {
			t.Errorf("%d pings: a timeout needs no probe", sc.pings)
		}
		// 8 timed out: 4; 4 records in 10 s, slow: 2; 2 records in 10 s,
		// no shorter: the store is slow per call, back to 4 and held.
		if got := s.sizer.size(); got != 4 || !slices.Equal(sc.calls, []int{8, 4, 2, 2}) {
			t.Errorf("calls %v, batch size %d; want calls 8, 4, 2, 2 and size 4", sc.calls, got)
		}
	})
}
