package ferrettest

import (
	"context"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestFillDisk: with the disk filled, FerretDB still answers pings and
// refuses an insert as SQLite does on a full disk; once freed, it takes
// the insert.
func TestFillDisk(t *testing.T) {
	s := StartServerOnTmpfs(t, 16<<20)
	ctx := context.Background()
	coll := Client(t, s.URI).Database("full").Collection("docs")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "x", Value: 0}}); err != nil {
		t.Fatal(err)
	}
	free, err := s.FillDisk()
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 1<<20) // more than any page SQLite holds free
	_, err = coll.InsertOne(ctx, bson.D{{Key: "x", Value: big}})
	if err == nil || !strings.Contains(err.Error(), "full") {
		t.Fatalf("insert on a full disk: %v, want a disk-full error", err)
	}
	t.Logf("insert on a full disk: %v", err)
	if err := coll.Database().Client().Ping(ctx, nil); err != nil {
		t.Errorf("ping on a full disk: %v", err)
	}
	if err := free(); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "x", Value: big}}); err != nil {
		t.Errorf("insert once freed: %v", err)
	}
}
