package sqlite

import (
	"context"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/storedump"
)

// Snapshot returns every categorized_data and usage-log row, sorted by id
// (for the tests).
func (s *Store) Snapshot(ctx context.Context) ([]pomocore.CategorizedData, []pomocore.UsageLog, error) {
	return storedump.SQLite(ctx, s.db)
}
