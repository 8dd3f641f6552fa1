package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pomocore/pomocore/internal/diskfull"
	"github.com/pomocore/pomocore/internal/logtest"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/pipeline/storetest"
	"github.com/pomocore/pomocore/sqlite"
)

// The database file deleted or replaced under a running store (item 4 of
// issue 19): Save fails (nothing would be kept, so nothing may be
// acknowledged), Ping fails (/readyz turns red), and the loss is logged at
// error level.
func TestSQLiteNoticesItsFileDeletedOrReplaced(t *testing.T) {
	for _, how := range []string{"deleted", "replaced"} {
		t.Run(how, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			log, logs := logtest.Logger()
			st := open(t, sqlite.Config{Dir: dir, Logger: log})
			if err := st.Save(ctx, []pipeline.Record{storetest.Rec("u", "Xcode", "", "", storetest.Dev)}); err != nil {
				t.Fatal(err)
			}
			if err := st.Ping(ctx); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "pomocore.db")
			switch how {
			case "deleted":
				for _, f := range []string{path, path + "-wal", path + "-shm"} {
					if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
						t.Fatal(err)
					}
				}
			case "replaced":
				// A restore from backup: another file renamed over the path.
				other := filepath.Join(dir, "restored.db")
				db, err := sql.Open("sqlite", "file:"+other)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.Exec(`CREATE TABLE x (y)`); err != nil {
					t.Fatal(err)
				}
				db.Close()
				if err := os.Rename(other, path); err != nil {
					t.Fatal(err)
				}
			}
			for range 2 { // and it stays so
				if err := st.Save(ctx, []pipeline.Record{storetest.Rec("u", "Xcode", "", "", storetest.Dev)}); !errors.Is(err, sqlite.ErrFileGone) {
					t.Errorf("Save after the file was %s = %v, want ErrFileGone", how, err)
				}
				if err := st.Ping(ctx); !errors.Is(err, sqlite.ErrFileGone) {
					t.Errorf("Ping after the file was %s = %v, want ErrFileGone", how, err)
				}
			}
			if l := logs.String(); strings.Count(l, "level=ERROR") != 1 || !strings.Contains(l, "deleted or replaced") {
				t.Errorf("log = %q, want one error naming the loss", l)
			}
		})
	}
}

// A Save waiting longer than Config.Timeout (here for a lock another
// process holds, with a long busy timeout) returns an error that wraps
// context.DeadlineExceeded near the timeout (item 11: the store timeout
// applies to SQLite too).
func TestSQLiteSaveHonoursTheTimeout(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := open(t, sqlite.Config{Dir: dir, Timeout: 100 * time.Millisecond, BusyTimeout: time.Minute, CheckpointEvery: -1})
	other, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "pomocore.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.SetMaxOpenConns(1)
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = st.Save(ctx, []pipeline.Record{storetest.Rec("u", "Xcode", "", "", storetest.Dev)})
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Save behind a held lock = %v, want a timeout", err)
	}
	t.Logf("Save behind a held lock returned after %v: %v", took, err)
	if took > 10*time.Second {
		t.Errorf("Save took %v with a 100ms timeout", took)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, []pipeline.Record{storetest.Rec("u", "Xcode", "", "", storetest.Dev)}); err != nil {
		t.Errorf("Save after the lock was released: %v", err)
	}
}

// A claim recorded before claims named their Redis (the stream's key
// alone) is taken over by a source of that stream, which it then records:
// the same stream in another database is refused afterwards (issue 27
// item 3).
func TestSQLiteClaimOfAnEarlierVersionIsTakenOverByItsStream(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "pomocore.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(`CREATE TABLE pomocore_partition (partition INTEGER PRIMARY KEY, stream TEXT NOT NULL, claimed_at TEXT NOT NULL);
INSERT INTO pomocore_partition VALUES (0, 'pattern_match_stream', '2026-01-01T00:00:00Z')`); err != nil {
		t.Fatal(err)
	}
	old.Close()
	st := open(t, sqlite.Config{Dir: dir})
	src := pipeline.PartitionSource{Redis: "redis-a:6379", Stream: "pattern_match_stream"}
	if err := st.ClaimPartition(ctx, 0, pipeline.PartitionSource{Redis: "redis-a:6379", Stream: "other"}); !errors.Is(err, pipeline.ErrPartitionTaken) {
		t.Errorf("another stream on an earlier version's claim: %v, want ErrPartitionTaken", err)
	}
	if err := st.ClaimPartition(ctx, 0, src); err != nil {
		t.Fatalf("its stream on an earlier version's claim: %v", err)
	}
	db1 := src
	db1.DB = 1
	var taken *pipeline.PartitionTakenError
	if err := st.ClaimPartition(ctx, 0, db1); !errors.As(err, &taken) || taken.Owner != src {
		t.Errorf("the stream in database 1 after database 0 took the claim over: %v, want refused, owner %v", err, src)
	}
}

// unwritable makes the file at path unwritable to this process (chmod
// 0444, or, as root, whom modes do not stop, chattr +i) until the
// returned function is called; the test is skipped when neither can.
func unwritable(t *testing.T, path string) (writable func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		if err := os.Chmod(path, 0o444); err != nil {
			t.Skipf("chmod: %v", err)
		}
		return func() { _ = os.Chmod(path, 0o644) }
	}
	if out, err := exec.Command("chattr", "+i", path).CombinedOutput(); err != nil {
		t.Skipf("root, and chattr +i failed: %v %s", err, out)
	}
	done := false
	restore := func() {
		if !done {
			done = true
			if out, err := exec.Command("chattr", "-i", path).CombinedOutput(); err != nil {
				t.Errorf("chattr -i: %v %s", err, out)
			}
		}
	}
	t.Cleanup(restore)
	return restore
}

// Issue 27 item 1: a store opened while its file could not be written
// refused its partition claim ("attempt to write a readonly database")
// and every write after, also once the file was writable again: SQLite
// had opened it read-only, for good. The claim's failure now drops that
// connection, and the next claim, once the file is writable, succeeds.
func TestSQLiteOpenedUnwritableWritesOnceWritableAgain(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := open(t, sqlite.Config{Dir: dir})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	writable := unwritable(t, filepath.Join(dir, "pomocore.db"))
	st = open(t, sqlite.Config{Dir: dir})
	src := pipeline.PartitionSource{Redis: "redis-a:6379", Stream: "pattern_match_stream"}
	if err := st.ClaimPartition(ctx, 0, src); err == nil {
		t.Fatal("claim on an unwritable file succeeded")
	}
	writable()
	if err := st.ClaimPartition(ctx, 0, src); err != nil {
		t.Errorf("claim once the file is writable again: %v", err)
	}
	if err := st.Save(ctx, []pipeline.Record{storetest.Rec("u", "Xcode", "", "", storetest.Dev)}); err != nil {
		t.Errorf("save after: %v", err)
	}
}

// A full disk is the store's state, not the record's: Save's error says so
// (pipeline.ErrStoreCannotWrite), so the pipeline never dead-letters the
// entries it holds while the disk is full; once there is room, the same
// batch is saved.
func TestSQLiteOnAFullDiskSaysItCannotWrite(t *testing.T) {
	dir := diskfull.Tmpfs(t, 8<<20)
	st := open(t, sqlite.Config{Dir: dir})
	storetest.FullDisk(t, st, func() (func() error, error) { return diskfull.Fill(dir) })
}
