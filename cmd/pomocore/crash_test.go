package main

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/eventually"
	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/internal/storedump"
)

// buildBinary compiles pomocore once per test binary.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pomocore")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

// workload is a known set of events and the effects they must have.
type workload struct {
	n, valid, ends, dead int
	scores               map[string]map[string]float64 // key -> member -> seconds
}

// crashApps are apps whose category the built-in patterns decide.
var crashApps = []struct{ app, category string }{
	{"Xcode", "Development"}, {"Figma", "Design"}, {"Steam", "Game"},
	{"Slack", "Meetings"}, {"zz unknown tool 9000", "Uncategorized"},
}

func produce(t *testing.T, rdb *goredis.Client, n int, stream string) *workload {
	t.Helper()
	ctx := context.Background()
	loc, _ := time.LoadLocation("Asia/Seoul")
	tax := pomocore.DefaultTaxonomy()
	w := &workload{n: n, scores: map[string]map[string]float64{}}
	add := func(key, member string, d float64) {
		if w.scores[key] == nil {
			w.scores[key] = map[string]float64{}
		}
		w.scores[key][member] += d
	}
	base := time.Now().Add(-72 * time.Hour).Truncate(time.Hour)
	pipe := rdb.Pipeline()
	for i := 0; i < n; i++ {
		user := "user" + strconv.Itoa(i%23)
		a := crashApps[i%len(crashApps)]
		ts := base.Add(time.Duration(i) * 37 * time.Second)
		d := float64(i%300) + 0.5
		end := i%20 == 19
		dur := strconv.FormatFloat(d, 'g', -1, 64)
		if i%101 == 50 {
			dur = "NaN" // malformed: dead-lettered, never counted
		}
		pipe.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []string{
			"userId", user, "app", a.app, "title", "window " + strconv.Itoa(i%17), "url", "",
			"duration", dur, "timestamp", strconv.FormatInt(ts.Unix(), 10),
			"session", strconv.Itoa(1 + i%4), "sessionDate", ts.In(loc).Format(time.DateOnly),
			"sessionMinutes", "25", "isEnd", strconv.FormatBool(end),
		}})
		if end {
			w.ends++ // a rejected entry ends its session too
		}
		if dur == "NaN" {
			w.dead++
			continue
		}
		w.valid++
		for _, p := range pomocore.PeriodsAt(ts, loc).All() {
			add(pomocore.LeaderboardKey("leaderboard", a.category, p), user, d)
			if tax.IsWork(a.category) {
				add(pomocore.LeaderboardKey("leaderboard", "work", p), user, d)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	return w
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done
}

func startProc(t *testing.T, bin string, env []string, consumer, logPath string) *proc {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"run"}
	if consumer != "" {
		args = append(args, "-consumer", consumer)
	} // else the default, <host>-<pid>: a new name per process
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

// groupState returns how many entries the group has read and how many are
// pending (Redis 7's XINFO GROUPS).
func groupState(t *testing.T, rdb goredis.UniversalClient, stream, group string) (read, pending, lag int64) {
	t.Helper()
	gs, err := rdb.XInfoGroups(context.Background(), stream).Result()
	if err != nil {
		return 0, 0, -1
	}
	for _, g := range gs {
		if g.Name == group {
			return g.EntriesRead, g.Pending, g.Lag
		}
	}
	return 0, 0, -1
}

// waitUntil polls cond until it holds or the deadline passes; it waits on
// external processes, whose progress no channel reports.
func waitUntil(t *testing.T, what string, limit time.Duration, logPath string, cond func() bool) {
	t.Helper()
	if !eventually.Within(limit, cond) {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("timed out waiting for %s; process log:\n%s", what, tail(b, 4000))
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// TestCrashMidRunLosesAndDoublesNothing kills the pipeline with SIGKILL
// twice in the middle of a run of thousands of events, restarts it (once
// under a new consumer name, which must reclaim the dead consumer's entries
// with XAUTOCLAIM, once under the same name, which must finish its own
// pending entries), then checks every leaderboard score, the usage logs,
// the session events and the dead letters against what was sent.
func TestCrashMidRunLosesAndDoublesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	const stream, group = "pattern_match_stream", "pattern_match_group"
	const n = 6000
	w := produce(t, rdb, n, stream)

	dir := t.TempDir()
	logPath := filepath.Join(dir, "pomocore.log")
	env := []string{
		"REDIS_ADDR=" + srv.Addr(), "POMOCORE_DATA_DIR=" + filepath.Join(dir, "data"),
		"POMOCORE_BATCH_SIZE=50", "POMOCORE_CLAIM_IDLE=300ms", "POMOCORE_BLOCK=100ms",
		"POMOCORE_LOG_LEVEL=info", "MONGO_URI=", "OPENAI_API_KEY=",
	}
	readAtLeast := func(k int64) func() bool {
		return func() bool { r, _, _ := groupState(t, rdb, stream, group); return r >= k }
	}

	a := startProc(t, bin, env, "crash-a", logPath)
	waitUntil(t, "a third read", time.Minute, logPath, readAtLeast(n/3))
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done

	b := startProc(t, bin, env, "crash-b", logPath)
	waitUntil(t, "two thirds read", time.Minute, logPath, readAtLeast(2*n/3))
	_ = b.cmd.Process.Signal(syscall.SIGKILL)
	<-b.done
	_, pendingAtKill, _ := groupState(t, rdb, stream, group)

	b2 := startProc(t, bin, env, "crash-b", logPath)
	waitUntil(t, "the group to drain", 2*time.Minute, logPath, func() bool {
		r, p, lag := groupState(t, rdb, stream, group)
		return r >= n && p == 0 && lag == 0
	})
	_ = b2.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b2.done:
		if b2.err != nil {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("SIGTERM exit: %v\n%s", b2.err, tail(b, 4000))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit 30s after SIGTERM")
	}

	ctx := context.Background()
	mismatches := 0
	for key, members := range w.scores {
		for member, want := range members {
			got, err := rdb.ZScore(ctx, key, member).Result()
			if err != nil || math.Abs(got-want) > 1e-9*math.Max(1, want) {
				mismatches++
				if mismatches < 10 {
					t.Errorf("%s %s = %v (%v), want %v", key, member, got, err, want)
				}
			}
		}
		if c := rdb.ZCard(ctx, key).Val(); c != int64(len(members)) {
			t.Errorf("%s has %d members, want %d", key, c, len(members))
		}
	}
	keys, _ := rdb.Keys(ctx, "leaderboard:*").Result()
	if len(keys) != len(w.scores) {
		t.Errorf("%d leaderboard keys, want %d", len(keys), len(w.scores))
	}
	if got := rdb.XLen(ctx, "session_score_stream").Val(); got != int64(w.ends) {
		t.Errorf("session events = %d, want %d", got, w.ends)
	}
	if got := rdb.XLen(ctx, stream+":dead").Val(); got != int64(w.dead) {
		t.Errorf("dead letters = %d, want %d", got, w.dead)
	}

	cats, logs, err := storedump.SQLiteDir(ctx, filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != w.valid {
		t.Errorf("usage logs = %d, want %d", len(logs), w.valid)
	}
	var total float64
	for _, l := range logs {
		total += l.Duration
	}
	var want float64
	for i := 0; i < n; i++ {
		if i%101 != 50 {
			want += float64(i%300) + 0.5
		}
	}
	if math.Abs(total-want) > 1e-6 {
		t.Errorf("usage-log durations sum to %v, want %v", total, want)
	}
	// (app, title) repeats every 5*17 events: 85 distinct keys.
	if len(cats) != len(crashApps)*17 {
		t.Errorf("categorized data = %d, want %d (one per distinct app, url, title)", len(cats), len(crashApps)*17)
	}
	t.Logf("crash test: %d events (%d valid, %d dead, %d session ends), 2 SIGKILLs (%d pending at the second), "+
		"%d leaderboard keys, %d usage logs, %d categorized_data; mismatches %d",
		n, w.valid, w.dead, w.ends, pendingAtKill, len(keys), len(logs), len(cats), mismatches)
}
