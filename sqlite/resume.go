package sqlite

import (
	"context"
	"fmt"

	"github.com/pomocore/pomocore"
)

// NewestUsageLogIDs returns the ids of up to limit usage logs, largest
// first (through the primary key: ids are stored as lower-case hex, whose
// order is the ids' byte order). The wiring derives from them where a
// consumer group that vanished was (usage logs the pipeline created carry
// ids derived from their stream entry ids: see
// pomocore.ObjectIDFromEntryID). Within Config.Timeout; it fails with
// ErrFileGone once the database file was deleted or replaced.
func (s *Store) NewestUsageLogIDs(ctx context.Context, limit int) ([]pomocore.ObjectID, error) {
	if err := s.checkFile(); err != nil {
		return nil, err
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM pomodoro_usage_log ORDER BY id DESC LIMIT ?`, max(limit, 0))
	if err != nil {
		return nil, timedOut(ctx, fmt.Errorf("sqlite: newest usage logs: %w", err))
	}
	defer rows.Close()
	var ids []pomocore.ObjectID
	for rows.Next() {
		var hex string
		if err := rows.Scan(&hex); err != nil {
			return nil, timedOut(ctx, fmt.Errorf("sqlite: newest usage logs: %w", err))
		}
		id, err := pomocore.ParseObjectID(hex)
		if err != nil {
			continue // not an id this store wrote: no position in it
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, timedOut(ctx, fmt.Errorf("sqlite: newest usage logs: %w", err))
	}
	return ids, nil
}
