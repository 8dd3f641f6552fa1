package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/pipeline/storetest"
	"github.com/pomocore/pomocore/sqlite"
)

// harness adapts the SQLite store to the contract suite.
type harness struct{ *sqlite.Store }

func (h harness) Snapshot(ctx context.Context) (*storetest.Snapshot, error) {
	cds, logs, err := h.Store.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	s := &storetest.Snapshot{Categorized: cds, UsageLogs: logs}
	storetest.Sort(s)
	return s, nil
}

func open(t testing.TB, cfg sqlite.Config) *sqlite.Store {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	st, err := sqlite.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestSQLitePassesTheContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Harness { return harness{open(t, sqlite.Config{})} })
	// Small transactions: a batch spans several.
	storetest.Run(t, func(t *testing.T) storetest.Harness { return harness{open(t, sqlite.Config{BatchSize: 7})} })
}

func TestSQLiteReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	if sqlite.Exists(dir) {
		t.Error("Exists before Open")
	}
	st, err := sqlite.Open(ctx, sqlite.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !sqlite.Exists(dir) {
		t.Error("no store Exists after Open")
	}
	if err := st.Save(ctx, []pipeline.Record{storetest.Rec("u", "Xcode", "", "", storetest.Dev)}); err != nil {
		t.Fatal(err)
	}
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st = open(t, sqlite.Config{Dir: dir})
	cds, logs, err := st.Snapshot(ctx)
	if err != nil || len(cds) != 1 || len(logs) != 1 {
		t.Fatalf("after reopen: %d categorized, %d logs, %v", len(cds), len(logs), err)
	}
}

func TestSQLiteConfigValidate(t *testing.T) {
	for _, c := range []sqlite.Config{{}, {Dir: "x", BatchSize: -1}, {Dir: "x", BusyTimeout: -1}} {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if _, err := sqlite.Open(context.Background(), sqlite.Config{Dir: "/proc/no/such/dir"}); err == nil {
		t.Error("opened a store in an impossible directory")
	}
}

// BenchmarkSave measures create-mode saves of 500-record batches whose
// (app, url, title) keys repeat with a skew, as real activity does.
func BenchmarkSave(b *testing.B) {
	st := open(b, sqlite.Config{})
	ctx := context.Background()
	batch := make([]pipeline.Record, 500)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range batch {
			k := (j * j) % 997 // skewed reuse of ~1000 keys
			batch[j] = storetest.Rec("u"+strconv.Itoa(j%50), "app-"+strconv.Itoa(k%40), "https://site"+strconv.Itoa(k)+".com/", "", storetest.Dev)
		}
		if err := st.Save(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "records/s")
}

func TestSQLiteAddsTitleRulesToAnOlderStore(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "pomocore.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE category_pattern (id TEXT PRIMARY KEY, category TEXT NOT NULL, priority INTEGER NOT NULL DEFAULT 0,
app_patterns TEXT NOT NULL DEFAULT '[]', domain_patterns TEXT NOT NULL DEFAULT '[]');
INSERT INTO category_pattern (id, category) VALUES ('0123456789abcdef01234567', 'Game')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	st := open(t, sqlite.Config{Dir: dir})
	ps, err := st.LoadPatterns(context.Background())
	if err != nil || len(ps) != 1 || ps[0].Category != "Game" || ps[0].TitleRules != nil {
		t.Fatalf("patterns of an older store = %+v, %v", ps, err)
	}
}

func TestSQLiteConfigValidateCheckpointEvery(t *testing.T) {
	if err := (sqlite.Config{Dir: "x", CheckpointEvery: time.Microsecond}).Validate(); err == nil {
		t.Error("a checkpoint every microsecond accepted")
	}
	for _, every := range []time.Duration{0, -1, time.Millisecond} {
		if err := (sqlite.Config{Dir: "x", CheckpointEvery: every}).Validate(); err != nil {
			t.Errorf("checkpoint every %v: %v", every, err)
		}
	}
}

// TestSQLiteDropsTheUniqueKeyOfAnOlderStore: a store created when
// categorized_data had UNIQUE (app, url, title) opens with its documents
// kept and the constraint gone, so that documents named by id may share a
// key (the main server inserts one per activity).
func TestSQLiteDropsTheUniqueKeyOfAnOlderStore(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "pomocore.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE categorized_data (
  id TEXT PRIMARY KEY,
  app TEXT NOT NULL,
  url TEXT NOT NULL,
  title TEXT NOT NULL,
  category_id TEXT NOT NULL,
  is_llm_based INTEGER NOT NULL DEFAULT 0,
  UNIQUE (app, url, title)
);
INSERT INTO categorized_data VALUES ('200000000000000000000000', 'Figma', '', 'dup', '` + storetest.Dev.Hex() + `', 1),
  ('300000000000000000000000', 'Xcode', '', '', '` + storetest.Dev.Hex() + `', 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	ctx := context.Background()
	for range 2 { // the second open finds the new table
		st, err := sqlite.Open(ctx, sqlite.Config{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
	}
	st := open(t, sqlite.Config{Dir: dir})
	r := storetest.Rec("u", "Figma", "", "dup", storetest.Game)
	r.Activity.CategorizedDataID = pomocore.ObjectID{0x40}
	plain := storetest.Rec("u", "Figma", "", "dup", storetest.SNS)
	if err := st.Save(ctx, []pipeline.Record{r, plain}); err != nil {
		t.Fatal(err)
	}
	cds, _, err := st.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []pomocore.CategorizedData{
		{ID: pomocore.ObjectID{0x20}, App: "Figma", Title: "dup", CategoryID: storetest.SNS},
		{ID: pomocore.ObjectID{0x30}, App: "Xcode", CategoryID: storetest.Dev},
		{ID: pomocore.ObjectID{0x40}, App: "Figma", Title: "dup", CategoryID: storetest.Game},
	}
	if !reflect.DeepEqual(cds, want) {
		t.Errorf("categorized_data = %+v\nwant %+v", cds, want)
	}
	db, err = sql.Open("sqlite", "file:"+filepath.Join(dir, "pomocore.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var unique int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pragma_index_list('categorized_data') WHERE "unique" AND origin != 'pk'`).Scan(&unique); err != nil {
		t.Fatal(err)
	}
	if unique != 0 {
		t.Errorf("%d unique indexes left on categorized_data", unique)
	}
}
