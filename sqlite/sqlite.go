// Package sqlite is the embedded store: the categorized_data,
// pomodoro_usage_log and category_pattern collections as SQLite tables
// (pure Go, modernc.org/sqlite), for the embedded default and single-node
// use. It implements pipeline.Store and pipeline.Patterns.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	msqlite "modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/bounded"
	"github.com/pomocore/pomocore/pipeline"
)

// Config says where the store lives and how it writes.
type Config struct {
	// Dir is the data directory, created if missing; the database is the
	// file pomocore.db in it.
	Dir string
	// BatchSize is the most records written in one transaction (default
	// 5000: a pipeline batch is one transaction).
	BatchSize int
	// BusyTimeout is how long to wait for a lock held by another process
	// (default 5s).
	BusyTimeout time.Duration
	// CheckpointEvery is how often a second connection copies the
	// write-ahead log into the database file (a PASSIVE checkpoint, which
	// never blocks the writer). Without it the writer checkpoints inside a
	// Save every 1,000 pages of log, and Save waits for the copy and two
	// fsyncs (5-20 ms); with it, the writer checkpoints only every 4,000
	// pages (16 MiB of log), to start the log over, and finds little left
	// to copy (default 100ms; negative: the writer alone).
	CheckpointEvery time.Duration
	// Timeout bounds each Save and Ping call (POMOCORE_STORE_TIMEOUT; default
	// 10s; negative: none): a call still running then is interrupted and
	// returns an error that wraps context.DeadlineExceeded, and its
	// transaction is rolled back.
	Timeout time.Duration
	// Logger receives the background checkpoints' failures and the loss of
	// the database file (default: discarded).
	Logger *slog.Logger
}

// Validate reports settings that cannot work, each as a
// *pomocore.ConfigError naming the field (joined).
func (c Config) Validate() error {
	var errs pomocore.ConfigErrors
	bad := errs.Add
	if c.Dir == "" {
		bad("Dir", "empty")
	}
	if c.BatchSize < 0 {
		bad("BatchSize", "%d: want >= 0 (0: the default)", c.BatchSize)
	}
	if c.BusyTimeout < 0 {
		bad("BusyTimeout", "%v: want >= 0", c.BusyTimeout)
	}
	if c.CheckpointEvery > 0 && c.CheckpointEvery < time.Millisecond {
		bad("CheckpointEvery", "%v: want >= 1ms, or negative for none", c.CheckpointEvery)
	}
	if c.Timeout > 0 && c.Timeout < time.Millisecond {
		bad("Timeout", "%v: want >= 1ms, or negative for none", c.Timeout)
	}
	return errors.Join(errs...)
}

// Store is the SQLite store. It writes through one connection (SQLite
// allows one writer; one connection avoids SQLITE_BUSY within the process)
// and is safe for concurrent use: calls are serialised. A second
// connection checkpoints the write-ahead log in the background
// (Config.CheckpointEvery).
type Store struct {
	db  *sql.DB
	cfg Config

	// path is the database file and file what it was at Open: Save and
	// Ping fail once the path names another file or none (gone records
	// that it was logged).
	path string
	file os.FileInfo
	gone atomic.Bool

	// ckpt is the checkpointing connection (nil: none); stopCkpt ends its
	// loop, which closes ckptDone.
	ckpt     *sql.DB
	stopCkpt context.CancelFunc
	ckptDone chan struct{}
	// keyIDs remembers the ids of categorized_data documents by key (an
	// id never changes), so that a known key costs an update by id.
	keyIDs *bounded.Map[cdKey, string]

	// The statements of Save, prepared once (prepareAll): a statement of
	// 100 rows costs far more to parse than to run.
	cdByID, cdInsert, cdUpdate, cdFind *sql.Stmt
	insertLogs                         map[int]*sql.Stmt // by rows: logRows and each power of two below
}

const schema = `
CREATE TABLE IF NOT EXISTS category_pattern (
  id TEXT PRIMARY KEY,
  category TEXT NOT NULL,
  priority INTEGER NOT NULL DEFAULT 0,
  app_patterns TEXT NOT NULL DEFAULT '[]',
  domain_patterns TEXT NOT NULL DEFAULT '[]',
  title_rules TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS categorized_data (
  id TEXT PRIMARY KEY,
  app TEXT NOT NULL,
  url TEXT NOT NULL,
  title TEXT NOT NULL,
  category_id TEXT NOT NULL,
  is_llm_based INTEGER NOT NULL DEFAULT 0
);
-- Not unique: the main server inserts one categorized_data per activity, so
-- documents named by id share keys. Save finds a key's document here (the
-- one of smallest id when there are several).
CREATE INDEX IF NOT EXISTS categorized_data_key ON categorized_data (app, url, title, id);
CREATE TABLE IF NOT EXISTS pomodoro_usage_log (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  categorized_data_id TEXT NOT NULL,
  category_id TEXT NOT NULL,
  session INTEGER NOT NULL,
  session_minutes INTEGER NOT NULL,
  session_date TEXT NOT NULL,
  timestamp REAL NOT NULL,
  duration REAL NOT NULL
);
-- No index nobody here reads: each costs a random b-tree insert per event.
DROP INDEX IF EXISTS pomodoro_usage_log_session_date;
DROP INDEX IF EXISTS pomodoro_usage_log_user;
-- Rebuilds find usage logs by the hour of their timestamp. An index on the
-- timestamp itself takes each live event into a random page among the last
-- minute's (one WAL page write per event, the store's largest cost in small
-- batches); within an hour, entries go in rowid order, so live events
-- append at the end of their hour.
DROP INDEX IF EXISTS pomodoro_usage_log_timestamp;
CREATE INDEX IF NOT EXISTS pomodoro_usage_log_hour ON pomodoro_usage_log (CAST(timestamp / 3600 AS INTEGER));
-- Which input stream owns each partition (ClaimPartition): its Redis
-- (NULL in claims recorded before sources were), database and key.
CREATE TABLE IF NOT EXISTS pomocore_partition (
  partition INTEGER PRIMARY KEY,
  stream TEXT NOT NULL,
  claimed_at TEXT NOT NULL,
  redis TEXT,
  db INTEGER
);
`

// writerCheckpointPages is the writer's wal_autocheckpoint while the
// background checkpoints run.
const writerCheckpointPages = 4000

// Open opens (creating if needed) the store in cfg.Dir.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 5000
	}
	if cfg.BusyTimeout == 0 {
		cfg.BusyTimeout = 5 * time.Second
	}
	if cfg.CheckpointEvery == 0 {
		cfg.CheckpointEvery = 100 * time.Millisecond
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("sqlite: data dir: %w", err)
	}
	path, err := filepath.Abs(filepath.Join(cfg.Dir, fileName))
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	q := url.Values{}
	// The busy timeout first: the pragmas run in order as the connection
	// opens, and switching a new file to WAL takes a lock another process
	// setting it up may hold.
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", cfg.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "cache_size(-65536)") // 64 MiB of pages: the hot index pages stay in memory
	// The statement journal multi-row upserts need is kept in memory, not
	// written to a temporary file with a pwrite per page.
	q.Add("_pragma", "temp_store(MEMORY)")
	if cfg.CheckpointEvery > 0 {
		// The background checkpoints copy the log; the writer checkpoints
		// itself only when the log reaches writerCheckpointPages, to start
		// it over (a background checkpoint seldom lets it: the writer keeps
		// adding to the log while one runs).
		q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", writerCheckpointPages))
	}
	q.Set("_txlock", "immediate")
	// A URI with the path escaped: a '#' or '?' in a directory name must not
	// end the file name.
	dsn := (&url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	if err := setUpRetrying(ctx, db, cfg.BusyTimeout); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: schema of %s: %w", path, err)
	}
	s := &Store{db: db, cfg: cfg, path: path, keyIDs: bounded.New[cdKey, string](100000), insertLogs: map[int]*sql.Stmt{}}
	if s.file, err = os.Stat(path); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := s.prepareAll(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if cfg.CheckpointEvery > 0 {
		if s.ckpt, err = sql.Open("sqlite", dsn); err != nil {
			s.Close()
			return nil, fmt.Errorf("sqlite: open %s for checkpoints: %w", path, err)
		}
		s.ckpt.SetMaxOpenConns(1)
		s.ckpt.SetConnMaxIdleTime(0)
		loop, stop := context.WithCancel(context.WithoutCancel(ctx))
		s.stopCkpt, s.ckptDone = stop, make(chan struct{})
		go s.checkpointLoop(loop, cfg.CheckpointEvery)
	}
	return s, nil
}

// execer is what the schema set-up runs its statements on: the set-up's
// transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// setUp creates or upgrades the schema in one immediate transaction (the
// DSN's _txlock): it takes the write lock first, waiting up to the busy
// timeout, so that processes opening a new file together set it up one
// after the other. Statements run in autocommit mode instead each read the
// schema and then upgrade to a write lock, and an upgrade that finds
// another writer fails at once with SQLITE_BUSY (the busy timeout does
// not apply to it).
func setUp(ctx context.Context, db *sql.DB) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, schema); err != nil {
		return err
	}
	// Stores created before title rules existed get the column.
	var hasTitles int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('category_pattern') WHERE name = 'title_rules'`).Scan(&hasTitles); err != nil {
		return err
	}
	if hasTitles == 0 {
		if _, err := tx.ExecContext(ctx, `ALTER TABLE category_pattern ADD COLUMN title_rules TEXT NOT NULL DEFAULT '[]'`); err != nil {
			return fmt.Errorf("add title_rules: %w", err)
		}
	}
	if err := dropUniqueKey(ctx, tx); err != nil {
		return err
	}
	// Claims recorded before their source was get its columns (NULL).
	var hasSource int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('pomocore_partition') WHERE name = 'redis'`).Scan(&hasSource); err != nil {
		return err
	}
	if hasSource == 0 {
		if _, err := tx.ExecContext(ctx, `ALTER TABLE pomocore_partition ADD COLUMN redis TEXT; ALTER TABLE pomocore_partition ADD COLUMN db INTEGER`); err != nil {
			return fmt.Errorf("add the source to pomocore_partition: %w", err)
		}
	}
	if err := learnedSchema(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// setUpRetrying runs setUp, again while it fails with SQLITE_BUSY, for up
// to busyTimeout. A new file's first connection switches it to WAL as it
// opens (journal_mode in the DSN), which needs the file to itself: of two
// processes switching it at once, one may find the other's lock where
// waiting could deadlock, and SQLite fails it at once instead of waiting.
// Once the other is done, the file is in WAL mode and the switch is a
// no-op, so a retry (a new connection: database/sql drops one whose
// set-up failed) succeeds.
func setUpRetrying(ctx context.Context, db *sql.DB, busyTimeout time.Duration) error {
	deadline := time.Now().Add(busyTimeout)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		err := setUp(ctx, db)
		if err == nil || !isBusy(err) || time.Now().Add(wait).After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// cannotWrite makes err wrap pipeline.ErrStoreCannotWrite when it is
// SQLite's full disk (SQLITE_FULL) or read-only database (SQLITE_READONLY):
// the store's state, never a record's fault.
func cannotWrite(err error) error {
	if hasCode(err, sqlite3.SQLITE_FULL) || hasCode(err, sqlite3.SQLITE_READONLY) {
		return fmt.Errorf("%w (%w)", err, pipeline.ErrStoreCannotWrite)
	}
	return err
}

// isBusy reports whether err is SQLite's SQLITE_BUSY (any extended code).
func isBusy(err error) bool { return hasCode(err, sqlite3.SQLITE_BUSY) }

// hasCode reports whether err is SQLite's error of the primary result
// code (any extended code of it).
func hasCode(err error, code int) bool {
	var e *msqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == code
}

// dropReadOnly closes db's connection when err says it is read-only
// (SQLITE_READONLY), so that the next call opens a new one. SQLite opens a
// file it may not write read-only, and such a connection stays read-only
// after the file (or its directory, or the volume) is writable again: a
// store opened during such an outage would refuse every write until
// restarted. The connection is closed once it is free (db has one).
func dropReadOnly(ctx context.Context, db *sql.DB, err error) {
	if !hasCode(err, sqlite3.SQLITE_READONLY) {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	c, cerr := db.Conn(ctx)
	if cerr != nil {
		return
	}
	_ = c.Raw(func(any) error { return driver.ErrBadConn }) // closes the connection
	_ = c.Close()
}

// dropUniqueKey rebuilds a categorized_data table created with UNIQUE (app,
// url, title) (stores of earlier versions) without it, within the set-up's
// transaction: a new table, the rows copied, the old one dropped, the new
// one renamed.
func dropUniqueKey(ctx context.Context, tx execer) error {
	var unique int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pragma_index_list('categorized_data') WHERE origin = 'u'`).Scan(&unique); err != nil {
		return fmt.Errorf("categorized_data indexes: %w", err)
	}
	if unique == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `
CREATE TABLE categorized_data_new (
  id TEXT PRIMARY KEY,
  app TEXT NOT NULL,
  url TEXT NOT NULL,
  title TEXT NOT NULL,
  category_id TEXT NOT NULL,
  is_llm_based INTEGER NOT NULL DEFAULT 0
);
INSERT INTO categorized_data_new (id, app, url, title, category_id, is_llm_based)
  SELECT id, app, url, title, category_id, is_llm_based FROM categorized_data;
DROP TABLE categorized_data;
ALTER TABLE categorized_data_new RENAME TO categorized_data;
CREATE INDEX categorized_data_key ON categorized_data (app, url, title, id);`); err != nil {
		return fmt.Errorf("drop the unique key of categorized_data: %w", err)
	}
	return nil
}

// checkpointLoop runs a checkpoint every interval until ctx ends, and
// logs when checkpoints start or stop failing.
func (s *Store) checkpointLoop(ctx context.Context, every time.Duration) {
	defer close(s.ckptDone)
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, _, err := s.checkpoint(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing:
			s.cfg.Logger.Warn("sqlite: background checkpoints failing; the writer checkpoints itself meanwhile", "err", err)
		case err == nil && failing:
			s.cfg.Logger.Info("sqlite: background checkpoints work again")
		}
		failing = err != nil
	}
}

// checkpoint copies what it can of the write-ahead log into the database
// without waiting for the writer (PASSIVE), and returns the log's frames
// and how many of them are now in the database.
func (s *Store) checkpoint(ctx context.Context) (frames, copied int, err error) {
	var busy int
	if err := s.ckpt.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
		dropReadOnly(ctx, s.ckpt, err)
		return 0, 0, fmt.Errorf("sqlite: checkpoint: %w", err)
	}
	return frames, copied, nil
}

// Close stops the background checkpoints and closes the database.
func (s *Store) Close() error {
	if s.ckpt != nil {
		s.stopCkpt()
		<-s.ckptDone
		s.ckpt.Close()
	}
	for _, st := range append([]*sql.Stmt{s.cdByID, s.cdInsert, s.cdUpdate, s.cdFind}, slices.Collect(maps.Values(s.insertLogs))...) {
		if st != nil {
			st.Close()
		}
	}
	return s.db.Close()
}

// prepareAll prepares the statements Save runs: the categorized_data
// statements and the usage-log inserts of logRows rows and of each power of
// two below. Prepared on the DB, not in a transaction, as the one
// connection is free here; Save binds them to its transaction.
func (s *Store) prepareAll(ctx context.Context) error {
	var err error
	prepare := func(query string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = s.db.PrepareContext(ctx, query)
		return st
	}
	s.cdByID, s.cdInsert, s.cdUpdate, s.cdFind = prepare(cdByIDSQL), prepare(cdInsertSQL), prepare(cdUpdateSQL), prepare(cdFindSQL)
	s.insertLogs[logRows] = prepare(insertLogsSQL(logRows))
	for n := 1; n < logRows; n *= 2 {
		s.insertLogs[n] = prepare(insertLogsSQL(n))
	}
	if err != nil {
		return fmt.Errorf("sqlite: prepare: %w", err)
	}
	return nil
}

// ErrFileGone is the error kind of Save and Ping once the database file
// was deleted or replaced under the running store: writes would go to a
// file nobody will open again, so the store stops acknowledging anything
// until it is restarted on the file that is there.
var ErrFileGone = errors.New("database file deleted or replaced")

// checkFile reports ErrFileGone when the store's path no longer names the
// file it opened (one stat: cheap beside a transaction), and logs the loss
// at error level once.
func (s *Store) checkFile() error {
	fi, err := os.Stat(s.path)
	if err == nil && os.SameFile(fi, s.file) {
		return nil
	}
	what := "replaced by another file"
	if err != nil {
		what = "gone: " + err.Error()
	}
	if !s.gone.Swap(true) {
		s.cfg.Logger.Error("sqlite: the database file was deleted or replaced under the running store; "+
			"nothing is stored or acknowledged until pomocore is restarted", "path", s.path, "file", what)
	}
	return fmt.Errorf("sqlite: %s: %w (%s)", s.path, ErrFileGone, what)
}

// withTimeout bounds a call by Config.Timeout.
func (s *Store) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.cfg.Timeout < 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.cfg.Timeout)
}

// timedOut makes err of a call whose context ended wrap the context's
// error (the driver reports an interrupt), so that callers can tell a
// timeout.
func timedOut(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%w (%w)", err, ctx.Err())
	}
	return err
}

// Ping checks that the database answers and is still the file the store
// opened (ErrFileGone), within Config.Timeout.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.checkFile(); err != nil {
		return err
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	var one int
	if err := s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return timedOut(ctx, fmt.Errorf("sqlite: ping: %w", err))
	}
	return nil
}

// Save implements pipeline.Store, one transaction per Config.BatchSize
// records, the whole call within Config.Timeout. It fails with
// ErrFileGone, writing nothing, once the database file was deleted or
// replaced.
func (s *Store) Save(ctx context.Context, records []pipeline.Record) error {
	if err := s.checkFile(); err != nil {
		return err
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	for start := 0; start < len(records); start += s.cfg.BatchSize {
		end := min(start+s.cfg.BatchSize, len(records))
		if err := s.saveChunk(ctx, records[start:end], true); err != nil {
			return cannotWrite(timedOut(ctx, err))
		}
	}
	// Checked again: what a file deleted during the call received is lost
	// with it, and must not be acknowledged.
	return s.checkFile()
}

type cdKey struct{ app, url, title string }

// The categorized_data statements of Save. (app, url, title) is not a
// unique key (see the schema): documents are found by key, never upserted
// on it.
const (
	// cdByIDSQL writes a document named by id (given-id events). Neither
	// it nor cdUpdateSQL lets the default (nothing matched) replace an LLM
	// answer (pipeline.Store).
	cdByIDSQL = `INSERT INTO categorized_data (id, app, url, title, category_id, is_llm_based, source)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET category_id = excluded.category_id, is_llm_based = excluded.is_llm_based, source = excluded.source
  WHERE (category_id != excluded.category_id OR is_llm_based != excluded.is_llm_based OR source != excluded.source)
    AND NOT (excluded.source = 'default' AND is_llm_based = 1)`
	// cdInsertSQL creates the document of a key that has none.
	cdInsertSQL = `INSERT INTO categorized_data (id, app, url, title, category_id, is_llm_based, source) VALUES (?, ?, ?, ?, ?, ?, ?)`
	// cdUpdateSQL updates the category of a document whose id is known.
	cdUpdateSQL = `UPDATE categorized_data SET category_id = ?1, is_llm_based = ?2, source = ?4
WHERE id = ?3 AND (category_id != ?1 OR is_llm_based != ?2 OR source != ?4) AND NOT (?4 = 'default' AND is_llm_based = 1)`
	// cdFindSQL finds a key's document: the one of smallest id when
	// several share the key.
	cdFindSQL = `SELECT id FROM categorized_data WHERE app = ? AND url = ? AND title = ? ORDER BY id LIMIT 1`
)

// logRows is how many usage logs one INSERT statement writes.
const logRows = 100

// logChunk returns how many of n remaining usage logs the next statement
// writes: logRows, else the largest power of two not above n, so that a
// handful of statements, each prepared once, write any batch.
func logChunk(n int) int {
	if n >= logRows {
		return logRows
	}
	c := 1
	for c*2 <= n {
		c *= 2
	}
	return c
}

// insertLogsSQL is the upsert of n usage logs.
func insertLogsSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO pomodoro_usage_log
(id, user_id, categorized_data_id, category_id, session, session_minutes, session_date, timestamp, duration)
VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
	}
	b.WriteString(`
ON CONFLICT (id) DO UPDATE SET category_id = excluded.category_id, categorized_data_id = excluded.categorized_data_id
  WHERE category_id != excluded.category_id OR categorized_data_id != excluded.categorized_data_id`)
	return b.String()
}

// KeepAnswers implements pipeline.AnswerKeeper with Save's categorized_data
// writes, in one transaction per Config.BatchSize answers.
func (s *Store) KeepAnswers(ctx context.Context, answers []pomocore.CategorizedData) error {
	if err := s.checkFile(); err != nil {
		return err
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	records := pipeline.AnswerRecords(answers)
	for start := 0; start < len(records); start += s.cfg.BatchSize {
		end := min(start+s.cfg.BatchSize, len(records))
		if err := s.saveChunk(ctx, records[start:end], false); err != nil {
			return timedOut(ctx, err)
		}
	}
	return nil
}

// saveChunk writes records' categorized_data documents and, with logs,
// their usage logs, in one transaction.
func (s *Store) saveChunk(ctx context.Context, records []pipeline.Record, logs bool) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	byID, insertKey, byIDOnly, findKey := tx.StmtContext(ctx, s.cdByID), tx.StmtContext(ctx, s.cdInsert),
		tx.StmtContext(ctx, s.cdUpdate), tx.StmtContext(ctx, s.cdFind)

	// One write per distinct categorized_data document, with the values of
	// the last record naming it.
	lastByID := map[pomocore.ObjectID]int{}
	lastByKey := map[cdKey]int{}
	var idOrder []pomocore.ObjectID
	var keyOrder []cdKey
	for i := range records {
		a := &records[i].Activity
		if !a.CategorizedDataID.IsZero() {
			if _, ok := lastByID[a.CategorizedDataID]; !ok {
				idOrder = append(idOrder, a.CategorizedDataID)
			}
			lastByID[a.CategorizedDataID] = i
			continue
		}
		k := cdKey{a.App, a.URL, a.Title}
		if _, ok := lastByKey[k]; !ok {
			keyOrder = append(keyOrder, k)
		}
		lastByKey[k] = i
	}
	for _, id := range idOrder {
		r := &records[lastByID[id]]
		if _, err := byID.ExecContext(ctx, id.Hex(), r.Activity.App, r.Activity.URL, r.Activity.Title,
			r.CategoryID.Hex(), r.Classification.LLMBased(), string(r.Classification.Source)); err != nil {
			return fmt.Errorf("sqlite: categorized_data %s: %w", id, err)
		}
	}
	keyIDs := make(map[cdKey]string, len(keyOrder))
	var learned []cdKey // remembered once the transaction commits
	now := time.Now()
	for _, k := range keyOrder {
		r := &records[lastByKey[k]]
		cat := r.CategoryID.Hex()
		llm, src := r.Classification.LLMBased(), string(r.Classification.Source)
		// A key's document never changes id: a known one is updated by id,
		// and only when its category differs. The one connection
		// serialises Saves, so a key found missing here cannot be created
		// by another Save before this transaction ends.
		id, known := s.keyIDs.Get(k)
		if !known {
			err := findKey.QueryRowContext(ctx, k.app, k.url, k.title).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				id = pomocore.NewObjectID(now).Hex()
				if _, err := insertKey.ExecContext(ctx, id, k.app, k.url, k.title, cat, llm, src); err != nil {
					return fmt.Errorf("sqlite: categorized_data by key: %w", err)
				}
				keyIDs[k] = id
				learned = append(learned, k)
				continue
			}
			if err != nil {
				return fmt.Errorf("sqlite: categorized_data by key: %w", err)
			}
			learned = append(learned, k)
		}
		if _, err := byIDOnly.ExecContext(ctx, cat, llm, id, src); err != nil {
			return fmt.Errorf("sqlite: categorized_data %s: %w", id, err)
		}
		keyIDs[k] = id
	}
	// Usage logs go in up to logRows rows per statement: one statement
	// step instead of one per row. Rows of one statement, and statements,
	// apply in order, so a later record of the same id still wins.
	args := make([]any, 0, 9*logRows)
	for start := 0; logs && start < len(records); {
		chunk := records[start : start+logChunk(len(records)-start)]
		start += len(chunk)
		args = args[:0]
		for i := range chunk {
			r := &chunk[i]
			a := &r.Activity
			cd := a.CategorizedDataID.Hex()
			if a.CategorizedDataID.IsZero() {
				cd = keyIDs[cdKey{a.App, a.URL, a.Title}]
			}
			args = append(args, r.UsageLogID.Hex(), a.UserID, cd, r.CategoryID.Hex(), a.Session,
				a.SessionMinutes, a.SessionDate, a.Timestamp, a.Duration)
		}
		if _, err := tx.StmtContext(ctx, s.insertLogs[len(chunk)]).ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("sqlite: usage logs %s...: %w", chunk[0].UsageLogID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	for _, k := range learned {
		s.keyIDs.Put(k, keyIDs[k])
	}
	return nil
}

// ClaimPartition implements pipeline.PartitionClaimer with the table
// pomocore_partition, in one transaction. To give a partition to another
// source, delete its row: DELETE FROM pomocore_partition WHERE partition = N.
func (s *Store) ClaimPartition(ctx context.Context, partition uint8, src pipeline.PartitionSource) (err error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	defer func() {
		if err != nil && !errors.Is(err, pipeline.ErrPartitionTaken) {
			// The first write of a start: a store opened while its file
			// could not be written gets a new connection for the next try.
			dropReadOnly(ctx, s.db, err)
			err = timedOut(ctx, fmt.Errorf("sqlite: claim partition %d: %w", partition, err))
		}
	}()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, `INSERT INTO pomocore_partition (partition, stream, claimed_at, redis, db) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (partition) DO NOTHING`, int(partition), src.Stream, time.Now().UTC().Format(time.RFC3339), src.Redis, src.DB); err != nil {
		return err
	}
	var owner pipeline.PartitionSource
	var redis sql.NullString
	var db sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT stream, redis, db FROM pomocore_partition WHERE partition = ?`, int(partition)).Scan(&owner.Stream, &redis, &db); err != nil {
		return err
	}
	owner.Redis, owner.DB = redis.String, int(db.Int64)
	if !redis.Valid && owner.Stream == src.Stream {
		// A claim of the stream's key alone: this source takes it over.
		if _, err := tx.ExecContext(ctx, `UPDATE pomocore_partition SET redis = ?, db = ? WHERE partition = ?`, src.Redis, src.DB, int(partition)); err != nil {
			return err
		}
		owner = src
	}
	if owner != src {
		return &pipeline.PartitionTakenError{Partition: partition, Owner: owner, Claimer: src,
			Release: fmt.Sprintf("DELETE FROM pomocore_partition WHERE partition = %d (in %s)", partition, s.path)}
	}
	return tx.Commit()
}

// LoadPatterns implements pipeline.Patterns.
func (s *Store) LoadPatterns(ctx context.Context) ([]pomocore.CategoryPattern, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, category, priority, app_patterns, domain_patterns, title_rules FROM category_pattern ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: load patterns: %w", err)
	}
	defer rows.Close()
	var out []pomocore.CategoryPattern
	for rows.Next() {
		var id, apps, domains, titles string
		var p pomocore.CategoryPattern
		if err := rows.Scan(&id, &p.Category, &p.Priority, &apps, &domains, &titles); err != nil {
			return nil, fmt.Errorf("sqlite: load patterns: %w", err)
		}
		if p.ID, err = pomocore.ParseObjectID(id); err != nil {
			return nil, fmt.Errorf("sqlite: category_pattern: %w", err)
		}
		if err := json.Unmarshal([]byte(apps), &p.AppPatterns); err != nil {
			return nil, fmt.Errorf("sqlite: category_pattern %s appPatterns: %w", id, err)
		}
		if err := json.Unmarshal([]byte(domains), &p.DomainPatterns); err != nil {
			return nil, fmt.Errorf("sqlite: category_pattern %s domainPatterns: %w", id, err)
		}
		if err := json.Unmarshal([]byte(titles), &p.TitleRules); err != nil {
			return nil, fmt.Errorf("sqlite: category_pattern %s titleRules: %w", id, err)
		}
		if len(p.TitleRules) == 0 {
			p.TitleRules = nil
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// SeedPatterns implements pipeline.Patterns.
func (s *Store) SeedPatterns(ctx context.Context, defaults []pomocore.CategoryPattern) (seeded bool, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("sqlite: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM category_pattern`).Scan(&n); err != nil {
		return false, fmt.Errorf("sqlite: count patterns: %w", err)
	}
	if n > 0 {
		return false, tx.Rollback()
	}
	now := time.Now()
	for _, p := range defaults {
		if p.ID.IsZero() {
			p.ID = pomocore.NewObjectID(now)
		}
		apps, _ := json.Marshal(nonNil(p.AppPatterns))
		domains, _ := json.Marshal(nonNil(p.DomainPatterns))
		titles, _ := json.Marshal(p.TitleRules)
		if p.TitleRules == nil {
			titles = []byte("[]")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO category_pattern (id, category, priority, app_patterns, domain_patterns, title_rules) VALUES (?, ?, ?, ?, ?, ?)`,
			p.ID.Hex(), p.Category, p.Priority, string(apps), string(domains), string(titles)); err != nil {
			return false, fmt.Errorf("sqlite: seed pattern %s: %w", p.Category, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("sqlite: commit: %w", err)
	}
	return true, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// UsageLogsBetween implements pipeline.UsageLogReader, 1,000 logs a batch,
// hour by hour (the index pomodoro_usage_log_hour); a range of more than
// maxHourScans hours is read in one scan of the table instead.
func (s *Store) UsageLogsBetween(ctx context.Context, from, to float64, f func([]pomocore.UsageLog) error) error {
	if !(from < to) {
		return nil
	}
	first, last := math.Floor(from/3600), math.Floor(to/3600)
	if last-first > maxHourScans {
		return s.usageLogs(ctx, rangeWhere, from, to, 0, f)
	}
	for h := int64(first); h <= int64(last); h++ {
		if err := s.usageLogs(ctx, hourWhere, from, to, h, f); err != nil {
			return err
		}
	}
	return nil
}

// maxHourScans is the most hours UsageLogsBetween reads one by one.
const maxHourScans = 24 * 400

// The conditions of UsageLogsBetween's queries: the logs of [@from, @to)
// within the hour @hour (through the index pomodoro_usage_log_hour: the
// expression must be the index's), or all of them.
const (
	hourWhere  = `CAST(timestamp / 3600 AS INTEGER) = @hour AND timestamp >= @from AND timestamp < @to`
	rangeWhere = `timestamp >= @from AND timestamp < @to`
)

// usageLogsQuery selects a page of the usage logs matching where, after
// the rowid @after.
func usageLogsQuery(where string) string {
	return `SELECT rowid, id, user_id, categorized_data_id, category_id, session, session_minutes,
session_date, timestamp, duration FROM pomodoro_usage_log WHERE ` + where + ` AND rowid > @after ORDER BY rowid LIMIT 1000`
}

// usageLogs calls f with the usage logs matching where (which may use
// @from, @to and @hour), 1,000 at a time in rowid order.
func (s *Store) usageLogs(ctx context.Context, where string, from, to float64, hour int64, f func([]pomocore.UsageLog) error) error {
	query := usageLogsQuery(where)
	after := int64(0)
	for {
		args := []any{sql.Named("from", from), sql.Named("to", to), sql.Named("after", after)}
		if where == hourWhere {
			args = append(args, sql.Named("hour", hour))
		}
		rows, err := s.db.QueryContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("sqlite: usage logs: %w", err)
		}
		var batch []pomocore.UsageLog
		for rows.Next() {
			var id, cd, cat string
			var l pomocore.UsageLog
			if err := rows.Scan(&after, &id, &l.UserID, &cd, &cat, &l.Session, &l.SessionMinutes, &l.SessionDate, &l.Timestamp, &l.Duration); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: usage logs: %w", err)
			}
			l.ID, _ = pomocore.ParseObjectID(id)
			l.CategorizedDataID, _ = pomocore.ParseObjectID(cd)
			l.CategoryID, _ = pomocore.ParseObjectID(cat)
			batch = append(batch, l)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: usage logs: %w", err)
		}
		if len(batch) == 0 {
			return nil
		}
		if err := f(batch); err != nil {
			return err
		}
	}
}

// UpsertPattern implements pipeline.PatternEditor.
func (s *Store) UpsertPattern(ctx context.Context, p pomocore.CategoryPattern) error {
	if p.ID.IsZero() {
		return errors.New("sqlite: upsert pattern: zero id")
	}
	apps, _ := json.Marshal(nonNil(p.AppPatterns))
	domains, _ := json.Marshal(nonNil(p.DomainPatterns))
	titles := []byte("[]")
	if p.TitleRules != nil {
		titles, _ = json.Marshal(p.TitleRules)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO category_pattern (id, category, priority, app_patterns, domain_patterns, title_rules)
VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET category = excluded.category, priority = excluded.priority,
app_patterns = excluded.app_patterns, domain_patterns = excluded.domain_patterns, title_rules = excluded.title_rules`,
		p.ID.Hex(), p.Category, p.Priority, string(apps), string(domains), string(titles))
	if err != nil {
		return fmt.Errorf("sqlite: upsert pattern %s: %w", p.Category, err)
	}
	return nil
}

// LLMAnswers implements pipeline.LLMMemory.
func (s *Store) LLMAnswers(ctx context.Context, limit int) ([]pomocore.CategorizedData, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, app, url, title, category_id FROM categorized_data
WHERE is_llm_based = 1 ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: LLM answers: %w", err)
	}
	defer rows.Close()
	var out []pomocore.CategorizedData
	for rows.Next() {
		var id, cat string
		d := pomocore.CategorizedData{LLMBased: true}
		if err := rows.Scan(&id, &d.App, &d.URL, &d.Title, &cat); err != nil {
			return nil, fmt.Errorf("sqlite: LLM answers: %w", err)
		}
		d.ID, _ = pomocore.ParseObjectID(id)
		d.CategoryID, _ = pomocore.ParseObjectID(cat)
		out = append(out, d)
	}
	return out, rows.Err()
}

// fileName is the store's file in its data directory.
const fileName = "pomocore.db"

// Exists reports whether dir holds a store; Open creates one where none
// is (a stat error other than "does not exist" counts as one: Open will
// report it).
func Exists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, fileName))
	return !errors.Is(err, fs.ErrNotExist)
}
