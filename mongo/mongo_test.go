package mongo_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/internal/ferrettest"
	"github.com/pomocore/pomocore/mongo"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/pipeline/storetest"
)

// One FerretDB for the package; each store gets its own database.
var (
	uri string
	dbs atomic.Int64
)

func server(t testing.TB) string {
	t.Helper()
	if uri == "" {
		t.Fatal("no server")
	}
	return uri
}

func TestMain(m *testing.M) {
	// ferrettest.Start wants a testing.TB; run the suite inside one test
	// instead (see TestMongo*), so that the server lives for all of them.
	m.Run()
}

type harness struct{ *mongo.Store }

func (h harness) Snapshot(ctx context.Context) (*storetest.Snapshot, error) {
	c, l, err := h.Store.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return &storetest.Snapshot{Categorized: c, UsageLogs: l}, nil
}

func open(t testing.TB, cfg mongo.Config) *mongo.Store {
	t.Helper()
	cfg.URI = server(t)
	if cfg.Database == "" {
		cfg.Database = "t" + strconv.FormatInt(dbs.Add(1), 10)
	}
	st, err := mongo.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	return st
}

func TestMongo(t *testing.T) {
	uri = ferrettest.Start(t)

	t.Run("Contract", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) storetest.Harness { return harness{open(t, mongo.Config{})} })
	})
	t.Run("ContractSmallCommands", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) storetest.Harness {
			return harness{open(t, mongo.Config{MaxStatements: 7, InsertBatch: 11, MaxIDs: 13})}
		})
	})
	t.Run("ContractDollarIn", func(t *testing.T) {
		// On FerretDB the default (auto) updates per document: the $in
		// path is run here.
		storetest.Run(t, func(t *testing.T) storetest.Harness { return harness{open(t, mongo.Config{PerDocument: "off"})} })
	})
	t.Run("EveryCommandCarriesMaxTimeMS", testEveryCommandCarriesMaxTimeMS)
	t.Run("PerDocumentOnFerretDB", testPerDocumentOnFerretDB)
	t.Run("RetriedBatchFindsDuplicatesOnce", testRetriedBatchFindsDuplicatesOnce)
	t.Run("UpdateByIDDrain", testUpdateByIDDrain)
	t.Run("DocumentShapes", testDocumentShapes)
	t.Run("LeavesAnExistingUniqueKeyIndex", testLeavesAnExistingUniqueKeyIndex)
	t.Run("CommandsPerBatch", testCommandsPerBatch)
	t.Run("RegisteredCounters", testRegisteredCounters)
	t.Run("SeedByManyAtOnceGivesOneDocumentPerCategory", testSeedByManyAtOnce)
	t.Run("LearnedLogContract", testLearnedLogContract)
	t.Run("TrustedLabelsLeaveOutModelAnswersAndTheDefault", testTrustedLabelsLeaveOutModelAnswersAndTheDefault)
	t.Run("CredentialsInURI", func(t *testing.T) {
		// FerretDB on SQLite takes PLAIN credentials without checking them
		// and refuses SCRAM: the password path reaches the server, and a
		// failure says why without the password.
		withCreds := strings.Replace(server(t), "mongodb://", "mongodb://pomo:pw-Secret-1@", 1)
		st, err := mongo.Open(context.Background(), mongo.Config{URI: withCreds + "?authMechanism=PLAIN", Database: "creds"})
		if err != nil {
			t.Fatalf("PLAIN credentials: %v", err)
		}
		if err := st.Save(context.Background(), []pipeline.Record{storetest.Rec("u", "a", "", "", storetest.Dev)}); err != nil {
			t.Fatal(err)
		}
		st.Close(context.Background())
		_, err = mongo.Open(context.Background(), mongo.Config{URI: withCreds, Database: "creds"})
		if err == nil {
			t.Fatal("SCRAM against FerretDB/SQLite succeeded")
		}
		if strings.Contains(err.Error(), "pw-Secret-1") {
			t.Errorf("error shows the password: %v", err)
		}
	})
	t.Run("Validate", func(t *testing.T) {
		for _, c := range []mongo.Config{{}, {URI: "mongodb://x", Database: ""}, {URI: "http://user:secretpw@x", Database: "d"},
			{URI: "mongodb://x", Database: "d", MaxStatements: 100}} {
			err := c.Validate()
			if err == nil {
				t.Errorf("%+v accepted", c)
			} else if strings.Contains(err.Error(), "secretpw") {
				t.Errorf("error shows the password: %v", err)
			}
		}
	})
}

func testDocumentShapes(t *testing.T) {
	ctx := context.Background()
	st := open(t, mongo.Config{Database: "shapes"})
	r := storetest.Rec("u1", "Xcode", "", "main.go", storetest.Dev)
	if err := st.Save(ctx, []pipeline.Record{r}); err != nil {
		t.Fatal(err)
	}
	client, err := driver.Connect(options.Client().ApplyURI(server(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	db := client.Database("shapes")
	var log bson.Raw
	if err := db.Collection("pomodoro_usage_log").FindOne(ctx, bson.D{}).Decode(&log); err != nil {
		t.Fatal(err)
	}
	want := map[string]bson.Type{
		"_id": bson.TypeObjectID, "userId": bson.TypeString, "CategorizedDataId": bson.TypeObjectID,
		"categoryId": bson.TypeObjectID, "session": bson.TypeInt32, "sessionMinutes": bson.TypeInt32,
		"sessionDate": bson.TypeDateTime, "timestamp": bson.TypeDouble, "duration": bson.TypeDouble,
	}
	checkShape(t, "pomodoro_usage_log", log, want)
	if d := log.Lookup("sessionDate").Time().UTC(); d.Format("2006-01-02T15:04:05") != "2026-11-23T15:00:00" {
		t.Errorf("sessionDate = %v, want midnight in Seoul of 2026-11-24", d)
	}
	var cd bson.Raw
	if err := db.Collection("categorized_data").FindOne(ctx, bson.D{}).Decode(&cd); err != nil {
		t.Fatal(err)
	}
	checkShape(t, "categorized_data", cd, map[string]bson.Type{
		"_id": bson.TypeObjectID, "app": bson.TypeString, "url": bson.TypeString, "title": bson.TypeString,
		"categoryId": bson.TypeObjectID, "IsLLMBased": bson.TypeBoolean, "pomocoreSource": bson.TypeString,
	})
}

func checkShape(t *testing.T, coll string, doc bson.Raw, want map[string]bson.Type) {
	t.Helper()
	elems, err := doc.Elements()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bson.Type{}
	for _, e := range elems {
		got[e.Key()] = e.Value().Type
	}
	for k, ty := range want {
		if got[k] != ty {
			t.Errorf("%s.%s is %v, want %v", coll, k, got[k], ty)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s has fields %v, want exactly %v", coll, got, want)
	}
}

// testCommandsPerBatch measures what a 500-record batch costs in commands
// and statements, in both id modes, and checks that no command exceeds the
// statement bound.
func testCommandsPerBatch(t *testing.T) {
	ferrettest.SkipUnderRace(t)
	ctx := context.Background()
	for _, mode := range []string{"create", "ids", "ids per document"} {
		st := open(t, mongo.Config{PerDocument: map[bool]string{true: "on", false: "off"}[mode == "ids per document"]})
		// Pre-create the documents the ids mode names, as the main server does.
		var batch []pipeline.Record
		for i := 0; i < 500; i++ {
			r := storetest.Rec("u"+strconv.Itoa(i%40), "app-"+strconv.Itoa(i%180), "", "t", storetest.Dev)
			if mode != "create" {
				r.Activity.CategorizedDataID = [12]byte{0xcd, byte(i % 180)}
				r.Activity.UsageLogID = r.UsageLogID
			}
			batch = append(batch, r)
		}
		if mode != "create" {
			if err := st.Save(ctx, batch); err != nil {
				t.Fatal(err)
			}
			for i := range batch {
				batch[i].CategoryID = storetest.Game // the pipeline's new classification
			}
		}
		before := st.Stats()
		if err := st.Save(ctx, batch); err != nil {
			t.Fatal(err)
		}
		after := st.Stats()
		cmds := after.Commands - before.Commands
		upd := after.UpdateStatements - before.UpdateStatements
		t.Logf("%s mode, 500 records: %d commands, %d update statements, %d inserted documents (per 1,000 events: %d commands, %d update statements)",
			mode, cmds, upd, after.InsertedDocuments-before.InsertedDocuments, cmds*2, upd*2)
		// The deployed pipeline sends ~20 commands and ~750 update
		// statements for 500 events.
		if mode == "ids per document" {
			// One statement per document (180 categorized_data, 500 usage
			// logs), 90 per command: 2 + 6 commands.
			if cmds > 8 || upd != 680 {
				t.Errorf("%s: %d commands and %d update statements for 500 records; want <= 8 and 680", mode, cmds, upd)
			}
			continue
		}
		if want := map[string]int64{"create": 3, "ids": 2}[mode]; cmds > want || upd > 2 {
			t.Errorf("%s mode: %d commands and %d update statements for 500 records; want <= %d and <= 2", mode, cmds, upd, want)
		}
		if mode != "create" {
			continue
		}
		// The next batch of the same keys (new usage logs, categories
		// unchanged) needs neither a lookup nor an update: one insert.
		for i := range batch {
			batch[i].UsageLogID = [12]byte{0x10, byte(i >> 8), byte(i)}
		}
		before = st.Stats()
		if err := st.Save(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if n := st.Stats().Commands - before.Commands; n != 1 {
			t.Errorf("create mode, known keys: %d commands, want 1 (the insert of the usage logs)", n)
		}
	}
}

// testLeavesAnExistingUniqueKeyIndex: a unique (app, url, title) index an
// earlier version created is neither dropped nor in the way: Open starts,
// and another instance uses the document the first one created.
func testLeavesAnExistingUniqueKeyIndex(t *testing.T) {
	ctx := context.Background()
	client, err := driver.Connect(options.Client().ApplyURI(server(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	cd := client.Database("uniquekey").Collection("categorized_data")
	if _, err := cd.Indexes().CreateOne(ctx, driver.IndexModel{
		Keys:    bson.D{{Key: "app", Value: 1}, {Key: "url", Value: 1}, {Key: "title", Value: 1}},
		Options: options.Index().SetUnique(true).SetName("app_url_title_unique"),
	}); err != nil {
		t.Fatal(err)
	}
	st := open(t, mongo.Config{Database: "uniquekey"})
	other := open(t, mongo.Config{Database: "uniquekey"}) // another instance
	save := func(st *mongo.Store, r pipeline.Record) {
		t.Helper()
		if err := st.Save(ctx, []pipeline.Record{r}); err != nil {
			t.Fatal(err)
		}
	}
	save(st, storetest.Rec("u", "Xcode", "", "", storetest.Dev))
	save(other, storetest.Rec("u", "Xcode", "", "", storetest.Game))
	cds, logs, err := st.Snapshot(ctx)
	if err != nil || len(cds) != 1 || len(logs) != 2 || logs[0].CategorizedDataID != cds[0].ID || logs[1].CategorizedDataID != cds[0].ID {
		t.Errorf("categorized %+v, logs %+v, %v; want one document both logs name", cds, logs, err)
	}
	specs, err := cd.Indexes().ListSpecifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(specs, func(s driver.IndexSpecification) bool { return s.Name == "app_url_title_unique" }) {
		t.Errorf("the existing unique index was dropped: %+v", specs)
	}
}

// Three processes starting on an empty database each seed category_pattern
// (the chaos harness found 818 usage logs naming categories of several
// ids): every category still has one document.
func testSeedByManyAtOnce(t *testing.T) {
	db := "seed" + strconv.FormatInt(dbs.Add(1), 10)
	stores := make([]*mongo.Store, 3)
	for i := range stores {
		stores[i] = open(t, mongo.Config{Database: db})
	}
	errs := make(chan error, len(stores))
	for _, st := range stores {
		go func() {
			_, err := st.SeedPatterns(context.Background(), classify.DefaultPatterns())
			errs <- err
		}()
	}
	for range stores {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	ps, err := stores[0].LoadPatterns(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byCategory := map[string]int{}
	for _, p := range ps {
		byCategory[p.Category]++
	}
	if len(ps) != len(classify.DefaultPatterns()) {
		t.Errorf("%d category_pattern documents, want %d: %v", len(ps), len(classify.DefaultPatterns()), byCategory)
	}
}
