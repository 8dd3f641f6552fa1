package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/eventually"
	"github.com/pomocore/pomocore/internal/redistest"
)

// TestHTTPServerOfRun checks the endpoints that `run` serves on
// POMOCORE_HTTP_ADDR against a real Redis and the SQLite store.
func TestHTTPServerOfRun(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	stop, logs := startRun(t, map[string]string{
		"REDIS_ADDR": srv.Addr(), "POMOCORE_DATA_DIR": filepath.Join(t.TempDir(), "data"), "POMOCORE_BLOCK": "20ms",
		"POMOCORE_HTTP_ADDR": anyPort,
	})
	addr := httpAddrOf(t, logs)
	defer stop()
	ctx := context.Background()
	ts := time.Now().Add(-time.Hour)
	for _, u := range []struct {
		user string
		d    float64
	}{{"ann", 300}, {"bob", 200}, {"cy", 200}} {
		if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "pattern_match_stream",
			Values: contractEntry(u.user, "Xcode", "", u.d, ts, false)}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	waitDrained(t, rdb, "pattern_match_stream", "pattern_match_group", logs)
	seoul, _ := time.LoadLocation("Asia/Seoul")
	day := pomocore.PeriodsAt(ts, seoul).Day
	fetch := func(path string) (int, string) {
		t.Helper()
		var code int
		var body string
		var err error
		if !eventually.Within(10*time.Second, func() bool {
			var resp *http.Response
			if resp, err = http.Get("http://" + addr + path); err != nil {
				return false
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			code, body = resp.StatusCode, string(b)
			return true
		}) {
			t.Fatalf("%s: %v\n%s", path, err, logs.String())
		}
		return code, body
	}
	if code, body := fetch("/readyz"); code != 200 {
		t.Errorf("readyz %d %s", code, body)
	}
	for path, want := range map[string]string{
		"/healthz": `"ok"`, "/api/openapi.yaml": "openapi: 3", "/api/v1/categories": `"work"`,
		"/api/v1/stats": `"committed":3`, "/": "<title>Pomocore",
		"/api/v1/leaderboards/Development/day/users/nobody": "no score", "/api/v1/leaderboards/Development/year": "period",
	} {
		if _, body := fetch(path); !strings.Contains(body, want) {
			t.Errorf("%s lacks %q: %s", path, want, body)
		}
	}
	code, body := fetch("/api/v1/leaderboards/Development/day?date=" + day)
	if code != 200 || !strings.Contains(body, `{"rank":1,"userId":"ann","score":300}`) ||
		strings.Count(body, `"rank":2`) != 2 {
		t.Errorf("top %d %s", code, body)
	}
	if code, body := fetch("/api/v1/leaderboards/work/day/users/cy?date=" + day); code != 200 || !strings.Contains(body, `"rank":2`) {
		t.Errorf("work rank %d %s", code, body)
	}
	code, body = fetch("/metrics")
	for _, want := range []string{"pomocore_events_committed_total 3", "pomocore_group_pending 0", "go_goroutines"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestLeaderboardCommand(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	rdb.ZAdd(ctx, "leaderboard:Design:2026-W48", goredis.Z{Score: 50, Member: "a"}, goredis.Z{Score: 70, Member: "b"}, goredis.Z{Score: 50, Member: "c"})
	env := envOf(map[string]string{"REDIS_ADDR": srv.Addr()})
	var out, errOut bytes.Buffer
	if err := leaderboardCmd(ctx, []string{"top", "-category", "Design", "-period", "week", "-date", "2026-11-24"}, env, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "leaderboard:Design:2026-W48") || !strings.Contains(out.String(), "1     b") ||
		strings.Count(out.String(), "2     ") != 2 {
		t.Errorf("top:\n%s", out.String())
	}
	out.Reset()
	if err := leaderboardCmd(ctx, []string{"rank", "-user", "c", "-category", "Design", "-period", "week", "-date", "2026-11-24"}, env, &out, &errOut); err != nil ||
		!strings.Contains(out.String(), "2     c") {
		t.Errorf("rank: %v\n%s", err, out.String())
	}
	for _, bad := range [][]string{{"nope"}, {"top", "-period", "year"}, {"rank"}, {"top", "-date", "x"}} {
		if err := leaderboardCmd(ctx, bad, env, &out, &errOut); err == nil {
			t.Errorf("%v succeeded", bad)
		}
	}
}
