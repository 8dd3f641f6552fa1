package doctor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/pomocore/pomocore/doctor"
	"github.com/pomocore/pomocore/internal/ferrettest"
	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/mongo"
	"github.com/pomocore/pomocore/redis"
)

// activity is an entry as the main server's Jackson writes it.
func activity(user, app, url, usageLog string, dur float64) []any {
	return []any{"userId", user, "categorizedDataId", "6543210fedcba98765432100", "pomodoroUsageLogId", usageLog,
		"url", url, "title", "t", "app", app, "session", "3", "sessionDate", "2026-11-24", "sessionMinutes", "25",
		"duration", strconv.FormatFloat(dur, 'f', 1, 64), "timestamp", "1.7639544E9", "isEnd", "false"}
}

// seedRedis writes production-shaped data with planted problems.
func seedRedis(t *testing.T, rdb *goredis.Client) {
	ctx := context.Background()
	add := func(stream string, fields ...any) string {
		id, err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: fields}).Result()
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	// Mid-2025 leaderboard messages: not activities.
	add("pattern_match_stream", "userId", "u1", "categoryId", "6543210fedcba98765432101", "duration", "60", "timestamp", "1751328000")
	add("pattern_match_stream", activity("u1", "Xcode", "", "6543210fedcba98765432201", 12)...)
	add("pattern_match_stream", activity("u2", "Google Chrome", "https://github.com/x", "6543210fedcba98765432202", 30)...)
	add("pattern_match_stream", activity("u2", "Google Chrome", "https://github.com/x", "6543210fedcba98765432202", 30)...) // a producer retry
	add("pattern_match_stream", activity("", "Slack", "", "6543210fedcba98765432203", 5)...)                                // no user
	for _, g := range []string{"pattern_match_group", "leaderboard_group"} {
		if err := rdb.XGroupCreate(ctx, "pattern_match_stream", g, "0").Err(); err != nil {
			t.Fatal(err)
		}
	}
	// The deployed consumer read two entries and died.
	if err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "pattern_match_group", Consumer: "data-server",
		Streams: []string{"pattern_match_stream", ">"}, Count: 2}).Err(); err != nil {
		t.Fatal(err)
	}
	// ... and re-read its first pending entry.
	if err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "pattern_match_group", Consumer: "data-server",
		Streams: []string{"pattern_match_stream", "0"}, Count: 1}).Err(); err != nil {
		t.Fatal(err)
	}
	add("session_score_stream", "userId", "u1", "sessionDate", "2026-11-24", "session", "3")
	if err := rdb.XGroupCreate(ctx, "session_score_stream", "session_score_group", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "session_score_group", Consumer: "main-1",
		Streams: []string{"session_score_stream", ">"}, Count: 10}).Err(); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"leaderboard:Development:2026-11-24", "leaderboard:work:2026-W48", "leaderboard:SNS:2026-M11",
		"leaderboard:sessionScore:2026-11-24", "leaderboard:sessionCount:2026-11-24", "leaderboard:Development:2026-W08",
		"leaderboard:Music:2026-11-24"} {
		if err := rdb.ZIncrBy(ctx, k, 12, "u1").Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.Set(ctx, "leaderboard:Game:2026-11-24", "oops", 0).Err(); err != nil {
		t.Fatal(err)
	}
}

// seedMongo writes production-shaped documents to database db.
func seedMongo(t *testing.T, client *driver.Client, db string, uniqueKey bool) {
	ctx := context.Background()
	d := client.Database(db)
	var pats []any
	for _, c := range []string{"SNS", "Documentation", "Design", "LLM", "Development", "Productivity", "Video Editing",
		"Entertainment", "File Management", "System & Utilities", "Game", "Education", "Browsing", "Marketing",
		"E-commerce & Shopping", "Meetings", "AFK", "Uncategorized", "Music"} { // no Finance; Music is not in the taxonomy
		doc := bson.D{{Key: "_id", Value: bson.NewObjectID()}, {Key: "category", Value: c}, {Key: "appPatterns", Value: bson.A{}},
			{Key: "domainPatterns", Value: bson.A{}}, {Key: "_class", Value: "com.example.CategoryPattern"}}
		switch c {
		case "Productivity":
			doc[2].Value = bson.A{"finder", "raycast"}
		case "File Management":
			doc[2].Value = bson.A{"finder"}
		case "AFK":
			doc[3].Value = bson.A{"afk", "loginwindow"}
		case "Education":
			doc[3].Value = bson.A{"google.com/search"}
		}
		pats = append(pats, doc)
	}
	if _, err := d.Collection("category_pattern").InsertMany(ctx, pats); err != nil {
		t.Fatal(err)
	}
	sessionSeoul := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	sessionUTC := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	cds := []any{
		bson.D{{Key: "app", Value: "Xcode"}, {Key: "url", Value: ""}, {Key: "title", Value: "t"}, {Key: "IsLLMBased", Value: false}},
		bson.D{{Key: "app", Value: "Slack"}, {Key: "url", Value: ""}, {Key: "title", Value: "t"}, {Key: "isLLMBased", Value: true}},
	}
	if !uniqueKey {
		cds = append(cds, bson.D{{Key: "app", Value: "Xcode"}, {Key: "url", Value: ""}, {Key: "title", Value: "t"}, {Key: "IsLLMBased", Value: false}})
	}
	if uniqueKey {
		if _, err := d.Collection("categorized_data").Indexes().CreateOne(ctx, driver.IndexModel{
			Keys:    bson.D{{Key: "app", Value: 1}, {Key: "url", Value: 1}, {Key: "title", Value: 1}},
			Options: options.Index().SetName("app_url_title").SetUnique(true)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Collection("categorized_data").InsertMany(ctx, cds); err != nil {
		t.Fatal(err)
	}
	logs := []any{
		bson.D{{Key: "userId", Value: "u1"}, {Key: "CategorizedDataId", Value: bson.NewObjectID()}, {Key: "sessionDate", Value: sessionSeoul}, {Key: "session", Value: 3}},
		bson.D{{Key: "userId", Value: "u1"}, {Key: "categorizedDataId", Value: bson.NewObjectID()}, {Key: "sessionDate", Value: sessionUTC}, {Key: "session", Value: 3}},
	}
	if _, err := d.Collection("pomodoro_usage_log").InsertMany(ctx, logs); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Collection("pomodoro_usage_log").Indexes().CreateOne(ctx, driver.IndexModel{
		Keys:    bson.D{{Key: "userId", Value: 1}, {Key: "sessionDate", Value: 1}, {Key: "session", Value: 1}},
		Options: options.Index().SetName("userId_sessionDate_session_idx")}); err != nil {
		t.Fatal(err)
	}
}

// readOnlyCommands are the commands a doctor may send.
var readOnlyCommands = []string{"type", "xinfo|stream", "xinfo|groups", "xinfo|consumers", "xpending", "xrange", "xrevrange",
	"scan", "ping", "hello", "client|setinfo", "info", "command", "command|docs", "select"}

type redisState struct {
	dbsize int64
	types  map[string]string
	groups map[string][]goredis.XInfoGroup
}

func snapshotRedis(t *testing.T, rdb *goredis.Client) redisState {
	ctx := context.Background()
	s := redisState{types: map[string]string{}, groups: map[string][]goredis.XInfoGroup{}}
	s.dbsize = rdb.DBSize(ctx).Val()
	for _, k := range rdb.Keys(ctx, "*").Val() {
		s.types[k] = rdb.Type(ctx, k).Val()
		if s.types[k] == "stream" {
			s.groups[k] = rdb.XInfoGroups(ctx, k).Val()
		}
	}
	return s
}

type mongoState map[string][]string // collection -> index names

func snapshotMongo(t *testing.T, client *driver.Client, db string) mongoState {
	ctx := context.Background()
	names, err := client.Database(db).ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	s := mongoState{}
	for _, n := range names {
		specs, err := client.Database(db).Collection(n).Indexes().ListSpecifications(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, sp := range specs {
			s[n] = append(s[n], sp.Name)
		}
		slices.Sort(s[n])
	}
	return s
}

func find(r doctor.Report, section, check string) (doctor.Line, bool) {
	for _, l := range r.Lines {
		if l.Section == section && l.Check == check {
			return l, true
		}
	}
	return doctor.Line{}, false
}

func expect(t *testing.T, r doctor.Report, section, check string, v doctor.Verdict, contains ...string) {
	t.Helper()
	l, ok := find(r, section, check)
	if !ok {
		t.Errorf("no line %s / %s", section, check)
		return
	}
	if l.Verdict != v {
		t.Errorf("%s / %s: verdict %s, want %s (%s)", section, check, l.Verdict, v, l.Detail)
	}
	for _, c := range contains {
		if !strings.Contains(l.Detail, c) {
			t.Errorf("%s / %s: detail lacks %q: %s", section, check, c, l.Detail)
		}
	}
}

func TestDoctorJudgesProductionShapedDataWithoutWriting(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	seedRedis(t, rdb)
	uri := ferrettest.Start(t)
	ctx := context.Background()
	client := ferrettest.Client(t, uri)
	seedMongo(t, client, "prod", false)

	insp, err := mongo.OpenInspector(ctx, mongo.Config{URI: uri, Database: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	defer insp.Close(ctx)
	ri := redis.NewInspector(rdb)
	src := doctor.Sources{Streams: ri, Boards: ri, Patterns: insp, Docs: insp}
	cfg := doctor.Config{TrimInput: true, MaxDeliveries: 2, Now: time.Now}

	redisBefore, mongoBefore, statsBefore := snapshotRedis(t, rdb), snapshotMongo(t, client, "prod"), redistest.CommandCalls(t, rdb)
	rep, err := doctor.Run(ctx, cfg, src)
	if err != nil {
		t.Fatal(err)
	}
	statsAfter := redistest.CommandCalls(t, rdb)
	for cmd, n := range statsAfter {
		if n > statsBefore[cmd] && !slices.Contains(readOnlyCommands, cmd) {
			t.Errorf("doctor sent %s (%d times): not a read-only command", cmd, n-statsBefore[cmd])
		}
	}
	redisAfter, mongoAfter := snapshotRedis(t, rdb), snapshotMongo(t, client, "prod")
	if redisAfter.dbsize != redisBefore.dbsize || !mapsEqual(redisAfter.types, redisBefore.types) {
		t.Errorf("keys changed: %v -> %v", redisBefore.types, redisAfter.types)
	}
	for k, gs := range redisBefore.groups {
		if len(redisAfter.groups[k]) != len(gs) {
			t.Errorf("groups of %s changed: %v -> %v", k, gs, redisAfter.groups[k])
		}
	}
	if !mapsEqualSlices(mongoBefore, mongoAfter) {
		t.Errorf("collections or indexes changed: %v -> %v", mongoBefore, mongoAfter)
	}

	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + text.String())
	for _, want := range []string{"BLOCKER  leaderboards", "WARN     category_pattern", "OK       input stream", "verdict: blocker ("} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q", want)
		}
	}

	expect(t, rep, "input stream", "stream", doctor.OK, "5 entries")
	expect(t, rep, "input stream", "group pattern_match_group", doctor.OK, "data-server (pending 2", "lag 3")
	expect(t, rep, "input stream", "pending deliveries", doctor.OK, "1 of 2 pending entries", "POMOCORE_MAX_DELIVERIES=2", "counted as usual")
	expect(t, rep, "input stream", "group leaderboard_group", doctor.Blocker, "POMOCORE_TRIM_IGNORE_GROUPS")
	expect(t, rep, "input stream", "sample", doctor.Warn, "2 of 5", "old_leaderboard_message 1", "missing_user 1")
	expect(t, rep, "input stream", "producer retries", doctor.OK, "1 sampled entries repeat")
	expect(t, rep, "session stream", "group session_score_group", doctor.OK, "1 consumers")
	expect(t, rep, "category_pattern", "conflicts", doctor.Warn, `app "finder" in Productivity, File Management: File Management wins`)
	expect(t, rep, "category_pattern", "non-host patterns", doctor.OK, `"afk" (AFK)`, `"loginwindow" (AFK)`)
	expect(t, rep, "category_pattern", "path patterns", doctor.OK, `"google.com/search" (Education)`)
	expect(t, rep, "category_pattern", "taxonomy vs store", doctor.Warn, "Finance")
	expect(t, rep, "category_pattern", "store vs taxonomy", doctor.Warn, "Music")
	expect(t, rep, "category_pattern", "work categories", doctor.Warn, "without a document: Finance")
	expect(t, rep, "categorized_data", "field names", doctor.OK, "2 have IsLLMBased", "1 isLLMBased")
	expect(t, rep, "categorized_data", "duplicates", doctor.OK, "1 (app, url, title) keys")
	expect(t, rep, "pomodoro_usage_log", "field names", doctor.OK, "1 have CategorizedDataId", "1 categorizedDataId")
	expect(t, rep, "pomodoro_usage_log", "sessionDate", doctor.OK, "midnight Asia/Seoul 1, midnight UTC 1")
	if _, ok := find(rep, "pomodoro_usage_log", "index userId_sessionDate_session_idx"); ok {
		t.Error("the main server's own index, as pomocore creates it, is reported")
	}
	expect(t, rep, "leaderboards", "keys", doctor.OK, "3 daily", "1 weekly", "1 monthly")
	expect(t, rep, "leaderboards", "other formats", doctor.Warn, "leaderboard:Development:2026-W08")
	expect(t, rep, "leaderboards", "types", doctor.Blocker, "leaderboard:Game:2026-11-24 (string)")
	expect(t, rep, "leaderboards", "categories", doctor.Warn, "Music")
	expect(t, rep, "leaderboards", "never written", doctor.OK, "1 sessionScore and 1 sessionCount")
	if rep.Verdict != doctor.Blocker {
		t.Errorf("verdict %s, want blocker", rep.Verdict)
	}

	// The unread group listed for trimming is only a warning.
	cfg.TrimIgnoreGroups = []string{"leaderboard_group"}
	rep, err = doctor.Run(ctx, cfg, src)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, rep, "input stream", "group leaderboard_group", doctor.Warn, "ignored now: true")

	t.Run("JSON", func(t *testing.T) { testJSON(t, rep) })
}

func TestDoctorBlocksAMissingGroupOnAFullStream(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "pattern_match_stream", Values: activity("u1", "Xcode", "", "6543210fedcba98765432201", 12)})
	ri := redis.NewInspector(rdb)
	rep, err := doctor.Run(ctx, doctor.Config{Now: time.Now}, doctor.Sources{Streams: ri, Boards: ri})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, rep, "input stream", "group pattern_match_group", doctor.Blocker, "create it at 0 and process all 1 entries")
	expect(t, rep, "input stream", "sample", doctor.OK, "all 1 sampled entries")
	if g := rdb.XInfoGroups(ctx, "pattern_match_stream").Val(); len(g) != 0 {
		t.Errorf("doctor created a group: %v", g)
	}
}

func TestDoctorBlocksAUniqueKeyIndexAndCreatesNothing(t *testing.T) {
	uri := ferrettest.Start(t)
	ctx := context.Background()
	client := ferrettest.Client(t, uri)
	seedMongo(t, client, "fresh", true)
	if err := client.Database("fresh").Collection("pomodoro_usage_log").Drop(ctx); err != nil {
		t.Fatal(err)
	}
	before := snapshotMongo(t, client, "fresh")
	insp, err := mongo.OpenInspector(ctx, mongo.Config{URI: uri, Database: "fresh"})
	if err != nil {
		t.Fatal(err)
	}
	defer insp.Close(ctx)
	rep, err := doctor.Run(ctx, doctor.Config{Now: time.Now}, doctor.Sources{Patterns: insp, Docs: insp})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, rep, "categorized_data", "unique index", doctor.Blocker, "app_url_title(app:1, url:1, title:1) unique")
	expect(t, rep, "categorized_data", "index app_url_title", doctor.Warn, "other keys or options")
	expect(t, rep, "pomodoro_usage_log", "collection", doctor.Warn, "does not exist")
	if after := snapshotMongo(t, client, "fresh"); !mapsEqualSlices(before, after) {
		t.Errorf("collections or indexes changed: %v -> %v", before, after)
	}
}

// testJSON checks the JSON report's structure.
func testJSON(t *testing.T, rep doctor.Report) {
	var buf bytes.Buffer
	if err := rep.Write(&buf, true); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"verdict", "counts", "lines", "facts"} {
		if _, ok := got[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	if got["verdict"] != "warn" && got["verdict"] != "blocker" {
		t.Errorf("verdict = %v", got["verdict"])
	}
	lines, _ := got["lines"].([]any)
	if len(lines) != len(rep.Lines) {
		t.Fatalf("%d lines in JSON, %d in the report", len(lines), len(rep.Lines))
	}
	first, _ := lines[0].(map[string]any)
	for _, k := range []string{"section", "check", "verdict", "detail"} {
		if _, ok := first[k]; !ok {
			t.Errorf("line lacks %q: %v", k, first)
		}
	}
	facts, _ := got["facts"].(map[string]any)
	in, _ := facts["inputStream"].(map[string]any)
	if in["length"] != float64(5) || in["name"] != "pattern_match_stream" {
		t.Errorf("facts.inputStream = %v", in)
	}
	groups, _ := in["groups"].([]any)
	if len(groups) != 2 {
		t.Errorf("facts.inputStream.groups = %v", groups)
	}
	kinds, _ := facts["sampleKinds"].(map[string]any)
	if kinds["activity"] != float64(3) || kinds["old_leaderboard_message"] != float64(1) {
		t.Errorf("facts.sampleKinds = %v", kinds)
	}
	lb, _ := facts["leaderboardKeys"].(map[string]any)
	if lb["sessionScore"] != float64(1) || lb["daily"] != float64(3) {
		t.Errorf("facts.leaderboardKeys = %v", lb)
	}
	colls, _ := facts["collections"].(map[string]any)
	ul, _ := colls["pomodoro_usage_log"].(map[string]any)
	sd, _ := ul["sessionDates"].(map[string]any)
	if sd["seoul_midnight"] != float64(1) || sd["utc_midnight"] != float64(1) {
		t.Errorf("facts.collections.pomodoro_usage_log.sessionDates = %v", sd)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func mapsEqualSlices(a, b mongoState) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(b[k], v) {
			return false
		}
	}
	return true
}
