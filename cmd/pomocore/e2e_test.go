package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/eventually"
	"github.com/pomocore/pomocore/internal/ferrettest"
	"github.com/pomocore/pomocore/internal/logtest"
	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/mongo"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// anyPort is POMOCORE_HTTP_ADDR for a test: the server listens on a port
// the system picks, which httpAddrOf reads from the run's log. A port
// picked as free beforehand (freeAddr) may be taken by any other socket of
// the machine before the run binds it.
const anyPort = "127.0.0.1:0"

var httpStarting = regexp.MustCompile(`msg="HTTP server \(starting\)".* addr=(\S+)`)

// httpAddrOf returns the address the HTTP server of the run logging to logs
// listens on (see anyPort), once it logged it.
func httpAddrOf(t *testing.T, logs *logtest.Buffer) string {
	t.Helper()
	addr, ok := eventually.Match(30*time.Second, logs.String, httpStarting)
	if !ok {
		t.Fatalf("the run logged no HTTP address:\n%s", logs.String())
	}
	return addr
}

// startRun runs the pipeline in-process with the given environment and
// returns a stop function that cancels it and waits for a clean exit.
func startRun(t *testing.T, env map[string]string) (stop func(), logs *logtest.Buffer) {
	t.Helper()
	stop, _, logs = startRunOut(t, env)
	return stop, logs
}

// contractEntry is one CONTRACT-format entry.
func contractEntry(user, app, url string, dur float64, ts time.Time, end bool, extra ...string) []string {
	seoul, _ := time.LoadLocation("Asia/Seoul")
	f := []string{
		"userId", user, "app", app, "title", "w", "url", url,
		"duration", strconv.FormatFloat(dur, 'g', -1, 64), "timestamp", strconv.FormatInt(ts.Unix(), 10),
		"session", "1", "sessionDate", ts.In(seoul).Format(time.DateOnly), "sessionMinutes", "25",
		"isEnd", strconv.FormatBool(end),
	}
	return append(f, extra...)
}

// waitDrained waits until every entry of stream was delivered to group and
// acknowledged.
func waitDrained(t *testing.T, rdb *goredis.Client, stream, group string, logs *logtest.Buffer) {
	t.Helper()
	ctx := context.Background()
	var gs []goredis.XInfoGroup
	var info *goredis.XInfoStream
	var err, infoErr error
	if !eventually.Within(time.Minute, func() bool {
		// One XINFO GROUPS reply gives the last delivered id and the pending
		// count together, so a delivery cannot slip between the two. The
		// stream's last generated id is its last entry's, and outlives the
		// entry: trimming (POMOCORE_TRIM_INPUT) may empty the stream as soon
		// as it is drained, before a poll sees it.
		gs, err = rdb.XInfoGroups(ctx, stream).Result()
		info, infoErr = rdb.XInfoStream(ctx, stream).Result()
		for _, g := range gs {
			if err == nil && infoErr == nil && g.Name == group && g.LastDeliveredID == info.LastGeneratedID && g.Pending == 0 {
				return true
			}
		}
		return false
	}) {
		t.Fatalf("stream not drained (groups %+v, err %v; stream %+v, err %v); log:\n%s", gs, err, info, infoErr, logs.String())
	}
}

func TestEmbeddedDefaultEndToEnd(t *testing.T) {
	stop, out, logs := startRunOut(t, map[string]string{
		"POMOCORE_EMBEDDED_REDIS_ADDR": freeAddr(t),
		"POMOCORE_DATA_DIR":            filepath.Join(t.TempDir(), "data"),
		"POMOCORE_BLOCK":               "20ms",
	})
	// The address it says it listens on: another one than asked for when
	// the port was taken after freeAddr picked it.
	listening := regexp.MustCompile(`embedded redis listening on (\S+)`)
	addr, ok := eventually.Match(30*time.Second, out.String, listening)
	if !ok {
		t.Fatalf("the run printed no embedded redis address:\n%s", out.String())
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	defer rdb.Close()
	ctx := context.Background()
	if !eventually.Within(30*time.Second, func() bool { return rdb.Ping(ctx).Err() == nil }) {
		t.Fatalf("embedded redis never answered on %s:\n%s", addr, logs.String())
	}
	ts := time.Now().Add(-time.Hour)
	stream := "pattern_match_stream"
	for _, f := range [][]string{
		contractEntry("u1", "Xcode 15", "", 1500, ts, true),
		contractEntry("u1", "Google Chrome", "https://GitHub.com/pomocore", 60, ts, false),
		contractEntry("u2", "Google Chrome", "https://linux.com/news", 10, ts, false),
		contractEntry("", "Xcode", "", 5, ts, false),
	} {
		if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: f}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	waitDrained(t, rdb, stream, "pattern_match_group", logs)
	seoul, _ := time.LoadLocation("Asia/Seoul")
	per := pomocore.PeriodsAt(ts, seoul)
	for _, c := range []struct {
		cat, user string
		want      float64
	}{
		// Xcode 15 -> xcode; GitHub.com matches github.com whatever the
		// case; linux.com must not match x.com (SNS).
		{"Development", "u1", 1560}, {"work", "u1", 1560},
	} {
		for _, p := range per.All() {
			key := pomocore.LeaderboardKey("leaderboard", c.cat, p)
			if got := rdb.ZScore(ctx, key, c.user).Val(); got != c.want {
				t.Errorf("%s %s = %v, want %v", key, c.user, got, c.want)
			}
		}
	}
	if n := rdb.Exists(ctx, pomocore.LeaderboardKey("leaderboard", "SNS", per.Day)).Val(); n != 0 {
		t.Error("linux.com counted as SNS")
	}
	if n := rdb.XLen(ctx, "session_score_stream").Val(); n != 1 {
		t.Errorf("session events = %d, want 1", n)
	}
	if n := rdb.XLen(ctx, stream+":dead").Val(); n != 1 {
		t.Errorf("dead letters = %d, want 1 (the entry without userId)", n)
	}
	stop()
	if !bytes.Contains([]byte(logs.String()), []byte("EMBEDDED REDIS")) || !bytes.Contains([]byte(logs.String()), []byte("EMBEDDED STORE")) {
		t.Errorf("embedded parts not logged loudly:\n%s", logs.String())
	}
}

func TestRealRedisAndMongoBothIDModes(t *testing.T) {
	srv := redistest.Start(t)
	uri := ferrettest.Start(t)
	rdb := srv.Client(t)
	stop, logs := startRun(t, map[string]string{
		"REDIS_ADDR":        srv.Addr(),
		"MONGO_URI":         uri,
		"MONGO_DATABASE":    "e2e",
		"POMOCORE_STREAM":   "pattern_match_stream",
		"POMOCORE_GROUP":    "pattern_match_group",
		"POMOCORE_BLOCK":    "20ms",
		"POMOCORE_TIMEZONE": "Asia/Seoul",
	})
	ctx := context.Background()
	ts := time.Now().Add(-2 * time.Hour)
	cdID := pomocore.NewObjectID(ts)
	ulID := pomocore.NewObjectID(ts)
	entries := [][]string{
		contractEntry("u1", "Xcode 15", "", 100, ts, false),
		contractEntry("u1", "Xcode 15", "", 50, ts, true),
		contractEntry("u2", "Safari", "https://www.youtube.com/watch?v=1", 30, ts, false),
		contractEntry("u3", "Figma", "", 20, ts, false, "categorizedDataId", cdID.Hex(), "pomodoroUsageLogId", ulID.Hex()),
	}
	for _, f := range entries {
		if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "pattern_match_stream", Values: f}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	waitDrained(t, rdb, "pattern_match_stream", "pattern_match_group", logs)
	stop()

	seoul, _ := time.LoadLocation("Asia/Seoul")
	per := pomocore.PeriodsAt(ts, seoul)
	for _, c := range []struct {
		cat, user string
		want      float64
	}{
		{"Development", "u1", 150}, {"work", "u1", 150}, {"Entertainment", "u2", 30}, {"Design", "u3", 20}, {"work", "u3", 20},
	} {
		for _, p := range per.All() {
			key := pomocore.LeaderboardKey("leaderboard", c.cat, p)
			if got := rdb.ZScore(ctx, key, c.user).Val(); got != c.want {
				t.Errorf("%s %s = %v, want %v", key, c.user, got, c.want)
			}
		}
	}
	if n := rdb.XLen(ctx, "session_score_stream").Val(); n != 1 {
		t.Errorf("session events = %d, want 1", n)
	}

	st, err := mongo.Open(ctx, mongo.Config{URI: uri, Database: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(ctx)
	ids := ferrettest.CategoryIDs(t, st)
	if len(ids) != 19 {
		t.Errorf("seeded %d categories, want production's 19", len(ids))
	}
	cats, logsDocs := mongoDocs(t, uri, "e2e", mongo.CategorizedDataCollection), mongoDocs(t, uri, "e2e", mongo.UsageLogCollection)
	if len(logsDocs) != 4 {
		t.Errorf("usage logs = %d, want 4", len(logsDocs))
	}
	if len(cats) != 3 {
		t.Errorf("categorized data = %d, want 3 (Xcode, Safari/youtube, the Figma id)", len(cats))
	}
	for _, l := range logsDocs {
		if l.ID == ulID && (l.CategoryID != ids["Design"] || l.UserID != "u3") {
			t.Errorf("id-mode usage log = %+v, want Design", l)
		}
	}
	found := false
	for _, c := range cats {
		if c.ID == cdID {
			found = true
			if c.CategoryID != ids["Design"] {
				t.Errorf("id-mode categorized_data = %+v", c)
			}
		}
	}
	if !found {
		t.Errorf("categorized_data %s not created", cdID)
	}
}

// doc is what the tests read of a categorized_data or usage-log document.
type doc struct {
	ID         pomocore.ObjectID
	CategoryID pomocore.ObjectID
	UserID     string
}

// mongoDocs reads every document of a collection, by the test's own
// driver handle.
func mongoDocs(t *testing.T, uri, database, collection string) []doc {
	t.Helper()
	ctx := context.Background()
	cur, err := ferrettest.Client(t, uri).Database(database).Collection(collection).Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var raw []struct {
		ID         bson.ObjectID `bson:"_id"`
		CategoryID bson.ObjectID `bson:"categoryId"`
		UserID     string        `bson:"userId"`
	}
	if err := cur.All(ctx, &raw); err != nil {
		t.Fatal(err)
	}
	out := make([]doc, len(raw))
	for i, r := range raw {
		out[i] = doc{ID: pomocore.ObjectID(r.ID), CategoryID: pomocore.ObjectID(r.CategoryID), UserID: r.UserID}
	}
	return out
}
