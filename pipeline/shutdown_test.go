package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/pomocore/pomocore/pipeline"
)

// hungStore is a store whose calls never return, whatever their context
// says (a driver stuck on a dead connection, a server that never answers).
type hungStore struct {
	called  chan struct{}
	release chan struct{}
}

func (s *hungStore) Save(context.Context, []pipeline.Record) error {
	select {
	case s.called <- struct{}{}:
	default:
	}
	<-s.release
	return nil
}

// TestShutdownWithinTimeoutWhateverTheStoreDoes: on SIGTERM (Run's context
// cancelled) with a store call that never returns, Run returns within
// ShutdownTimeout (plus scheduling slack), and acknowledges nothing: the
// entry stays pending, its score uncounted (issue 29 item 2).
func TestShutdownWithinTimeoutWhateverTheStoreDoes(t *testing.T) {
	const shutdown = 300 * time.Millisecond
	hs := &hungStore{called: make(chan struct{}, 1), release: make(chan struct{})}
	t.Cleanup(func() { close(hs.release) })
	grace := shutdown
	e := newEnv(t, "c1", pipeline.Config{ShutdownTimeout: &grace})
	e.st = hs
	e.build("c1", pipeline.Config{ShutdownTimeout: &grace})
	ts := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	e.add(event("u1", "Xcode", 10, ts, true)...)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.p.Run(ctx) }()
	select {
	case <-hs.called:
	case <-time.After(30 * time.Second):
		t.Fatal("the store was never called")
	}
	cancel()
	start := time.Now()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil (batches left pending)", err)
		}
		if took := time.Since(start); took > shutdown+5*time.Second {
			t.Errorf("Run returned %v after the cancel, want within ~%v", took, shutdown)
		}
	case <-time.After(shutdown + 10*time.Second):
		t.Fatalf("Run still running %v after the cancel with ShutdownTimeout %v", shutdown+10*time.Second, shutdown)
	}
	if got := e.score("leaderboard:Development:2026-11-24", "u1"); got != 0 {
		t.Errorf("score = %v, want 0 (nothing stored)", got)
	}
	if e.pending() != 1 {
		t.Errorf("pending = %d, want 1 (nothing acknowledged)", e.pending())
	}
}
