package redis_test

import (
	"context"
	"testing"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/redis"
)

// The group's lag is the entries not yet delivered to it, on a real Redis
// and on the embedded one (miniredis reports the stream's length as the
// lag, and no entries-read): 5 added, 3 read, lag 2.
func TestGroupStateLagIsEntriesNotYetDelivered(t *testing.T) {
	mini := miniredis.RunT(t)
	for name, rdb := range map[string]*goredis.Client{
		"embedded": goredis.NewClient(&goredis.Options{Addr: mini.Addr()}),
		"redis":    redistest.Start(t).Client(t),
	} {
		ctx := context.Background()
		r, err := redis.NewReader(rdb, redis.ReaderConfig{Stream: "s", Group: "g", Consumer: "c"})
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "s", Values: []string{"k", "v"}})
		}
		if err := r.EnsureGroup(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Read(ctx, 3, -1); err != nil {
			t.Fatal(err)
		}
		st, err := r.GroupState(ctx)
		if err != nil || st.Lag != 2 || st.Pending != 3 || st.OldestPending <= 0 {
			t.Errorf("%s: %+v, err %v, want lag 2, pending 3, an oldest pending age", name, st, err)
		}
	}
}
