package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/compare"
	"github.com/pomocore/pomocore/doctor"
	"github.com/pomocore/pomocore/internal/eventually"
	"github.com/pomocore/pomocore/internal/ferrettest"
	"github.com/pomocore/pomocore/internal/legacy"
	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/mongo"
	"github.com/pomocore/pomocore/redis"
)

// cutover is the fixture of the cut-over path (docs/cutover.md): a real
// redis-server, FerretDB holding production's category_pattern (the main
// server's category-patterns.json), the
// stand-in for the deployed data server on the deployed group, and the
// environments of pomocore's shadow and live runs.
type cutover struct {
	t          *testing.T
	rdb        *goredis.Client
	old        *legacy.Service
	patterns   []pomocore.CategoryPattern
	env        map[string]string // the production settings
	shadowEnv  map[string]string // the same with POMOCORE_SHADOW=true
	at         time.Time
	day        string
	stream     string
	liveGroup  string
	shadowKeys string
}

func newCutover(t *testing.T) *cutover {
	srv := redistest.Start(t)
	uri := ferrettest.Start(t)
	ctx := context.Background()
	st, err := mongo.Open(ctx, mongo.Config{URI: uri, Database: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "main-server-category-patterns.json"))
	if err != nil {
		t.Fatal(err)
	}
	production, err := classify.ParsePatterns(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SeedPatterns(ctx, production); err != nil { // production's category_pattern, as the main server's initializer wrote it
		t.Fatal(err)
	}
	patterns, err := st.LoadPatterns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Close(ctx)
	env := map[string]string{"REDIS_ADDR": srv.Addr(), "MONGO_URI": uri, "MONGO_DATABASE": "prod", "POMOCORE_BLOCK": "20ms",
		"POMOCORE_CLAIM_IDLE": "200ms"}
	shadowEnv := maps.Clone(env)
	shadowEnv["POMOCORE_SHADOW"] = "true"
	at := time.Now().Add(-time.Hour)
	rdb := srv.Client(t)
	return &cutover{t: t, rdb: rdb, old: &legacy.Service{Client: rdb, Patterns: patterns}, patterns: patterns, env: env, shadowEnv: shadowEnv,
		at: at, day: pomocore.PeriodsAt(at, pomocore.DefaultLocation()).Day, stream: pomocore.DefaultStream, liveGroup: pomocore.DefaultGroup,
		shadowKeys: "pomocore-shadow"}
}

// add adds an entry to the input stream and returns its id.
func (c *cutover) add(fields []string) string {
	c.t.Helper()
	id, err := c.rdb.XAdd(context.Background(), &goredis.XAddArgs{Stream: c.stream, Values: fields}).Result()
	if err != nil {
		c.t.Fatal(err)
	}
	return id
}

// stepOld lets the stand-in read and count (and acknowledge) until it has
// read n entries.
func (c *cutover) stepOld(n int) {
	c.t.Helper()
	read := 0
	var err error
	if !eventually.Within(20*time.Second, func() bool {
		var ids []string
		ids, err = c.old.Step(context.Background(), 100, 10*time.Millisecond, nil)
		read += len(ids)
		return err != nil || read >= n
	}) || err != nil || read != n {
		c.t.Fatalf("the stand-in read %d entries, want %d (err %v)", read, n, err)
	}
}

// run runs a command in-process, returning its exit code and output.
func (c *cutover) run(env map[string]string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := runMain(args, envOf(env), &out, &errOut)
	return code, out.String(), errOut.String()
}

// boards returns every sorted set under prefix: key -> member -> score.
func (c *cutover) boards(prefix string) map[string]map[string]float64 {
	c.t.Helper()
	ctx := context.Background()
	out := map[string]map[string]float64{}
	for _, k := range c.rdb.Keys(ctx, prefix+":*").Val() {
		if c.rdb.Type(ctx, k).Val() != "zset" {
			continue
		}
		out[k] = map[string]float64{}
		for _, z := range c.rdb.ZRangeWithScores(ctx, k, 0, -1).Val() {
			out[k][z.Member.(string)] = z.Score
		}
	}
	return out
}

// expect adds seconds of user to category's leaderboards (and work's, for
// a work category) of the fixture's day, week and month.
func expect(want map[string]map[string]float64, prefix, category, user string, seconds float64) {
	cats := []string{category}
	if pomocore.DefaultTaxonomy().IsWork(category) {
		cats = append(cats, "work")
	}
	for _, cat := range cats {
		for _, p := range pomocore.PeriodsAt(time.Now().Add(-time.Hour), pomocore.DefaultLocation()).All() {
			k := pomocore.LeaderboardKey(prefix, cat, p)
			if want[k] == nil {
				want[k] = map[string]float64{}
			}
			want[k][user] += seconds
		}
	}
}

// redisState is every key's type and DUMP, for proving a command wrote
// nothing.
func (c *cutover) redisState() map[string]string {
	c.t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	for _, k := range c.rdb.Keys(ctx, "*").Val() {
		out[k] = c.rdb.Type(ctx, k).Val() + ":" + c.rdb.Dump(ctx, k).Val()
	}
	return out
}

// TestCutOverRunbook runs docs/cutover.md step by step against a stand-in
// of the deployed data server that behaves as the CONTRACT says (double
// counting a producer retry, substring classification, malformed entries
// counted, a SIGTERM leaving a counted batch pending): pomocore in shadow
// mode beside it changes nothing the main server reads; `pomocore compare`
// reports exactly the planted differences, each attributed; `pomocore
// doctor` writes nothing and reports the groups and what the stopped
// stand-in left pending; `pomocore cutover adopt` decides that backlog by
// the usage logs; pomocore live takes the producer's retries across the
// switch; the way back (pomocore stopped, a killed pomocore's batch handed
// back with the runbook's script, the stand-in live again) loses nothing.
// At the end every activity of the test's own record is on the
// leaderboards once, plus once per retry the deployed service read.
func TestCutOverRunbook(t *testing.T) {
	c := newCutover(t)
	ctx := context.Background()
	if err := c.old.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}

	// 1. The shadow, in its own group created at $.
	stopShadow, shadowLogs := startRun(t, c.shadowEnv)
	if !eventually.Within(30*time.Second, func() bool {
		gs, _ := c.rdb.XInfoGroups(ctx, c.stream).Result()
		return slices.ContainsFunc(gs, func(g goredis.XInfoGroup) bool { return g.Name == "pomocore_shadow" })
	}) {
		t.Fatalf("the shadow group was never created:\n%s", shadowLogs.String())
	}

	// 2. Traffic, with the planted differences.
	retryID := pomocore.NewObjectID(c.at).Hex()
	kafkaURL := "https://kafka.apache.org/documentation"
	oldKafka := c.old.Classify("Google Chrome", kafkaURL)
	ours := layered(t, c.patterns) // the shadow's classifier: category_pattern over the built-in set
	ourKafka := ours.Classify("Google Chrome", kafkaURL, "w").Category
	if oldKafka != "AFK" || ourKafka == oldKafka {
		t.Fatalf("fixture: the deployed classifier says %s, pomocore %s; want AFK (\"afk\" in \"kafka\") and another", oldKafka, ourKafka)
	}
	// The runbook's other examples, which pomocore's patterns do not know:
	// the shadow (no LLM here) counts them as Uncategorized.
	foxURL, loginURL := "https://www.fox.com/shows", "https://login.example.org/authorize?redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fcb"
	oldFox, oldLogin := c.old.Classify("Google Chrome", foxURL), c.old.Classify("Google Chrome", loginURL)
	if c := ours.Classify("Google Chrome", foxURL, "w"); oldFox != "SNS" || c.Source != pomocore.SourceDefault {
		t.Fatalf("fixture: fox.com is %s to the deployed classifier (want SNS: \"x.com\" in it), %+v to pomocore's patterns (want none)", oldFox, c)
	}
	if c := ours.Classify("Google Chrome", loginURL, "w"); oldLogin != "Development" || c.Source != pomocore.SourceDefault {
		t.Fatalf("fixture: the login URL is %s to the deployed classifier (want Development: \"localhost\" in it), %+v to pomocore's patterns (want none)", oldLogin, c)
	}
	c.add(contractEntry("u1", "Figma", "", 1500, c.at, true))
	c.add(contractEntry("u1", "Xcode", "", 300, c.at, false))
	c.add(contractEntry("u2", "slack", "", 600, c.at, false, "pomodoroUsageLogId", retryID))
	c.add(contractEntry("u2", "slack", "", 600, c.at, false, "pomodoroUsageLogId", retryID)) // the producer's retry
	c.add(contractEntry("u3", "Google Chrome", kafkaURL, 900, c.at, false))                  // "afk" in "kafka"
	malformed := c.add(contractEntry("u4", "Figma", "", 200000, c.at, false))                // over POMOCORE_MAX_DURATION
	c.add(contractEntry("u7", "Google Chrome", foxURL, 400, c.at, false))                    // "x.com" in "fox.com"
	c.add(contractEntry("u8", "Google Chrome", loginURL, 500, c.at, false))                  // "localhost" in the query
	c.stepOld(8)
	waitDrained(t, c.rdb, c.stream, "pomocore_shadow", shadowLogs)

	// The shadow wrote only under its own names.
	if n := c.rdb.XLen(ctx, pomocore.DefaultSessionStream).Val(); n != 0 {
		t.Errorf("session events = %d, want 0: a shadow emits none", n)
	}
	for _, k := range []string{c.stream + ":dead", "{" + c.stream + "}:seen", "{" + c.stream + "}:intent"} {
		if c.rdb.Exists(ctx, k).Val() != 0 {
			t.Errorf("the shadow wrote the live %s", k)
		}
	}
	if dl := c.rdb.XRange(ctx, c.stream+":shadow-dead", "-", "+").Val(); len(dl) != 1 || dl[0].Values["dead.id"] != malformed {
		t.Errorf("shadow dead letters = %+v, want the malformed entry", dl)
	}
	if n := len(mongoDocs(t, c.env["MONGO_URI"], "prod", mongo.UsageLogCollection)) + len(mongoDocs(t, c.env["MONGO_URI"], "prod", mongo.CategorizedDataCollection)); n != 0 {
		t.Errorf("the shadow wrote %d documents", n)
	}
	live := map[string]map[string]float64{}
	expect(live, "leaderboard", "Design", "u1", 1500)
	expect(live, "leaderboard", "Development", "u1", 300)
	expect(live, "leaderboard", "Meetings", "u2", 1200) // counted twice
	expect(live, "leaderboard", oldKafka, "u3", 900)
	expect(live, "leaderboard", "Design", "u4", 200000)
	expect(live, "leaderboard", oldFox, "u7", 400)
	expect(live, "leaderboard", oldLogin, "u8", 500)
	if got := c.boards("leaderboard"); !maps.EqualFunc(got, live, maps.Equal) {
		t.Fatalf("live leaderboards after the stand-in = %v, want %v", got, live)
	}
	shadow := map[string]map[string]float64{}
	expect(shadow, c.shadowKeys, "Design", "u1", 1500)
	expect(shadow, c.shadowKeys, "Development", "u1", 300)
	expect(shadow, c.shadowKeys, "Meetings", "u2", 600)
	expect(shadow, c.shadowKeys, ourKafka, "u3", 900)
	expect(shadow, c.shadowKeys, pomocore.Uncategorized, "u7", 400)
	expect(shadow, c.shadowKeys, pomocore.Uncategorized, "u8", 500)
	if got := c.boards(c.shadowKeys); !maps.EqualFunc(got, shadow, maps.Equal) {
		t.Errorf("shadow leaderboards = %v, want %v", got, shadow)
	}

	// 3. compare: exactly the planted differences, each attributed.
	code, out, errOut := c.run(c.env, "compare", "-from", c.day, "-json")
	if code != 0 {
		t.Fatalf("compare exit %d: %s", code, errOut)
	}
	var rep compare.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("compare -json: %v\n%s", err, out)
	}
	differing := map[string]string{} // "<key> <member>" -> kinds
	for _, k := range rep.Keys {
		for _, d := range k.Differences {
			var kinds []string
			for _, e := range d.Explanations {
				kinds = append(kinds, e.Kind)
			}
			differing[k.Key+" "+d.Member] = strings.Join(kinds, ",")
			if d.Unexplained != 0 {
				t.Errorf("%s %s: %+v unexplained", k.Key, d.Member, d)
			}
		}
	}
	wantDiff := map[string]string{
		"Meetings:" + c.day + " u2": compare.DoubleCount, "work:" + c.day + " u2": compare.DoubleCount,
		oldKafka + ":" + c.day + " u3": compare.SubstringMatch, ourKafka + ":" + c.day + " u3": compare.SubstringMatch,
		"Design:" + c.day + " u4": compare.Malformed, "work:" + c.day + " u4": compare.Malformed,
		oldFox + ":" + c.day + " u7": compare.SubstringMatch, "Uncategorized:" + c.day + " u7": compare.SubstringMatch,
		oldLogin + ":" + c.day + " u8": compare.SubstringMatch, "work:" + c.day + " u8": compare.SubstringMatch,
		"Uncategorized:" + c.day + " u8": compare.SubstringMatch,
	}
	if pomocore.DefaultTaxonomy().IsWork(ourKafka) {
		wantDiff["work:"+c.day+" u3"] = compare.SubstringMatch
	}
	if !maps.Equal(differing, wantDiff) {
		t.Errorf("compare differences = %v\nwant %v", differing, wantDiff)
	}
	if s := rep.Summary; s.Unexplained != 0 || len(s.Explained) != 3 || s.Explained[compare.DoubleCount] != 2*600 ||
		s.Explained[compare.Malformed] != 2*200000 || s.AgreeShare >= 1 {
		t.Errorf("summary = %+v", s)
	}
	code, text, errOut := c.run(c.env, "compare", "-from", c.day)
	if code != 0 || !strings.Contains(text, "unexplained: 0.0 seconds") || !strings.Contains(text, compare.SubstringMatch) {
		t.Errorf("compare text (exit %d, %s):\n%s", code, errOut, text)
	}

	// 4.1 Preflight again: doctor reports the shadow group and the deployed
	// group, drained, and writes nothing.
	before := c.redisState()
	code, out, errOut = c.run(c.env, "doctor", "-json")
	if after := c.redisState(); !maps.Equal(before, after) {
		t.Errorf("doctor changed Redis: %d keys before, %d after", len(before), len(after))
	}
	if code != 0 {
		t.Errorf("doctor exit %d (%s):\n%s", code, errOut, out)
	}
	groups := doctorGroups(t, out)
	if g, ok := groups["pomocore_shadow"]; !ok || g.Pending != 0 {
		t.Errorf("doctor: shadow group = %+v (found %v), want it with nothing pending", g, ok)
	}
	if g := groups[c.liveGroup]; g.Pending != 0 || g.Lag != 0 {
		t.Errorf("doctor: deployed group = %+v, want it drained", g)
	}
	code, text, _ = c.run(c.env, "doctor")
	if code != 0 || !strings.Contains(text, "group pomocore_shadow") {
		t.Errorf("doctor text (exit %d):\n%s", code, text)
	}

	// 4.2 Stop the shadow; its group has nothing pending. 4.3 Remove its
	// group (its keys are kept, for comparisons).
	stopShadow()
	if p := c.rdb.XPending(ctx, c.stream, "pomocore_shadow").Val(); p.Count != 0 {
		t.Errorf("the stopped shadow left %d pending", p.Count)
	}
	if err := c.rdb.XGroupDestroy(ctx, c.stream, "pomocore_shadow").Err(); err != nil {
		t.Fatal(err)
	}

	// The main server goes on producing, now with its documents (the test's
	// record), and the deployed service sets their categories.
	rec := newRecord(t, c, ours)
	c.old.UsageLogs = rec
	a := rec.sendN(20)
	rec.retry(a[0])
	a[0].times++ // the deployed service counts a retry again (CONTRACT §7)
	c.stepOld(21)

	// 4.4 Stop the deployed consumer with a backlog: SIGTERM while it
	// acknowledges a batch of 50 it counted (10 acknowledged, 40 counted and
	// pending); another worker's batch read and not yet counted (3, their
	// usage logs without categoryId); 12 entries unread, two of them
	// retries of activities it counted (acknowledged, and pending).
	b := rec.sendN(50)
	sigCtx, sigterm := context.WithCancel(ctx)
	acks := 0
	if ids, err := c.old.Step(sigCtx, 50, 0, func(string) bool {
		if acks == 10 {
			sigterm()
		}
		acks++
		return true
	}); err != nil || len(ids) != 50 {
		t.Fatalf("the stand-in's last batch: %d read, %v", len(ids), err)
	}
	k := rec.sendN(3)
	if err := c.rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: c.liveGroup, Consumer: "data-server", Streams: []string{c.stream, ">"}, Count: 3, Block: -1}).Err(); err != nil {
		t.Fatal(err)
	}
	d := rec.sendN(10)
	rec.retry(b[20])
	rec.retry(a[1])
	if p := c.rdb.XPending(ctx, c.stream, c.liveGroup).Val(); p.Count != 43 || p.Consumers["data-server"] != 43 {
		t.Fatalf("pending after the SIGTERM = %+v, want 43 under data-server (40 counted, 3 not)", p)
	}
	code, out, errOut = c.run(c.env, "doctor", "-json")
	if g := doctorGroups(t, out)[c.liveGroup]; code != 0 || g.Pending != 43 || len(g.Consumers) != 1 || g.Consumers[0].Name != "data-server" || g.Lag != 12 {
		t.Errorf("doctor after the SIGTERM (exit %d, %s): deployed group = %+v, want 43 pending under data-server and a lag of 12", code, errOut, g)
	}

	// Adopt the deployed group's history: the counted batch is acknowledged,
	// the uncounted one left to pomocore, nothing undecided.
	code, out, errOut = c.run(c.env, "cutover", "adopt", "-json")
	if code != 0 {
		t.Fatalf("cutover adopt: exit %d\n%s\n%s", code, out, errOut)
	}
	var adopted redis.AdoptReport
	if err := json.Unmarshal([]byte(out), &adopted); err != nil {
		t.Fatalf("cutover adopt -json: %v\n%s", err, out)
	}
	if adopted.Scanned != 82 || adopted.Acknowledged != 8+21+10 || adopted.NoKey != 6 || adopted.PendingCounted != 40 ||
		adopted.PendingUncounted != 3 || adopted.PendingUnknown != 0 || adopted.Recorded != 1+20+50 {
		t.Errorf("adopt report %+v: want 82 scanned, 39 acknowledged (6 without a key), 40 pending counted, 3 not, 0 undecided, 71 recorded", adopted)
	}
	if p := c.rdb.XPending(ctx, c.stream, c.liveGroup).Val(); p.Count != 3 {
		t.Errorf("pending after adopt = %d, want the 3 uncounted entries", p.Count)
	}

	// Producer retries across the switch: of activities the deployed
	// service counted (acknowledged, pending), of one it read and did not
	// count, of one in the backlog, and again of u2's activity (which it
	// counted twice).
	rec.retry(a[2])
	rec.retry(b[30])
	rec.retry(k[0])
	rec.retry(d[0])
	c.add(contractEntry("u2", "slack", "", 600, c.at, false, "pomodoroUsageLogId", retryID))

	// 4.5 pomocore on the deployed group, with more traffic and retries.
	stopLive, liveLogs := startRun(t, c.env)
	e := rec.sendN(10)
	rec.retry(e[5])
	rec.retry(b[0])
	waitDrained(t, c.rdb, c.stream, c.liveGroup, liveLogs)

	// 5. The way back: pomocore stopped with SIGTERM leaves nothing pending.
	stopLive()
	if p := c.rdb.XPending(ctx, c.stream, c.liveGroup).Val(); p.Count != 0 {
		t.Errorf("pending after pomocore's SIGTERM = %+v, want 0", p)
	}
	// A second pomocore process was killed holding a batch, one of its
	// entries a retry of an activity pomocore counted: not 0, so the
	// runbook's hand-back.
	rec.sendN(5)
	rec.retry(e[0])
	if err := c.rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: c.liveGroup, Consumer: "pomocore-2-4242", Streams: []string{c.stream, ">"}, Count: 100, Block: -1}).Err(); err != nil {
		t.Fatal(err)
	}
	if p := c.rdb.XPending(ctx, c.stream, c.liveGroup).Val(); p.Count != 6 {
		t.Fatalf("pending at the killed pomocore = %+v, want 6", p)
	}
	handback := runbookShell(t, c.rdb.Options().Addr, runbookBlock(t, "handback=$(cat"))
	if got := strings.Fields(handback); !slices.Equal(got, []string{"6", "0", "0"}) {
		t.Errorf("the hand-back printed %q, want 6 handed back, 0 gone, then XPENDING 0", handback)
	}
	e[0].times++ // handed back, a retry the deployed service counts again
	if p := c.rdb.XPending(ctx, c.stream, c.liveGroup).Val(); p.Count != 0 {
		t.Errorf("pending after the hand-back = %+v, want 0", p)
	}

	// The deployed service live again: it reads the handed-back entries,
	// new traffic and retries, of activities pomocore counted and its own.
	g := rec.sendN(10)
	rec.retry(e[1])
	e[1].times++
	rec.retry(g[0])
	g[0].times++
	c.stepOld(6 + 12)

	// Every activity against the record: once, plus once per retry the
	// deployed service read; nothing else doubled (adopt left nothing
	// undecided).
	rec.expect(live)
	if got := c.boards("leaderboard"); !maps.EqualFunc(got, live, maps.Equal) {
		t.Errorf("live leaderboards after the runbook differ from the record:\n%s", rec.explain(got))
	}
	if doubled, readRetries := rec.doubled(), 4; doubled != readRetries+adopted.PendingUnknown {
		t.Errorf("%d activities count twice, want the %d retries the deployed service read plus %d undecided", doubled, readRetries, adopted.PendingUnknown)
	}
	if got := c.boards(c.shadowKeys); !maps.EqualFunc(got, shadow, maps.Equal) {
		t.Errorf("the cut-over changed the shadow's leaderboards: %v", got)
	}
	if p := c.rdb.XPending(ctx, c.stream, c.liveGroup).Val(); p.Count != 0 {
		t.Errorf("pending at the end = %+v", p)
	}
}

// doctorGroups returns the input stream's groups of a `doctor -json` report.
func doctorGroups(t *testing.T, out string) map[string]doctor.GroupState {
	t.Helper()
	var rep doctor.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("doctor -json: %v\n%s", err, out)
	}
	groups := map[string]doctor.GroupState{}
	for _, g := range rep.Facts.InputStream.Groups {
		groups[g.Name] = g
	}
	return groups
}

// layered is the shadow's classifier on patterns: category_pattern over
// the built-in set (POMOCORE_BUILTIN_PATTERNS=fallback, the default).
func layered(t *testing.T, patterns []pomocore.CategoryPattern) *classify.Matcher {
	t.Helper()
	store, err := classify.Build(patterns, pomocore.Uncategorized)
	if err != nil {
		t.Fatal(err)
	}
	builtin, err := classify.Build(classify.DefaultPatterns(), pomocore.Uncategorized)
	if err != nil {
		t.Fatal(err)
	}
	usable, _ := classify.Restrict(patterns, pomocore.DefaultTaxonomy())
	return classify.Layer(store, builtin, usable)
}

// doctor fails (exit 1) on a blocker: here the group pomocore would read
// as is missing while the stream holds entries, so it would count them
// all again.
func TestDoctorExitsNonZeroOnABlocker(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: pomocore.DefaultStream, Values: contractEntry("u1", "Figma", "", 5, time.Now(), false)}).Err(); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := runMain([]string{"doctor"}, envOf(map[string]string{"REDIS_ADDR": srv.Addr()}), &out, &errOut)
	if code != 1 || !strings.Contains(out.String(), "BLOCKER") && !strings.Contains(out.String(), "blocker") {
		t.Errorf("doctor exit %d, want 1 with the blocker reported:\n%s\n%s", code, out.String(), errOut.String())
	}
	if n := rdb.DBSize(ctx).Val(); n != 1 {
		t.Errorf("doctor left %d keys, want the stream only (no group created)", n)
	}
	// Shadow mode creates its group at $: no blocker.
	code = runMain([]string{"doctor"}, envOf(map[string]string{"REDIS_ADDR": srv.Addr(), "POMOCORE_SHADOW": "true"}), &out, &errOut)
	if code != 0 {
		t.Errorf("doctor in shadow mode exit %d:\n%s", code, out.String())
	}
}

// runbookBlock returns the ```sh block of docs/cutover.md holding marker.
func runbookBlock(t *testing.T, marker string) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "cutover.md"))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(string(doc), "```")
	for i := 1; i < len(parts); i += 2 {
		if body, ok := strings.CutPrefix(parts[i], "sh\n"); ok && strings.Contains(body, marker) {
			return body
		}
	}
	t.Fatalf("docs/cutover.md has no sh block with %q", marker)
	return ""
}

// runbookShell runs script with sh, its redis-cli talking to addr.
func runbookShell(t *testing.T, addr, script string) string {
	t.Helper()
	real, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("redis-cli is not installed")
	}
	host, port, _ := strings.Cut(addr, ":")
	dir := t.TempDir()
	wrapper := "#!/bin/sh\nexec " + real + " -h " + host + " -p " + port + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "redis-cli"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-e", "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the runbook's commands failed: %v\n%s\n%s", err, script, out)
	}
	return string(out)
}

// TestRunbookCleanupRemovesEveryShadowKey runs the runbook's cleanup of a
// shadow (docs/cutover.md, section 4, step 3) as written: it removes every
// key under the shadow's prefix, category names with spaces and '&'
// included, the shadow's commit state (commit position, dedup shards) and
// dead letters, and nothing of the live service's.
func TestRunbookCleanupRemovesEveryShadowKey(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	var shadowKeys []string
	for _, cat := range pomocore.DefaultTaxonomy().Categories {
		for _, p := range []string{"2026-11-24", "2026-W48", "2026-M11"} {
			shadowKeys = append(shadowKeys, "pomocore-shadow:"+cat+":"+p)
		}
	}
	if !slices.Contains(shadowKeys, "pomocore-shadow:File Management:2026-11-24") || !slices.Contains(shadowKeys, "pomocore-shadow:E-commerce & Shopping:2026-W48") {
		t.Fatalf("fixture: the taxonomy lacks the categories with spaces: %v", shadowKeys)
	}
	for _, k := range append(slices.Clone(shadowKeys), "leaderboard:File Management:2026-11-24", "leaderboard:Development:2026-11-24") {
		rdb.ZIncrBy(ctx, k, 5, "u1")
	}
	state := []string{"{pattern_match_stream:shadow:pomocore_shadow:seen:00}", "{pattern_match_stream:shadow:pomocore_shadow:seen:22}",
		"{pattern_match_stream}:shadow:pomocore_shadow:committed", "{pattern_match_stream}:shadow:pomocore_shadow:intent",
		"{pattern_match_stream}:shadow:pomocore_shadow:tokens",
		"{pattern_match_stream}:shadow:pomocore_shadow:seen:65f1a2b3be4c02a733:1f"} // as the shadow of TestCutOverRunbook names them
	for _, k := range state {
		rdb.Set(ctx, k, "x", 0)
	}
	rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "pattern_match_stream:shadow-dead", Values: []string{"dead.id", "1-0"}})
	rdb.HSet(ctx, "{pattern_match_stream}:committed", "pattern_match_group", "2-0")
	rdb.Set(ctx, "{pattern_match_stream:seen:00}", "live", 0)
	rdb.Set(ctx, "{pattern_match_stream}:seen:65f1a2b3be4c02a733:1f", "live", 0)

	out := runbookShell(t, srv.Addr(), runbookBlock(t, "'pomocore-shadow:*'"))
	if left := rdb.Keys(ctx, "pomocore-shadow:*").Val(); len(left) != 0 {
		t.Errorf("the cleanup left %d shadow keys: %q\n%s", len(left), left, out)
	}
	if n := rdb.Exists(ctx, append(state, "pattern_match_stream:shadow-dead")...).Val(); n != 0 {
		t.Errorf("the cleanup left %d of the shadow's state keys", n)
	}
	if got := rdb.HGetAll(ctx, "{pattern_match_stream}:committed").Val(); !maps.Equal(got, map[string]string{"pattern_match_group": "2-0"}) {
		t.Errorf("live commit positions after the cleanup = %v, want them untouched", got)
	}
	if rdb.Exists(ctx, "{pattern_match_stream:seen:00}", "{pattern_match_stream}:seen:65f1a2b3be4c02a733:1f").Val() != 2 {
		t.Error("the cleanup removed the live dedup state")
	}
	if n := rdb.Exists(ctx, "leaderboard:File Management:2026-11-24", "leaderboard:Development:2026-11-24").Val(); n != 2 {
		t.Errorf("the cleanup removed live leaderboards (%d of 2 left)", n)
	}
}

// TestRunbookHandbackReAddsPendingEntriesOrRefuses runs the way back's
// hand-back (docs/cutover.md, section 5) as written: with an entry of a
// pomocore commit in flight ({stream}:intent) it changes nothing and says
// why; otherwise every pending entry comes back under a new id with its
// fields as they were (blanks, '&', an empty value and a newline
// included), the old ids are acknowledged, and an entry trimmed away is
// counted as gone.
func TestRunbookHandbackReAddsPendingEntriesOrRefuses(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	const stream, group = "pattern_match_stream", "pattern_match_group"
	if err := rdb.XGroupCreateMkStream(ctx, stream, group, "0").Err(); err != nil {
		t.Fatal(err)
	}
	fields := [][]string{
		contractEntry("u1", "Google Chrome", "https://a.example/?q=1&r=2", 30, time.Now(), false),
		contractEntry("u2", "E-commerce & Shopping app", "", 40, time.Now(), true, "note", "line one\nline two"),
		contractEntry("u3", "Xcode", "", 50, time.Now(), false),
		contractEntry("u4", "Figma", "", 60, time.Now(), false),
	}
	var ids []string
	for _, f := range fields {
		id, err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: f}).Result()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: group, Consumer: "pomocore-killed", Streams: []string{stream, ">"}, Count: 10, Block: -1}).Err(); err != nil {
		t.Fatal(err)
	}
	rdb.XDel(ctx, stream, ids[3]) // trimmed while pending
	script := runbookBlock(t, "handback=$(cat")

	rdb.HSet(ctx, "{"+stream+"}:intent", ids[1], "tok")
	before := rdb.XRange(ctx, stream, "-", "+").Val()
	if out := runbookShell(t, srv.Addr(), script); !strings.Contains(out, ids[1]+" is in a pomocore commit in flight") {
		t.Errorf("the hand-back with a commit in flight printed %q, want a refusal naming %s", out, ids[1])
	}
	if p := rdb.XPending(ctx, stream, group).Val(); p.Count != 4 || len(rdb.XRange(ctx, stream, "-", "+").Val()) != len(before) {
		t.Errorf("a refused hand-back changed the stream: %d pending (want 4)", p.Count)
	}

	rdb.Del(ctx, "{"+stream+"}:intent")
	out := runbookShell(t, srv.Addr(), script)
	if got := strings.Fields(out); !slices.Equal(got, []string{"3", "1", "0"}) {
		t.Errorf("the hand-back printed %q, want 3 handed back, 1 gone, then XPENDING 0", out)
	}
	if p := rdb.XPending(ctx, stream, group).Val(); p.Count != 0 {
		t.Errorf("pending after the hand-back = %d", p.Count)
	}
	after := rdb.XRange(ctx, stream, "("+ids[2], "+").Val()
	if len(after) != 3 {
		t.Fatalf("entries added by the hand-back = %d, want 3", len(after))
	}
	for i, m := range after {
		want := map[string]any{}
		for j := 0; j < len(fields[i]); j += 2 {
			want[fields[i][j]] = fields[i][j+1]
		}
		if !maps.Equal(m.Values, want) {
			t.Errorf("handed-back entry %d = %v, want %v", i, m.Values, want)
		}
	}
}

// TestRunbookWayBackPomocoreCountsWhatItLeftPending runs the way back's
// first remedy (docs/cutover.md, section 5): entries a killed pomocore
// process left pending, one of them a producer retry of an activity
// pomocore counted, are counted by pomocore started again with
// POMOCORE_CLAIM_IDLE=1s: nothing is left pending, the new activity counts
// once and the retry adds nothing.
func TestRunbookWayBackPomocoreCountsWhatItLeftPending(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	env := map[string]string{"REDIS_ADDR": srv.Addr(), "POMOCORE_DATA_DIR": filepath.Join(t.TempDir(), "data"), "POMOCORE_BLOCK": "20ms"}
	at := time.Now().Add(-time.Hour)
	counted := contractEntry("w1", "Xcode", "", 100, at, false, "pomodoroUsageLogId", pomocore.NewObjectID(at).Hex())
	add := func(f []string) {
		t.Helper()
		if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: pomocore.DefaultStream, Values: f}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	stop, logs := startRun(t, env)
	add(counted)
	waitDrained(t, rdb, pomocore.DefaultStream, pomocore.DefaultGroup, logs)
	stop()

	add(contractEntry("w2", "Figma", "", 50, at, false, "pomodoroUsageLogId", pomocore.NewObjectID(at).Hex()))
	add(counted) // the producer's retry
	if err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: pomocore.DefaultGroup, Consumer: "pomocore-killed", Streams: []string{pomocore.DefaultStream, ">"}, Count: 10, Block: -1}).Err(); err != nil {
		t.Fatal(err)
	}
	if p := rdb.XPending(ctx, pomocore.DefaultStream, pomocore.DefaultGroup).Val(); p.Count != 2 {
		t.Fatalf("pending at the killed process = %d, want 2", p.Count)
	}
	remedy := maps.Clone(env)
	remedy["POMOCORE_CLAIM_IDLE"] = "1s"
	stop, logs = startRun(t, remedy)
	waitDrained(t, rdb, pomocore.DefaultStream, pomocore.DefaultGroup, logs)
	stop()
	if p := rdb.XPending(ctx, pomocore.DefaultStream, pomocore.DefaultGroup).Val(); p.Count != 0 {
		t.Errorf("pending after the remedy = %d, want 0", p.Count)
	}
	day := pomocore.PeriodsAt(at, pomocore.DefaultLocation()).Day
	for _, w := range []struct {
		cat, user string
		secs      float64
	}{{"Development", "w1", 100}, {"Design", "w2", 50}} {
		if got := rdb.ZScore(ctx, pomocore.LeaderboardKey("leaderboard", w.cat, day), w.user).Val(); got != w.secs {
			t.Errorf("%s on %s: %v seconds, want %v (counted once)", w.user, w.cat, got, w.secs)
		}
	}
}
