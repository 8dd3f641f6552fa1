package mongo

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/pomocore/pomocore"
)

// Snapshot returns every categorized_data and usage-log document, sorted by
// id (for the tests; it reads whole collections).
func (s *Store) Snapshot(ctx context.Context) ([]pomocore.CategorizedData, []pomocore.UsageLog, error) {
	sorted := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})
	cur, err := s.cd.Find(ctx, bson.D{}, sorted)
	if err != nil {
		return nil, nil, fmt.Errorf("mongo: snapshot: %w", err)
	}
	var cds []cdDoc
	if err := cur.All(ctx, &cds); err != nil {
		return nil, nil, fmt.Errorf("mongo: snapshot: %w", err)
	}
	cur, err = s.logs.Find(ctx, bson.D{}, sorted)
	if err != nil {
		return nil, nil, fmt.Errorf("mongo: snapshot: %w", err)
	}
	var logs []logRead
	if err := cur.All(ctx, &logs); err != nil {
		return nil, nil, fmt.Errorf("mongo: snapshot: %w", err)
	}
	outC := make([]pomocore.CategorizedData, len(cds))
	for i, d := range cds {
		outC[i] = d.domain()
	}
	outL := make([]pomocore.UsageLog, len(logs))
	for i, l := range logs {
		outL[i] = l.domain(s.cfg.Location)
	}
	return outC, outL, nil
}
