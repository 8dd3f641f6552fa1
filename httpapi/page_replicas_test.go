package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/httpapi"
	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/internal/tool"
	"github.com/pomocore/pomocore/redis"
)

// pageGroup reads the group's lag and pending count from XINFO GROUPS.
type pageGroup struct {
	rdb           *goredis.Client
	stream, group string
}

func (g pageGroup) GroupState(ctx context.Context) (pomocore.GroupState, error) {
	gs, err := g.rdb.XInfoGroups(ctx, g.stream).Result()
	if err != nil {
		return pomocore.GroupState{}, err
	}
	for _, x := range gs {
		if x.Name == g.group {
			return pomocore.GroupState{Lag: x.Lag, Pending: x.Pending}, nil
		}
	}
	return pomocore.GroupState{}, fmt.Errorf("no group %s", g.group)
}

// replica is one process of the service: its own registry (its counters
// since it started differ from the other's) over the shared Redis.
func replica(t *testing.T, rdb *goredis.Client, committed float64, now func() time.Time) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "pomocore_events_committed_total", Help: "x"})
	c.Add(committed)
	reg.MustRegister(c)
	ping := func(ctx context.Context) error { return rdb.Ping(ctx).Err() }
	s := httpapi.New(httpapi.Config{KeyPrefix: "leaderboard", Taxonomy: pomocore.DefaultTaxonomy(), Timeout: time.Second},
		httpapi.Deps{Gatherer: reg, Leaderboards: &fakeBoards{}, Group: pageGroup{rdb, "s", "g"}, Now: now,
			Ready: map[string]httpapi.Pinger{"redis": ping},
			Page:  redis.NewPageFigures(rdb, "s", "g", "s:dead")})
	return httptestServer(t, s).URL
}

// Issue 28 item 7: the live page's figures came from each process's own
// counters, so two replicas behind one Service showed different numbers
// and events/s went negative between them. Two replicas over one Redis
// now show the same processed count, events/s, lag, pending, dead letters
// and seconds per category (the day leaderboards' sums, for the day the
// date picker shows); with Redis down the page says so; at 420 px nothing
// is cut off.
func TestLivePageAgreesAcrossReplicasInChromium(t *testing.T) {
	browser := tool.Require(t, "chromium")
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	t0 := time.Unix(time.Now().Unix()/10*10, 0) // the start of a 10 s bucket
	var offset atomic.Int64
	now := func() time.Time { return t0.Add(time.Duration(offset.Load())) }

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(rdb.XGroupCreateMkStream(ctx, "s", "g", "0").Err())
	for range 5 {
		must(rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "s", Values: []string{"k", "v"}}).Err())
	}
	read, err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{"s", ">"}, Count: 5}).Result()
	must(err)
	ids := []string{}
	for _, m := range read[0].Messages {
		ids = append(ids, m.ID)
	}
	must(rdb.XAck(ctx, "s", "g", ids[:1]...).Err()) // processed 1
	must(rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "s:dead", Values: []string{"k", "v"}}).Err())
	day := t0.UTC().Format("2006-01-02")
	key := func(c string) string {
		b, err := pomocore.BoardQuery{Category: c, Period: "day"}.Resolve("leaderboard", pomocore.DefaultTaxonomy(), time.UTC, t0)
		must(err)
		return b.Key
	}
	must(rdb.ZAdd(ctx, key("Development"), goredis.Z{Member: "dana", Score: 1500}, goredis.Z{Member: "eve", Score: 300}).Err())
	must(rdb.ZAdd(ctx, key("Game"), goredis.Z{Member: "gil", Score: 900}).Err())

	a, b := replica(t, rdb, 7, now), replica(t, rdb, 2, now)
	// A sample at t0 (processed 1), then 3 more acknowledged and 2 new
	// entries (lag 2) 10 s later: 0.3 events/s, whichever replica is asked.
	if resp, err := http.Get(a + "/api/v1/stats"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("stats: %v %v", resp, err)
	}
	must(rdb.XAck(ctx, "s", "g", ids[1:4]...).Err())
	for range 2 {
		must(rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "s", Values: []string{"k", "v"}}).Err())
	}
	offset.Store(int64(10 * time.Second))

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.Flag("disable-background-networking", true), chromedp.WindowSize(1200, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	bctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()

	const figures = `JSON.stringify({eps: $("eps").textContent, processed: $("committed").textContent, lag: $("lag").textContent,
		pending: $("pending").textContent, dead: $("dead").textContent, date: $("date").value,
		mix: [...document.querySelectorAll("#mix tr")].map((tr) => tr.textContent)})`
	want := fmt.Sprintf(`{"eps":"0.3","processed":"4","lag":"2","pending":"1","dead":"1","date":%q,"mix":["Development30m 0s","Game15m 0s"]}`, day)
	seen := map[string]string{}
	for name, base := range map[string]string{"a": a, "b": b} {
		err := chromedp.Do(bctx,
			chromedp.Navigate(base+"/"),
			chromedp.Poll[chromedp.Void](`document.getElementById("eps").textContent !== "–" && document.querySelectorAll("#mix tr").length === 2 && document.getElementById("date").value !== ""`),
		)
		got, err2 := chromedp.Run(bctx, chromedp.Evaluate[string](figures))
		if err != nil || err2 != nil {
			err = cmpErr(err, err2)
			t.Fatalf("replica %s: %v", name, err)
		}
		seen[name] = got
	}
	if seen["a"] != seen["b"] || seen["a"] != want {
		t.Errorf("the replicas' pages show\n a %s\n b %s\nwant both %s", seen["a"], seen["b"], want)
	}
	if tl, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById("eps-line").getAttribute("points")`)); err != nil ||
		strings.Count(tl, ",") != 1 {
		t.Errorf("timeline points %q (%v), want the one rate between the two samples", tl, err)
	}

	// Narrow: nothing is wider than the screen, the category panel whole.
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(420, 800), chromedp.Poll[chromedp.Void](`window.innerWidth === 420`)); err != nil {
		t.Fatalf("420 px: %v", err)
	}
	w, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.documentElement.scrollWidth + " " + document.getElementById("mix-section").getBoundingClientRect().right`))
	if err != nil || w != "420 410" {
		t.Errorf("at 420 px the page is %q px wide and the category panel ends at the second (%v); want 420 410", w, err)
	}

	// Redis down: the banner says so and the figures are marked old.
	srv.Kill()
	offset.Store(int64(15 * time.Second))
	if err := chromedp.Do(bctx, chromedp.Poll[chromedp.Void](`document.getElementById("banner").className === "down"`)); err != nil {
		t.Fatalf("no banner with Redis down: %v", err)
	}
	banner, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById("banner").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(banner, "redis unavailable") || !strings.Contains(banner, "figures as of") {
		t.Errorf("banner %q", banner)
	}
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// fakePage is a PageStore in memory: one timeline, fixed counts.
type fakePage struct {
	mu        sync.Mutex
	samples   []pomocore.PageSample
	processed int64
	sums      int // calls of Sums
}

func (f *fakePage) Counts(context.Context, int64, int64) (int64, int64, error) {
	return f.processed, 0, nil
}

func (f *fakePage) Timeline(_ context.Context, s pomocore.PageSample, _ time.Time) ([]pomocore.PageSample, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.samples = append(f.samples, s)
	return f.samples, nil
}

func (f *fakePage) Sums(_ context.Context, keys []string) ([]float64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sums++
	return make([]float64, len(keys)), nil
}

// Issue 28 item 7: events/s went negative when two refreshes reached
// replicas with different counters. The rate comes from the shared
// samples and is never negative, even when the count goes down (a group
// recreated).
func TestEventsPerSecondNeverNegative(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	page := &fakePage{samples: []pomocore.PageSample{{At: t0, Processed: 100}}, processed: 40}
	s := httpapi.New(httpapi.Config{Taxonomy: pomocore.DefaultTaxonomy()}, httpapi.Deps{Gatherer: prometheus.NewRegistry(),
		Group: fakeGroup{}, Page: page, Now: func() time.Time { return t0.Add(10 * time.Second) }})
	ts := httptestServer(t, s)
	var body struct {
		Shared *httpapi.SharedStats `json:"shared"`
	}
	resp, err := http.Get(ts.URL + "/api/v1/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Shared == nil {
		t.Fatalf("stats: %v, shared %v", err, body.Shared)
	}
	if body.Shared.EventsPerSecond != 0 || len(body.Shared.Timeline) != 1 || body.Shared.Timeline[0].EventsPerSecond != 0 {
		t.Errorf("events/s %v, timeline %+v; want 0 when the count went down", body.Shared.EventsPerSecond, body.Shared.Timeline)
	}
	if code, _ := get(t, ts.URL+"/api/v1/stats?date=2026-02-30"); code != 400 {
		t.Errorf("a date that does not exist: %d, want 400", code)
	}
}

// Issue 28 item 7: an accepted suggestion stayed listed in the unknowns
// panel until its activities aged out of the day's window.
func TestAcceptedUnknownLeavesTheList(t *testing.T) {
	u := httpapi.NewUnknowns(httpapi.UnknownsConfig{})
	u.Observe("Google Chrome", "https://www.figma.com/file/abc", pomocore.Classification{Category: "Design", Source: pomocore.SourceLLM}, 600)
	u.Observe("Mystery.app", "", pomocore.Classification{Category: pomocore.Uncategorized, Source: pomocore.SourceDefault}, 30)
	s := httpapi.New(httpapi.Config{Taxonomy: pomocore.DefaultTaxonomy(), AdminToken: "t"},
		httpapi.Deps{Gatherer: prometheus.NewRegistry(), Unknowns: u, Patterns: &fakeEditor{}})
	ts := httptestServer(t, s)
	req, _ := http.NewRequest("POST", ts.URL+"/api/v1/unknowns/accept", strings.NewReader(`{"host":"figma.com","category":"Design"}`))
	req.Header.Set("Authorization", "Bearer t")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("accept: %v %v", resp, err)
	}
	resp.Body.Close()
	var left []string
	for _, r := range u.Top(10) {
		left = append(left, r.App+r.Host)
	}
	if slices.Contains(left, "figma.com") || !slices.Contains(left, "Mystery.app") {
		t.Errorf("after accepting figma.com the list is %v, want only Mystery.app", left)
	}
}

// The timeline is sampled while no one watches the page (every interval,
// until the context ends), without summing the leaderboards.
func TestKeepTimelineSamplesUntilStopped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		page := &fakePage{}
		s := httpapi.New(httpapi.Config{Taxonomy: pomocore.DefaultTaxonomy()}, httpapi.Deps{Gatherer: prometheus.NewRegistry(),
			Group: fakeGroup{}, Page: page})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { s.KeepTimeline(ctx, 5*time.Second); close(done) }()
		time.Sleep(16 * time.Second) // fake time: three ticks
		synctest.Wait()
		cancel()
		<-done
		page.mu.Lock()
		defer page.mu.Unlock()
		if len(page.samples) != 3 || page.sums != 0 {
			t.Errorf("%d samples and %d sums in 16 s at one per 5 s; want 3 and 0", len(page.samples), page.sums)
		}
	})
}
