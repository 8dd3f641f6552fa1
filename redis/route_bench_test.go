package redis_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/redis"
	"github.com/pomocore/pomocore/route"
)

// BenchmarkRoute measures the router alone on one redis-server: batches
// of 2,000 CONTRACT-shaped entries (12 fields, 10,000 users) read from
// the source's group, written to N partition streams and acknowledged.
// Adding the entries (the main server's XADD) is not timed. ns/op is per
// batch; see events/s and redis-cpu-us/event (INFO cpu around each batch).
func BenchmarkRoute(b *testing.B) {
	for _, n := range []int{2, 4} {
		b.Run(fmt.Sprintf("partitions=%d", n), func(b *testing.B) {
			rdb := redistest.Start(b).Client(b)
			ctx := context.Background()
			const batch = 2000
			src := redis.NewRouteSource(rdb, routeSrc, routeGroup, "0", 0)
			w := &cpuWriter{w: redis.NewPartitionWriter(rdb, routeSrc, n), cpu: func() float64 { return redisCPU(b, rdb) }}
			r, err := route.New(route.Config{Partitions: n, Batch: batch}, src, w, redis.NewRouteLease(rdb, routeSrc, 0))
			if err != nil {
				b.Fatal(err)
			}
			tok, err := redis.NewRouteLease(rdb, routeSrc, 0).Acquire(ctx, time.Hour)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := src.Deliver(ctx, 1, -1); err != nil { // creates the group
				b.Fatal(err)
			}
			b.ResetTimer()
			b.StopTimer()
			redisSecs := 0.0
			for i := 0; i < b.N; i++ {
				p := rdb.Pipeline()
				for j := range batch {
					k := i*batch + j
					p.Do(ctx, "XADD", routeSrc, "*", "userId", fmt.Sprintf("%024x", k%10000), "categorizedDataId", fmt.Sprintf("%024x", k),
						"pomodoroUsageLogId", fmt.Sprintf("%024x", k+1), "url", "https://github.com/pomocore", "title", "pull request",
						"app", "Google Chrome", "session", "3", "sessionDate", "2026-12-06", "sessionMinutes", "25", "duration", "12.0",
						"timestamp", "1.7650080005E9", "isEnd", "false")
				}
				if _, err := p.Exec(ctx); err != nil {
					b.Fatal(err)
				}
				cpu0 := redisCPU(b, rdb)
				b.StartTimer()
				if _, err := src.Deliver(ctx, batch, -1); err != nil {
					b.Fatal(err)
				}
				k, err := r.Step(ctx, tok)
				b.StopTimer()
				redisSecs += redisCPU(b, rdb) - cpu0
				if err != nil || k != batch {
					b.Fatalf("step: %d, %v", k, err)
				}
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(redisSecs*1e6/float64(batch*b.N), "redis-cpu-us/event")
			b.ReportMetric(w.secs*1e6/float64(batch*b.N), "partition-write-us/event")
		})
	}
}

// cpuWriter sums the Redis CPU of the partition writes (route.lua): the
// part of routing that lands on the partition streams' masters; the rest
// (read, XPENDING, XACK) is the source's master's.
type cpuWriter struct {
	w    route.Writer
	cpu  func() float64
	secs float64
}

func (c *cpuWriter) Write(ctx context.Context, token int64, parts [][]route.Entry) ([]int, error) {
	c0 := c.cpu()
	n, err := c.w.Write(ctx, token, parts)
	c.secs += c.cpu() - c0
	return n, err
}

// BenchmarkXAddContractEntry is the reference for BenchmarkRoute: the
// Redis CPU of the main server's own XADD of one CONTRACT-shaped entry,
// pipelined 2,000 at a time.
func BenchmarkXAddContractEntry(b *testing.B) {
	rdb := redistest.Start(b).Client(b)
	ctx := context.Background()
	const batch = 2000
	redisSecs := 0.0
	for i := 0; i < b.N; i++ {
		p := rdb.Pipeline()
		for j := range batch {
			k := i*batch + j
			p.Do(ctx, "XADD", routeSrc, "*", "userId", fmt.Sprintf("%024x", k%10000), "categorizedDataId", fmt.Sprintf("%024x", k),
				"pomodoroUsageLogId", fmt.Sprintf("%024x", k+1), "url", "https://github.com/pomocore", "title", "pull request",
				"app", "Google Chrome", "session", "3", "sessionDate", "2026-12-06", "sessionMinutes", "25", "duration", "12.0",
				"timestamp", "1.7650080005E9", "isEnd", "false")
		}
		cpu0 := redisCPU(b, rdb)
		if _, err := p.Exec(ctx); err != nil {
			b.Fatal(err)
		}
		redisSecs += redisCPU(b, rdb) - cpu0
	}
	b.ReportMetric(redisSecs*1e6/float64(batch*b.N), "redis-cpu-us/event")
}
