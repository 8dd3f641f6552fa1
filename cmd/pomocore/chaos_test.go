//go:build chaos

package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/internal/bench"
	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/internal/storedump"
	"github.com/pomocore/pomocore/sqlite"
)

// The chaos harness. Short form (CI): go test -tags chaos -run TestChaos ./cmd/pomocore/
// Long form: add -chaos.events 100000 -chaos.kills 100 -chaos.outage 60s.
var (
	chaosEvents = flag.Int("chaos.events", 20000, "events to produce")
	chaosProcs  = flag.Int("chaos.procs", 3, "pipeline processes")
	chaosKills  = flag.Int("chaos.kills", 10, "SIGKILLs, one every 1-3 s, each followed by a restart")
	chaosOutage = flag.Duration("chaos.outage", 8*time.Second, "how long the store is locked against writes, once")
	chaosSeed   = flag.Uint64("chaos.seed", 1, "random seed of the schedule")
)

// malformed lists the kinds of bad entry the workload sprinkles in, with the
// dead-letter kind each must get.
var malformed = []struct {
	kind   string
	mutate func(f []string) []string
}{
	{"missing_user", func(f []string) []string { return setField(f, "userId", "") }},
	{"bad_duration", func(f []string) []string { return setField(f, "duration", "NaN") }},
	{"bad_duration", func(f []string) []string { return setField(f, "duration", "Inf") }},
	{"bad_duration", func(f []string) []string { return setField(f, "duration", "-500") }},
	{"bad_duration", func(f []string) []string { return setField(f, "duration", "ten") }},
	{"bad_timestamp", func(f []string) []string { return setField(f, "timestamp", "1764000000000") }},
	{"bad_int", func(f []string) []string { return setField(f, "session", "2.5") }},
	{"bad_bool", func(f []string) []string { return setField(f, "isEnd", "perhaps") }},
	{"bad_date", func(f []string) []string { return setField(f, "sessionDate", "yesterday") }},
	{"bad_object_id", func(f []string) []string { return append(f, "categorizedDataId", "not-an-id") }},
	{"duplicate_field", func(f []string) []string { return append(f, "duration", "1") }},
	{"oversized_field", func(f []string) []string { return setField(f, "title", strings.Repeat("x", 20000)) }},
	{"invalid_utf8", func(f []string) []string { return setField(f, "title", "bad \xff\xfe bytes") }},
	{"control_characters", func(f []string) []string { return setField(f, "userId", "evil\x00user") }},
	{"bad_object_id", func(f []string) []string { return append(f, "pomodoroUsageLogId", "zz") }},
}

// endsAlthoughDead reports whether a rejected entry of this kind still ends
// its session (its user, session and date are intact): every kind but those
// that break one of them, or isEnd itself.
func endsAlthoughDead(kind string) bool {
	switch kind {
	case "missing_user", "bad_int", "bad_date", "control_characters", "bad_bool":
		return false
	}
	return true
}

func setField(f []string, name, v string) []string {
	out := append([]string(nil), f...)
	for i := 0; i < len(out); i += 2 {
		if out[i] == name {
			out[i+1] = v
		}
	}
	return out
}

type chaosEvent struct {
	fields   []string
	dead     string // expected dead-letter kind, "" for a valid event
	user     string
	category string
	duration float64
	ts       time.Time
	end      bool
	session  int
	date     string
	key      string // app|url|title
}

var chaosApps = []struct{ app, url string }{
	{"Xcode 15", ""}, {"Figma", ""}, {"Steam", ""}, {"Slack", ""}, {"KakaoTalk", ""},
	{"Google Chrome", "https://github.com/pomocore/pipeline"}, {"Safari", "https://www.youtube.com/watch?v=x"},
	{"Whale", "https://www.coupang.com/vp/products/1"}, {"Arc", "https://linux.com/news"}, {"zz unknown", ""},
}

func chaosWorkload(n int, seed uint64) []chaosEvent {
	r := rand.New(rand.NewPCG(seed, 7))
	m, err := classify.Build(classify.DefaultPatterns(), pomocore.Uncategorized)
	if err != nil {
		panic(err)
	}
	loc, _ := time.LoadLocation("Asia/Seoul")
	base := time.Now().Add(-5 * 24 * time.Hour)
	evs := make([]chaosEvent, n)
	for i := range evs {
		a := chaosApps[r.IntN(len(chaosApps))]
		title := "window " + strconv.Itoa(r.IntN(20))
		ts := base.Add(time.Duration(r.Int64N(int64(5 * 24 * time.Hour))))
		e := chaosEvent{
			user: "user" + strconv.Itoa(r.IntN(50)), category: m.Classify(a.app, a.url, title).Category,
			duration: float64(1+r.IntN(300)) + float64(r.IntN(4))/4, ts: ts, end: r.IntN(20) == 0,
			session: 1 + r.IntN(8), date: ts.In(loc).Format(time.DateOnly), key: a.app + "|" + a.url + "|" + title,
		}
		e.fields = []string{
			"userId", e.user, "app", a.app, "title", title, "url", a.url,
			"duration", strconv.FormatFloat(e.duration, 'g', -1, 64), "timestamp", strconv.FormatInt(ts.Unix(), 10),
			"session", strconv.Itoa(e.session), "sessionDate", e.date, "sessionMinutes", "25", "isEnd", strconv.FormatBool(e.end),
		}
		if i%97 == 13 {
			bad := malformed[(i/97)%len(malformed)]
			e.fields, e.dead = bad.mutate(e.fields), bad.kind
		}
		evs[i] = e
	}
	return evs
}

// xaddRaw writes an entry's fields as given (duplicates included).
func xaddRaw(ctx context.Context, rdb goredis.UniversalClient, stream string, fields []string) (string, error) {
	args := make([]any, 0, 3+len(fields))
	args = append(args, "XADD", stream, "*")
	for _, f := range fields {
		args = append(args, f)
	}
	return rdb.Do(ctx, args...).Text()
}

// lockStore holds SQLite's write lock for d: every pipeline write waits out
// its busy timeout and fails, as against a store that is down.
func lockStore(t *testing.T, dir string, d time.Duration) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "pomocore.db")+"?_txlock=exclusive&_pragma=busy_timeout(30000)")
	if err != nil {
		t.Errorf("lock store: %v", err)
		return
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Errorf("lock store: %v", err)
		return
	}
	if _, err := tx.Exec(`CREATE TABLE IF NOT EXISTS chaos_lock (x)`); err != nil {
		t.Errorf("lock store: %v", err)
	}
	time.Sleep(d) // the outage itself
	_ = tx.Rollback()
}

func TestChaos(t *testing.T) {
	srv := redistest.Start(t)
	runChaos(t, srv.Client(t), []string{"REDIS_ADDR=" + srv.Addr()}, nil)
}

// TestChaosCluster is the chaos run on a Redis Cluster of 3 masters with 2
// replicas each, committing with REDIS_REPLICA_WAITS=1, plus two failovers:
// halfway through, the master of a leaderboard key is killed (a commit
// applies on some masters and fails on another); after the last event is
// produced, the master of the input stream (its group, its pending entries,
// the acknowledgements).
func TestChaosCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 2)
	rdb := cl.Client(t)
	const stream = "pattern_match_stream"
	failover := func(what, key string) {
		t.Logf("failover: killing %s, the master of %s (%s)", cl.KillMasterOf(t, key), key, what)
		start := time.Now()
		cl.WaitHealthy(t, 30*time.Second)
		t.Logf("failover: healthy again after %v", time.Since(start).Round(time.Millisecond))
	}
	runChaos(t, rdb, []string{"REDIS_ADDR=" + strings.Join(cl.Addrs(), ","), "REDIS_MODE=cluster", "REDIS_REPLICA_WAITS=1"},
		&chaosFailovers{
			midRun: func(boards []string) {
				// A board of the run, on another master than the stream.
				ctx := context.Background()
				streamNode, err := rdb.MasterForKey(ctx, stream)
				if err != nil {
					t.Error(err)
					return
				}
				for _, key := range boards {
					if node, err := rdb.MasterForKey(ctx, key); err == nil && node.Options().Addr != streamNode.Options().Addr {
						failover("a leaderboard", key)
						return
					}
				}
				t.Error("no leaderboard key on another master than the stream")
			},
			afterProduce: func() {
				// What the producer wrote must be on a replica first: the
				// producer is not under test.
				waitReplicated(t, rdb, stream)
				failover("the input stream", stream)
			},
		})
}

// deliveredUpTo reports whether the group's last delivered id is at or
// past id.
func deliveredUpTo(rdb goredis.UniversalClient, stream, group, id string) bool {
	gs, err := rdb.XInfoGroups(context.Background(), stream).Result()
	if err != nil {
		return false
	}
	for _, g := range gs {
		if g.Name == group {
			lm, ls, err1 := pomocore.ParseEntryID(g.LastDeliveredID)
			wm, ws, err2 := pomocore.ParseEntryID(id)
			return err1 == nil && err2 == nil && (lm > wm || lm == wm && ls >= ws)
		}
	}
	return false
}

// waitReplicated waits until every replica of key's master has what the
// master had when called.
func waitReplicated(t *testing.T, rdb *goredis.ClusterClient, key string) {
	ctx := context.Background()
	node, err := rdb.MasterForKey(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	offset := func(info, field string) []int64 {
		var out []int64
		for _, line := range strings.Split(info, "\n") {
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, field+":") {
				n, _ := strconv.ParseInt(strings.TrimPrefix(line, field+":"), 10, 64)
				out = append(out, n)
			}
			if strings.HasPrefix(line, "slave") && strings.Contains(line, "offset=") && field == "slave" {
				for _, kv := range strings.Split(line, ",") {
					if v, ok := strings.CutPrefix(kv, "offset="); ok {
						n, _ := strconv.ParseInt(v, 10, 64)
						out = append(out, n)
					}
				}
			}
		}
		return out
	}
	m := offset(node.Info(ctx, "replication").Val(), "master_repl_offset")
	if len(m) != 1 {
		t.Fatal("no master_repl_offset")
	}
	waitUntil(t, "the replicas to catch up", 10*time.Second, "", func() bool {
		rs := offset(node.Info(ctx, "replication").Val(), "slave")
		for _, r := range rs {
			if r < m[0] {
				return false
			}
		}
		return len(rs) > 0
	})
}

// chaosFailovers are the failovers of a cluster chaos run.
type chaosFailovers struct {
	midRun       func(boards []string)
	afterProduce func()
}

func runChaos(t *testing.T, rdb goredis.UniversalClient, redisEnv []string, fo *chaosFailovers) {
	bin := buildBinary(t)
	ctx := context.Background()
	const stream, group = "pattern_match_stream", "pattern_match_group"
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	logPath := filepath.Join(dir, "pomocore.log")
	env := append([]string{
		"POMOCORE_DATA_DIR=" + dataDir, "MONGO_URI=", "OPENAI_API_KEY=",
		"POMOCORE_BATCH_SIZE=200", "POMOCORE_CLAIM_IDLE=1s", "POMOCORE_BLOCK=100ms", "POMOCORE_CONSUMER_IDLE=3s",
		"POMOCORE_SHUTDOWN_TIMEOUT=10s", "POMOCORE_LOG_LEVEL=info",
	}, redisEnv...)
	evs := chaosWorkload(*chaosEvents, *chaosSeed)
	loc, _ := time.LoadLocation("Asia/Seoul")
	sched := rand.New(rand.NewPCG(*chaosSeed, 11))

	var mu sync.Mutex
	procs := make([]*proc, *chaosProcs)
	procLogs := make([]string, *chaosProcs)
	var allLogs []string
	started := 0
	launch := func(i int) {
		started++
		procLogs[i] = logPath + "." + strconv.Itoa(started)
		allLogs = append(allLogs, procLogs[i])
		procs[i] = startProc(t, bin, env, "", procLogs[i])
	}
	for i := range procs {
		launch(i)
	}
	start := time.Now()

	// Produce at a rate that spreads the events over the kill schedule.
	killSpan := time.Duration(*chaosKills) * 2 * time.Second
	interval := killSpan / time.Duration(len(evs)+1)
	ids := make([]string, len(evs))
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		next := time.Now()
		for i := range evs {
			id, err := xaddRaw(ctx, rdb, stream, evs[i].fields)
			// A cluster refuses writes while a failover is under way: the
			// entry was not written, so the producer tries again.
			for refused := time.Now(); err != nil && (goredis.HasErrorPrefix(err, "CLUSTERDOWN") || goredis.HasErrorPrefix(err, "TRYAGAIN")) &&
				time.Since(refused) < 30*time.Second; {
				time.Sleep(50 * time.Millisecond)
				id, err = xaddRaw(ctx, rdb, stream, evs[i].fields)
			}
			if err != nil {
				t.Errorf("xadd: %v", err)
				return
			}
			ids[i] = id
			next = next.Add(interval)
			if d := time.Until(next); d > 0 && i%50 == 0 {
				time.Sleep(d)
			}
		}
	}()

	// A cluster failover halfway through.
	failoverDone := make(chan struct{})
	go func() {
		defer close(failoverDone)
		if fo != nil {
			var boards []string
			for _, e := range evs[:100] {
				if e.dead == "" {
					boards = append(boards, pomocore.LeaderboardKey("leaderboard", e.category, pomocore.PeriodsAt(e.ts, loc).Month))
				}
			}
			time.Sleep(killSpan / 2)
			fo.midRun(boards)
		}
	}()

	// The store outage, once, a third of the way through.
	outageDone := make(chan struct{})
	go func() {
		defer close(outageDone)
		time.Sleep(killSpan / 3)
		lockStore(t, dataDir, *chaosOutage)
	}()

	// Kill a random process every 1-3 s and restart it under a new name.
	kills := 0
	for kills < *chaosKills {
		time.Sleep(time.Second + time.Duration(sched.Int64N(int64(2*time.Second))))
		i := sched.IntN(len(procs))
		mu.Lock()
		_ = procs[i].cmd.Process.Signal(syscall.SIGKILL)
		<-procs[i].done
		launch(i)
		mu.Unlock()
		kills++
	}
	<-produced
	<-outageDone
	<-failoverDone
	if fo != nil {
		fo.afterProduce()
	}
	produceEnd := time.Since(start)

	drainStart := time.Now()
	for deadline := time.Now().Add(3 * time.Minute); ; {
		// Entries-read and lag are not reliable after a failover (Redis
		// 7.0 replicas do not keep them): compare the last delivered id.
		r, p, lag := groupState(t, rdb, stream, group)
		if p == 0 && deliveredUpTo(rdb, stream, group, ids[len(ids)-1]) {
			break
		}
		if time.Now().After(deadline) {
			for _, l := range procLogs {
				data, _ := os.ReadFile(l)
				t.Logf("%s tail:\n%s", l, tail(data, 3000))
			}
			t.Fatalf("timed out waiting for the group to drain: read %d of %d, %d pending, lag %d", r, len(evs), p, lag)
		}
		time.Sleep(20 * time.Millisecond)
	}
	drain := time.Since(drainStart)
	// A process signalled before its runtime has installed the handler dies
	// of the signal: wait until each is running before the SIGTERM.
	for i := range procs {
		waitUntil(t, "a restarted process to run", time.Minute, procLogs[i], func() bool {
			b, _ := os.ReadFile(procLogs[i])
			return strings.Contains(string(b), "pipeline running")
		})
	}
	for _, p := range procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	cleanExits := 0
	for _, p := range procs {
		select {
		case <-p.done:
			if p.err == nil {
				cleanExits++
			} else {
				t.Logf("process %d: %v", p.cmd.Process.Pid, p.err)
			}
		case <-time.After(30 * time.Second):
			t.Error("a process did not exit 30s after SIGTERM")
		}
	}

	// What must be there.
	tax := pomocore.DefaultTaxonomy()
	wantScores := map[string]map[string]float64{}
	wantEnds := map[string]int{}
	wantDead := map[string]string{}
	wantKeys := map[string]string{}
	valid, ends := 0, 0
	for i, e := range evs {
		if e.dead != "" {
			wantDead[ids[i]] = e.dead
			if e.end && endsAlthoughDead(e.dead) {
				ends++
				wantEnds[e.user+"|"+e.date+"|"+strconv.Itoa(e.session)]++
			}
			continue
		}
		valid++
		wantKeys[e.key] = e.category
		if e.end {
			ends++
			wantEnds[e.user+"|"+e.date+"|"+strconv.Itoa(e.session)]++
		}
		cats := []string{e.category}
		if tax.IsWork(e.category) {
			cats = append(cats, "work")
		}
		for _, c := range cats {
			for _, p := range pomocore.PeriodsAt(e.ts, loc).All() {
				k := pomocore.LeaderboardKey("leaderboard", c, p)
				if wantScores[k] == nil {
					wantScores[k] = map[string]float64{}
				}
				wantScores[k][e.user] += e.duration
			}
		}
	}

	// What is there.
	type check struct {
		what          string
		want, got     int
		mismatches    int
		firstMismatch string
	}
	var checks []check
	add := func(c check) {
		checks = append(checks, c)
		if c.mismatches > 0 || c.want != c.got {
			t.Errorf("%s: want %d, got %d, %d mismatches (first: %s)", c.what, c.want, c.got, c.mismatches, c.firstMismatch)
		}
	}

	c := check{what: "leaderboard scores"}
	for key, members := range wantScores {
		for member, want := range members {
			c.want++
			got, err := rdb.ZScore(ctx, key, member).Result()
			if err == nil {
				c.got++
			}
			if err != nil || math.Abs(got-want) > 1e-9*math.Max(1, want) {
				c.mismatches++
				if c.firstMismatch == "" {
					c.firstMismatch = fmt.Sprintf("%s %s = %v, want %v", key, member, got, want)
				}
			}
		}
	}
	var keys atomic.Int64
	if err := bench.ScanKeys(ctx, rdb, "leaderboard:*", func(context.Context, goredis.UniversalClient, string) { keys.Add(1) }); err != nil {
		t.Error(err)
	}
	add(c)
	add(check{what: "leaderboard keys", want: len(wantScores), got: int(keys.Load())})

	st, err := sqlite.Open(ctx, sqlite.Config{Dir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	patterns, _ := st.LoadPatterns(ctx)
	catID := map[string]pomocore.ObjectID{}
	for _, p := range patterns {
		catID[p.Category] = p.ID
	}
	cds, logs, err := storedump.SQLiteDir(ctx, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	c = check{what: "usage logs", want: valid, got: len(logs)}
	byID := map[pomocore.ObjectID]pomocore.UsageLog{}
	for _, l := range logs {
		byID[l.ID] = l
	}
	cdByID := map[pomocore.ObjectID]pomocore.CategorizedData{}
	for _, d := range cds {
		cdByID[d.ID] = d
	}
	for i, e := range evs {
		if e.dead != "" {
			continue
		}
		id, _ := pomocore.ObjectIDFromEntryID(ids[i], 0)
		l, ok := byID[id]
		cd := cdByID[l.CategorizedDataID]
		if !ok || l.UserID != e.user || l.Duration != e.duration || l.Session != e.session || l.SessionDate != e.date ||
			l.Timestamp != float64(e.ts.Unix()) || l.CategoryID != catID[e.category] || cd.App+"|"+cd.URL+"|"+cd.Title != e.key {
			c.mismatches++
			if c.firstMismatch == "" {
				c.firstMismatch = fmt.Sprintf("entry %s: %+v (found %v)", ids[i], l, ok)
			}
		}
	}
	add(c)
	c = check{what: "categorized data", want: len(wantKeys), got: len(cds)}
	for _, d := range cds {
		if cat, ok := wantKeys[d.App+"|"+d.URL+"|"+d.Title]; !ok || d.CategoryID != catID[cat] {
			c.mismatches++
			if c.firstMismatch == "" {
				c.firstMismatch = fmt.Sprintf("%+v", d)
			}
		}
	}
	add(c)

	ses, _ := rdb.XRange(ctx, "session_score_stream", "-", "+").Result()
	c = check{what: "session events", got: len(ses)}
	gotEnds := map[string]int{}
	for _, m := range ses {
		gotEnds[fmt.Sprint(m.Values["userId"], "|", m.Values["sessionDate"], "|", m.Values["session"])]++
	}
	for k, n := range wantEnds {
		c.want += n
		if gotEnds[k] != n {
			c.mismatches++
			if c.firstMismatch == "" {
				c.firstMismatch = fmt.Sprintf("%s: %d events, want %d", k, gotEnds[k], n)
			}
		}
	}
	add(c)

	dl, _ := rdb.XRange(ctx, stream+":dead", "-", "+").Result()
	c = check{what: "dead letters", want: len(wantDead), got: len(dl)}
	kinds := map[string]int{}
	for _, m := range dl {
		id, _ := m.Values["dead.id"].(string)
		kind, _ := m.Values["dead.kind"].(string)
		reason, _ := m.Values["dead.reason"].(string)
		kinds[kind]++
		if wantDead[id] != kind || reason == "" {
			c.mismatches++
			if c.firstMismatch == "" {
				c.firstMismatch = fmt.Sprintf("%s: kind %q reason %q, want kind %q", id, kind, reason, wantDead[id])
			}
		}
	}
	add(c)
	_, pending, _ := groupState(t, rdb, stream, group)
	add(check{what: "pending entries", want: 0, got: int(pending)})
	add(check{what: "clean SIGTERM exits", want: len(procs), got: cleanExits})
	consumers, _ := rdb.XInfoConsumers(ctx, stream, group).Result()

	count := func(msg string) int {
		n := 0
		for _, l := range allLogs {
			data, _ := os.ReadFile(l)
			n += strings.Count(string(data), msg)
		}
		return n
	}

	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "chaos run\t\n")
	fmt.Fprintf(tw, "events\t%d (%d valid, %d malformed, %d session ends)\n", len(evs), valid, len(wantDead), ends)
	fmt.Fprintf(tw, "processes\t%d\n", len(procs))
	fmt.Fprintf(tw, "SIGKILLs (each restarted)\t%d\n", kills)
	fmt.Fprintf(tw, "store outage\t%v (SQLite write lock held)\n", *chaosOutage)
	fmt.Fprintf(tw, "produce + chaos phase\t%v\n", produceEnd.Round(time.Millisecond))
	fmt.Fprintf(tw, "drain after the last kill\t%v\n", drain.Round(time.Millisecond))
	fmt.Fprintf(tw, "store write failures retried (batches, start-ups)\t%d, %d\n", count(`msg="store failed`), count(`msg="store not reachable`))
	fmt.Fprintf(tw, "reclaims of idle entries (XAUTOCLAIM)\t%d\n", count(`msg="reclaimed idle entries"`))
	fmt.Fprintf(tw, "batches with entries another consumer had committed\t%d\n", count(`msg="entries already committed by another consumer`))
	fmt.Fprintf(tw, "dead consumers removed from the group\t%d\n", count(`msg="removed idle consumers`))
	fmt.Fprintf(tw, "consumers left in the group\t%d\n", len(consumers))
	fmt.Fprintf(tw, "dead letters by kind\t%v\n", sortedKinds(kinds))
	fmt.Fprintf(tw, "\t\n")
	fmt.Fprintf(tw, "CHECK\tWANT\tGOT\tMISMATCHES\n")
	total := 0
	for _, c := range checks {
		mm := c.mismatches
		if c.want != c.got {
			mm += int(math.Abs(float64(c.want - c.got)))
		}
		total += mm
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", c.what, c.want, c.got, mm)
	}
	fmt.Fprintf(tw, "TOTAL MISMATCHES\t\t\t%d\n", total)
	tw.Flush()
	fmt.Fprint(os.Stdout, b.String())
	if total > 0 {
		for _, l := range procLogs {
			data, _ := os.ReadFile(l)
			t.Logf("%s tail:\n%s", l, tail(data, 3000))
		}
	}
}

func sortedKinds(m map[string]int) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
