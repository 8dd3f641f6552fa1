package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/internal/redistest"
)

// -h never runs anything and exits 0, whatever the command: nothing is
// created, nothing is dialled (the Redis and store settings point nowhere).
func TestHelpRunsNothingAndExitsZero(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	env := envOf(map[string]string{"REDIS_ADDR": "127.0.0.1:1", "POMOCORE_DATA_DIR": data})
	for _, args := range [][]string{
		{"-h"}, {"help"}, {"run", "-h"}, {"run", "--help"}, {"settings", "-h"}, {"version", "-h"},
		{"classify", "-h"}, {"eval", "-h"}, {"learn", "-h"}, {"bench", "-h"}, {"doctor", "-h"}, {"compare", "-h"},
		{"patterns", "-h"}, {"patterns", "list", "-h"}, {"patterns", "export", "-help"}, {"patterns", "learned", "-h"},
		{"patterns", "add", "-h"}, {"patterns", "suggest", "-h"}, {"patterns", "revert", "-h"},
		{"healthcheck", "-h"}, {"leaderboard", "-h"}, {"leaderboard", "top", "-h"}, {"leaderboard", "rank", "-h"}, {"leaderboard", "rebuild", "-h"},
	} {
		var out, errOut bytes.Buffer
		if code := runMain(args, env, &out, &errOut); code != 0 {
			t.Errorf("%v: exit %d\n%s%s", args, code, out.String(), errOut.String())
		}
		if !strings.Contains(strings.ToLower(out.String()+errOut.String()), "usage") {
			t.Errorf("%v: no usage text:\n%s%s", args, out.String(), errOut.String())
		}
		if _, err := os.Stat(data); err == nil {
			t.Fatalf("%v created the data directory", args)
		}
	}
	// Each subcommand's help shows its own flags.
	var top, rank bytes.Buffer
	runMain([]string{"leaderboard", "top", "-h"}, env, &top, &top)
	runMain([]string{"leaderboard", "rank", "-h"}, env, &rank, &rank)
	if strings.Contains(top.String(), "-around") || !strings.Contains(top.String(), "-limit") {
		t.Errorf("leaderboard top -h:\n%s", top.String())
	}
	if strings.Contains(rank.String(), "-limit") || !strings.Contains(rank.String(), "-around") {
		t.Errorf("leaderboard rank -h:\n%s", rank.String())
	}
}

// A usage error (unknown flag, missing or unknown subcommand, stray
// argument) exits 2, before anything runs.
func TestUsageErrorsExitTwo(t *testing.T) {
	env := envOf(map[string]string{"REDIS_ADDR": "127.0.0.1:1", "POMOCORE_DATA_DIR": filepath.Join(t.TempDir(), "data")})
	for _, args := range [][]string{
		{}, {"nope"}, {"run", "-no-such-flag"}, {"run", "extra"}, {"bench", "-nope"}, {"learn", "-nope"},
		{"classify", "-nope"}, {"eval", "-nope"}, {"doctor", "-nope"}, {"compare", "-nope"}, {"compare"},
		{"compare", "-from", "2026-13-01"}, {"compare", "-from", "2026-11-02", "-to", "2026-11-01"}, {"compare", "-from", "2026-11-01", "-top", "-1"},
		{"patterns"}, {"patterns", "nope"}, {"patterns", "add", "-nope"}, {"patterns", "suggest", "-nope"},
		{"leaderboard"}, {"leaderboard", "nope"}, {"leaderboard", "top", "-nope"}, {"leaderboard", "top", "extra"},
		{"leaderboard", "rebuild", "-nope"}, {"leaderboard", "rebuild"}, {"version", "extra"}, {"healthcheck", "extra"},
	} {
		var out, errOut bytes.Buffer
		if code := runMain(args, env, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", args, code, errOut.String())
		}
	}
}

func TestVersionCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := runMain([]string{"version"}, envOf(nil), &out, &errOut); code != 0 ||
		!strings.HasPrefix(out.String(), "pomocore ") || !strings.Contains(out.String(), "go1.") {
		t.Errorf("version: exit %d\n%s%s", code, out.String(), errOut.String())
	}
}

// `leaderboard top|rank` validate as the read API does (a category that
// does not exist, a day the calendar lacks) and print scores as the API
// does: no floating-point noise.
func TestLeaderboardCommandValidatesAndPrintsAsTheAPI(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	rdb.ZAdd(ctx, "leaderboard:Design:2026-11-24", goredis.Z{Score: 107133.80000000009, Member: "ann"})
	env := envOf(map[string]string{"REDIS_ADDR": srv.Addr()})
	var out, errOut bytes.Buffer
	code := runMain([]string{"leaderboard", "top", "-category", "Design", "-date", "2026-11-24"}, env, &out, &errOut)
	if code != 0 || !strings.Contains(out.String(), "107133.8\n") || strings.Contains(out.String(), "00000") {
		t.Errorf("top: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	out.Reset()
	code = runMain([]string{"leaderboard", "rank", "-user", "ann", "-category", "Design", "-date", "2026-11-24"}, env, &out, &errOut)
	if code != 0 || !strings.Contains(out.String(), "107133.8\n") {
		t.Errorf("rank: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	for args, want := range map[string]string{
		"top -category Nope":          `category "Nope": not one of the categories`,
		"top -date 2026-02-30":        `date "2026-02-30": February 2026 has 28 days`,
		"rank -user ann -period year": `period "year": want day, week or month`,
	} {
		out.Reset()
		errOut.Reset()
		code := runMain(append([]string{"leaderboard"}, strings.Fields(args)...), env, &out, &errOut)
		if code != 2 || !strings.Contains(errOut.String(), want) {
			t.Errorf("%s: exit %d, want 2 and %q\n%s%s", args, code, want, out.String(), errOut.String())
		}
	}
}

// `pomocore healthcheck` (the image's HEALTHCHECK) exits 0 on a 200 from
// /healthz, 1 otherwise, and asks /readyz with -ready.
func TestHealthcheckCommand(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	ready := false
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, r.URL.Path)
		if r.URL.Path == "/readyz" && !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer ts.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(ts.URL, "http://"))
	env := envOf(map[string]string{"POMOCORE_HTTP_ADDR": ":" + port})
	var out bytes.Buffer
	for _, c := range []struct {
		args []string
		code int
	}{{[]string{"healthcheck"}, 0}, {[]string{"healthcheck", "-ready"}, 1}} {
		if code := runMain(c.args, env, &out, &out); code != c.code {
			t.Errorf("%v: exit %d, want %d\n%s", c.args, code, c.code, out.String())
		}
	}
	mu.Lock()
	ready = true
	mu.Unlock()
	if code := runMain([]string{"healthcheck", "-ready"}, env, &out, &out); code != 0 {
		t.Errorf("ready: exit %d\n%s", code, out.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(asked, " ") != "/healthz /readyz /readyz" {
		t.Errorf("asked %v", asked)
	}
}
