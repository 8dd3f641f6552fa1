package mongo_test

// Tests named after the main server's (Spring Data) behaviour they protect:
// it reads and writes the same collections, so the documents this store
// writes must be the ones it finds, and the documents it writes must not
// stop this store. Each test runs its own FerretDB and plays the main
// server's part with the raw driver, as its repositories query.

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/ferrettest"
	"github.com/pomocore/pomocore/mongo"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/pipeline/storetest"
)

// The _class values Spring Data writes.
const (
	springPattern = "com.swmStrong.demo.domain.categoryPattern.entity.CategoryPattern"
	springCD      = "com.swmStrong.demo.domain.pomodoro.entity.CategorizedData"
	springLog     = "com.swmStrong.demo.domain.pomodoro.entity.PomodoroUsageLog"
)

// seoulMidnight is how the main server stores the LocalDate 2026-11-24
// (storetest.Rec's session day): midnight in Asia/Seoul.
func seoulMidnight() time.Time { return time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC) }

// mainServer is a FerretDB with a database both the store and the raw
// driver (the main server's part) use.
type mainServer struct {
	t   *testing.T
	uri string
	db  *driver.Database
}

func newMainServer(t *testing.T) *mainServer {
	t.Helper()
	uri := ferrettest.Start(t)
	return &mainServer{t: t, uri: uri, db: ferrettest.Client(t, uri).Database("pomocore")}
}

// open opens the store on the main server's database.
func (m *mainServer) open(cfg mongo.Config) *mongo.Store {
	m.t.Helper()
	cfg.URI, cfg.Database = m.uri, m.db.Name()
	st, err := mongo.Open(context.Background(), cfg)
	if err != nil {
		m.t.Fatalf("open: %v", err)
	}
	m.t.Cleanup(func() { _ = st.Close(context.Background()) })
	return st
}

func (m *mainServer) insert(coll string, docs ...any) {
	m.t.Helper()
	if _, err := m.db.Collection(coll).InsertMany(context.Background(), docs); err != nil {
		m.t.Fatalf("insert into %s: %v", coll, err)
	}
}

func (m *mainServer) find(coll string, filter any, opts ...options.Lister[options.FindOptions]) []bson.M {
	m.t.Helper()
	ctx := context.Background()
	cur, err := m.db.Collection(coll).Find(ctx, filter, opts...)
	if err != nil {
		m.t.Fatalf("find in %s: %v", coll, err)
	}
	var out []bson.M
	if err := cur.All(ctx, &out); err != nil {
		m.t.Fatalf("find in %s: %v", coll, err)
	}
	return out
}

func (m *mainServer) byID(coll string, id bson.ObjectID) bson.M {
	m.t.Helper()
	docs := m.find(coll, bson.M{"_id": id})
	if len(docs) != 1 {
		m.t.Fatalf("%s %s: %d documents", coll, id.Hex(), len(docs))
	}
	return docs[0]
}

func (m *mainServer) count(coll string, filter any) int64 {
	m.t.Helper()
	n, err := m.db.Collection(coll).CountDocuments(context.Background(), filter)
	if err != nil {
		m.t.Fatal(err)
	}
	return n
}

// sessionLogs is PomodoroUsageLogRepository
// .findByUserIdAndSessionAndSessionDateOrderByTimestamp(userId, session,
// LocalDate 2026-11-24), as the session-score consumer calls it.
func (m *mainServer) sessionLogs(userID string, session int32) []bson.M {
	m.t.Helper()
	return m.find(mongo.UsageLogCollection,
		bson.D{{Key: "userId", Value: userID}, {Key: "session", Value: session}, {Key: "sessionDate", Value: seoulMidnight()}},
		options.Find().SetSort(bson.D{{Key: "timestamp", Value: 1}}))
}

// categoryName is how the main server names a categoryId: the
// category_pattern document of that _id.
func (m *mainServer) categoryName(id any) string {
	m.t.Helper()
	oid, ok := id.(bson.ObjectID)
	if !ok {
		m.t.Fatalf("categoryId %v (%T) is not an ObjectId", id, id)
	}
	name, _ := m.byID(mongo.CategoryPatternCollection, oid)["category"].(string)
	return name
}

// springPatterns inserts category_pattern documents as
// CategoryPatternInitializer does (no priority), and returns their ids by
// category.
func (m *mainServer) springPatterns(categories ...string) map[string]bson.ObjectID {
	m.t.Helper()
	ids := map[string]bson.ObjectID{}
	var docs []any
	for _, c := range categories {
		ids[c] = bson.NewObjectID()
		docs = append(docs, bson.M{"_id": ids[c], "category": c, "appPatterns": bson.A{strings.ToLower(c)},
			"domainPatterns": bson.A{}, "_class": springPattern})
	}
	m.insert(mongo.CategoryPatternCollection, docs...)
	return ids
}

func save(t *testing.T, st *mongo.Store, recs ...pipeline.Record) {
	t.Helper()
	if err := st.Save(context.Background(), recs); err != nil {
		t.Fatalf("save: %v", err)
	}
}

// named makes r name its documents by id, as the main server's entries do.
func named(r pipeline.Record, cd, log bson.ObjectID) pipeline.Record {
	r.Activity.CategorizedDataID = pomocore.ObjectID(cd)
	if !log.IsZero() {
		r.Activity.UsageLogID, r.UsageLogID = pomocore.ObjectID(log), pomocore.ObjectID(log)
	}
	return r
}

func oid(v any) bson.ObjectID {
	id, _ := v.(bson.ObjectID)
	return id
}

func TestMainServerFindsUsageLogsBySessionAtSeoulMidnight(t *testing.T) {
	m := newMainServer(t)
	st := m.open(mongo.Config{})
	var want []pipeline.Record
	for _, app := range []string{"Xcode", "Google Chrome", "Xcode"} {
		r := storetest.Rec("u1", app, "", "main.go", storetest.Dev)
		r.Activity.Session = 3
		want = append(want, r)
	}
	// A usage log the entry names by id but that is missing: created.
	missing := named(storetest.Rec("u1", "Slack", "", "", storetest.SNS), bson.ObjectID{}, bson.NewObjectID())
	missing.Activity.Session = 3
	want = append(want, missing)
	otherSession := storetest.Rec("u1", "Xcode", "", "main.go", storetest.Dev)
	otherSession.Activity.Session = 4
	otherUser := storetest.Rec("u2", "Xcode", "", "main.go", storetest.Dev)
	otherUser.Activity.Session = 3
	otherDay := storetest.Rec("u1", "Xcode", "", "main.go", storetest.Dev)
	otherDay.Activity.Session, otherDay.Activity.SessionDate = 3, "2026-11-25"
	save(t, st, append(slices.Clone(want), otherSession, otherUser, otherDay)...)

	got := m.sessionLogs("u1", 3)
	if len(got) != len(want) {
		t.Fatalf("the main server finds %d usage logs of u1's session 3 on 2026-11-24, want %d: %v", len(got), len(want), got)
	}
	for i, l := range got {
		r := want[i]
		if oid(l["_id"]) != bson.ObjectID(r.UsageLogID) {
			t.Errorf("log %d is %v, want %s (in timestamp order)", i, l["_id"], r.UsageLogID)
		}
		cd := oid(l["CategorizedDataId"])
		if cd.IsZero() {
			t.Errorf("log %v has no CategorizedDataId: %v", l["_id"], l)
			continue
		}
		doc := m.byID(mongo.CategorizedDataCollection, cd)
		if doc["app"] != r.Activity.App || oid(doc["categoryId"]) != oid(l["categoryId"]) {
			t.Errorf("log %v: CategorizedDataId names %v", l["_id"], doc)
		}
		if _, ok := l["categorizedDataId"]; ok {
			t.Errorf("log %v also has the older data server's categorizedDataId", l["_id"])
		}
	}
	// The day written in another zone (the service's POMOCORE_TIMEZONE).
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip(err)
	}
	st2 := m.open(mongo.Config{Location: ny})
	r := storetest.Rec("u9", "Xcode", "", "", storetest.Dev)
	save(t, st2, r)
	if d := m.byID(mongo.UsageLogCollection, bson.ObjectID(r.UsageLogID))["sessionDate"].(bson.DateTime).Time().UTC(); !d.Equal(time.Date(2026, 11, 24, 5, 0, 0, 0, time.UTC)) {
		t.Errorf("sessionDate in New York = %v, want 2026-11-24T05:00:00Z", d)
	}
}

func TestMainServerReadsIsLLMBasedCapitalised(t *testing.T) {
	ctx := context.Background()
	m := newMainServer(t)
	// The older data server's documents: isLLMBased.
	oldLLM, oldLLMThenRule, oldRule := bson.NewObjectID(), bson.NewObjectID(), bson.NewObjectID()
	dev := bson.ObjectID(storetest.Dev)
	m.insert(mongo.CategorizedDataCollection,
		bson.M{"_id": oldLLM, "app": "Zed", "url": "", "title": "", "categoryId": dev, "isLLMBased": true},
		bson.M{"_id": oldLLMThenRule, "app": "Warp", "url": "", "title": "", "categoryId": dev, "isLLMBased": true},
		bson.M{"_id": oldRule, "app": "Vim", "url": "", "title": "", "categoryId": dev, "isLLMBased": false})
	st := m.open(mongo.Config{})
	llm := storetest.Rec("u", "Cursor", "", "", storetest.Dev)
	llm.Classification.Source = pomocore.SourceLLM
	llmByID := named(storetest.Rec("u", "Claude", "", "", storetest.Dev), bson.NewObjectID(), bson.ObjectID{})
	llmByID.Classification.Source = pomocore.SourceLLM
	rule := storetest.Rec("u", "Figma", "", "", storetest.Dev)
	reclassified := named(storetest.Rec("u", "Warp", "", "", storetest.Dev), oldLLMThenRule, bson.ObjectID{})
	oldAgain := named(storetest.Rec("u", "Zed", "", "", storetest.Dev), oldLLM, bson.ObjectID{})
	oldAgain.Classification.Source = pomocore.SourceLLM
	save(t, st, llm, llmByID, rule, reclassified, oldAgain)

	apps := func(docs []bson.M) []string {
		var out []string
		for _, d := range docs {
			out = append(out, d["app"].(string))
		}
		slices.Sort(out)
		return out
	}
	if got := apps(m.find(mongo.CategorizedDataCollection, bson.M{"IsLLMBased": true})); !slices.Equal(got, []string{"Claude", "Cursor", "Zed"}) {
		t.Errorf("documents with IsLLMBased: true: %v, want Claude, Cursor, Zed", got)
	}
	if got := apps(m.find(mongo.CategorizedDataCollection, bson.M{"IsLLMBased": false})); !slices.Equal(got, []string{"Figma", "Warp"}) {
		t.Errorf("documents with IsLLMBased: false: %v, want Figma, Warp", got)
	}
	for _, d := range m.find(mongo.CategorizedDataCollection, bson.M{"app": bson.M{"$in": bson.A{"Cursor", "Claude", "Figma"}}}) {
		if _, ok := d["isLLMBased"]; ok {
			t.Errorf("created document %v has the older data server's isLLMBased", d)
		}
	}
	answers, err := st.LLMAnswers(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range answers {
		if !a.LLMBased || a.CategoryID != storetest.Dev {
			t.Errorf("answer %+v", a)
		}
		got = append(got, a.App)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"Claude", "Cursor", "Zed"}) {
		t.Errorf("LLM answers %v, want Claude, Cursor, Zed (Warp's isLLMBased is old: IsLLMBased false wins)", got)
	}
	cds, _, err := st.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cds {
		if want := c.App == "Zed" || c.App == "Cursor" || c.App == "Claude"; c.LLMBased != want {
			t.Errorf("snapshot: %s LLMBased = %v, want %v", c.App, c.LLMBased, want)
		}
	}
}

func TestMainServerInsertsDuplicateCategorizedDataAfterPipelineStarted(t *testing.T) {
	ctx := context.Background()
	m := newMainServer(t)
	st := m.open(mongo.Config{})
	r := storetest.Rec("u1", "Google Chrome", "https://github.com/", "GitHub", storetest.Dev)
	save(t, st, r)
	// PomodoroServiceImpl.save: one categorized_data per activity, no
	// dedup; categoryId null (omitted) until classified.
	for range 2 {
		if _, err := m.db.Collection(mongo.CategorizedDataCollection).InsertOne(ctx, bson.D{
			{Key: "_id", Value: bson.NewObjectID()}, {Key: "app", Value: "Google Chrome"}, {Key: "url", Value: "https://github.com/"},
			{Key: "title", Value: "GitHub"}, {Key: "_class", Value: springCD},
		}); err != nil {
			t.Fatalf("the main server's insert of a second document of a key failed: %v", err)
		}
	}
	specs, err := m.db.Collection(mongo.CategorizedDataCollection).Indexes().ListSpecifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lookup := false
	for _, s := range specs {
		if s.Unique != nil && *s.Unique && s.Name != "_id_" {
			t.Errorf("categorized_data has the unique index %s %s", s.Name, s.KeysDocument)
		}
		lookup = lookup || s.Name == "app_url_title"
	}
	if !lookup {
		t.Errorf("no index for the store's lookups by key: %+v", specs)
	}
	// A restarted pipeline starts on them and keeps using one document.
	st2 := m.open(mongo.Config{})
	again := storetest.Rec("u2", "Google Chrome", "https://github.com/", "GitHub", storetest.SNS)
	save(t, st2, again)
	save(t, st, storetest.Rec("u3", "Google Chrome", "https://github.com/", "GitHub", storetest.SNS))
	if n := m.count(mongo.CategorizedDataCollection, bson.M{}); n != 3 {
		t.Errorf("%d categorized_data documents, want the 3 inserted", n)
	}
}

// capture is a slog.Handler keeping every record.
type capture struct {
	mu      sync.Mutex
	records []slog.Record
}

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }
func (c *capture) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.records = append(c.records, r)
	return nil
}
func (c *capture) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *capture) WithGroup(string) slog.Handler      { return c }

func (c *capture) messages() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, r := range c.records {
		msg := r.Message
		r.Attrs(func(a slog.Attr) bool {
			msg += " " + a.String()
			return true
		})
		out = append(out, msg)
	}
	return out
}

func TestStartsOnProductionShapedData(t *testing.T) {
	ctx := context.Background()
	m := newMainServer(t)
	cats := m.springPatterns("Development", "SNS")
	dev, sns := cats["Development"], cats["SNS"]
	// categorized_data: Spring's (duplicates by key; one inserted before
	// classification, without categoryId, IsLLMBased or url), and the older
	// data server's (isLLMBased; a null url).
	cdA1 := bson.NewObjectID()
	cdA2, cdB, cdOld, cdNull := bson.NewObjectID(), bson.NewObjectID(), bson.NewObjectID(), bson.NewObjectID()
	m.insert(mongo.CategorizedDataCollection,
		bson.M{"_id": cdA2, "app": "Google Chrome", "url": "https://github.com/", "title": "GitHub", "categoryId": dev, "IsLLMBased": false, "_class": springCD},
		bson.M{"_id": cdA1, "app": "Google Chrome", "url": "https://github.com/", "title": "GitHub", "categoryId": dev, "IsLLMBased": false, "_class": springCD},
		bson.M{"_id": cdB, "app": "Slack", "title": "general", "_class": springCD},
		bson.M{"_id": cdOld, "app": "Zed", "url": "", "title": "", "categoryId": dev, "isLLMBased": true},
		bson.M{"_id": cdNull, "app": "Notion", "url": nil, "title": "Doc", "categoryId": dev, "isLLMBased": false})
	// pomodoro_usage_log: Spring's (Seoul midnight, CategorizedDataId, no
	// categoryId yet, an extra field) and the older data server's (UTC
	// midnight, categorizedDataId).
	logA, logB, logOld := bson.NewObjectID(), bson.NewObjectID(), bson.NewObjectID()
	m.insert(mongo.UsageLogCollection,
		bson.M{"_id": logA, "userId": "u1", "CategorizedDataId": cdA2, "session": int32(1), "sessionMinutes": int32(25),
			"sessionDate": seoulMidnight(), "app": "Google Chrome", "timestamp": 1764000100.5, "duration": 30.0, "_class": springLog},
		bson.M{"_id": logB, "userId": "u1", "CategorizedDataId": cdB, "session": int32(1), "sessionMinutes": int32(25),
			"sessionDate": seoulMidnight(), "app": "Slack", "timestamp": 1764000200.0, "duration": 12.0, "_class": springLog},
		bson.M{"_id": logOld, "userId": "u2", "categorizedDataId": cdOld, "categoryId": dev, "session": int32(2), "sessionMinutes": int32(50),
			"sessionDate": time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), "timestamp": 1764000300.0, "duration": 7.0})
	// The main server's index, and one of a name the store uses with other
	// keys.
	for _, ix := range []driver.IndexModel{
		{Keys: bson.D{{Key: "userId", Value: 1}, {Key: "sessionDate", Value: 1}, {Key: "session", Value: 1}},
			Options: options.Index().SetName("userId_sessionDate_session_idx")},
		{Keys: bson.D{{Key: "timestamp", Value: -1}}, Options: options.Index().SetName("timestamp")},
	} {
		if _, err := m.db.Collection(mongo.UsageLogCollection).Indexes().CreateOne(ctx, ix); err != nil {
			t.Fatal(err)
		}
	}

	logs := &capture{}
	st := m.open(mongo.Config{Logger: slog.New(logs)})
	warned := false
	for _, msg := range logs.messages() {
		if strings.Contains(msg, "userId_sessionDate_session_idx") || strings.Contains(msg, "app_url_title") {
			t.Errorf("an index was refused on production data: %s", msg)
		}
		warned = warned || strings.Contains(msg, "index=timestamp")
	}
	if !warned {
		t.Errorf("no warning about the timestamp index of other keys; log: %q", logs.messages())
	}
	specs, err := m.db.Collection(mongo.UsageLogCollection).Indexes().ListSpecifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		if s.Name == "timestamp" && !strings.Contains(s.KeysDocument.String(), "-1") {
			t.Errorf("the existing timestamp index was replaced: %s", s.KeysDocument)
		}
	}
	patterns, err := st.LoadPatterns(ctx)
	if err != nil || len(patterns) != 2 {
		t.Fatalf("patterns = %+v, %v", patterns, err)
	}

	// The production path: the entries name the documents.
	rA := named(storetest.Rec("u1", "Google Chrome", "https://github.com/", "GitHub", pomocore.ObjectID(dev)), cdA2, logA)
	rB := named(storetest.Rec("u1", "Slack", "", "general", pomocore.ObjectID(sns)), cdB, logB)
	rB.Classification.Source = pomocore.SourceLLM
	save(t, st, rA, rB)
	if d := m.byID(mongo.CategorizedDataCollection, cdB); oid(d["categoryId"]) != sns || d["IsLLMBased"] != true || d["_class"] != springCD {
		t.Errorf("categorized_data %s after update = %v", cdB.Hex(), d)
	}
	if d := m.byID(mongo.CategorizedDataCollection, cdA2); oid(d["categoryId"]) != dev || d["IsLLMBased"] != false || d["_class"] != springCD {
		t.Errorf("categorized_data %s after update = %v", cdA2.Hex(), d)
	}
	for _, c := range []struct {
		id, cd, cat bson.ObjectID
	}{{logA, cdA2, dev}, {logB, cdB, sns}} {
		d := m.byID(mongo.UsageLogCollection, c.id)
		if oid(d["categoryId"]) != c.cat || oid(d["CategorizedDataId"]) != c.cd || d["_class"] != springLog || d["app"] == nil ||
			!d["sessionDate"].(bson.DateTime).Time().Equal(seoulMidnight()) {
			t.Errorf("usage log %s after update = %v", c.id.Hex(), d)
		}
	}
	if got := m.sessionLogs("u1", 1); len(got) != 2 || m.categoryName(got[0]["categoryId"]) != "Development" || m.categoryName(got[1]["categoryId"]) != "SNS" {
		t.Errorf("the main server's session query finds %v", got)
	}

	// Without ids: a key of several documents uses the smallest id; a
	// document without a url (Spring omits null) is the key's with url "".
	rC := storetest.Rec("u3", "Google Chrome", "https://github.com/", "GitHub", pomocore.ObjectID(sns))
	rD := storetest.Rec("u3", "Slack", "", "general", pomocore.ObjectID(sns))
	rD.Classification.Source = pomocore.SourceLLM
	rE := storetest.Rec("u3", "Notion", "", "Doc", pomocore.ObjectID(dev))
	save(t, st, rC, rD, rE)
	if n := m.count(mongo.CategorizedDataCollection, bson.M{}); n != 5 {
		t.Errorf("%d categorized_data documents, want the 5 there were", n)
	}
	for _, c := range []struct {
		r  pipeline.Record
		cd bson.ObjectID
	}{{rC, cdA1}, {rD, cdB}, {rE, cdNull}} {
		if got := oid(m.byID(mongo.UsageLogCollection, bson.ObjectID(c.r.UsageLogID))["CategorizedDataId"]); got != c.cd {
			t.Errorf("%s's usage log names %s, want %s", c.r.Activity.App, got.Hex(), c.cd.Hex())
		}
	}
	if d := m.byID(mongo.CategorizedDataCollection, cdA1); oid(d["categoryId"]) != sns {
		t.Errorf("the key's document (smallest id) = %v, want categoryId SNS", d)
	}

	// Reading: both spellings and both date conventions.
	_, all, err := st.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[pomocore.ObjectID]pomocore.UsageLog{}
	for _, l := range all {
		byID[l.ID] = l
		if l.SessionDate != "2026-11-24" {
			t.Errorf("usage log %s: session date %q, want 2026-11-24", l.ID, l.SessionDate)
		}
	}
	if l := byID[pomocore.ObjectID(logOld)]; l.CategorizedDataID != pomocore.ObjectID(cdOld) || l.UserID != "u2" || l.Session != 2 ||
		l.SessionMinutes != 50 || l.CategoryID != pomocore.ObjectID(dev) || l.Duration != 7 {
		t.Errorf("the older data server's usage log reads as %+v", l)
	}
	if l := byID[pomocore.ObjectID(logA)]; l.CategorizedDataID != pomocore.ObjectID(cdA2) || l.Timestamp != 1764000100.5 {
		t.Errorf("Spring's usage log reads as %+v", l)
	}
	between := map[pomocore.ObjectID]pomocore.UsageLog{}
	if err := st.UsageLogsBetween(ctx, 1764000000, 1764000400, func(ls []pomocore.UsageLog) error {
		for _, l := range ls {
			between[l.ID] = l
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []bson.ObjectID{logA, logB, logOld} {
		if l, ok := between[pomocore.ObjectID(id)]; !ok || l != byID[pomocore.ObjectID(id)] {
			t.Errorf("UsageLogsBetween: %s = %+v (found %v), want %+v", id.Hex(), l, ok, byID[pomocore.ObjectID(id)])
		}
	}
	answers, err := st.LLMAnswers(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var apps []string
	for _, a := range answers {
		apps = append(apps, a.App)
	}
	slices.Sort(apps)
	if !slices.Equal(apps, []string{"Slack", "Zed"}) {
		t.Errorf("LLM answers %v, want Slack (IsLLMBased) and Zed (isLLMBased)", apps)
	}
}

func TestMainServerNamesCategoryThroughCategoryId(t *testing.T) {
	ctx := context.Background()
	m := newMainServer(t)
	m.springPatterns("Development", "SNS", "Uncategorized")
	st := m.open(mongo.Config{})
	ids := ferrettest.CategoryIDs(t, st)
	recs := []pipeline.Record{
		storetest.Rec("u1", "Xcode", "", "main.go", ids["Development"]),
		storetest.Rec("u1", "Google Chrome", "https://x.com/home", "Home / X", ids["SNS"]),
		named(storetest.Rec("u1", "Visual Studio Code", "", "x.go", ids["Development"]), bson.NewObjectID(), bson.NewObjectID()),
		storetest.Rec("u1", "Finder", "", "", ids["Uncategorized"]),
	}
	want := map[string]float64{}
	for i := range recs {
		recs[i].Activity.Session = 2
		want[map[pomocore.ObjectID]string{ids["Development"]: "Development", ids["SNS"]: "SNS", ids["Uncategorized"]: "Uncategorized"}[recs[i].CategoryID]] += recs[i].Activity.Duration
	}
	save(t, st, recs...)

	// The session score: the session's usage logs, duration summed by
	// categoryId, each named from category_pattern.
	got := map[string]float64{}
	for _, l := range m.sessionLogs("u1", 2) {
		got[m.categoryName(l["categoryId"])] += l["duration"].(float64)
	}
	if len(got) != len(want) {
		t.Errorf("session score by category = %v, want %v", got, want)
	}
	for c, d := range want {
		if got[c] != d {
			t.Errorf("session score of %s = %v, want %v (all: %v)", c, got[c], d, got)
		}
	}
	// The usage report: $match by user and time, $group by categoryId.
	cur, err := m.db.Collection(mongo.UsageLogCollection).Aggregate(ctx, bson.A{
		bson.M{"$match": bson.M{"userId": "u1", "timestamp": bson.M{"$gte": 0.0, "$lt": 2e9}}},
		bson.M{"$group": bson.M{"_id": "$categoryId", "duration": bson.M{"$sum": "$duration"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var groups []bson.M
	if err := cur.All(ctx, &groups); err != nil {
		t.Fatal(err)
	}
	byName := map[string]float64{}
	for _, g := range groups {
		byName[m.categoryName(g["_id"])] = g["duration"].(float64)
	}
	for c, d := range want {
		if byName[c] != d {
			t.Errorf("usage by category: %s = %v, want %v (all: %v)", c, byName[c], d, byName)
		}
	}
	// Each usage log's categorized_data has the same categoryId.
	for _, l := range m.find(mongo.UsageLogCollection, bson.M{}) {
		cd := m.byID(mongo.CategorizedDataCollection, oid(l["CategorizedDataId"]))
		if oid(cd["categoryId"]) != oid(l["categoryId"]) {
			t.Errorf("usage log %v has categoryId %v, its categorized_data %v", l["_id"], l["categoryId"], cd["categoryId"])
		}
	}
}
