package redis_test

import (
	"context"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/redis"
)

func TestLeaderboardRanksShareTies(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	key := "leaderboard:Development:2026-11-24"
	rdb.ZAdd(ctx, key, goredis.Z{Score: 100, Member: "a"}, goredis.Z{Score: 90, Member: "b"}, goredis.Z{Score: 90, Member: "c"},
		goredis.Z{Score: 80, Member: "d"}, goredis.Z{Score: 80, Member: "e"}, goredis.Z{Score: 10, Member: "f"})
	l := redis.NewLeaderboards(rdb)
	top, err := l.Top(ctx, key, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	wantRanks := []int64{1, 2, 2, 4, 4, 6}
	for i, r := range top {
		if r.Rank != wantRanks[i] {
			t.Errorf("top[%d] = %+v, want rank %d", i, r, wantRanks[i])
		}
	}
	page, _ := l.Top(ctx, key, 2, 3) // starts inside a tie
	if len(page) != 3 || page[0].Rank != 2 || page[1].Rank != 4 || page[2].Rank != 4 {
		t.Errorf("page = %+v", page)
	}
	r, found, err := l.Rank(ctx, key, "e")
	if err != nil || !found || r.Rank != 4 || r.Score != 80 {
		t.Errorf("rank e = %+v %v %v", r, found, err)
	}
	if _, found, _ := l.Rank(ctx, key, "nobody"); found {
		t.Error("found a member that is not there")
	}
	// Redis orders equal scores by member, reversed: a, c, b, e, d, f.
	around, _ := l.Around(ctx, key, "b", 1)
	if len(around) != 3 || around[0].UserID != "c" || around[0].Rank != 2 || around[1].UserID != "b" || around[1].Rank != 2 || around[2].Rank != 4 {
		t.Errorf("around b = %+v", around)
	}
	if none, _ := l.Around(ctx, key, "nobody", 2); len(none) != 0 {
		t.Errorf("around a missing member = %+v", none)
	}
	if empty, err := l.Top(ctx, "leaderboard:none:x", 0, 5); err != nil || len(empty) != 0 {
		t.Errorf("empty board = %+v %v", empty, err)
	}
}
