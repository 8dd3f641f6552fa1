package redis_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/internal/eventually"
	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/redis"
	"github.com/pomocore/pomocore/route"
)

const (
	routeSrc   = "pattern_match_stream"
	routeGroup = "pattern_match_group"
)

// addSource XADDs n entries of 7 users to the source, with odd field
// values (duplicates, empty, non-ASCII, bytes): the router must copy them
// byte for byte. Entry i without a userId every 50th.
func addSource(t *testing.T, rdb goredis.UniversalClient, from, n int) {
	t.Helper()
	ctx := context.Background()
	for i := from; i < from+n; i++ {
		args := []any{"XADD", routeSrc, "*"}
		if i%50 != 49 {
			args = append(args, "userId", fmt.Sprintf("user-%d", i%7))
		}
		args = append(args, "pomodoroUsageLogId", fmt.Sprintf("%024x", i), "title", "제목 \x00\xff", "url", "", "app", "a", "app", "b", "n", fmt.Sprint(i))
		if err := rdb.Do(ctx, args...).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// wantPartitions returns the source's entries split by route.Partition.
func wantPartitions(t *testing.T, rdb goredis.UniversalClient, n int) [][]goredis.XMessage {
	t.Helper()
	all := rawRange(t, rdb, routeSrc)
	parts := make([][]goredis.XMessage, n)
	for _, m := range all {
		p := route.Partition(m.fields, n)
		parts[p] = append(parts[p], goredis.XMessage{ID: m.id, Values: map[string]any{"": m.fields}})
	}
	return parts
}

type rawEntry struct {
	id     string
	fields []string
}

// rawRange reads a stream with XRANGE, fields in order with duplicates.
func rawRange(t *testing.T, rdb goredis.UniversalClient, stream string) []rawEntry {
	t.Helper()
	reply, err := rdb.Do(context.Background(), "XRANGE", stream, "-", "+").Slice()
	if err != nil && err != goredis.Nil {
		t.Fatal(err)
	}
	var out []rawEntry
	for _, e := range reply {
		pair := e.([]any)
		var fs []string
		for _, f := range pair[1].([]any) {
			fs = append(fs, f.(string))
		}
		out = append(out, rawEntry{pair[0].(string), fs})
	}
	return out
}

// checkRouted asserts every partition stream holds exactly its share of
// the source, in order, ids and fields identical, and nothing is pending.
func checkRouted(t *testing.T, rdb goredis.UniversalClient, n int) {
	t.Helper()
	want := wantPartitions(t, rdb, n)
	total := 0
	for p := range n {
		got := rawRange(t, rdb, redis.PartitionStream(routeSrc, p))
		total += len(got)
		if len(got) != len(want[p]) {
			t.Errorf("partition %d: %d entries, want %d", p, len(got), len(want[p]))
			continue
		}
		for i, g := range got {
			w := want[p][i]
			if g.id != w.ID || !slices.Equal(g.fields, w.Values[""].([]string)) {
				t.Errorf("partition %d entry %d: %s %q, want %s %q", p, i, g.id, g.fields, w.ID, w.Values[""])
				break
			}
		}
	}
	if src := len(rawRange(t, rdb, routeSrc)); total != src {
		t.Errorf("%d entries routed, the source holds %d", total, src)
	}
}

func newRouter(t *testing.T, rdb goredis.UniversalClient, n int, src route.Source, out route.Writer) *route.Router {
	t.Helper()
	if src == nil {
		src = redis.NewRouteSource(rdb, routeSrc, routeGroup, "0", 0)
	}
	if out == nil {
		out = redis.NewPartitionWriter(rdb, routeSrc, n)
	}
	r, err := route.New(route.Config{Partitions: n, Batch: 64, Block: 20 * time.Millisecond, LeaseTTL: 300 * time.Millisecond},
		src, out, redis.NewRouteLease(rdb, routeSrc, 0))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// crashAfter is a Writer that writes only the first k partitions of a
// batch and then fails, as a router dying mid-batch.
type crashAfter struct {
	w route.Writer
	k int
}

var errCrash = errors.New("crashed")

func (c crashAfter) Write(ctx context.Context, token int64, parts [][]route.Entry) ([]int, error) {
	cut := make([][]route.Entry, len(parts))
	written := 0
	for p, e := range parts {
		if len(e) > 0 && written < c.k {
			cut[p] = e
			written++
		}
	}
	if _, err := c.w.Write(ctx, token, cut); err != nil {
		return nil, err
	}
	return nil, errCrash
}

// noAck is a Source whose Ack fails: the router dies after writing.
type noAck struct{ route.Source }

func (noAck) Ack(context.Context, []string) error { return errCrash }

func acquire(t *testing.T, rdb goredis.UniversalClient) int64 {
	t.Helper()
	ctx := context.Background()
	rdb.Del(ctx, redis.LeaseKey(routeSrc)) // the last holder's lease expired
	tok, err := redis.NewRouteLease(rdb, routeSrc, 0).Acquire(ctx, time.Minute)
	if err != nil || tok == 0 {
		t.Fatalf("acquire: %d, %v", tok, err)
	}
	return tok
}

func drain(t *testing.T, r *route.Router, src route.Source, tok int64) {
	t.Helper()
	ctx := context.Background()
	for {
		n, err := r.Step(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			continue
		}
		if d, err := src.Deliver(ctx, 64, -1); err != nil {
			t.Fatal(err)
		} else if d == 0 {
			return
		}
	}
}

func TestRouterRoutesExactlyOnceAcrossCrashesAtEveryStep(t *testing.T) {
	for _, mode := range []string{"server", "cluster"} {
		t.Run(mode, func(t *testing.T) {
			var rdb goredis.UniversalClient
			if mode == "server" {
				rdb = redistest.Start(t).Client(t)
			} else {
				rdb = redistest.StartCluster(t, 3, 0).Client(t)
			}
			ctx := context.Background()
			const n = 4
			addSource(t, rdb, 0, 500)
			real := redis.NewRouteSource(rdb, routeSrc, routeGroup, "0", 0)
			out := redis.NewPartitionWriter(rdb, routeSrc, n)

			// 1. Dies after taking entries, before writing: they stay pending.
			if d, err := real.Deliver(ctx, 64, -1); err != nil || d != 64 {
				t.Fatalf("deliver: %d, %v", d, err)
			}
			// 2. Dies after writing two partitions of a batch.
			tok := acquire(t, rdb)
			if _, err := newRouter(t, rdb, n, real, crashAfter{out, 2}).Step(ctx, tok); !errors.Is(err, errCrash) {
				t.Fatalf("step: %v, want the crash", err)
			}
			// 3. Dies after writing every partition, before acknowledging.
			tok = acquire(t, rdb)
			if _, err := newRouter(t, rdb, n, noAck{real}, nil).Step(ctx, tok); !errors.Is(err, errCrash) {
				t.Fatalf("step: %v, want the crash", err)
			}
			// 4. A fresh router (new reader, new token) routes the rest.
			tok = acquire(t, rdb)
			fresh := redis.NewRouteSource(rdb, routeSrc, routeGroup, "0", 0)
			r := newRouter(t, rdb, n, fresh, nil)
			drain(t, r, fresh, tok)
			st := r.Stats()
			if st.Routed.Load()+st.Already.Load() != 500 || st.Already.Load() != 64 {
				t.Errorf("routed %d, already %d; want 500 in all, 64 found routed", st.Routed.Load(), st.Already.Load())
			}
			// 5. More entries; dies after acknowledging; the next one has nothing left.
			addSource(t, rdb, 500, 300)
			drain(t, r, fresh, tok)
			tok = acquire(t, rdb)
			r2 := newRouter(t, rdb, n, nil, nil)
			if k, err := r2.Step(ctx, tok); err != nil || k != 0 {
				t.Errorf("after a clean stop: %d entries pending, %v", k, err)
			}
			checkRouted(t, rdb, n)
			if p := rdb.XPending(ctx, routeSrc, routeGroup).Val(); p.Count != 0 {
				t.Errorf("%d entries left pending", p.Count)
			}
		})
	}
}

func TestRouterFencesAnOldRouterThatLostItsLease(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	const n = 2
	addSource(t, rdb, 0, 100)
	old := acquire(t, rdb)
	srcOld := redis.NewRouteSource(rdb, routeSrc, routeGroup, "0", 0)
	if _, err := srcOld.Deliver(ctx, 64, -1); err != nil {
		t.Fatal(err)
	}
	// The old router pauses with a batch in hand; its lease expires and a
	// new router routes everything.
	tok := acquire(t, rdb)
	if tok <= old {
		t.Fatalf("new token %d not above the old %d", tok, old)
	}
	srcNew := redis.NewRouteSource(rdb, routeSrc, routeGroup, "0", 0)
	newer := newRouter(t, rdb, n, srcNew, nil)
	drain(t, newer, srcNew, tok)
	addSource(t, rdb, 100, 50)
	// The old router wakes: it reads the new entries (reads are not
	// fenced) and is refused when it writes them.
	if d, err := srcOld.Deliver(ctx, 64, -1); err != nil || d != 50 {
		t.Fatalf("old deliver: %d, %v", d, err)
	}
	stale := newRouter(t, rdb, n, srcOld, nil)
	if _, err := stale.Step(ctx, old); !errors.Is(err, route.ErrFenced) {
		t.Fatalf("old router's write: %v, want ErrFenced", err)
	}
	if stale.Stats().Fenced.Load() != 1 {
		t.Errorf("fenced %d times, want 1", stale.Stats().Fenced.Load())
	}
	drain(t, newer, srcNew, tok)
	checkRouted(t, rdb, n)
	// Its renewal fails too: it has lost the role.
	if ok, err := redis.NewRouteLease(rdb, routeSrc, 0).Renew(ctx, old, time.Minute); ok || err != nil {
		t.Errorf("old renew: %v, %v; want false", ok, err)
	}
}

// TestRoutersRacingForTheRoleRouteExactlyOnce runs three routers at once
// while the producer adds entries and the lease is taken from its holder
// again and again (as if it expired while the holder was paused): each
// entry lands once, in order, in its partition.
func TestRoutersRacingForTheRoleRouteExactlyOnce(t *testing.T) {
	for _, mode := range []string{"server", "cluster"} {
		t.Run(mode, func(t *testing.T) {
			var rdb goredis.UniversalClient
			if mode == "server" {
				rdb = redistest.Start(t).Client(t)
			} else {
				rdb = redistest.StartCluster(t, 3, 0).Client(t)
			}
			const n, total = 3, 3000
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			routers := make([]*route.Router, 3)
			for i := range routers {
				routers[i] = newRouter(t, rdb, n, nil, nil)
				wg.Go(func() { _ = routers[i].Run(ctx) })
			}
			for k := range 30 {
				addSource(t, rdb, k*100, 100)
				rdb.Del(context.Background(), redis.LeaseKey(routeSrc)) // the holder's lease "expires"
			}
			done := eventually.Within(20*time.Second, func() bool {
				var routed int64
				for p := range n {
					routed += rdb.XLen(context.Background(), redis.PartitionStream(routeSrc, p)).Val()
				}
				return routed >= total && rdb.XPending(context.Background(), routeSrc, routeGroup).Val().Count == 0
			})
			cancel()
			wg.Wait()
			if !done {
				for i, r := range routers {
					st := r.Stats()
					t.Logf("router %d: routed %d already %d batches %d fenced %d leases %d holding %d", i, st.Routed.Load(), st.Already.Load(), st.Batches.Load(), st.Fenced.Load(), st.Leases.Load(), st.Holding.Load())
				}
				t.Logf("pending %+v, lease %q", rdb.XPending(context.Background(), routeSrc, routeGroup).Val(), rdb.Get(context.Background(), redis.LeaseKey(routeSrc)).Val())
				t.Fatal("not every entry was routed in time")
			}
			var leases, fenced int64
			for _, r := range routers {
				leases += r.Stats().Leases.Load()
				fenced += r.Stats().Fenced.Load()
			}
			t.Logf("%d leases, %d fenced writes", leases, fenced)
			checkRouted(t, rdb, n)
		})
	}
}

// An entry of 10,000 field values (a hostile producer; Lua cannot unpack
// it) is routed in its place in the order, once, and does not stall the
// entries behind it.
func TestRouterRoutesAnEntryTooLargeForTheScript(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	addSource(t, rdb, 0, 10)
	huge := []any{"XADD", routeSrc, "*", "userId", "user-3"}
	for i := range 5000 {
		huge = append(huge, fmt.Sprintf("f%d", i), "v")
	}
	if err := rdb.Do(ctx, huge...).Err(); err != nil {
		t.Fatal(err)
	}
	addSource(t, rdb, 10, 10)
	tok := acquire(t, rdb)
	src := redis.NewRouteSource(rdb, routeSrc, routeGroup, "0", 0)
	r := newRouter(t, rdb, 2, src, nil)
	drain(t, r, src, tok)
	// Routed again (a crash before the acknowledgement): refused, once.
	if _, err := redis.NewPartitionWriter(rdb, routeSrc, 2).Write(ctx, tok, wantEntries(t, rdb, 2)); err != nil {
		t.Fatal(err)
	}
	checkRouted(t, rdb, 2)
}

// wantEntries returns the source's entries by partition, as the router
// would write them.
func wantEntries(t *testing.T, rdb goredis.UniversalClient, n int) [][]route.Entry {
	t.Helper()
	parts := make([][]route.Entry, n)
	for _, e := range rawRange(t, rdb, routeSrc) {
		p := route.Partition(e.fields, n)
		parts[p] = append(parts[p], route.Entry{ID: e.id, Fields: e.fields})
	}
	return parts
}
