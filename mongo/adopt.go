package mongo

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/pomocore/pomocore"
)

// UsageLogCategories returns, for each of ids found in pomodoro_usage_log,
// its categoryId (zero when the document carries none): what `pomocore
// cutover adopt` decides pending entries by, since the deployed service
// writes a usage log's categoryId before it counts the entry. Ids not found
// are absent. It reads 1,000 ids a find.
func (i *Inspector) UsageLogCategories(ctx context.Context, ids []pomocore.ObjectID) (map[pomocore.ObjectID]pomocore.ObjectID, error) {
	out := make(map[pomocore.ObjectID]pomocore.ObjectID, len(ids))
	coll := i.db.Collection(UsageLogCollection)
	for lo := 0; lo < len(ids); lo += 1000 {
		part := ids[lo:min(len(ids), lo+1000)]
		in := make(bson.A, len(part))
		for j, id := range part {
			in[j] = bson.ObjectID(id)
		}
		cur, err := coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: in}}}})
		if err != nil {
			return nil, fmt.Errorf("mongo: usage logs: %w", err)
		}
		var docs []struct {
			ID         bson.ObjectID `bson:"_id"`
			CategoryID bson.RawValue `bson:"categoryId"`
		}
		if err := cur.All(ctx, &docs); err != nil {
			return nil, fmt.Errorf("mongo: usage logs: %w", err)
		}
		for _, d := range docs {
			var cat pomocore.ObjectID
			if oid, ok := d.CategoryID.ObjectIDOK(); ok {
				cat = pomocore.ObjectID(oid)
			} else if str, ok := d.CategoryID.StringValueOK(); ok {
				cat, _ = pomocore.ParseObjectID(str) // a hex string, as some writers store it
			}
			out[pomocore.ObjectID(d.ID)] = cat
		}
	}
	return out, nil
}
