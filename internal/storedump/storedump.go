// Package storedump is test support: it reads every categorized_data and
// pomodoro_usage_log row of an SQLite store (the sqlite package's schema)
// through its own database handle, for tests that check what a store or a
// whole run left behind.
package storedump

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"

	_ "modernc.org/sqlite" // the database/sql driver

	"github.com/pomocore/pomocore"
)

// SQLiteDir reads the store in dir (its file pomocore.db).
func SQLiteDir(ctx context.Context, dir string) ([]pomocore.CategorizedData, []pomocore.UsageLog, error) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "pomocore.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	return SQLite(ctx, db)
}

// SQLite returns every categorized_data and usage-log row of db, sorted by
// id.
func SQLite(ctx context.Context, db *sql.DB) ([]pomocore.CategorizedData, []pomocore.UsageLog, error) {
	var cds []pomocore.CategorizedData
	rows, err := db.QueryContext(ctx, `SELECT id, app, url, title, category_id, is_llm_based FROM categorized_data ORDER BY id`)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: snapshot: %w", err)
	}
	for rows.Next() {
		var id, cat string
		var d pomocore.CategorizedData
		if err := rows.Scan(&id, &d.App, &d.URL, &d.Title, &cat, &d.LLMBased); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("sqlite: snapshot: %w", err)
		}
		d.ID, _ = pomocore.ParseObjectID(id)
		d.CategoryID, _ = pomocore.ParseObjectID(cat)
		cds = append(cds, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	var logs []pomocore.UsageLog
	rows, err = db.QueryContext(ctx, `SELECT id, user_id, categorized_data_id, category_id, session, session_minutes,
session_date, timestamp, duration FROM pomodoro_usage_log ORDER BY id`)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: snapshot: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, cd, cat string
		var l pomocore.UsageLog
		if err := rows.Scan(&id, &l.UserID, &cd, &cat, &l.Session, &l.SessionMinutes, &l.SessionDate, &l.Timestamp, &l.Duration); err != nil {
			return nil, nil, fmt.Errorf("sqlite: snapshot: %w", err)
		}
		l.ID, _ = pomocore.ParseObjectID(id)
		l.CategorizedDataID, _ = pomocore.ParseObjectID(cd)
		l.CategoryID, _ = pomocore.ParseObjectID(cat)
		logs = append(logs, l)
	}
	return cds, logs, rows.Err()
}
