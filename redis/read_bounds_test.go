package redis_test

import (
	"context"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/redis"
)

// loseReplies is a TCP proxy to target that swallows the next n replies
// (reads from the server) of its connections while passing commands on:
// the server executes a command whose reply never arrives, as when a reply
// is slower than the client's read timeout.
func loseReplies(t *testing.T, target string) (addr string, lose *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	lose = new(atomic.Int32)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go func() { _, _ = io.Copy(s, c); s.Close(); c.Close() }()
			go func() {
				buf := make([]byte, 64<<10)
				for {
					n, err := s.Read(buf)
					if n > 0 {
						if lose.Load() > 0 {
							lose.Add(-1)
						} else if _, werr := c.Write(buf[:n]); werr != nil {
							err = werr
						}
					}
					if err != nil {
						c.Close()
						s.Close()
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String(), lose
}

// Issue 19 item 7: a reply slower than the read timeout made the client
// re-send XREADGROUP by itself; the first delivery was stranded, pending
// and never handed out, until the claim idle.
func TestReadIsNeverResentAndALostReplyIsNotStranded(t *testing.T) {
	srv := redistest.Start(t)
	direct := srv.Client(t)
	ctx := context.Background()
	addr, lose := loseReplies(t, srv.Addr())
	rdb, err := redis.NewClient(redis.Config{Addrs: []string{addr}, ReadTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	r := newReader(t, rdb, "c1")
	id := xadd(t, direct, "userId", "u")

	lose.Store(1)
	first, err := r.Read(ctx, 10, -1)
	if err == nil && len(first) > 0 {
		t.Fatalf("the lost reply arrived: %+v", first)
	}
	// Whatever the first read said, the entry it delivered is handed out
	// next, once, as a first delivery.
	msgs, err := r.Read(ctx, 10, -1)
	if err != nil || len(msgs) != 1 || msgs[0].ID != id || msgs[0].Deliveries != 1 {
		t.Fatalf("read after the lost reply = %+v, %v; want %s handed out (not stranded in the PEL)", msgs, err, id)
	}
	if info, _ := direct.Info(ctx, "commandstats").Result(); !strings.Contains(info, "cmdstat_xreadgroup:calls=2,") {
		t.Errorf("XREADGROUP sent other than once per read: %s", grepLine(info, "xreadgroup"))
	}
	if msgs, err := r.Read(ctx, 10, -1); err != nil || len(msgs) != 0 {
		t.Errorf("third read = %+v, %v; want nothing", msgs, err)
	}
	// A BLOCK the client's read timeout would cut is refused, not sent.
	if _, err := r.Read(ctx, 10, 10*time.Second); err == nil || !strings.Contains(err.Error(), "read timeout") {
		t.Errorf("read blocking as long as the read timeout = %v, want refused", err)
	}
}

func grepLine(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// Issue 19 item 7: 1,000 entries of 1 MB made one 1 GB batch (884 MB RSS).
// Scaled down 16 times for a shared machine: 1,000 entries of 64 KiB under a
// 1 MiB budget (the default budget is 16 MiB).
func TestLargeEntriesDoNotMakeOneHugeBatch(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	const budget = 1 << 20
	r, err := redis.NewReader(rdb, redis.ReaderConfig{Stream: stream, Group: group, Consumer: "c1", MaxBatchBytes: budget})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 64<<10)
	// 62.5 MiB in all, sent 4 MiB a round trip: one pipeline of it all
	// outlasts the client's 3 s read timeout on a loaded machine.
	for sent := 0; sent < 1000; sent += 64 {
		p := rdb.Pipeline()
		for range min(64, 1000-sent) {
			p.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []string{"title", big}})
		}
		if _, err := p.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := rdb.XLen(ctx, stream).Val(); n != 1000 {
		t.Fatalf("stream holds %d entries, want 1000", n)
	}
	seen := map[string]bool{}
	reads, largest := 0, 0
	for len(seen) < 1000 && reads < 1000 {
		reads++
		msgs, err := r.Read(ctx, 1000, -1)
		if err != nil {
			t.Fatal(err)
		}
		size := 0
		for _, m := range msgs {
			if seen[m.ID] {
				t.Fatalf("%s handed out twice", m.ID)
			}
			seen[m.ID] = true
			if m.Deliveries != 1 {
				t.Errorf("%s handed out with %d deliveries, want 1", m.ID, m.Deliveries)
			}
			for _, f := range m.Fields {
				size += len(f)
			}
		}
		largest = max(largest, size)
	}
	if len(seen) != 1000 {
		t.Fatalf("handed out %d of 1000 in %d reads", len(seen), reads)
	}
	if largest > budget {
		t.Errorf("largest batch %d bytes, over the %d budget", largest, budget)
	}
	t.Logf("1000 entries of 64 KiB: %d reads, largest batch %d bytes", reads, largest)
}
