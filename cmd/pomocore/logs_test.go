package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pomocore/pomocore/internal/eventually"
	"github.com/pomocore/pomocore/internal/logtest"
)

// startRunOut is startRun that also keeps what run prints on stdout.
func startRunOut(t *testing.T, env map[string]string) (stop func(), out, logs *logtest.Buffer) {
	t.Helper()
	cfg, err := loadConfig("run", nil, envOf(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	out, logs = &logtest.Buffer{}, &logtest.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, out, logs) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v\n%s", err, logs.String())
			}
		})
	}
	t.Cleanup(stop)
	return stop, out, logs
}

// With POMOCORE_LOG_FORMAT=json, go-redis's own lines (a dial that fails
// during an outage) are JSON log records of the run's logger too.
func TestLibraryLogsAreJSONInJSONMode(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	stop, _, logs := startRunOut(t, map[string]string{"REDIS_ADDR": dead, "POMOCORE_LOG_FORMAT": "json",
		"POMOCORE_DATA_DIR": filepath.Join(t.TempDir(), "data")})
	if !eventually.Within(10*time.Second, func() bool { return strings.Contains(logs.String(), "failed to dial") }) {
		t.Fatalf("go-redis's dial failure is not in the run's log:\n%s", logs.String())
	}
	stop()
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("not a JSON record: %s", line)
			continue
		}
		if strings.Contains(line, "failed to dial") && rec["component"] != "go-redis" {
			t.Errorf("go-redis's line is not marked as go-redis's: %s", line)
		}
	}
}

// The quick start: a restart of the embedded set-up says plainly that the
// embedded Redis starts empty, and logs no error (the SQLite store keeps
// its usage logs; there was no group to vanish). What it prints names the
// address really used, in redis-cli lines that work as printed.
func TestEmbeddedRestartIsPlainAndPrintsWorkingRedisCLILines(t *testing.T) {
	addr := freeAddr(t)
	env := map[string]string{"POMOCORE_EMBEDDED_REDIS_ADDR": addr, "POMOCORE_DATA_DIR": filepath.Join(t.TempDir(), "data"), "POMOCORE_BLOCK": "20ms"}
	_, port, _ := net.SplitHostPort(addr)
	stop, out, logs := startRunOut(t, env)
	if !eventually.Within(10*time.Second, func() bool { return strings.Contains(out.String(), "ZREVRANGE") }) {
		t.Fatalf("no redis-cli lines printed:\n%s", out.String())
	}
	xadd := regexp.MustCompile(`(?m)^\s*(redis-cli -p \d+ XADD .*)$`).FindStringSubmatch(out.String())
	if xadd == nil || !strings.Contains(xadd[1], "-p "+port+" ") {
		t.Fatalf("no XADD line for port %s:\n%s", port, out.String())
	}
	// The printed lines work as printed (redis-cli installed): the activity
	// reaches today's board.
	if _, err := exec.LookPath("redis-cli"); err == nil {
		if b, err := exec.Command("sh", "-c", xadd[1]).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", xadd[1], err, b)
		}
		zrev := regexp.MustCompile(`(?m)^\s*(redis-cli -p \d+ ZREVRANGE .*)$`).FindStringSubmatch(out.String())
		if zrev == nil {
			t.Fatalf("no ZREVRANGE line:\n%s", out.String())
		}
		if !eventually.Within(10*time.Second, func() bool {
			b, _ := exec.Command("sh", "-c", zrev[1]).CombinedOutput()
			return strings.Contains(string(b), "u1")
		}) {
			t.Errorf("%s never shows u1:\n%s", zrev[1], logs.String())
		}
	}
	stop()
	stop2, _, logs2 := startRunOut(t, env)
	if !eventually.Within(10*time.Second, func() bool { return strings.Contains(logs2.String(), "pipeline running") }) {
		t.Fatalf("the restart does not run:\n%s", logs2.String())
	}
	if !strings.Contains(logs2.String(), "starts empty") {
		t.Errorf("the restart does not say that the embedded Redis starts empty:\n%s", logs2.String())
	}
	stop2()
	for _, l := range []string{logs.String(), logs2.String()} {
		if strings.Contains(l, "level=ERROR") || strings.Contains(l, "vanished") {
			t.Errorf("the quick start logs an error:\n%s", l)
		}
	}
}

// When the embedded Redis's address is taken, what run prints says so
// loudly and the redis-cli lines name the port really used.
func TestEmbeddedRedisOnATakenPortSaysSo(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().String()
	_, takenPort, _ := net.SplitHostPort(taken)
	stop, out, _ := startRunOut(t, map[string]string{"POMOCORE_EMBEDDED_REDIS_ADDR": taken, "POMOCORE_DATA_DIR": filepath.Join(t.TempDir(), "data")})
	if !eventually.Within(10*time.Second, func() bool { return strings.Contains(out.String(), "ZREVRANGE") }) {
		t.Fatalf("no redis-cli lines printed:\n%s", out.String())
	}
	stop()
	text := out.String()
	if !strings.Contains(text, taken+" IS TAKEN") {
		t.Errorf("does not say loudly that %s is taken:\n%s", taken, text)
	}
	m := regexp.MustCompile(`embedded redis listening on 127\.0\.0\.1:(\d+)`).FindStringSubmatch(text)
	if m == nil || m[1] == takenPort {
		t.Fatalf("listening line:\n%s", text)
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "redis-cli") && !strings.Contains(line, "redis-cli -p "+m[1]+" ") {
			t.Errorf("a redis-cli line that does not name port %s: %s", m[1], line)
		}
	}
}
