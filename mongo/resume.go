package mongo

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/pomocore/pomocore"
)

// NewestUsageLogIDs returns the ids of up to limit usage logs, largest
// first (a find sorted on _id, served by the _id index, projecting _id
// only). The wiring derives from them where a consumer group that vanished
// was (usage logs the pipeline created carry ids derived from their stream
// entry ids: see pomocore.ObjectIDFromEntryID). The command carries the
// client's timeout (maxTimeMS), as every find of this store.
func (s *Store) NewestUsageLogIDs(ctx context.Context, limit int) ([]pomocore.ObjectID, error) {
	cmd := bson.D{
		{Key: "find", Value: s.logs.Name()},
		{Key: "filter", Value: bson.D{}},
		{Key: "projection", Value: bson.D{{Key: "_id", Value: 1}}},
		{Key: "sort", Value: bson.D{{Key: "_id", Value: -1}}},
		{Key: "limit", Value: int64(max(limit, 0))},
	}
	s.commands.Add(1)
	cur, err := s.logs.Database().RunCommandCursor(ctx, cmd)
	if err != nil {
		return nil, fmt.Errorf("mongo: newest usage logs: %w", err)
	}
	var docs []struct {
		ID any `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongo: newest usage logs: %w", err)
	}
	ids := make([]pomocore.ObjectID, 0, len(docs))
	for _, d := range docs {
		if oid, ok := d.ID.(bson.ObjectID); ok { // other _id types name no entry
			ids = append(ids, pomocore.ObjectID(oid))
		}
	}
	return ids, nil
}
