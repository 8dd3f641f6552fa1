package redis_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/redis"
)

// BenchmarkCommit commits batches of 2,000 entries to a real redis-server,
// shaped like the pipeline's: each entry increments its category's daily,
// weekly and monthly boards (8 categories, 1,000 users), 5% end a session.
// Delivering the entries is not timed. ns/op is per batch; see events/s.
func BenchmarkCommit(b *testing.B) {
	srv := redistest.Start(b)
	rdb := srv.Client(b)
	benchmarkCommit(b, rdb, 0)
}

// BenchmarkCommitDedup is BenchmarkCommit with every entry naming its
// activity (a pomodoroUsageLogId, as the main server's entries do) and
// deduplication on (2 h window): the cost of remembering them.
func BenchmarkCommitDedup(b *testing.B) {
	srv := redistest.Start(b)
	rdb := srv.Client(b)
	benchmarkCommit(b, rdb, 2*time.Hour)
}

func benchmarkCommit(b *testing.B, rdb goredis.UniversalClient, window time.Duration) {
	ctx := context.Background()
	const n = 2000
	c, err := redis.NewCommitter(rdb, redis.CommitterConfig{Stream: stream, Group: group, DeadStream: dead, SessionStream: session,
		DedupWindow: window})
	if err != nil {
		b.Fatal(err)
	}
	if err := rdb.XGroupCreateMkStream(ctx, stream, group, "$").Err(); err != nil {
		b.Fatal(err)
	}
	cats := []string{"Development", "Design", "SNS", "Game", "Video", "Music", "Shopping", "News"}
	b.ResetTimer()
	b.StopTimer()
	redisSecs := 0.0
	for i := 0; i < b.N; i++ {
		p := rdb.Pipeline()
		for j := 0; j < n; j++ {
			p.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []string{"n", "1"}})
		}
		cmds, err := p.Exec(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: group, Consumer: "c", Streams: []string{stream, ">"}, Count: n, Block: -1}).Err(); err != nil {
			b.Fatal(err)
		}
		entries := make([]pipeline.CommitEntry, n)
		for j, cmd := range cmds {
			cat := cats[(i*n+j)%len(cats)]
			user := "u" + strconv.Itoa((i*n+j*7)%1000)
			entries[j] = pipeline.CommitEntry{ID: cmd.(*goredis.StringCmd).Val(), Increment: &pipeline.Increment{
				Keys:   []string{"leaderboard:" + cat + ":2026-11-24", "leaderboard:" + cat + ":2026-W48", "leaderboard:" + cat + ":2026-M11"},
				Member: user, Delta: float64(j%300) + 1}}
			if window > 0 {
				entries[j].DedupKey = fmt.Sprintf("%024x", i*n+j)
			}
			if j%20 == 0 {
				entries[j].SessionEnd = &pipeline.SessionEnd{UserID: user, SessionDate: "2026-11-24", Session: j}
			}
		}
		cpu0 := redisCPU(b, rdb)
		b.StartTimer()
		res, err := c.Commit(ctx, entries)
		b.StopTimer()
		redisSecs += redisCPU(b, rdb) - cpu0
		if err != nil || res.Applied != n {
			b.Fatalf("commit = %+v, %v", res, err)
		}
		if err := rdb.XTrimMaxLen(ctx, stream, 0).Err(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(redisSecs*1e6/float64(n*b.N), "redis-cpu-us/event")
}

// redisCPU returns the CPU seconds (user and system) the Redis server has
// used: its own work, which the load of other processes on the machine
// changes far less than the time a commit takes.
func redisCPU(b *testing.B, rdb goredis.UniversalClient) float64 {
	b.Helper()
	info, err := rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	total := 0.0
	for _, line := range strings.Split(info, "\n") {
		for _, f := range []string{"used_cpu_user:", "used_cpu_sys:"} {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), f); ok {
				x, err := strconv.ParseFloat(v, 64)
				if err != nil {
					b.Fatal(err)
				}
				total += x
			}
		}
	}
	return total
}
