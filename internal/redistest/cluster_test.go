package redistest

import (
	"context"
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/internal/eventually"
)

func TestClusterFailover(t *testing.T) {
	start := time.Now()
	c := StartCluster(t, 3, 1)
	t.Logf("3 masters + 3 replicas ready in %v", time.Since(start).Round(time.Millisecond))
	if n := len(c.Addrs()); n != 6 {
		t.Fatalf("Addrs() = %d addresses, want 6", n)
	}
	cc := c.Client(t)
	ctx := context.Background()

	// Keys across all slots (and so all masters) round-trip.
	masters := map[string]bool{}
	for i := range 100 {
		key := fmt.Sprintf("key-%d", i)
		if err := cc.Set(ctx, key, i, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", key, err)
		}
		m, err := cc.MasterForKey(ctx, key)
		if err != nil {
			t.Fatalf("MasterForKey %s: %v", key, err)
		}
		masters[m.Options().Addr] = true
	}
	if len(masters) != 3 {
		t.Errorf("100 keys went to %d masters, want 3", len(masters))
	}
	for i := range 100 {
		key := fmt.Sprintf("key-%d", i)
		if v, err := cc.Get(ctx, key).Int(); err != nil || v != i {
			t.Fatalf("GET %s = %v, %v; want %d", key, v, err, i)
		}
	}

	// A write WAITed for by its replica survives the loss of its master.
	const key = "survivor"
	node, err := cc.MasterForKey(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	var wait *goredis.Cmd
	if _, err := node.Pipelined(ctx, func(p goredis.Pipeliner) error {
		p.Set(ctx, key, "before", 0)
		wait = p.Do(ctx, "WAIT", 1, 1000)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n, err := wait.Int(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 1000 = %v, %v; want 1 replica", n, err)
	}

	killed := c.KillMasterOf(t, key)
	if killed != node.Options().Addr {
		t.Errorf("KillMasterOf killed %s, but %s served %q", killed, node.Options().Addr, key)
	}
	start = time.Now()
	c.WaitHealthy(t, 30*time.Second)
	t.Logf("failover of %s done in %v", killed, time.Since(start).Round(time.Millisecond))

	// The client finds the promoted replica (retrying while its slot map is
	// stale), which kept the WAITed write and takes new ones.
	start = time.Now()
	retry(t, cc, func(ctx context.Context) error {
		v, err := cc.Get(ctx, key).Result()
		if err == nil && v != "before" {
			t.Fatalf("GET %s after failover = %q, want before", key, v)
		}
		return err
	})
	retry(t, cc, func(ctx context.Context) error { return cc.Set(ctx, key, "after", 0).Err() })
	t.Logf("client read and wrote %q in %v after failover", key, time.Since(start).Round(time.Millisecond))
	if v, err := cc.Get(ctx, key).Result(); err != nil || v != "after" {
		t.Fatalf("GET %s after failover = %q, %v; want after", key, v, err)
	}
	m, err := cc.MasterForKey(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if m.Options().Addr == killed {
		t.Errorf("%q still routed to killed master %s", key, killed)
	}
}

// retry calls f until it succeeds, reloading cc's slot map in between, and
// fails the test if it still fails after 10s.
func retry(t *testing.T, cc *goredis.ClusterClient, f func(context.Context) error) {
	t.Helper()
	var err error
	if !eventually.Within(10*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = f(ctx)
		cancel()
		if err != nil {
			t.Logf("after failover, retrying: %v", err)
			cc.ReloadState(context.Background())
		}
		return err == nil
	}) {
		t.Fatalf("after failover: %v", err)
	}
}
