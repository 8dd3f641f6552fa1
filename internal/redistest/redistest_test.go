package redistest

import (
	"context"
	"testing"
	"time"
)

func TestStartRestartStop(t *testing.T) {
	s := Start(t)
	c := s.Client(t)
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Restart(t)
	if n := c.Exists(ctx, "k").Val(); n != 0 {
		t.Errorf("data survived a restart without persistence")
	}
	s.Stop()
	if c.Ping(ctx).Err() == nil {
		t.Error("server still answers after Stop")
	}
}

func TestPauseStopsAnswersUntilResume(t *testing.T) {
	s := Start(t)
	c := s.Client(t)
	s.Pause()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	err := c.Ping(ctx).Err()
	cancel()
	if err == nil {
		t.Fatal("a paused server answered")
	}
	s.Resume()
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Errorf("resumed server: %v", err)
	}
	s.Pause()
	s.Stop() // a paused server stops too
	if c.Ping(context.Background()).Err() == nil {
		t.Error("server still answers after Stop")
	}
}
