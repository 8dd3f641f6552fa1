package pipeline_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/pipeline/storetest"
)

// wantInFlight is pipeline.go's maxInFlight: one batch committed, one
// stored, one read.
const wantInFlight = 3

// countingReader returns batch entries at every read, each trimmed away
// while pending: nothing to store, only to acknowledge. Reads are not
// gated: the pipeline reads as far ahead as it will.
type countingReader struct {
	batch int
	reads atomic.Int64
	seq   atomic.Int64
}

func (r *countingReader) Pending(context.Context, string, int) ([]pipeline.Message, error) {
	return nil, nil
}

func (r *countingReader) Claim(context.Context, time.Duration, string, int) ([]pipeline.Message, string, error) {
	return nil, "0-0", nil
}

func (r *countingReader) Read(ctx context.Context, count int, _ time.Duration) ([]pipeline.Message, error) {
	r.reads.Add(1)
	msgs := make([]pipeline.Message, r.batch)
	for i := range msgs {
		msgs[i] = pipeline.Message{ID: "1764000000000-" + strconv.FormatInt(r.seq.Add(1), 10), Deleted: true}
	}
	return msgs, ctx.Err()
}

// gatedCommitter counts the commits that began and holds each until the
// test sends on proceed (or closes it).
type gatedCommitter struct {
	entered atomic.Int64
	proceed chan struct{}
}

func (c *gatedCommitter) Commit(ctx context.Context, entries []pipeline.CommitEntry) (pipeline.CommitResult, error) {
	c.entered.Add(1)
	select {
	case <-c.proceed:
		return pipeline.CommitResult{Applied: len(entries)}, nil
	case <-ctx.Done():
		return pipeline.CommitResult{}, ctx.Err()
	}
}

// Three batches are in flight, from read to committed, whether the
// pipeline keeps up (small batches) or drains a backlog (full ones): one
// committed, one stored, one read; never more. Commits are held by a gate,
// and synctest.Wait tells when the pipeline can go no further: then
// exactly three batches were read past the ones committed (a bound of 2
// reads one less, a bound of 4 one more), and the next read happens only
// once a commit is released.
func TestBatchesInFlightAreBounded(t *testing.T) {
	for _, c := range []struct {
		name  string
		batch int
	}{{"keeping up", 3}, {"backlog", 10}} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := &countingReader{batch: c.batch}
				cm := &gatedCommitter{proceed: make(chan struct{})}
				p, err := pipeline.New(pipeline.Config{BatchSize: 10, Location: time.UTC}, pipeline.Deps{
					Reader: r, Store: storetest.NewMemory(), Committer: cm,
					Classifier: fixedClassifier{}, Taxonomy: pomocore.DefaultTaxonomy(),
					CategoryIDs: map[string]pomocore.ObjectID{},
				})
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- p.Run(ctx) }()
				stopped := false
				stop := func() error {
					stopped = true
					cancel()
					close(cm.proceed) // let the batches in hand be committed
					return <-done
				}
				defer func() {
					if !stopped {
						_ = stop()
					}
				}()

				// settled checks, once every goroutine of the pipeline is
				// blocked, that released commits returned, the next one
				// began, and wantInFlight batches were read past them.
				settled := func(released int64) {
					t.Helper()
					synctest.Wait()
					select {
					case err := <-done:
						t.Fatalf("Run returned early: %v", err)
					default:
					}
					if n := cm.entered.Load(); n != released+1 {
						t.Fatalf("after %d commits released, %d began; want %d", released, n, released+1)
					}
					switch inFlight := r.reads.Load() - released; {
					case inFlight > wantInFlight:
						t.Errorf("after %d commits released: %d batches in flight, want at most %d", released, inFlight, wantInFlight)
					case inFlight < wantInFlight:
						t.Errorf("after %d commits released: %d batches in flight, want %d: reading does not overlap", released, inFlight, wantInFlight)
					}
				}
				settled(0)
				for released := int64(1); released <= 4; released++ {
					cm.proceed <- struct{}{}
					settled(released)
				}
				if err := stop(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}
