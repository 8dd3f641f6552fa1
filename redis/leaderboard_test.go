package redis_test

import (
	"context"
	"maps"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/rebuild"
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

// Leaderboards is the rebuild's board store: Scores reads a board whole
// (none when missing), Replace swaps boards in and deletes those left
// without members, leaving no temporary key.
func TestLeaderboardsScoresAndReplace(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	var _ rebuild.BoardStore = (*redis.Leaderboards)(nil)
	l := redis.NewLeaderboards(rdb)
	a, b := "leaderboard:Development:2026-11-24", "leaderboard:Game:2026-11-24"
	rdb.ZAdd(ctx, a, goredis.Z{Score: 100.5, Member: "ann"}, goredis.Z{Score: 1, Member: "mallory"})
	rdb.ZAdd(ctx, b, goredis.Z{Score: 7, Member: "bob"})
	if got, err := l.Scores(ctx, a); err != nil || !maps.Equal(got, map[string]float64{"ann": 100.5, "mallory": 1}) {
		t.Errorf("Scores(%s) = %v, %v", a, got, err)
	}
	if got, err := l.Scores(ctx, "leaderboard:none"); err != nil || len(got) != 0 {
		t.Errorf("Scores of a missing key = %v, %v", got, err)
	}
	if err := l.Replace(ctx, []string{a, b}, map[string]map[string]float64{a: {"ann": 99}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.Scores(ctx, a); !maps.Equal(got, map[string]float64{"ann": 99}) {
		t.Errorf("after Replace: %v", got)
	}
	if rdb.Exists(ctx, b).Val() != 0 {
		t.Error("a board left without members is still there")
	}
	if keys := rdb.Keys(ctx, "*rebuild-tmp*").Val(); len(keys) != 0 {
		t.Errorf("temporary keys left: %v", keys)
	}
}
