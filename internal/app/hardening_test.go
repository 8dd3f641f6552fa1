package app

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pomocore/pomocore/pipeline"
)

// claimWith opens the SQLite store in dir under the settings of redis
// (addresses), db and stream, claims partition 0 and returns the error.
func claimWith(t *testing.T, dir string, set func(*Config)) error {
	t.Helper()
	c := Defaults()
	c.DataDir = dir
	set(&c)
	c.Complete(func(string) bool { return false })
	a, err := New(c, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	st, err := a.Store(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return a.claimPartition(context.Background(), st)
}

// Issue 27 item 3: two instances reading streams of one name in two
// Redis databases, or two Redis servers, sharing one store, both claimed
// partition 0 and overwrote each other's usage logs. A claim now records
// the Redis (POMOCORE_REDIS_IDENTITY, else its addresses), the database
// and the stream, and refuses a second source, saying what to set.
func TestPartitionClaimsTellRedisServersAndDatabasesApart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first := func(c *Config) { c.Redis.Addrs = []string{"redis-a:6379"} }
	if err := claimWith(t, dir, first); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		set  func(*Config)
		want string // in the refusal: what to set
	}{
		{"another database", func(c *Config) { c.Redis.Addrs, c.Redis.DB = []string{"redis-a:6379"}, 1 }, "POMOCORE_PARTITION"},
		{"another server", func(c *Config) { c.Redis.Addrs = []string{"redis-b:6379"} }, "POMOCORE_REDIS_IDENTITY"},
	} {
		err := claimWith(t, dir, c.set)
		if !errors.Is(err, pipeline.ErrPartitionTaken) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "redis-a:6379") {
			t.Errorf("%s, same stream, same partition: %v; want a refusal naming the owner redis-a:6379 and %s", c.name, err, c.want)
		}
	}
	// The owner restarts; one named by the same configured identity is
	// one source, whatever the address it reaches the server by.
	if err := claimWith(t, dir, first); err != nil {
		t.Errorf("the owner again: %v", err)
	}
	named := filepath.Join(t.TempDir(), "named")
	for _, addr := range []string{"redis-a:6379", "10.0.0.5:6379"} {
		if err := claimWith(t, named, func(c *Config) { c.Redis.Addrs, c.RedisIdentity = []string{addr}, "sessions-redis" }); err != nil {
			t.Errorf("identity sessions-redis through %s: %v", addr, err)
		}
	}
}
