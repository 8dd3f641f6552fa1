package redistest

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
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

func TestCommandCallsCountsEachCommandSent(t *testing.T) {
	rdb := Start(t).Client(t)
	ctx := context.Background()
	before := CommandCalls(t, rdb)
	for range 3 {
		rdb.Set(ctx, "k", "v", 0)
	}
	rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "s", Values: []string{"f", "v"}})
	rdb.XInfoGroups(ctx, "s")
	after := CommandCalls(t, rdb)
	if n := after["set"] - before["set"]; n != 3 {
		t.Errorf("set counted %d times, want 3 (before %v, after %v)", n, before, after)
	}
	if n := after["xinfo|groups"] - before["xinfo|groups"]; n != 1 {
		t.Errorf("xinfo|groups counted %d times, want 1 (after %v)", n, after)
	}
}

// TestStartTakesAnotherPortWhenThePickedOneIsTaken: a port picked as free
// and taken before redis-server binds it (here by another test's
// redis-server, which answers PING too) is not mistaken for the new
// server: Start goes on with another port, and its server is its own.
func TestStartTakesAnotherPortWhenThePickedOneIsTaken(t *testing.T) {
	other := Start(t)
	var picks []int
	s := &Server{dir: t.TempDir()}
	s.startOnFreePort(t, func() int {
		p := freePort(t)
		if len(picks) == 0 {
			p = other.port // taken between the pick and the bind
		}
		picks = append(picks, p)
		return p
	})
	t.Cleanup(s.Stop)
	if len(picks) != 2 || s.port != picks[1] || s.port == other.port {
		t.Fatalf("picks %v, server on %d (the taken port is %d): want a second pick, used", picks, s.port, other.port)
	}
	ctx := context.Background()
	if err := s.Client(t).Set(ctx, "mine", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n := other.Client(t).Exists(ctx, "mine").Val(); n != 0 {
		t.Fatal("the key landed in the other test's server")
	}
}

// TestStartSentinelTakesAnotherPortWhenThePickedOneIsTaken: as Start, a
// Sentinel whose picked port was taken before it bound it starts on
// another, and names the master it watches.
func TestStartSentinelTakesAnotherPortWhenThePickedOneIsTaken(t *testing.T) {
	master := Start(t)
	other := Start(t)
	var picks []int
	addr := startSentinelOnFreePort(t, "127.0.0.1", strconv.Itoa(master.port), master.Addr(), func() int {
		p := freePort(t)
		if len(picks) == 0 {
			p = other.port // taken between the pick and the bind
		}
		picks = append(picks, p)
		return p
	})
	if len(picks) != 2 || addr != net.JoinHostPort("127.0.0.1", strconv.Itoa(picks[1])) {
		t.Fatalf("picks %v, sentinel at %s (the taken port is %d): want a second pick, used", picks, addr, other.port)
	}
	s := goredis.NewSentinelClient(&goredis.Options{Addr: addr})
	defer s.Close()
	got, err := s.GetMasterAddrByName(context.Background(), "mymaster").Result()
	if err != nil || len(got) != 2 || net.JoinHostPort(got[0], got[1]) != master.Addr() {
		t.Fatalf("sentinel names %v, %v; want %s", got, err, master.Addr())
	}
}

// TestStartWithPortPicksBothPortsAgainWhenOneIsTaken: the second port
// (here the cluster bus's) taken before redis-server binds it makes
// StartWithPort pick both again, and the server uses the second picks.
func TestStartWithPortPicksBothPortsAgainWhenOneIsTaken(t *testing.T) {
	other := Start(t)
	var picks []int
	s, extra := startWithPort(t, "--cluster-port", []string{"--cluster-enabled", "yes"}, func() int {
		p := freePort(t)
		if len(picks) == 1 {
			p = other.port // the second port of the first attempt is taken
		}
		picks = append(picks, p)
		return p
	})
	if len(picks) != 4 || s.port != picks[2] || extra != picks[3] {
		t.Fatalf("picks %v, server on %d and %d (the taken port is %d): want both picked again", picks, s.port, extra, other.port)
	}
	got, err := s.Client(t).ConfigGet(context.Background(), "cluster-port").Result()
	if err != nil || got["cluster-port"] != strconv.Itoa(extra) {
		t.Fatalf("cluster-port = %v, %v; want %d", got, err, extra)
	}
}
