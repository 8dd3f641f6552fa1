package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/httpapi"
	"github.com/pomocore/pomocore/pipeline"
)

// fakeBoards serves one leaderboard key from memory.
type fakeBoards struct {
	key  string
	list []pomocore.Ranked
}

func (f *fakeBoards) Top(_ context.Context, key string, offset, count int) ([]pomocore.Ranked, error) {
	if key != f.key || offset >= len(f.list) {
		return nil, nil
	}
	return f.list[offset:min(offset+count, len(f.list))], nil
}

func (f *fakeBoards) Rank(_ context.Context, key, member string) (pomocore.Ranked, bool, error) {
	for _, r := range f.list {
		if key == f.key && r.UserID == member {
			return r, true, nil
		}
	}
	return pomocore.Ranked{}, false, nil
}

func (f *fakeBoards) Around(_ context.Context, key, member string, n int) ([]pomocore.Ranked, error) {
	return f.list, nil
}

type fakeGroup struct{ err error }

func (g fakeGroup) GroupState(context.Context) (pomocore.GroupState, error) {
	return pomocore.GroupState{Lag: 3, Pending: 2, OldestPending: time.Second}, g.err
}

func server(t *testing.T, storeErr error) (*httptest.Server, *httpapi.Metrics) {
	t.Helper()
	seoul, _ := time.LoadLocation("Asia/Seoul")
	reg := prometheus.NewRegistry()
	m := httpapi.NewMetrics(reg)
	reg.MustRegister(httpapi.NewGroupCollector(fakeGroup{}))
	boards := &fakeBoards{key: "leaderboard:Development:2026-W48", list: []pomocore.Ranked{
		{Rank: 1, UserID: "a", Score: 100}, {Rank: 2, UserID: "b", Score: 90}, {Rank: 2, UserID: "c", Score: 90}}}
	s := httpapi.New(httpapi.Config{KeyPrefix: "leaderboard", Location: seoul, Taxonomy: pomocore.DefaultTaxonomy()}, httpapi.Deps{
		Gatherer: reg, Leaderboards: boards, Group: fakeGroup{},
		Ready: map[string]httpapi.Pinger{"store": func(context.Context) error { return storeErr }},
		Now:   func() time.Time { return time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC) },
	})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts, m
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	ts, m := server(t, nil)
	m.BatchDone(pipeline.BatchReport{Size: 5, Applied: 4, Skipped: 1, DeadByKind: map[string]int{"bad_duration": 1},
		BySource: map[pomocore.Source]int{pomocore.SourceApp: 3}, ByCategory: map[string]int{"Development": 3},
		Took: time.Millisecond, Ages: []time.Duration{time.Millisecond}})
	m.CallFailed("store", errors.New("x"))

	if code, body := get(t, ts.URL+"/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Errorf("healthz %d %s", code, body)
	}
	if code, body := get(t, ts.URL+"/readyz"); code != 200 || !strings.Contains(body, `"group":"ok"`) {
		t.Errorf("readyz %d %s", code, body)
	}
	code, body := get(t, ts.URL+"/metrics")
	for _, want := range []string{"pomocore_events_read_total 5", "pomocore_events_committed_total 4",
		`pomocore_events_dead_lettered_total{reason="bad_duration"} 1`, `pomocore_classifications_by_source_total{source="app"} 3`,
		`pomocore_call_errors_total{call="store"} 1`, "pomocore_group_lag 3", "pomocore_group_pending 2", "pomocore_event_age_seconds_bucket"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// 2026-11-24 is in ISO week 48.
	code, body = get(t, ts.URL+"/api/v1/leaderboards/Development/week?date=2026-11-24&limit=2")
	var top struct {
		Key     string
		Entries []pomocore.Ranked
	}
	_ = json.Unmarshal([]byte(body), &top)
	if code != 200 || top.Key != "leaderboard:Development:2026-W48" || len(top.Entries) != 2 || top.Entries[1].Rank != 2 {
		t.Errorf("top %d %s", code, body)
	}
	if code, body := get(t, ts.URL+"/api/v1/leaderboards/Development/week/users/c?around=1"); code != 200 ||
		!strings.Contains(body, `"rank":2`) || !strings.Contains(body, `"around"`) {
		t.Errorf("user %d %s", code, body)
	}
	if code, _ := get(t, ts.URL+"/api/v1/leaderboards/Development/week/users/nobody"); code != 404 {
		t.Errorf("missing user: %d", code)
	}
	for _, bad := range []string{"/api/v1/leaderboards/Nope/week", "/api/v1/leaderboards/Development/year",
		"/api/v1/leaderboards/Development/day?date=24-11-2026", "/api/v1/leaderboards/Development/day?limit=0",
		"/api/v1/leaderboards/Development/day?limit=x", "/api/v1/leaderboards/work/day/users/a?around=1000"} {
		if code, body := get(t, ts.URL+bad); code != 400 || !strings.Contains(body, "error") {
			t.Errorf("%s: %d %s, want 400 with a message", bad, code, body)
		}
	}
	if code, body := get(t, ts.URL+"/api/v1/stats"); code != 200 || !strings.Contains(body, `"committed":4`) ||
		!strings.Contains(body, `"Development":3`) || !strings.Contains(body, `"lag":3`) {
		t.Errorf("stats %d %s", code, body)
	}
	if code, body := get(t, ts.URL+"/api/v1/categories"); code != 200 || !strings.HasPrefix(body, `["work","SNS"`) {
		t.Errorf("categories %d %s", code, body)
	}
	if code, body := get(t, ts.URL+"/"); code != 200 || !strings.Contains(body, "<title>Pomocore") {
		t.Errorf("page %d", code)
	}
	if code, _ := get(t, ts.URL+"/nothing-here"); code != 404 {
		t.Errorf("unknown path: %d", code)
	}
	if code, body := get(t, ts.URL+"/api/openapi.yaml"); code != 200 || !strings.Contains(body, "openapi: 3") {
		t.Errorf("openapi %d", code)
	}
}

func TestNotReady(t *testing.T) {
	ts, _ := server(t, errors.New("store down"))
	if code, body := get(t, ts.URL+"/readyz"); code != 503 || !strings.Contains(body, `"store":"unavailable"`) {
		t.Errorf("readyz %d %s", code, body)
	}
}
