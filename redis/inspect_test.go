package redis_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/redis"
)

func TestInspectorReadsStreamsGroupsAndKeysWithoutWriting(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	const s = "insp_stream"
	for i := range 2500 {
		// A field given twice: the inspector keeps order and duplicates.
		if err := rdb.Do(ctx, "XADD", s, fmt.Sprintf("1-%d", i+1), "userId", "u"+strconv.Itoa(i), "app", "a", "app", "b").Err(); err != nil {
			t.Fatal(err)
		}
	}
	rdb.XGroupCreate(ctx, s, "readers", "0")
	rdb.XGroupCreate(ctx, s, "nobody", "$")
	rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "readers", Consumer: "c1", Streams: []string{s, ">"}, Count: 3})
	rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "readers", Consumer: "c1", Streams: []string{s, "0"}, Count: 1})
	rdb.Set(ctx, "insp_string", "x", 0)
	for i := range 30 {
		rdb.ZAdd(ctx, fmt.Sprintf("lb:Dev:2026-11-%02d", i+1), goredis.Z{Member: "u1", Score: float64(i)})
	}
	before := redistest.CommandCalls(t, rdb)
	in := redis.NewInspector(rdb)

	st, err := in.Stream(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Exists || st.Length != 2500 || st.FirstID != "1-1" || st.LastID != "1-2500" || len(st.Groups) != 2 {
		t.Fatalf("stream state %+v", st)
	}
	for _, g := range st.Groups {
		switch g.Name {
		case "readers":
			if g.Pending != 3 || g.LastDeliveredID != "1-3" || g.Lag != 2497 || g.OldestPendingID != "1-1" ||
				len(g.Consumers) != 1 || g.Consumers[0].Name != "c1" || g.Consumers[0].Pending != 3 {
				t.Errorf("readers: %+v", g)
			}
		case "nobody":
			if g.Pending != 0 || len(g.Consumers) != 0 || g.Lag != 0 {
				t.Errorf("nobody: %+v", g)
			}
		}
	}
	if st, err := in.Stream(ctx, "insp_missing"); err != nil || st.Exists {
		t.Errorf("missing stream: %+v, %v", st, err)
	}
	if st, err := in.Stream(ctx, "insp_string"); err != nil || !st.Exists || st.Type != "string" {
		t.Errorf("string key: %+v, %v", st, err)
	}

	sample, err := in.Sample(ctx, s, 5)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range sample {
		ids = append(ids, e.ID)
	}
	if !slices.Equal(ids, []string{"1-1", "1-2", "1-3", "1-2499", "1-2500"}) {
		t.Errorf("sample ids %v", ids)
	}
	if !slices.Equal(sample[0].Fields, []string{"userId", "u0", "app", "a", "app", "b"}) {
		t.Errorf("sample fields %v: want order and duplicates kept", sample[0].Fields)
	}
	all, err := in.Range(ctx, s, "1-2", "+", 2400)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2400 || all[0].ID != "1-2" || all[2399].ID != "1-2401" {
		t.Errorf("range: %d entries, %s..%s", len(all), all[0].ID, all[len(all)-1].ID)
	}
	del, err := in.Deliveries(ctx, s, "readers", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(del) != 3 || del["1-1"] != 2 || del["1-2"] != 1 {
		t.Errorf("deliveries %v: want 1-1 twice, 1-2 and 1-3 once", del)
	}
	if del, err := in.Deliveries(ctx, s, "insp_no_group", 100); err != nil || len(del) != 0 {
		t.Errorf("deliveries of a missing group: %v, %v", del, err)
	}

	keys, truncated, err := in.Keys(ctx, "lb:*", 100)
	if err != nil || truncated || len(keys) != 30 || keys[0].Key != "lb:Dev:2026-11-01" || keys[0].Type != "zset" {
		t.Errorf("keys: %v truncated %v err %v", keys, truncated, err)
	}
	if keys, truncated, err := in.Keys(ctx, "lb:*", 10); err != nil || !truncated || len(keys) != 10 {
		t.Errorf("keys with a limit of 10: %d, truncated %v, %v", len(keys), truncated, err)
	}
	board, err := in.Board(ctx, "lb:Dev:2026-11-05")
	if err != nil || len(board) != 1 || board["u1"] != 4 {
		t.Errorf("board %v, %v", board, err)
	}
	if board, err := in.Board(ctx, "lb:none"); err != nil || len(board) != 0 {
		t.Errorf("missing board %v, %v", board, err)
	}

	after := redistest.CommandCalls(t, rdb)
	read := []string{"type", "xinfo|stream", "xinfo|groups", "xinfo|consumers", "xpending", "xrange", "xrevrange", "scan", "zrange", "info", "ping", "hello", "client|setinfo"}
	for cmd, n := range after {
		if n > before[cmd] && !slices.Contains(read, cmd) {
			t.Errorf("the inspector sent %s (%d times)", cmd, n-before[cmd])
		}
	}
	if gs := rdb.XInfoGroups(ctx, s).Val(); len(gs) != 2 {
		t.Errorf("groups changed: %v", gs)
	}
}

func TestInspectorListsKeysOnEveryClusterMaster(t *testing.T) {
	rdb := redistest.StartCluster(t, 3, 0).Client(t)
	ctx := context.Background()
	for i := range 40 {
		if err := rdb.ZAdd(ctx, fmt.Sprintf("lb:Dev:u%d", i), goredis.Z{Member: "u", Score: 1}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	keys, truncated, err := redis.NewInspector(rdb).Keys(ctx, "lb:*", 1000)
	if err != nil || truncated || len(keys) != 40 {
		t.Fatalf("%d keys, truncated %v, %v; want all 40", len(keys), truncated, err)
	}
	for _, k := range keys {
		if k.Type != "zset" {
			t.Errorf("%s: type %q", k.Key, k.Type)
		}
	}
}
