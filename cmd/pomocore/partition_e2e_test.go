package main

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/eventually"
	"github.com/pomocore/pomocore/internal/logtest"
	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/redis"
)

// partitionWorkload XADDs the main server's entries under explicit ids
// (one a second from base): 30 users over known apps and sites, session
// ends, entries without a userId, and, 25 minutes after its first copy, a
// producer retry of one activity (same pomodoroUsageLogId and userId,
// new stream id), which must count once.
func partitionWorkload(t *testing.T, rdb goredis.UniversalClient, base time.Time) {
	t.Helper()
	ctx := context.Background()
	apps := [][2]string{{"Xcode", ""}, {"Google Chrome", "https://github.com/x"}, {"Slack", ""}, {"Google Chrome", "https://youtube.com/w"}, {"Figma", ""}}
	ts := base.Add(-time.Hour)
	add := func(ms int64, f []string) {
		args := []any{"XADD", "pattern_match_stream", strconv.FormatInt(ms, 10) + "-0"}
		for _, s := range f {
			args = append(args, s)
		}
		if err := rdb.Do(ctx, args...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 600 {
		user := fmt.Sprintf("user-%02d", i%30)
		if i%97 == 96 {
			user = ""
		}
		a := apps[i%len(apps)]
		f := contractEntry(user, a[0], a[1], float64(10+i%50), ts, i%40 == 39, "pomodoroUsageLogId", fmt.Sprintf("%024x", i+1))
		add(base.UnixMilli()+int64(i)*1000, f)
	}
	retry := contractEntry("retry-user", "Xcode", "", 100, ts, false, "pomodoroUsageLogId", fmt.Sprintf("%024x", 9999))
	add(base.Add(15*time.Minute).UnixMilli(), retry)
	add(base.Add(40*time.Minute).UnixMilli(), retry) // the producer's retry, 25 minutes later
}

// boards reads every leaderboard key with its members and scores (of
// every master of a Cluster).
func boards(t *testing.T, rdb goredis.UniversalClient) map[string]map[string]float64 {
	t.Helper()
	ctx := context.Background()
	out := map[string]map[string]float64{}
	var keys []string
	if cc, ok := rdb.(*goredis.ClusterClient); ok {
		var mu sync.Mutex
		if err := cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error {
			ks, err := c.Keys(ctx, "leaderboard:*").Result()
			mu.Lock()
			keys = append(keys, ks...)
			mu.Unlock()
			return err
		}); err != nil {
			t.Fatal(err)
		}
	} else {
		keys = rdb.Keys(ctx, "leaderboard:*").Val()
	}
	for _, k := range keys {
		out[k] = map[string]float64{}
		for _, z := range rdb.ZRangeWithScores(ctx, k, 0, -1).Val() {
			out[k][z.Member.(string)] = z.Score
		}
	}
	return out
}

// The main server's one stream, routed to 2 partition streams and worked
// by 2 processes, gives the leaderboards, session events and dead letters
// of the same stream worked by one process, and a producer retry 25
// minutes later counts once through the router.
func TestTwoPartitionsThroughTheRouterEqualOneStream(t *testing.T) {
	t.Run("redis-server", func(t *testing.T) { testTwoPartitions(t, false) })
	// On a Cluster the commits take three steps with applied records,
	// which the partitions must keep apart (RecordScope).
	t.Run("cluster", func(t *testing.T) { testTwoPartitions(t, true) })
}

// drained waits until every entry of stream was delivered to group and
// acknowledged (waitDrained, for any client).
func drained(t *testing.T, rdb goredis.UniversalClient, stream, group string, logs ...*logtest.Buffer) {
	t.Helper()
	ctx := context.Background()
	if !eventually.Within(time.Minute, func() bool {
		gs, err := rdb.XInfoGroups(ctx, stream).Result()
		info, infoErr := rdb.XInfoStream(ctx, stream).Result()
		for _, g := range gs {
			if err == nil && infoErr == nil && g.Name == group && g.LastDeliveredID == info.LastGeneratedID && g.Pending == 0 {
				return true
			}
		}
		return false
	}) {
		var all string
		for _, l := range logs {
			all += l.String()
		}
		t.Fatalf("%s not drained; logs:\n%s", stream, all)
	}
}

func testTwoPartitions(t *testing.T, cluster bool) {
	base := time.Now().Add(-45 * time.Minute).Truncate(time.Second)
	type server struct {
		addr string
		rdb  goredis.UniversalClient
	}
	start := func() server {
		if cluster {
			c := redistest.StartCluster(t, 3, 0)
			return server{strings.Join(c.Addrs(), ","), c.Client(t)}
		}
		s := redistest.Start(t)
		return server{s.Addr(), s.Client(t)}
	}
	env := func(addr string, parts, part int) map[string]string {
		mode := "standalone"
		if cluster {
			mode = "cluster"
		}
		return map[string]string{"REDIS_ADDR": addr, "REDIS_MODE": mode, "POMOCORE_DATA_DIR": filepath.Join(t.TempDir(), "data"),
			"POMOCORE_BLOCK": "20ms", "POMOCORE_LEARN_INTERVAL": "0", "POMOCORE_PATTERN_RELOAD": "0",
			"POMOCORE_PARTITIONS": strconv.Itoa(parts), "POMOCORE_PARTITION": strconv.Itoa(part),
			"POMOCORE_CONSUMER": fmt.Sprintf("c%d", part)}
	}
	ctx := context.Background()

	one := start()
	rdb1 := one.rdb
	partitionWorkload(t, rdb1, base)
	stop, logs := startRun(t, env(one.addr, 1, 0))
	drained(t, rdb1, "pattern_match_stream", "pattern_match_group", logs)
	stop()

	two := start()
	rdb2 := two.rdb
	partitionWorkload(t, rdb2, base)
	e0, e1 := env(two.addr, 2, 0), env(two.addr, 2, 1)
	e0["POMOCORE_TRIM_INPUT"] = "true" // the source is trimmed once routed
	e0["POMOCORE_HTTP_ADDR"], e1["POMOCORE_HTTP_ADDR"] = anyPort, anyPort
	stop0, logs0 := startRun(t, e0)
	stop1, logs1 := startRun(t, e1)
	httpAddrs := []string{httpAddrOf(t, logs0), httpAddrOf(t, logs1)}
	drained(t, rdb2, "pattern_match_stream", "pattern_match_group", logs0, logs1)
	for p := range 2 {
		s := redis.PartitionStream("pattern_match_stream", p)
		if !eventually.Within(30*time.Second, func() bool { return rdb2.Exists(ctx, s).Val() == 1 }) {
			t.Fatalf("no partition stream %s:\n%s\n%s", s, logs0.String(), logs1.String())
		}
		drained(t, rdb2, s, "pattern_match_group", logs0, logs1)
	}
	if !eventually.Within(30*time.Second, func() bool { return rdb2.XLen(ctx, "pattern_match_stream").Val() == 0 }) {
		t.Errorf("the routed source holds %d entries: not trimmed", rdb2.XLen(ctx, "pattern_match_stream").Val())
	}
	// The router's metrics: one process holds the role; between them
	// every source entry was routed once; the source group has no lag.
	var routed, holding float64
	for _, addr := range httpAddrs {
		m := metricsOf(t, addr)
		routed += metricValue(t, m, `pomocore_route_entries_total{outcome="routed"}`)
		holding += metricValue(t, m, "pomocore_route_holding")
		if lag := metricValue(t, m, "pomocore_route_source_lag"); lag != 0 {
			t.Errorf("source lag %v after the drain, want 0", lag)
		}
	}
	if routed != 602 || holding != 1 {
		t.Errorf("routed %v entries, %v routers holding the role; want 602 and 1", routed, holding)
	}
	stop0()
	stop1()

	want, got := boards(t, rdb1), boards(t, rdb2)
	if len(want) == 0 {
		t.Fatal("the one-stream run made no leaderboards")
	}
	if !maps.EqualFunc(want, got, maps.Equal) {
		keys := slices.Sorted(maps.Keys(want))
		t.Errorf("leaderboards differ: one stream %d keys, two partitions %d", len(want), len(got))
		for _, k := range keys {
			if !maps.Equal(want[k], got[k]) {
				t.Errorf("%s: %v, want %v", k, got[k], want[k])
				break
			}
		}
	}
	seoul, _ := time.LoadLocation("Asia/Seoul")
	day := pomocore.LeaderboardKey("leaderboard", "Development", pomocore.PeriodsAt(base.Add(-time.Hour), seoul).Day)
	if s := rdb2.ZScore(ctx, day, "retry-user").Val(); s != 100 {
		t.Errorf("%s retry-user = %v, want 100 (the retry counted once)", day, s)
	}
	for _, s := range []string{"session_score_stream", "pattern_match_stream:dead"} {
		if a, b := rdb1.XLen(ctx, s).Val(), rdb2.XLen(ctx, s).Val(); a != b || a == 0 {
			t.Errorf("%s: %d entries with two partitions, %d with one (want equal, > 0)", s, b, a)
		}
	}
	// Each partition got a share.
	for p := range 2 {
		if n := rdb2.XInfoStream(ctx, redis.PartitionStream("pattern_match_stream", p)).Val().EntriesAdded; n < 100 {
			t.Errorf("partition %d got %d entries: the users are not spread", p, n)
		}
	}
}

// metricValue returns the value of the sample named name (with its
// labels, as exposed) in a /metrics page.
func metricValue(t *testing.T, page, name string) float64 {
	t.Helper()
	for _, l := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("no metric %s in:\n%s", name, page)
	return 0
}
