package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pomocore/pomocore"
	goredis "github.com/redis/go-redis/v9"
)

// PageFigures reads and keeps the live page's figures in Redis, where
// every replica of the service finds the same ones: the group's progress,
// the dead letters, the sum of each leaderboard, and a bounded timeline of
// samples. Safe for concurrent use.
type PageFigures struct {
	rdb                    goredis.UniversalClient
	stream, group, dead    string
	timeline               string
	timelineTTL, bucketLen time.Duration
}

// NewPageFigures returns the figures of stream's consumer group and of its
// dead-letter stream. The timeline is kept in "{<stream>}:page:timeline",
// one sample per 10 s bucket.
func NewPageFigures(rdb goredis.UniversalClient, stream, group, deadStream string) *PageFigures {
	return &PageFigures{rdb: rdb, stream: stream, group: group, dead: deadStream,
		timeline: sameSlot(stream, "page:timeline"), timelineTTL: 2 * time.Hour, bucketLen: 10 * time.Second}
}

// Counts returns how many entries the group has processed (delivered and
// acknowledged; entries-read minus pending, or, where the server does not
// count entries read as the embedded miniredis, the stream's length minus
// lag and pending) and how many dead letters the dead-letter stream holds.
func (p *PageFigures) Counts(ctx context.Context, lag, pending int64) (processed, dead int64, err error) {
	g, _, err := groupAndPending(ctx, p.rdb, p.stream, p.group)
	if err != nil {
		return 0, 0, fmt.Errorf("page figures: %w", err)
	}
	delivered := g.EntriesRead
	if delivered == 0 && g.LastDeliveredID != "0-0" && lag >= 0 {
		n, err := p.rdb.XLen(ctx, p.stream).Result()
		if err != nil {
			return 0, 0, fmt.Errorf("page figures: length of %s: %w", p.stream, err)
		}
		delivered = n - lag
	}
	dead, err = p.rdb.XLen(ctx, p.dead).Result()
	if err != nil {
		return 0, 0, fmt.Errorf("page figures: length of %s: %w", p.dead, err)
	}
	return max(delivered-pending, 0), dead, nil
}

// timelineScript records a sample unless its bucket has one, drops the
// samples older than the window and returns the others, oldest first.
// KEYS[1] the timeline; ARGV: bucket (unix seconds), member, the oldest
// bucket kept, ttl seconds.
var timelineScript = goredis.NewScript(`
if redis.call('ZCOUNT', KEYS[1], ARGV[1], ARGV[1]) == 0 then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[3], '+inf')
`)

// Timeline records s as its 10 s bucket's sample unless a replica already
// did, and returns the samples from since on, oldest first. The samples
// before since are deleted: the timeline holds at most one sample per
// bucket of the window.
func (p *PageFigures) Timeline(ctx context.Context, s pomocore.PageSample, since time.Time) ([]pomocore.PageSample, error) {
	b := int64(p.bucketLen / time.Second)
	bucket := s.At.Unix() / b * b
	member := fmt.Sprintf("%d:%d:%d", bucket, s.Processed, s.Lag)
	res, err := timelineScript.Run(ctx, p.rdb, []string{p.timeline}, bucket, member, since.Unix(),
		int64(p.timelineTTL/time.Second)).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("page timeline: %w", err)
	}
	out := make([]pomocore.PageSample, 0, len(res))
	for _, m := range res {
		f := strings.Split(m, ":")
		if len(f) != 3 {
			continue
		}
		at, err1 := strconv.ParseInt(f[0], 10, 64)
		n, err2 := strconv.ParseInt(f[1], 10, 64)
		lag, err3 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		out = append(out, pomocore.PageSample{At: time.Unix(at, 0), Processed: n, Lag: lag})
	}
	return out, nil
}

// sumChunk is how many members Sums reads per command: each read is short,
// so that summing a large board never blocks Redis for long.
const sumChunk = 2000

// SumTTL is how long a leaderboard's sum is kept ("{<board>}:pagesum") for
// every replica to read before one sums the board again.
const SumTTL = 30 * time.Second

// Sums returns the sum of each leaderboard's scores (0 for a missing key).
// A sum is read from its cache, kept SumTTL for every replica; otherwise
// the board is read sumChunk members at a time (a Lua script summing it
// would block Redis: 190 ms for 100,000 members) and the sum cached.
func (p *PageFigures) Sums(ctx context.Context, keys []string) ([]float64, error) {
	pipe := p.rdb.Pipeline()
	cached := make([]*goredis.StringCmd, len(keys))
	for i, k := range keys {
		cached[i] = pipe.Get(ctx, sameSlot(k, "pagesum"))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("leaderboard sums: %w", err)
	}
	out := make([]float64, len(keys))
	for i, k := range keys {
		if v, err := cached[i].Float64(); err == nil {
			out[i] = v
			continue
		}
		var sum float64
		for start := int64(0); ; start += sumChunk {
			zs, err := p.rdb.ZRangeWithScores(ctx, k, start, start+sumChunk-1).Result()
			if err != nil {
				return nil, fmt.Errorf("leaderboard sum of %s: %w", k, err)
			}
			for _, z := range zs {
				sum += z.Score
			}
			if len(zs) < sumChunk {
				break
			}
		}
		if err := p.rdb.Set(ctx, sameSlot(k, "pagesum"), strconv.FormatFloat(sum, 'g', -1, 64), SumTTL).Err(); err != nil {
			return nil, fmt.Errorf("leaderboard sum of %s: %w", k, err)
		}
		out[i] = sum
	}
	return out, nil
}
