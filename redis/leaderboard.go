package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
)

// Leaderboards reads leaderboard sorted sets, and swaps in rebuilt ones
// (Replace; it never increments). Safe for concurrent use.
type Leaderboards struct {
	rdb goredis.UniversalClient
}

// NewLeaderboards returns a reader over rdb.
func NewLeaderboards(rdb goredis.UniversalClient) *Leaderboards { return &Leaderboards{rdb: rdb} }

// Top returns count members from position offset (0-based), highest first.
func (l *Leaderboards) Top(ctx context.Context, key string, offset, count int) ([]pomocore.Ranked, error) {
	zs, err := l.rdb.ZRevRangeWithScores(ctx, key, int64(offset), int64(offset+count-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("leaderboard %s: %w", key, err)
	}
	return l.rank(ctx, key, int64(offset), zs)
}

// Rank returns a member's rank and score; found is false when it is not on
// the board.
func (l *Leaderboards) Rank(ctx context.Context, key, member string) (r pomocore.Ranked, found bool, err error) {
	score, err := l.rdb.ZScore(ctx, key, member).Result()
	if errors.Is(err, goredis.Nil) {
		return pomocore.Ranked{}, false, nil
	}
	if err != nil {
		return pomocore.Ranked{}, false, fmt.Errorf("leaderboard %s: %w", key, err)
	}
	above, err := l.rdb.ZCount(ctx, key, "("+strconv.FormatFloat(score, 'g', -1, 64), "+inf").Result()
	if err != nil {
		return pomocore.Ranked{}, false, fmt.Errorf("leaderboard %s: %w", key, err)
	}
	return pomocore.Ranked{Rank: above + 1, UserID: member, Score: score}, true, nil
}

// Around returns up to n members above and n below member (member
// included); none when it is not on the board.
func (l *Leaderboards) Around(ctx context.Context, key, member string, n int) ([]pomocore.Ranked, error) {
	pos, err := l.rdb.ZRevRank(ctx, key, member).Result()
	if errors.Is(err, goredis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("leaderboard %s: %w", key, err)
	}
	start := max(pos-int64(n), 0)
	zs, err := l.rdb.ZRevRangeWithScores(ctx, key, start, pos+int64(n)).Result()
	if err != nil {
		return nil, fmt.Errorf("leaderboard %s: %w", key, err)
	}
	return l.rank(ctx, key, start, zs)
}

// rank gives a contiguous, descending run of members that starts at global
// position start their shared ranks: the first by counting the higher
// scores; a later member whose score differs from the one before it has
// exactly the members before it above it.
func (l *Leaderboards) rank(ctx context.Context, key string, start int64, zs []goredis.Z) ([]pomocore.Ranked, error) {
	out := make([]pomocore.Ranked, len(zs))
	if len(zs) == 0 {
		return out, nil
	}
	above, err := l.rdb.ZCount(ctx, key, "("+strconv.FormatFloat(zs[0].Score, 'g', -1, 64), "+inf").Result()
	if err != nil {
		return nil, fmt.Errorf("leaderboard %s: %w", key, err)
	}
	rank := above + 1
	for i, z := range zs {
		if i > 0 && z.Score != zs[i-1].Score {
			rank = start + int64(i) + 1
		}
		out[i] = pomocore.Ranked{Rank: rank, UserID: fmt.Sprint(z.Member), Score: z.Score}
	}
	return out, nil
}

// GroupState returns the consumer group's lag, pending count and the age
// of its oldest pending entry (httpapi.GroupInspector).
func (r *Reader) GroupState(ctx context.Context) (pomocore.GroupState, error) {
	g, p, err := groupAndPending(ctx, r.rdb, r.cfg.Stream, r.cfg.Group)
	if err != nil {
		return pomocore.GroupState{}, fmt.Errorf("group state: %w", err)
	}
	st := pomocore.GroupState{Lag: g.Lag, Pending: p.Count}
	if p.Count > 0 {
		if ms, _, err := pomocore.ParseEntryID(p.Lower); err == nil {
			st.OldestPending = time.Since(time.UnixMilli(int64(ms)))
		}
	}
	if st.Lag < 0 || (g.EntriesRead == 0 && g.LastDeliveredID != "0-0") {
		// The server cannot tell (or, as the embedded miniredis does,
		// reports the stream's length): count what lies past the group's
		// last delivered id.
		if st.Lag, err = countAfter(ctx, r.rdb, r.cfg.Stream, g.LastDeliveredID, lagCountMax); err != nil {
			return pomocore.GroupState{}, fmt.Errorf("group state: %w", err)
		}
	}
	return st, nil
}

// lagCountMax is the most entries countAfter reads to count a lag the
// server does not report; past it the lag is unknown (-1).
const lagCountMax = 100_000

// countAfter counts the entries of stream after id, up to limit (-1 beyond).
func countAfter(ctx context.Context, rdb goredis.UniversalClient, stream, id string, limit int64) (int64, error) {
	var n int64
	for n <= limit {
		xs, err := rdb.XRangeN(ctx, stream, "("+id, "+", 1000).Result()
		if err != nil {
			return 0, fmt.Errorf("entries of %s after %s: %w", stream, id, err)
		}
		n += int64(len(xs))
		if len(xs) < 1000 {
			return n, nil
		}
		id = xs[len(xs)-1].ID
	}
	return -1, nil
}

// groupAndPending reads group's entry in XINFO GROUPS, then its XPENDING
// summary, in that order: an entry delivered in between is above the last
// delivered id read first; one acknowledged in between only shrinks the
// pending list read second. A missing group is errNoGroup.
func groupAndPending(ctx context.Context, rdb goredis.UniversalClient, stream, group string) (goredis.XInfoGroup, *goredis.XPending, error) {
	gs, err := rdb.XInfoGroups(ctx, stream).Result()
	if err != nil {
		return goredis.XInfoGroup{}, nil, fmt.Errorf("groups of %s: %w", stream, err)
	}
	i := slices.IndexFunc(gs, func(g goredis.XInfoGroup) bool { return g.Name == group })
	if i < 0 {
		return goredis.XInfoGroup{}, nil, fmt.Errorf("group %s of %s: %w", group, stream, errNoGroup)
	}
	p, err := rdb.XPending(ctx, stream, group).Result()
	if err != nil {
		return goredis.XInfoGroup{}, nil, fmt.Errorf("pending of %s/%s: %w", stream, group, err)
	}
	return gs[i], p, nil
}

// Scores returns every member of the board key with its score (none when
// the key does not exist): the live board a rebuild compares with.
func (l *Leaderboards) Scores(ctx context.Context, key string) (map[string]float64, error) {
	out, err := boardScores(ctx, l.rdb, key)
	if err != nil {
		return nil, fmt.Errorf("leaderboard %s: %w", key, err)
	}
	return out, nil
}

// boardScores reads the sorted set key whole (ZRANGE 0 -1 WITHSCORES):
// member to score, empty when the key is missing.
func boardScores(ctx context.Context, rdb goredis.UniversalClient, key string) (map[string]float64, error) {
	zs, err := rdb.ZRangeWithScores(ctx, key, 0, -1).Result()
	if err != nil {
		return nil, err
	}
	out := make(map[string]float64, len(zs))
	for _, z := range zs {
		out[fmt.Sprint(z.Member)] = z.Score
	}
	return out, nil
}

// Replace swaps in new contents for keys, atomically: each board is written
// to a temporary key first, then one MULTI/EXEC renames every temporary key
// over its board (a board without members is deleted). Members' scores are
// seconds. On a cluster the swap is atomic per slot, not across slots.
func (l *Leaderboards) Replace(ctx context.Context, keys []string, boards map[string]map[string]float64) error {
	const tmpSuffix = "rebuild-tmp" // "{<key>}:rebuild-tmp": in key's slot, so RENAME works on a cluster
	for _, key := range keys {
		members := boards[key]
		if len(members) == 0 {
			continue
		}
		tmp := sameSlot(key, tmpSuffix)
		if err := l.rdb.Del(ctx, tmp).Err(); err != nil {
			return fmt.Errorf("rebuild %s: %w", key, err)
		}
		zs := make([]goredis.Z, 0, 500)
		flush := func() error {
			if len(zs) == 0 {
				return nil
			}
			err := l.rdb.ZAdd(ctx, tmp, zs...).Err()
			zs = zs[:0]
			return err
		}
		for m, s := range members {
			zs = append(zs, goredis.Z{Score: s, Member: m})
			if len(zs) == cap(zs) {
				if err := flush(); err != nil {
					return fmt.Errorf("rebuild %s: %w", key, err)
				}
			}
		}
		if err := flush(); err != nil {
			return fmt.Errorf("rebuild %s: %w", key, err)
		}
	}
	_, err := l.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		for _, key := range keys {
			if len(boards[key]) == 0 {
				p.Del(ctx, key)
			} else {
				p.Rename(ctx, sameSlot(key, tmpSuffix), key)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rebuild: swap: %w", err)
	}
	return nil
}
