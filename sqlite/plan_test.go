package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"testing"
)

// TestHourlyUsageLogQueryUsesItsIndex: a rebuild reads an hour through the
// index on the timestamp's hour, not by scanning the table.
func TestHourlyUsageLogQueryUsesItsIndex(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+usageLogsQuery(hourWhere),
		sql.Named("hour", 490000), sql.Named("from", 1764000000.0), sql.Named("to", 1764003600.0), sql.Named("after", 0))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	got := strings.Join(plan, "; ")
	if !strings.Contains(got, "USING INDEX pomodoro_usage_log_hour") || strings.Contains(got, "TEMP B-TREE") {
		t.Errorf("plan %q: want the hour index, no sort", got)
	}
}

// TestKeyLookupUsesItsIndex: finding a key's categorized_data document (no
// longer a unique key) reads the index on (app, url, title, id) alone: no
// table rows, no sort for the smallest id.
func TestKeyLookupUsesItsIndex(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+cdFindSQL, "Xcode", "", "main.go")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if got := strings.Join(plan, "; "); !strings.Contains(got, "USING COVERING INDEX categorized_data_key") || strings.Contains(got, "TEMP B-TREE") {
		t.Errorf("plan %q: want the key index, no sort", got)
	}
}
