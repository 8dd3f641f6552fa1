package main

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/eventually"
	"github.com/pomocore/pomocore/internal/ferrettest"
	"github.com/pomocore/pomocore/internal/redistest"
)

// The compatibility suite of the deployment (CONTRACT v2): the main server
// seeds category_pattern from its category-patterns.json, pre-creates one
// categorized_data and one pomodoro_usage_log per activity
// (PomodoroServiceImpl.save), XADDs the activity as Jackson writes
// PomodoroPatternClassifyMessage, re-sends failed batches under new ids
// (RedisStreamProducer), then reads the leaderboards (LeaderboardServiceImpl)
// and, on a session-end event, loads the session's usage logs by (userId,
// session, sessionDate at Seoul midnight) and names their categories
// through categoryId (SessionScoreStreamConsumer). Each check is named
// after the main-server behaviour it protects.

const (
	springUsageLog = "com.swmStrong.demo.domain.pomodoro.entity.PomodoroUsageLog"
	springCatData  = "com.swmStrong.demo.domain.pomodoro.entity.CategorizedData"
	springPattern  = "com.swmStrong.demo.domain.categoryPattern.entity.CategoryPattern"
)

// seedProductionPatterns inserts production's category_pattern as the main
// server's CategoryPatternInitializer does (Spring Data: _class, no
// priority), and returns the ids by category name.
func seedProductionPatterns(t *testing.T, db *mongo.Database) map[string]bson.ObjectID {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/main-server-category-patterns.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		CategoryPatterns []struct {
			Category       string   `json:"category"`
			AppPatterns    []string `json:"appPatterns"`
			DomainPatterns []string `json:"domainPatterns"`
		} `json:"categoryPatterns"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bson.ObjectID{}
	for _, p := range file.CategoryPatterns {
		id := bson.NewObjectID()
		ids[p.Category] = id
		if _, err := db.Collection("category_pattern").InsertOne(context.Background(), bson.D{{Key: "_id", Value: id},
			{Key: "category", Value: p.Category}, {Key: "appPatterns", Value: p.AppPatterns},
			{Key: "domainPatterns", Value: p.DomainPatterns}, {Key: "_class", Value: springPattern}}); err != nil {
			t.Fatal(err)
		}
	}
	if len(ids) != 19 {
		t.Fatalf("production has 19 categories, the file %d", len(ids))
	}
	return ids
}

// seoulMidnight is a LocalDate as the main server stores it (JVM zone
// Asia/Seoul).
func seoulMidnight(t *testing.T, day string) time.Time {
	t.Helper()
	seoul, _ := time.LoadLocation("Asia/Seoul")
	d, err := time.ParseInLocation(time.DateOnly, day, seoul)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// jacksonDouble writes a double as Jackson does for large values.
func jacksonDouble(f float64) string {
	s := strconv.FormatFloat(f, 'E', -1, 64)
	return strings.Replace(s, "E+", "E", 1)
}

func TestMainServerContractEndToEnd(t *testing.T) {
	ctx := context.Background()
	uri := ferrettest.Start(t)
	rdb := redistest.Start(t).Client(t)
	db := ferrettest.Client(t, uri).Database("pomocore")
	cats := seedProductionPatterns(t, db)

	// StreamConfig: the stream and its two groups, one never read.
	for _, g := range []string{"pattern_match_group", "leaderboard_group"} {
		if err := rdb.XGroupCreateMkStream(ctx, "pattern_match_stream", g, "0").Err(); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().Truncate(time.Second)
	seoul, _ := time.LoadLocation("Asia/Seoul")
	day := now.In(seoul).Format(time.DateOnly)
	per := pomocore.PeriodsAt(now, seoul)

	// PomodoroServiceImpl.save: documents first (no categoryId yet), then
	// the message.
	type activity struct {
		user, app, url string
		dur            float64
		session        int
		end            bool
		cd, ul         bson.ObjectID
		extra          []string
	}
	acts := []activity{
		{user: "u1", app: "Code", dur: 600, session: 1},
		{user: "u1", app: "Google Chrome", url: "https://github.com/pomocore/pomocore/pull/1", dur: 300, session: 1},
		{user: "u1", app: "Slack", dur: 120, session: 1, end: true, extra: []string{"clientVersion", "2.0"}},
		{user: "u2", app: "KakaoTalk", dur: 60, session: 2},
		{user: "u2", app: "Code", dur: -1, session: 2, end: true}, // rejected; still ends session 2
	}
	for i := range acts {
		a := &acts[i]
		a.cd, a.ul = bson.NewObjectID(), bson.NewObjectID()
		if _, err := db.Collection("categorized_data").InsertOne(ctx, bson.D{{Key: "_id", Value: a.cd}, {Key: "app", Value: a.app},
			{Key: "url", Value: a.url}, {Key: "title", Value: "w"}, {Key: "IsLLMBased", Value: false}, {Key: "_class", Value: springCatData}}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Collection("pomodoro_usage_log").InsertOne(ctx, bson.D{{Key: "_id", Value: a.ul}, {Key: "userId", Value: a.user},
			{Key: "CategorizedDataId", Value: a.cd}, {Key: "session", Value: int32(a.session)}, {Key: "sessionMinutes", Value: int32(25)},
			{Key: "sessionDate", Value: seoulMidnight(t, day)}, {Key: "timestamp", Value: float64(now.Unix())},
			{Key: "duration", Value: a.dur}, {Key: "_class", Value: springUsageLog}}); err != nil {
			t.Fatal(err)
		}
	}
	message := func(a activity) []string {
		url := a.url
		if url == "" {
			url = "null" // a Java null
		}
		f := []string{"userId", a.user, "categorizedDataId", a.cd.Hex(), "pomodoroUsageLogId", a.ul.Hex(), "url", url,
			"title", "w", "app", a.app, "session", strconv.Itoa(a.session), "sessionDate", day, "sessionMinutes", "25",
			"duration", strconv.FormatFloat(a.dur, 'f', 1, 64), "timestamp", jacksonDouble(float64(now.Unix()) + 0.5),
			"isEnd", strconv.FormatBool(a.end)}
		return append(f, a.extra...)
	}
	var lastID string
	send := func(a activity) {
		id, err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "pattern_match_stream", Values: message(a)}).Result()
		if err != nil {
			t.Fatal(err)
		}
		lastID = id
	}
	for _, a := range acts {
		send(a)
	}
	// RedisStreamProducer re-sends a failed batch under new stream ids.
	send(acts[0])
	send(acts[2])

	stop, logs := startRun(t, map[string]string{"REDIS_ADDR": rdb.Options().Addr, "MONGO_URI": uri, "MONGO_DATABASE": "pomocore",
		"POMOCORE_BLOCK": "20ms", "POMOCORE_CLAIM_INTERVAL": "20ms", "POMOCORE_TRIM_INPUT": "true",
		"POMOCORE_TRIM_IGNORE_GROUPS": "leaderboard_group"})
	// Drained: the last entry delivered and nothing pending (the stream
	// itself may be trimmed empty meanwhile, so its last entry is not read).
	if !eventually.Within(time.Minute, func() bool {
		gs, err := rdb.XInfoGroups(ctx, "pattern_match_stream").Result()
		for _, g := range gs {
			if err == nil && g.Name == "pattern_match_group" && g.LastDeliveredID == lastID && g.Pending == 0 {
				return true
			}
		}
		return false
	}) {
		t.Fatalf("not drained; log:\n%s", logs.String())
	}
	trimmed := eventually.Within(20*time.Second, func() bool { return rdb.XLen(ctx, "pattern_match_stream").Val() == 0 })
	stop()

	t.Run("LeaderboardServiceImplReadsDailyWeeklyMonthlyKeys", func(t *testing.T) {
		for _, period := range per.All() {
			key := "leaderboard:Development:" + period
			if got := rdb.ZScore(ctx, key, "u1").Val(); got != 900 {
				t.Errorf("%s u1 = %v, want 900 (Code 600 once despite the retry, GitHub 300)", key, got)
			}
			if got := rdb.ZScore(ctx, "leaderboard:Meetings:"+period, "u1").Val(); got != 120 {
				t.Errorf("Meetings %s u1 = %v, want 120 (Slack is Meetings, once)", period, got)
			}
			if got := rdb.ZScore(ctx, "leaderboard:SNS:"+period, "u2").Val(); got != 60 {
				t.Errorf("SNS %s u2 = %v, want 60 (KakaoTalk is SNS)", period, got)
			}
			if got := rdb.ZScore(ctx, "leaderboard:work:"+period, "u1").Val(); got != 1020 {
				t.Errorf("work %s u1 = %v, want 1020", period, got)
			}
		}
		for _, pattern := range []string{"leaderboard:sessionScore:*", "leaderboard:sessionCount:*"} {
			if keys := rdb.Keys(ctx, pattern).Val(); len(keys) != 0 {
				t.Errorf("wrote the main server's own keys %v", keys)
			}
		}
	})

	t.Run("SessionScoreStreamConsumerParsesEveryEventStrictly", func(t *testing.T) {
		events := rdb.XRange(ctx, "session_score_stream", "-", "+").Val()
		if len(events) != 2 {
			t.Fatalf("session events = %d, want 2 (u1 session 1 once despite the retry; u2 session 2 though rejected)", len(events))
		}
		for _, ev := range events {
			// A plain ObjectMapper into a three-field DTO: any other field drops it.
			if len(ev.Values) != 3 {
				t.Errorf("event %v: want exactly userId, sessionDate, session", ev.Values)
			}
			if _, err := time.Parse(time.DateOnly, ev.Values["sessionDate"].(string)); err != nil {
				t.Errorf("sessionDate %v: %v", ev.Values["sessionDate"], err)
			}
			if _, err := strconv.Atoi(ev.Values["session"].(string)); err != nil {
				t.Errorf("session %v: %v", ev.Values["session"], err)
			}
		}
	})

	t.Run("SessionScoreFindsUsageLogsBySessionAtSeoulMidnightAndNamesCategories", func(t *testing.T) {
		names := map[bson.ObjectID]string{}
		for name, id := range cats {
			names[id] = name
		}
		want := map[string]float64{"Development": 900, "Meetings": 120}
		cur, err := db.Collection("pomodoro_usage_log").Find(ctx, bson.D{{Key: "userId", Value: "u1"}, {Key: "session", Value: 1},
			{Key: "sessionDate", Value: seoulMidnight(t, day)}})
		if err != nil {
			t.Fatal(err)
		}
		var logsFound []bson.M
		if err := cur.All(ctx, &logsFound); err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, l := range logsFound {
			id, _ := l["categoryId"].(bson.ObjectID)
			name, ok := names[id]
			if !ok {
				t.Errorf("usage log %v: categoryId %v names no category_pattern document", l["_id"], l["categoryId"])
			}
			got[name] += l["duration"].(float64)
		}
		if len(got) != len(want) || got["Development"] != want["Development"] || got["Meetings"] != want["Meetings"] {
			t.Errorf("session 1 of u1 by category = %v, want %v", got, want)
		}
	})

	t.Run("CategoryListComesFromCategoryPatternUnchanged", func(t *testing.T) {
		if n, _ := db.Collection("category_pattern").CountDocuments(ctx, bson.D{}); n != 19 {
			t.Errorf("category_pattern holds %d documents, want production's 19 (none created)", n)
		}
		var cd bson.M
		if err := db.Collection("categorized_data").FindOne(ctx, bson.D{{Key: "_id", Value: acts[2].cd}}).Decode(&cd); err != nil {
			t.Fatal(err)
		}
		if cd["categoryId"] != cats["Meetings"] || cd["IsLLMBased"] != false {
			t.Errorf("Slack's categorized_data = %v, want categoryId of Meetings, IsLLMBased false", cd)
		}
	})

	t.Run("UnreadLeaderboardGroupDoesNotStallTrimming", func(t *testing.T) {
		if !trimmed {
			t.Errorf("input stream holds %d entries: nothing trimmed with leaderboard_group ignored", rdb.XLen(ctx, "pattern_match_stream").Val())
		}
	})
	if !strings.Contains(logs.String(), "clientVersion") {
		t.Errorf("the unknown field was not logged:\n%s", logs.String())
	}
}
