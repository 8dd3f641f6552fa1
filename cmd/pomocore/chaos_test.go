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
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/internal/redistest"
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
	{"unknown_field", func(f []string) []string { return append(f, "isAdmin", "true") }},
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
func xaddRaw(ctx context.Context, rdb *goredis.Client, stream string, fields []string) (string, error) {
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
	bin := buildBinary(t)
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	const stream, group = "pomodoro_pattern_match_stream", "pomodoro_pattern_match_group"
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	logPath := filepath.Join(dir, "pomocore.log")
	env := []string{
		"REDIS_ADDR=" + srv.Addr(), "POMOCORE_DATA_DIR=" + dataDir, "MONGO_URI=", "OPENAI_API_KEY=",
		"POMOCORE_BATCH_SIZE=200", "POMOCORE_CLAIM_IDLE=1s", "POMOCORE_BLOCK=100ms", "POMOCORE_CONSUMER_IDLE=3s",
		"POMOCORE_SHUTDOWN_TIMEOUT=10s", "POMOCORE_LOG_LEVEL=info",
	}
	evs := chaosWorkload(*chaosEvents, *chaosSeed)
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
	produceEnd := time.Since(start)

	drainStart := time.Now()
	waitUntil(t, "the group to drain", 3*time.Minute, logPath, func() bool {
		r, p, lag := groupState(t, rdb, stream, group)
		return r >= int64(len(evs)) && p == 0 && lag == 0
	})
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
	loc, _ := time.LoadLocation("Asia/Seoul")
	tax := pomocore.DefaultTaxonomy()
	wantScores := map[string]map[string]float64{}
	wantEnds := map[string]int{}
	wantDead := map[string]string{}
	wantKeys := map[string]string{}
	valid, ends := 0, 0
	for i, e := range evs {
		if e.dead != "" {
			wantDead[ids[i]] = e.dead
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
	keys, _ := rdb.Keys(ctx, "leaderboard:*").Result()
	add(c)
	add(check{what: "leaderboard keys", want: len(wantScores), got: len(keys)})

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
	cds, logs, err := st.Snapshot(ctx)
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
