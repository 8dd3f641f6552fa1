package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/pipeline/storetest"
)

// walFrames returns how many frames the write-ahead log file holds.
func walFrames(t *testing.T, dir string) int64 {
	t.Helper()
	fi, err := os.Stat(filepath.Join(dir, "pomocore.db-wal"))
	if err != nil {
		t.Fatal(err)
	}
	const header, frame = 32, 24 + 4096
	return (fi.Size() - header) / frame
}

func TestBackgroundCheckpointCopiesTheLogWhileTheWriterWrites(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	// The loop never fires here: the test runs the checkpoints itself.
	st, err := Open(ctx, Config{Dir: dir, CheckpointEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	save := func(n int) {
		t.Helper()
		recs := make([]pipeline.Record, n)
		for i := range recs {
			recs[i] = storetest.Rec(fmt.Sprintf("u%d", i), "Xcode", fmt.Sprintf("https://x/%d", i), "", storetest.Dev)
		}
		if err := st.Save(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
	save(500)
	frames, copied, err := st.checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if frames < 10 || copied != frames {
		t.Fatalf("checkpoint: %d frames in the log, %d copied; want all of at least 10", frames, copied)
	}
	// The writer starts the log over once everything is copied: the file
	// does not grow with the next transaction.
	before := walFrames(t, dir)
	save(10)
	if after := walFrames(t, dir); after > before {
		t.Errorf("log grew from %d to %d frames after a full checkpoint: the writer did not start it over", before, after)
	}
	frames2, copied2, err := st.checkpoint(ctx)
	if err != nil || copied2 != frames2 || frames2 >= frames {
		t.Errorf("second checkpoint: %d frames, %d copied, %v; want fewer than %d, all copied", frames2, copied2, err, frames)
	}
	cds, logs, err := st.Snapshot(ctx)
	if err != nil || len(cds) != 500 || len(logs) != 510 {
		t.Errorf("after checkpoints: %d categorized, %d logs, %v", len(cds), len(logs), err)
	}
}

func TestCloseStopsTheCheckpointLoop(t *testing.T) {
	st, err := Open(context.Background(), Config{Dir: t.TempDir(), CheckpointEvery: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-st.ckptDone:
	default:
		t.Fatal("checkpoint loop still running after Close")
	}
}

func TestNoCheckpointConnectionWhenDisabled(t *testing.T) {
	st, err := Open(context.Background(), Config{Dir: t.TempDir(), CheckpointEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.ckpt != nil {
		t.Error("a checkpoint connection with CheckpointEvery < 0")
	}
}

func TestWriterCheckpointsLessOftenWithBackgroundCheckpoints(t *testing.T) {
	for _, c := range []struct {
		every time.Duration
		want  int
	}{{time.Hour, writerCheckpointPages}, {-1, 1000}} {
		st, err := Open(context.Background(), Config{Dir: t.TempDir(), CheckpointEvery: c.every})
		if err != nil {
			t.Fatal(err)
		}
		var pages int
		if err := st.db.QueryRow("PRAGMA wal_autocheckpoint").Scan(&pages); err != nil {
			t.Fatal(err)
		}
		st.Close()
		if pages != c.want {
			t.Errorf("checkpoint every %v: writer checkpoints every %d pages, want %d", c.every, pages, c.want)
		}
	}
}
