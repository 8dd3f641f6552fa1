package pipeline_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/pipeline"
)

// failingReader fails every Read, announcing each on fails until
// stopped is closed.
type failingReader struct {
	pipeline.Reader
	fails   chan struct{}
	stopped chan struct{}
}

func (r failingReader) Read(ctx context.Context, count int, block time.Duration) ([]pipeline.Message, error) {
	select {
	case r.fails <- struct{}{}:
	case <-r.stopped:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return nil, errors.New("connection refused")
}

type lockedObserver struct {
	mu    sync.Mutex
	fails []string
}

func (o *lockedObserver) BatchDone(pipeline.BatchReport) {}
func (o *lockedObserver) CallFailed(what string, _ error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fails = append(o.fails, what)
}

// A failed read of the stream is reported to the observer as a failed
// "read" call (pomocore_call_errors_total{call="read"}), as store and
// commit failures are.
func TestReadFailuresAreReported(t *testing.T) {
	e := newEnv(t, "c1", pipeline.Config{})
	obs := &lockedObserver{}
	r := failingReader{Reader: e.reader, fails: make(chan struct{}), stopped: make(chan struct{})}
	p, err := pipeline.New(pipeline.Config{Location: seoul, Block: time.Millisecond}, pipeline.WithSleep(pipeline.Deps{
		Reader: r, Store: e.store, Committer: mustCommitter(e.mem),
		Classifier: fixedClassifier{}, Taxonomy: pomocore.DefaultTaxonomy(), CategoryIDs: e.ids, Observer: obs,
	}, func(ctx context.Context, d time.Duration) error { return ctx.Err() }))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	for range 3 {
		<-r.fails
	}
	<-r.fails // the third failure has been reported once the fourth read begins
	// Run reads with a context that outlives the cancel by the shutdown
	// timeout: a read begun meanwhile must not wait for a receiver.
	close(r.stopped)
	cancel()
	<-done
	obs.mu.Lock()
	defer obs.mu.Unlock()
	n := 0
	for _, f := range obs.fails {
		if f == "read" {
			n++
		}
	}
	if n < 3 {
		t.Errorf("observer saw %v, want at least 3 failed reads", obs.fails)
	}
}
