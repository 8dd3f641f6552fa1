package redis_test

import (
	"context"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/redis"
)

const (
	stream  = "in"
	group   = "g"
	dead    = "in:dead"
	session = "session_score_stream"
)

// committerBackends runs f against a real redis-server, a real Redis
// Cluster (3 masters: the stream and the leaderboards in different slots),
// a master found through a real Sentinel, and miniredis.
func committerBackends(t *testing.T, f func(t *testing.T, rdb goredis.UniversalClient)) {
	t.Run("redis-server", func(t *testing.T) {
		srv := redistest.Start(t)
		f(t, srv.Client(t))
	})
	t.Run("redis-server-three-steps", func(t *testing.T) {
		srv := redistest.Start(t)
		f(t, threeSteps{srv.Client(t)})
	})
	t.Run("cluster", func(t *testing.T) {
		if testing.Short() {
			t.Skip("short: no cluster")
		}
		f(t, redistest.StartCluster(t, 3, 0).Client(t))
	})
	t.Run("sentinel", func(t *testing.T) {
		if testing.Short() {
			t.Skip("short: no sentinel")
		}
		master := redistest.Start(t)
		rdb, err := redis.NewClient(redis.Config{Mode: redis.Sentinel, Addrs: []string{redistest.StartSentinel(t, master.Addr())}, MasterName: "mymaster"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rdb.Close() })
		f(t, rdb)
	})
	t.Run("miniredis", func(t *testing.T) {
		m := miniredis.RunT(t)
		rdb := goredis.NewClient(&goredis.Options{Addr: m.Addr()})
		t.Cleanup(func() { _ = rdb.Close() })
		f(t, rdb)
	})
}

// deliver adds n entries and reads them into consumer c, returning ids.
func deliver(t *testing.T, rdb goredis.UniversalClient, n int) []string {
	t.Helper()
	ctx := context.Background()
	if err := rdb.XGroupCreateMkStream(ctx, stream, group, "0").Err(); err != nil && !goredis.HasErrorPrefix(err, "BUSYGROUP") {
		t.Fatal(err)
	}
	var ids []string
	for i := 0; i < n; i++ {
		id, err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []string{"n", strconv.Itoa(i)}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if _, err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: group, Consumer: "c", Streams: []string{stream, ">"}, Count: int64(n), Block: -1}).Result(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// threeSteps marks a single server whose committers take three steps, as
// on a Cluster, instead of one script.
type threeSteps struct{ *goredis.Client }

// newCommitter returns the committer an instance would use on rdb: one
// script per commit on a single server, three steps on a Cluster (or when
// rdb is marked threeSteps).
func newCommitter(t *testing.T, rdb goredis.UniversalClient) *redis.Committer {
	t.Helper()
	_, three := rdb.(threeSteps)
	return newCommitterWith(t, rdb, three)
}

// newThreeStepCommitter returns a committer that always takes three steps.
func newThreeStepCommitter(t *testing.T, rdb goredis.UniversalClient) *redis.Committer {
	t.Helper()
	return newCommitterWith(t, rdb, true)
}

func newCommitterWith(t *testing.T, rdb goredis.UniversalClient, threeSteps bool) *redis.Committer {
	t.Helper()
	cfg := redis.CommitterConfig{Stream: stream, Group: group, DeadStream: dead, SessionStream: session, DedupWindow: 2 * time.Hour}
	newC := redis.NewCommitter
	if threeSteps {
		newC = redis.NewThreeStepCommitter
	}
	c, err := newC(rdb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCommitterAppliesEffectsOnce(t *testing.T) {
	committerBackends(t, func(t *testing.T, rdb goredis.UniversalClient) {
		ctx := context.Background()
		ids := deliver(t, rdb, 4)
		c := newCommitter(t, rdb)
		a, b := 0.1, 0.2
		daily := []string{"leaderboard:Development:2026-11-24", "leaderboard:work:2026-11-24"}
		entries := []pipeline.CommitEntry{
			{ID: ids[0], Increment: &pipeline.Increment{Keys: daily, Member: "u1", Delta: a}},
			{ID: ids[1], Increment: &pipeline.Increment{Keys: daily, Member: "u1", Delta: b},
				SessionEnd: &pipeline.SessionEnd{UserID: "u1", SessionDate: "2026-11-24", Session: 3}},
			{ID: ids[2], Increment: &pipeline.Increment{Keys: daily[:1], Member: "u2", Delta: 1e-7}},
			{ID: ids[3], Dead: &pipeline.DeadLetter{Reason: "duration: bad", Kind: "bad_duration", Fields: []string{"userId", "u3", "duration", "NaN"}}},
		}
		res, err := c.Commit(ctx, entries)
		if err != nil {
			t.Fatal(err)
		}
		if res.Applied != 4 || res.Skipped != 0 {
			t.Fatalf("first commit = %+v, want 4 applied", res)
		}
		// The same batch again (a redelivery, or a retry after a lost reply)
		// changes nothing.
		res, err = c.Commit(ctx, entries)
		if err != nil {
			t.Fatal(err)
		}
		if res.Applied != 0 || res.Skipped != 4 {
			t.Fatalf("second commit = %+v, want 4 skipped", res)
		}

		if got := rdb.ZScore(ctx, daily[0], "u1").Val(); got != a+b {
			t.Errorf("u1 Development = %.17g, want %.17g (the float sum, to the last bit)", got, a+b)
		}
		if got := rdb.ZScore(ctx, daily[1], "u1").Val(); got != a+b {
			t.Errorf("u1 work = %.17g", got)
		}
		if got := rdb.ZScore(ctx, daily[0], "u2").Val(); got != 1e-7 {
			t.Errorf("u2 = %.17g, want 1e-7", got)
		}
		if n := rdb.ZCard(ctx, daily[1]).Val(); n != 1 {
			t.Errorf("work board has %d members, want 1 (u2 is not work)", n)
		}
		ses := rdb.XRange(ctx, session, "-", "+").Val()
		if len(ses) != 1 || ses[0].Values["userId"] != "u1" || ses[0].Values["sessionDate"] != "2026-11-24" || ses[0].Values["session"] != "3" {
			t.Errorf("session stream = %+v, want one event u1 2026-11-24 3", ses)
		}
		dl := rdb.XRange(ctx, dead, "-", "+").Val()
		if len(dl) != 1 || dl[0].Values["dead.id"] != ids[3] || dl[0].Values["dead.reason"] != "duration: bad" ||
			dl[0].Values["dead.kind"] != "bad_duration" || dl[0].Values["userId"] != "u3" || dl[0].Values["duration"] != "NaN" {
			t.Errorf("dead stream = %+v", dl)
		}
		if p := rdb.XPending(ctx, stream, group).Val(); p.Count != 0 {
			t.Errorf("pending = %d, want 0", p.Count)
		}
	})
}

// On a single server a commit is one script: no token, no applied record.
func TestCommitterOneScriptOnASingleServer(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	ids := deliver(t, rdb, 3)
	key := "leaderboard:Design:2026-11-24"
	var entries []pipeline.CommitEntry
	for _, id := range ids {
		entries = append(entries, pipeline.CommitEntry{ID: id, Increment: &pipeline.Increment{Keys: []string{key}, Member: "u", Delta: 2}})
	}
	res, err := newCommitter(t, rdb).Commit(ctx, entries)
	if err != nil || res.Applied != 3 {
		t.Fatalf("commit = %+v, %v", res, err)
	}
	if got := rdb.ZScore(ctx, key, "u").Val(); got != 6 {
		t.Errorf("score = %v, want 6", got)
	}
	for _, k := range []string{redis.AppliedKey(key), "{" + stream + "}:intent", "{" + stream + "}:tokens"} {
		if rdb.Exists(ctx, k).Val() != 0 {
			t.Errorf("%s exists: the commit took the three steps", k)
		}
	}
}

func TestCommitterSkipsEntriesAckedElsewhere(t *testing.T) {
	committerBackends(t, func(t *testing.T, rdb goredis.UniversalClient) {
		ctx := context.Background()
		ids := deliver(t, rdb, 2)
		// Another consumer committed ids[0] first.
		if err := rdb.XAck(ctx, stream, group, ids[0]).Err(); err != nil {
			t.Fatal(err)
		}
		key := "leaderboard:Game:2026-W48"
		res, err := newCommitter(t, rdb).Commit(ctx, []pipeline.CommitEntry{
			{ID: ids[0], Increment: &pipeline.Increment{Keys: []string{key}, Member: "u", Delta: 100},
				SessionEnd: &pipeline.SessionEnd{UserID: "u", SessionDate: "2026-11-24", Session: 1}},
			{ID: ids[1], Increment: &pipeline.Increment{Keys: []string{key}, Member: "u", Delta: 5}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Applied != 1 || res.Skipped != 1 {
			t.Fatalf("commit = %+v, want 1 applied 1 skipped", res)
		}
		if got := rdb.ZScore(ctx, key, "u").Val(); got != 5 {
			t.Errorf("score = %v, want 5 (the skipped entry must not count)", got)
		}
		if n := rdb.XLen(ctx, session).Val(); n != 0 {
			t.Errorf("session events = %d, want 0 (the skipped entry's)", n)
		}
	})
}

func TestCommitterFailedApplyIsRetriedWithTheFirstEffects(t *testing.T) {
	committerBackends(t, func(t *testing.T, rdb goredis.UniversalClient) {
		ctx := context.Background()
		ids := deliver(t, rdb, 2)
		good, bad := "leaderboard:SNS:2026-M11", "leaderboard:Game:2026-M11"
		// The key turns into a string after the commit checked the types
		// and before it applies: the apply step fails midway.
		rdb.AddHook(&setAfterTypes{rdb: rdb, key: bad})
		// A three-step commit applies some effects, then fails; the retry
		// is an instance's usual committer (on a single server, one script:
		// it finds the entries' token and takes the three steps too).
		c := newThreeStepCommitter(t, rdb)
		first := []pipeline.CommitEntry{
			{ID: ids[0], Increment: &pipeline.Increment{Keys: []string{good}, Member: "u", Delta: 1}},
			{ID: ids[1], Increment: &pipeline.Increment{Keys: []string{bad}, Member: "u", Delta: 2}},
		}
		_, err := c.Commit(ctx, first)
		if err == nil {
			t.Fatal("commit onto a string key succeeded")
		}
		if !strings.Contains(err.Error(), "WRONGTYPE") {
			t.Errorf("error %q does not name the cause", err)
		}
		if p := rdb.XPending(ctx, stream, group).Val(); p.Count != 2 {
			t.Errorf("pending = %d, want 2: nothing may be acknowledged before every effect applied", p.Count)
		}
		// The operator fixes the key; the entries come back classified
		// differently (a new pattern, another LLM answer): the effects the
		// first attempt fixed still win, and the key that had them already
		// is not incremented twice.
		if err := rdb.Del(ctx, bad).Err(); err != nil {
			t.Fatal(err)
		}
		other := "leaderboard:Design:2026-M11"
		second := []pipeline.CommitEntry{
			{ID: ids[0], Increment: &pipeline.Increment{Keys: []string{other}, Member: "u", Delta: 1}},
			{ID: ids[1], Increment: &pipeline.Increment{Keys: []string{other}, Member: "u", Delta: 2}},
		}
		res, err := newCommitter(t, rdb).Commit(ctx, second)
		if err != nil || res.Applied != 2 {
			t.Fatalf("retry = %+v, %v; want 2 applied", res, err)
		}
		if got := rdb.ZScore(ctx, good, "u").Val(); got != 1 {
			t.Errorf("%s = %v, want 1 (applied once)", good, got)
		}
		if got := rdb.ZScore(ctx, bad, "u").Val(); got != 2 {
			t.Errorf("%s = %v, want 2", bad, got)
		}
		if n := rdb.Exists(ctx, other).Val(); n != 0 {
			t.Errorf("the retry's own classification was applied too")
		}
		if n := rdb.HLen(ctx, "{"+stream+"}:intent").Val(); n != 1 {
			t.Errorf("intents left after the acknowledgement: %d, want 1 (the crashed attempt's effects)", n)
		}
		// The trim forgets them once the group's floor passed them.
		deliver(t, rdb, 1)
		if _, err := newCommitter(t, rdb).TrimApplied(ctx); err != nil {
			t.Fatal(err)
		}
		if n := rdb.HLen(ctx, "{"+stream+"}:intent").Val(); n != 0 {
			t.Errorf("intents left after a trim: %d", n)
		}
	})
}

// Two consumers holding the same entries (one claimed them from the other,
// which was slow, not dead) commit them at once, each with its own
// classification: each entry counts once, in one place.
func TestCommitterConcurrentCommitsOfTheSameEntries(t *testing.T) {
	committerBackends(t, func(t *testing.T, rdb goredis.UniversalClient) {
		ctx := context.Background()
		for round := 0; round < 20; round++ {
			ids := deliver(t, rdb, 50)
			var wg sync.WaitGroup
			for w, cat := range []string{"A", "B"} {
				// On a single server, one commits in one script and the
				// other in three steps: instances may differ.
				c := newCommitterWith(t, rdb, w == 1)
				entries := make([]pipeline.CommitEntry, len(ids))
				for i, id := range ids {
					entries[i] = pipeline.CommitEntry{ID: id, Increment: &pipeline.Increment{
						Keys: []string{"leaderboard:" + cat + ":r" + strconv.Itoa(round)}, Member: "u", Delta: 1}}
				}
				// The second one sees them in another order and split.
				if w == 1 {
					slices.Reverse(entries)
				}
				wg.Go(func() {
					for _, part := range [][]pipeline.CommitEntry{entries[:20], entries[20:]} {
						for {
							if _, err := c.Commit(ctx, part); err == nil {
								break
							}
						}
					}
				})
			}
			wg.Wait()
			a := rdb.ZScore(ctx, "leaderboard:A:r"+strconv.Itoa(round), "u").Val()
			b := rdb.ZScore(ctx, "leaderboard:B:r"+strconv.Itoa(round), "u").Val()
			if a+b != 50 {
				t.Fatalf("round %d: A %v + B %v = %v, want 50: every entry counted once", round, a, b, a+b)
			}
			if p := rdb.XPending(ctx, stream, group).Val(); p.Count != 0 {
				t.Fatalf("round %d: %d pending", round, p.Count)
			}
		}
	})
}

// Records are trimmed below the group's floor, and a stale commit of
// entries trimmed away applies nothing.
func TestCommitterTrimsAppliedRecords(t *testing.T) {
	committerBackends(t, func(t *testing.T, rdb goredis.UniversalClient) {
		ctx := context.Background()
		key := "leaderboard:Development:2026-11-24"
		batch := func(ids []string) []pipeline.CommitEntry {
			var es []pipeline.CommitEntry
			for _, id := range ids {
				es = append(es, pipeline.CommitEntry{ID: id, Increment: &pipeline.Increment{Keys: []string{key}, Member: "u", Delta: 1}})
			}
			return es
		}
		c := newThreeStepCommitter(t, rdb)
		var done [][]pipeline.CommitEntry
		for range 3 {
			b := batch(deliver(t, rdb, 10))
			if _, err := c.Commit(ctx, b); err != nil {
				t.Fatal(err)
			}
			done = append(done, b)
		}
		record := redis.AppliedKey(key)
		if n := rdb.ZCard(ctx, record).Val(); n != 3 {
			t.Fatalf("record has %d members, want 3 (one per batch)", n)
		}
		// A later entry, in a later millisecond, stays pending: the floor
		// stops at it.
		last := done[2][9].ID
		ms, _, _ := strings.Cut(last, "-")
		next, _ := strconv.ParseInt(ms, 10, 64)
		id := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: stream, ID: strconv.FormatInt(next+1, 10) + "-0", Values: []string{"n", "x"}}).Val()
		if err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: group, Consumer: "c", Streams: []string{stream, ">"}, Block: -1}).Err(); err != nil {
			t.Fatal(err)
		}
		pendingIDs := []string{id}
		removed, err := c.TrimApplied(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if removed != 3 {
			t.Errorf("trim removed %d records, want 3", removed)
		}
		// A stale consumer commits the first batch again: nothing changes.
		res, err := newCommitter(t, rdb).Commit(ctx, done[0])
		if err != nil || res.Applied != 0 {
			t.Fatalf("stale commit = %+v, %v", res, err)
		}
		if got := rdb.ZScore(ctx, key, "u").Val(); got != 30 {
			t.Errorf("score = %v, want 30", got)
		}
		if _, err := c.Commit(ctx, batch(pendingIDs)); err != nil {
			t.Fatal(err)
		}
		if got := rdb.ZScore(ctx, key, "u").Val(); got != 31 {
			t.Errorf("score = %v, want 31", got)
		}
	})
}

func TestCommitterAggregatesLargeBatch(t *testing.T) {
	committerBackends(t, func(t *testing.T, rdb goredis.UniversalClient) {
		ctx := context.Background()
		const n = 1000
		ids := deliver(t, rdb, n)
		entries := make([]pipeline.CommitEntry, n)
		want := map[string]float64{}
		for i, id := range ids {
			user := "u" + strconv.Itoa(i%7)
			d := float64(i%300) + 0.25
			entries[i] = pipeline.CommitEntry{ID: id, Increment: &pipeline.Increment{
				Keys: []string{"leaderboard:Design:2026-11-24", "leaderboard:Design:2026-W48"}, Member: user, Delta: d}}
			want[user] += d
		}
		res, err := newCommitter(t, rdb).Commit(ctx, entries)
		if err != nil || res.Applied != n {
			t.Fatalf("commit = %+v, %v", res, err)
		}
		for user, w := range want {
			got := rdb.ZScore(ctx, "leaderboard:Design:2026-W48", user).Val()
			if math.Abs(got-w) > 1e-9*w {
				t.Errorf("%s = %v, want %v", user, got, w)
			}
		}
	})
}

func TestCommitterEmptyBatch(t *testing.T) {
	c, err := redis.NewCommitter(goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"}), redis.CommitterConfig{Stream: "s", Group: "g", DeadStream: "d", SessionStream: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.Commit(context.Background(), nil); err != nil || !reflect.DeepEqual(res, pipeline.CommitResult{}) {
		t.Fatalf("empty commit = %+v, %v", res, err)
	}
	if _, err := redis.NewCommitter(nil, redis.CommitterConfig{}); err == nil {
		t.Fatal("empty config accepted")
	}
}

func TestCommitterSetsRetention(t *testing.T) {
	committerBackends(t, func(t *testing.T, rdb goredis.UniversalClient) {
		ctx := context.Background()
		ids := deliver(t, rdb, 2)
		if err := rdb.XAck(ctx, stream, group, ids[1]).Err(); err != nil { // committed elsewhere
			t.Fatal(err)
		}
		day, forever, skipped := "leaderboard:SNS:2026-11-24", "leaderboard:SNS:2026-M11", "leaderboard:Game:2026-11-24"
		_, err := newCommitter(t, rdb).Commit(ctx, []pipeline.CommitEntry{
			{ID: ids[0], Increment: &pipeline.Increment{Keys: []string{day, forever}, TTLs: []time.Duration{48 * time.Hour, 0}, Member: "u", Delta: 1}},
			{ID: ids[1], Increment: &pipeline.Increment{Keys: []string{skipped}, TTLs: []time.Duration{time.Hour}, Member: "u", Delta: 1}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if ttl := rdb.TTL(ctx, day).Val(); ttl <= 47*time.Hour || ttl > 48*time.Hour {
			t.Errorf("daily key TTL = %v, want ~48h", ttl)
		}
		if ttl := rdb.TTL(ctx, forever).Val(); ttl >= 0 {
			t.Errorf("key without retention has TTL %v", ttl)
		}
		if n := rdb.Exists(ctx, skipped).Val(); n != 0 {
			t.Errorf("a skipped entry's key was touched")
		}
	})
}

func TestCommitterCapsDeadLetters(t *testing.T) {
	committerBackends(t, func(t *testing.T, rdb goredis.UniversalClient) {
		ctx := context.Background()
		ids := deliver(t, rdb, 300)
		c, err := redis.NewCommitter(rdb, redis.CommitterConfig{Stream: stream, Group: group, DeadStream: dead, SessionStream: session, DeadMaxLen: 100})
		if err != nil {
			t.Fatal(err)
		}
		var entries []pipeline.CommitEntry
		for _, id := range ids {
			entries = append(entries, pipeline.CommitEntry{ID: id, Dead: &pipeline.DeadLetter{Reason: "r", Kind: "k", Fields: []string{"a", "b"}}})
		}
		if _, err := c.Commit(ctx, entries); err != nil {
			t.Fatal(err)
		}
		if n := rdb.XLen(ctx, dead).Val(); n < 100 || n >= 300 {
			t.Errorf("dead letters kept = %d, want about 100 (MAXLEN ~)", n)
		}
	})
}

// setAfterTypes is a go-redis hook that sets key to a string once, right
// after the first pipeline of TYPE commands (a three-step commit's type
// check, before its begin step).
type setAfterTypes struct {
	rdb  goredis.UniversalClient
	key  string
	done bool
}

func (h *setAfterTypes) DialHook(next goredis.DialHook) goredis.DialHook          { return next }
func (h *setAfterTypes) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook { return next }
func (h *setAfterTypes) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		err := next(ctx, cmds)
		if !h.done && len(cmds) > 0 && cmds[0].Name() == "type" {
			h.done = true
			h.rdb.Set(ctx, h.key, "not a zset", 0)
		}
		return err
	}
}
