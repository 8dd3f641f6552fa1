package mongo_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/pomocore/pomocore/internal/ferrettest"
	"github.com/pomocore/pomocore/mongo"
	"github.com/pomocore/pomocore/pipeline"
)

func inspectCollections(t *testing.T, client *driver.Client, db string) map[string][]string {
	t.Helper()
	ctx := context.Background()
	names, err := client.Database(db).ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, n := range names {
		specs, err := client.Database(db).Collection(n).Indexes().ListSpecifications(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range specs {
			out[n] = append(out[n], s.Name)
		}
		slices.Sort(out[n])
	}
	return out
}

func TestInspectorReadsDocumentsAndCreatesNothing(t *testing.T) {
	u := ferrettest.Start(t)
	ctx := context.Background()
	client, err := driver.Connect(options.Client().ApplyURI(u))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	db := client.Database("inspect")
	seoul := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	if _, err := db.Collection("category_pattern").InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: bson.NewObjectIDFromTimestamp(time.Unix(1, 0))}, {Key: "category", Value: "Development"},
			{Key: "appPatterns", Value: bson.A{"xcode"}}, {Key: "domainPatterns", Value: bson.A{"github.com"}}, {Key: "_class", Value: "x"}},
		bson.D{{Key: "_id", Value: bson.NewObjectIDFromTimestamp(time.Unix(2, 0))}, {Key: "category", Value: "AFK"},
			{Key: "priority", Value: int32(3)}, {Key: "domainPatterns", Value: bson.A{"afk"}}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection("pomodoro_usage_log").InsertMany(ctx, []any{
		bson.D{{Key: "userId", Value: "u1"}, {Key: "CategorizedDataId", Value: bson.NewObjectID()}, {Key: "sessionDate", Value: seoul},
			{Key: "session", Value: int32(3)}, {Key: "duration", Value: 12.5}},
		bson.D{{Key: "userId", Value: "u2"}, {Key: "categorizedDataId", Value: bson.NewObjectID()}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection("pomodoro_usage_log").Indexes().CreateOne(ctx, driver.IndexModel{
		Keys: bson.D{{Key: "userId", Value: 1}, {Key: "sessionDate", Value: 1}, {Key: "session", Value: 1}}, Options: options.Index().SetName("userId_sessionDate_session_idx")}); err != nil {
		t.Fatal(err)
	}
	before := inspectCollections(t, client, "inspect")

	in, err := mongo.OpenInspector(ctx, mongo.Config{URI: u, Database: "inspect"})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close(ctx)

	pats, err := in.LoadPatterns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pats) != 2 || pats[0].Category != "Development" || pats[1].Priority != 3 || !slices.Equal(pats[1].DomainPatterns, []string{"afk"}) {
		t.Errorf("patterns %+v", pats)
	}
	var _ pipeline.ShadowSource = in // a shadow run's category_pattern
	if err := in.Ping(ctx); err != nil {
		t.Errorf("Ping = %v", err)
	}
	c, err := in.Collection(ctx, "pomodoro_usage_log")
	if err != nil || !c.Exists || c.Count != 2 {
		t.Errorf("usage logs: %+v, %v", c, err)
	}
	if c, err := in.Collection(ctx, "categorized_data"); err != nil || c.Exists {
		t.Errorf("missing collection: %+v, %v", c, err)
	}
	existing, planned, err := in.Indexes(ctx, "pomodoro_usage_log")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ix := range existing {
		names = append(names, ix.Name)
		if ix.Name == "userId_sessionDate_session_idx" && !slices.Equal(ix.Keys, []string{"userId:1", "sessionDate:1", "session:1"}) {
			t.Errorf("keys of %s: %v", ix.Name, ix.Keys)
		}
	}
	if !slices.Contains(names, "userId_sessionDate_session_idx") || len(planned) != 3 {
		t.Errorf("indexes %v, planned %v", existing, planned)
	}
	if existing, planned, err := in.Indexes(ctx, "categorized_data"); err != nil || len(existing) != 0 || len(planned) != 1 {
		t.Errorf("indexes of a missing collection: %v, %v, %v", existing, planned, err)
	}
	docs, err := in.SampleDocuments(ctx, "pomodoro_usage_log", 10)
	if err != nil || len(docs) != 2 {
		t.Fatalf("sample: %v, %v", docs, err)
	}
	newest, oldest := docs[0], docs[1] // newest first
	if _, ok := newest["categorizedDataId"]; !ok {
		t.Errorf("newest first: %v", docs)
	}
	if d, ok := oldest["sessionDate"].(time.Time); !ok || !d.Equal(seoul) {
		t.Errorf("sessionDate %v (%T)", oldest["sessionDate"], oldest["sessionDate"])
	}
	if oldest["session"] != int64(3) || oldest["duration"] != 12.5 || oldest["userId"] != "u1" {
		t.Errorf("values %v", oldest)
	}
	if docs, err := in.SampleDocuments(ctx, "categorized_data", 10); err != nil || len(docs) != 0 {
		t.Errorf("sample of a missing collection: %v, %v", docs, err)
	}

	if after := inspectCollections(t, client, "inspect"); len(after) != len(before) {
		t.Errorf("collections changed: %v -> %v", before, after)
	} else {
		for k, v := range before {
			if !slices.Equal(after[k], v) {
				t.Errorf("indexes of %s changed: %v -> %v", k, v, after[k])
			}
		}
	}
}

func TestInspectorPlannedIndexesAreThoseOpenCreates(t *testing.T) {
	u := ferrettest.Start(t)
	ctx := context.Background()
	st, err := mongo.Open(ctx, mongo.Config{URI: u, Database: "planned"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(ctx)
	in, err := mongo.OpenInspector(ctx, mongo.Config{URI: u, Database: "planned"})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close(ctx)
	for _, coll := range []string{mongo.CategorizedDataCollection, mongo.UsageLogCollection} {
		existing, planned, err := in.Indexes(ctx, coll)
		if err != nil {
			t.Fatal(err)
		}
		if len(planned) == 0 || len(existing) != len(planned)+1 { // and _id_
			t.Errorf("%s: existing %v, planned %v", coll, existing, planned)
		}
		for _, p := range planned {
			found := false
			for _, e := range existing {
				found = found || (e.Name == p.Name && slices.Equal(e.Keys, p.Keys) && e.Unique == p.Unique)
			}
			if !found {
				t.Errorf("%s: planned %v is not what Open created: %v", coll, p, existing)
			}
		}
	}
}
