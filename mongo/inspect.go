package mongo

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/doctor"
)

// Inspector reads the CONTRACT's collections for `pomocore doctor` and
// `pomocore compare`. Unlike Open it creates nothing: no index, no
// collection, no document; it sends find, listCollections, listIndexes,
// count and ping only. It implements doctor.PatternSource and
// doctor.DocumentInspector. Safe for concurrent use.
type Inspector struct {
	client *mongo.Client
	db     *mongo.Database
	uri    string
}

// OpenInspector connects and pings; it creates nothing.
func OpenInspector(ctx context.Context, cfg Config) (*Inspector, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("mongo: %w", err)
	}
	client, err := mongo.Connect(options.Client().ApplyURI(cfg.URI).SetTimeout(cfg.Timeout).
		SetConnectTimeout(cfg.Timeout).SetServerSelectionTimeout(cfg.Timeout).SetAppName("pomocore-doctor"))
	if err != nil {
		return nil, fmt.Errorf("mongo: connect: %w", redactErr(err, cfg.URI))
	}
	if err := client.Ping(ctx, nil); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, fmt.Errorf("mongo: ping: %w", redactErr(err, cfg.URI))
	}
	return &Inspector{client: client, db: client.Database(cfg.Database), uri: cfg.URI}, nil
}

// Close disconnects.
func (i *Inspector) Close(ctx context.Context) error { return i.client.Disconnect(ctx) }

// LoadPatterns implements doctor.PatternSource: the category_pattern
// documents in _id order (the order the store loads them in); none when
// the collection is missing.
func (i *Inspector) LoadPatterns(ctx context.Context) ([]pomocore.CategoryPattern, error) {
	docs, err := findAll[patternDoc](ctx, i.db.Collection(CategoryPatternCollection), bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}), "category_pattern")
	if err != nil {
		return nil, redactErr(err, i.uri)
	}
	out := make([]pomocore.CategoryPattern, len(docs))
	for j, d := range docs {
		out[j] = d.domain()
	}
	return out, nil
}

// Ping reports whether category_pattern can be listed (the answer a
// shadow run's store gives its readiness check: pipeline.ShadowSource).
func (i *Inspector) Ping(ctx context.Context) error {
	_, err := i.Collection(ctx, CategoryPatternCollection)
	return err
}

// Collection implements doctor.DocumentInspector.
func (i *Inspector) Collection(ctx context.Context, coll string) (doctor.Collection, error) {
	c := doctor.Collection{Name: coll}
	names, err := i.db.ListCollectionNames(ctx, bson.D{{Key: "name", Value: coll}})
	if err != nil {
		return c, fmt.Errorf("mongo: list collections: %w", redactErr(err, i.uri))
	}
	for _, n := range names {
		c.Exists = c.Exists || n == coll
	}
	if !c.Exists {
		return c, nil
	}
	if c.Count, err = i.db.Collection(coll).EstimatedDocumentCount(ctx); err != nil {
		return c, fmt.Errorf("mongo: count %s: %w", coll, redactErr(err, i.uri))
	}
	return c, nil
}

// plannedIndexes lists the indexes Open creates (see indexes in mongo.go),
// as the doctor compares them with those that exist.
func plannedIndexes(coll string) []doctor.Index {
	all := map[string][]doctor.Index{
		CategorizedDataCollection: {{Name: "app_url_title", Keys: []string{"app:1", "url:1", "title:1"}}},
		UsageLogCollection: {
			{Name: "userId_sessionDate_session_idx", Keys: []string{"userId:1", "sessionDate:1", "session:1"}},
			{Name: "sessionDate", Keys: []string{"sessionDate:1"}},
			{Name: "timestamp", Keys: []string{"timestamp:1"}},
		},
	}
	return all[coll]
}

// Indexes implements doctor.DocumentInspector (listIndexes, only when the
// collection exists: listing the indexes of a missing one is an error).
func (i *Inspector) Indexes(ctx context.Context, coll string) (existing, planned []doctor.Index, err error) {
	planned = plannedIndexes(coll)
	c, err := i.Collection(ctx, coll)
	if err != nil || !c.Exists {
		return nil, planned, err
	}
	cur, err := i.db.Collection(coll).Indexes().List(ctx)
	if err != nil {
		return nil, planned, fmt.Errorf("mongo: list indexes of %s: %w", coll, redactErr(err, i.uri))
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var spec struct {
			Name   string `bson:"name"`
			Key    bson.D `bson:"key"`
			Unique bool   `bson:"unique"`
		}
		if err := cur.Decode(&spec); err != nil {
			return nil, planned, fmt.Errorf("mongo: index of %s: %w", coll, err)
		}
		ix := doctor.Index{Name: spec.Name, Unique: spec.Unique, Keys: make([]string, 0, len(spec.Key))}
		for _, e := range spec.Key {
			ix.Keys = append(ix.Keys, fmt.Sprintf("%s:%v", e.Key, e.Value))
		}
		existing = append(existing, ix)
	}
	if err := cur.Err(); err != nil {
		return nil, planned, fmt.Errorf("mongo: list indexes of %s: %w", coll, redactErr(err, i.uri))
	}
	return existing, planned, nil
}

// SampleDocuments implements doctor.DocumentInspector: the n newest
// documents by _id, none when the collection is missing.
func (i *Inspector) SampleDocuments(ctx context.Context, coll string, n int) ([]doctor.Document, error) {
	if n <= 0 {
		return nil, nil
	}
	cur, err := i.db.Collection(coll).Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}).SetLimit(int64(n)))
	if err != nil {
		return nil, fmt.Errorf("mongo: find %s: %w", coll, redactErr(err, i.uri))
	}
	defer cur.Close(ctx)
	var out []doctor.Document
	for cur.Next(ctx) {
		elems, err := cur.Current.Elements()
		if err != nil {
			return nil, fmt.Errorf("mongo: document of %s: %w", coll, err)
		}
		d := make(doctor.Document, len(elems))
		for _, e := range elems {
			d[e.Key()] = inspectValue(e.Value())
		}
		out = append(out, d)
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("mongo: find %s: %w", coll, redactErr(err, i.uri))
	}
	return out, nil
}

// inspectValue converts a BSON value to the plain Go value a
// doctor.Document holds.
func inspectValue(v bson.RawValue) any {
	switch v.Type {
	case bson.TypeString:
		return v.StringValue()
	case bson.TypeDateTime:
		return v.Time().UTC()
	case bson.TypeObjectID:
		return v.ObjectID().Hex()
	case bson.TypeDouble:
		return v.Double()
	case bson.TypeInt32:
		return int64(v.Int32())
	case bson.TypeInt64:
		return v.Int64()
	case bson.TypeBoolean:
		return v.Boolean()
	case bson.TypeNull:
		return nil
	}
	return v.String()
}
