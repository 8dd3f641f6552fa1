package redistest

import (
	"context"
	"testing"
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
