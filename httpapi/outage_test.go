package httpapi_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"net/http/httptest"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/httpapi"
	"github.com/pomocore/pomocore/internal/redistest"
)

// redisGroup reads a group's state from a real Redis, as the wiring's
// adapter does (XINFO GROUPS, then XPENDING).
type redisGroup struct {
	rdb   *goredis.Client
	calls atomic.Int64
}

func (g *redisGroup) GroupState(ctx context.Context) (pomocore.GroupState, error) {
	g.calls.Add(1)
	gs, err := g.rdb.XInfoGroups(ctx, "in").Result()
	if err != nil {
		return pomocore.GroupState{}, err
	}
	p, err := g.rdb.XPending(ctx, "in", "g").Result()
	if err != nil {
		return pomocore.GroupState{}, err
	}
	return pomocore.GroupState{Lag: gs[0].Lag, Pending: p.Count}, nil
}

// timedGet is get, also returning how long the answer took.
func timedGet(t *testing.T, url string) (int, string, time.Duration) {
	t.Helper()
	start := time.Now()
	code, body := get(t, url)
	return code, body, time.Since(start)
}

// Issue 19 item 10: with Redis down, /metrics answered 500 after 10 s (the
// whole scrape lost) and /readyz blamed the store.
func TestRedisDownMetricsAnswerWithinASecondAndReadyzNamesRedis(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	// The client as the service configures it: 10 s read timeout, retries.
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), ReadTimeout: 10 * time.Second, DialTimeout: 5 * time.Second, MaxRetries: 2})
	t.Cleanup(func() { _ = rdb.Close() })
	rdb.XGroupCreateMkStream(ctx, "in", "g", "0")
	for range 3 {
		rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "in", Values: []string{"k", "v"}})
	}
	rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{"in", ">"}, Count: 2})

	group := &redisGroup{rdb: rdb}
	reg := prometheus.NewRegistry()
	httpapi.NewMetrics(reg)
	reg.MustRegister(httpapi.NewGroupCollector(group))
	s := httpapi.New(httpapi.Config{Taxonomy: pomocore.DefaultTaxonomy(), Timeout: 500 * time.Millisecond}, httpapi.Deps{
		Gatherer: reg, Group: group,
		Ready: map[string]httpapi.Pinger{"store": func(context.Context) error { return nil }},
	})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)

	code, body, _ := timedGet(t, ts.URL+"/metrics")
	if code != 200 || !strings.Contains(body, "pomocore_group_pending 2") || !strings.Contains(body, "pomocore_group_stale 0") {
		t.Fatalf("metrics with Redis up: %d %s", code, grepLines(body, "pomocore_group"))
	}

	for _, outage := range []struct {
		name        string
		start, stop func()
	}{{"hung", srv.Pause, srv.Resume}, {"stopped", srv.Stop, func() {}}} {
		t.Run(outage.name, func(t *testing.T) {
			outage.start()
			defer outage.stop()
			for i := range 3 { // a read left running by one scrape must not slow the next
				code, body, took := timedGet(t, ts.URL+"/metrics")
				if code != 200 || took > time.Second {
					t.Errorf("scrape %d: %d after %v, want 200 within 1s", i, code, took)
				}
				if !strings.Contains(body, "pomocore_group_stale 1") || !strings.Contains(body, "pomocore_group_pending 2") ||
					!strings.Contains(body, "pomocore_events_read_total") {
					t.Errorf("scrape %d: want the last group values marked stale and the other metrics: %s", i, grepLines(body, "pomocore_group"))
				}
			}
			code, body, took := timedGet(t, ts.URL+"/readyz")
			var ready struct {
				Failed []string
				Store  string
			}
			_ = json.Unmarshal([]byte(body), &ready)
			if code != 503 || !slices.Equal(ready.Failed, []string{"redis"}) || ready.Store != "ok" || took > time.Second {
				t.Errorf("readyz = %d %s after %v; want 503 naming redis (not the store)", code, body, took)
			}
		})
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Issue 19 item 10: each /api/v1/stats call cost an XINFO and an XPENDING;
// an answer is now served again for a second.
func TestStatsAreCachedForASecond(t *testing.T) {
	var calls atomic.Int64
	group := groupFunc(func(context.Context) (pomocore.GroupState, error) {
		calls.Add(1)
		return pomocore.GroupState{Lag: calls.Load()}, nil
	})
	reg := prometheus.NewRegistry()
	httpapi.NewMetrics(reg)
	reg.MustRegister(httpapi.NewGroupCollector(group))
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	s := httpapi.New(httpapi.Config{Taxonomy: pomocore.DefaultTaxonomy()}, httpapi.Deps{Gatherer: reg,
		Now: func() time.Time { return now.Add(time.Duration(clock.Load())) }})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	for range 5 {
		if code, body := get(t, ts.URL+"/api/v1/stats"); code != 200 || !strings.Contains(body, `"lag":1`) {
			t.Fatalf("stats %d %s", code, body)
		}
	}
	clock.Store(int64(999 * time.Millisecond))
	get(t, ts.URL+"/api/v1/stats")
	if n := calls.Load(); n != 1 {
		t.Errorf("group read %d times within a second, want 1", n)
	}
	clock.Store(int64(time.Second))
	if _, body := get(t, ts.URL+"/api/v1/stats"); !strings.Contains(body, `"lag":2`) || calls.Load() != 2 {
		t.Errorf("after a second: %s, %d reads; want fresh values", body, calls.Load())
	}
}

type groupFunc func(context.Context) (pomocore.GroupState, error)

func (f groupFunc) GroupState(ctx context.Context) (pomocore.GroupState, error) { return f(ctx) }
