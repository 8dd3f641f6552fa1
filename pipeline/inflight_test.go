package pipeline_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/pipeline/storetest"
)

// flightLog records reads and commits, to check how many batches were in
// flight (read, not yet committed) whenever a read began.
type flightLog struct {
	mu        sync.Mutex
	reads     int
	committed int
	maxAhead  int // most batches in flight when a read began
	batch     int // entries per read
	seq       int
}

func (f *flightLog) Pending(context.Context, string, int) ([]pipeline.Message, error) {
	return nil, nil
}

func (f *flightLog) Claim(context.Context, time.Duration, string, int) ([]pipeline.Message, string, error) {
	return nil, "0-0", nil
}

// Read returns f.batch entries trimmed away while pending: nothing to
// store, only to acknowledge.
func (f *flightLog) Read(ctx context.Context, count int, _ time.Duration) ([]pipeline.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.maxAhead = max(f.maxAhead, f.reads-f.committed)
	f.reads++
	msgs := make([]pipeline.Message, f.batch)
	for i := range msgs {
		f.seq++
		msgs[i] = pipeline.Message{ID: "1764000000000-" + strconv.Itoa(f.seq), Deleted: true}
	}
	return msgs, ctx.Err()
}

// slowCommitter holds each commit until the reader has run ahead as far
// as it will (or a tenth of a second passed: the bound held).
type slowCommitter struct {
	f     *flightLog
	limit int
}

func (c *slowCommitter) Commit(_ context.Context, entries []pipeline.CommitEntry) (pipeline.CommitResult, error) {
	deadline := time.Now().Add(100 * time.Millisecond)
	for time.Now().Before(deadline) {
		c.f.mu.Lock()
		ahead := c.f.reads - c.f.committed
		c.f.mu.Unlock()
		if ahead > c.limit {
			break // the reader ran past the bound: no need to wait longer
		}
		time.Sleep(time.Millisecond) // giving the reader time to run ahead, if it would
	}
	c.f.mu.Lock()
	c.f.committed++
	c.f.mu.Unlock()
	return pipeline.CommitResult{Applied: len(entries)}, nil
}

// Three batches are in flight, from read to committed, whether the
// pipeline keeps up (small batches) or drains a backlog (full ones): one
// committed, one stored, one read; never more.
func TestBatchesInFlightAreBounded(t *testing.T) {
	for _, c := range []struct {
		name       string
		batch, max int
	}{{"keeping up", 3, 3}, {"backlog", 10, 3}} {
		t.Run(c.name, func(t *testing.T) {
			f := &flightLog{batch: c.batch}
			p, err := pipeline.New(pipeline.Config{BatchSize: 10, Location: time.UTC}, pipeline.Deps{
				Reader: f, Store: storetest.NewMemory(), Committer: &slowCommitter{f: f, limit: c.max},
				Classifier: fixedClassifier{}, Taxonomy: pomocore.DefaultTaxonomy(),
				CategoryIDs: map[string]pomocore.ObjectID{},
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx) }()
			for {
				f.mu.Lock()
				n := f.committed
				f.mu.Unlock()
				if n >= 4 {
					break
				}
				select {
				case err := <-done:
					t.Fatalf("Run returned early: %v", err)
				case <-time.After(time.Millisecond):
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.maxAhead+1 > c.max {
				t.Errorf("%d batches in flight, want at most %d", f.maxAhead+1, c.max)
			}
			if f.maxAhead+1 < c.max {
				t.Errorf("%d batches in flight, want %d: reading does not overlap", f.maxAhead+1, c.max)
			}
		})
	}
}
