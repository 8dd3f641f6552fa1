package ferrettest

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/pomocore/pomocore"
)

// Client connects the raw driver to uri (what a test uses to play the main
// server's part or to read the documents a store wrote) and disconnects it
// when t ends.
func Client(t testing.TB, uri string) *mongo.Client {
	t.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetTimeout(30 * time.Second))
	if err != nil {
		t.Fatalf("ferrettest: connect: %v", err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client
}

// PatternLoader is the part of a store CategoryIDs reads
// (pipeline.Patterns).
type PatternLoader interface {
	LoadPatterns(ctx context.Context) ([]pomocore.CategoryPattern, error)
}

// CategoryIDs loads the category patterns of st and returns their ids by
// category name.
func CategoryIDs(t testing.TB, st PatternLoader) map[string]pomocore.ObjectID {
	t.Helper()
	patterns, err := st.LoadPatterns(context.Background())
	if err != nil {
		t.Fatalf("load patterns: %v", err)
	}
	ids := map[string]pomocore.ObjectID{}
	for _, p := range patterns {
		ids[p.Category] = p.ID
	}
	return ids
}
