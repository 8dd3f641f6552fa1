package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/eventually"
	"github.com/pomocore/pomocore/internal/logtest"
	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/redis"
	"github.com/pomocore/pomocore/sqlite"
)

// The end-to-end tests of issue 19 ("Hardening"): `pomocore run`
// in-process on a real redis-server and the SQLite store, attacked from
// outside as the operator and attacker did.

const (
	hStream  = "pattern_match_stream"
	hGroup   = "pattern_match_group"
	hDead    = hStream + ":dead"
	hSession = "session_score_stream"
)

// hardEnv is one pipeline's surroundings: a redis-server and a data
// directory.
type hardEnv struct {
	t     *testing.T
	addr  string
	rdb   *goredis.Client
	dir   string
	seoul *time.Location
	ts    time.Time
}

func newHardEnv(t *testing.T) *hardEnv {
	t.Helper()
	srv := redistest.Start(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	seoul, _ := time.LoadLocation("Asia/Seoul")
	return &hardEnv{t: t, addr: srv.Addr(), rdb: rdb, dir: filepath.Join(t.TempDir(), "data"), seoul: seoul,
		ts: time.Now().Add(-2 * time.Hour).Truncate(time.Second)}
}

// env is the run's environment, with extra settings.
func (h *hardEnv) env(extra ...string) map[string]string {
	m := map[string]string{"REDIS_ADDR": h.addr, "POMOCORE_DATA_DIR": h.dir, "POMOCORE_BLOCK": "20ms",
		"POMOCORE_CLAIM_IDLE": "1s"}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

// add writes one CONTRACT entry of user with app and duration.
func (h *hardEnv) add(user, app string, dur float64, end bool, extra ...string) string {
	h.t.Helper()
	id, err := h.rdb.XAdd(context.Background(), &goredis.XAddArgs{Stream: hStream,
		Values: contractEntry(user, app, "", dur, h.ts, end, extra...)}).Result()
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

// board is the day's leaderboard key of category at h.ts.
func (h *hardEnv) board(category string) string {
	return pomocore.LeaderboardKey("leaderboard", category, pomocore.PeriodsAt(h.ts, h.seoul).Day)
}

func (h *hardEnv) score(key, member string) float64 {
	s, _ := h.rdb.ZScore(context.Background(), key, member).Result()
	return s
}

// deadKinds returns the dead letters' kinds by original entry id.
func (h *hardEnv) deadKinds() map[string]string {
	out := map[string]string{}
	for _, m := range h.rdb.XRange(context.Background(), hDead, "-", "+").Val() {
		out[m.Values["dead.id"].(string)] = m.Values["dead.kind"].(string)
	}
	return out
}

// delivered reports whether the group's last delivered id is at or past
// id.
func (h *hardEnv) delivered(id string) bool {
	gs, err := h.rdb.XInfoGroups(context.Background(), hStream).Result()
	if err != nil {
		return false
	}
	for _, g := range gs {
		if g.Name == hGroup {
			lm, ls, err1 := pomocore.ParseEntryID(g.LastDeliveredID)
			wm, ws, err2 := pomocore.ParseEntryID(id)
			return err1 == nil && err2 == nil && (lm > wm || lm == wm && ls >= ws)
		}
	}
	return false
}

func (h *hardEnv) pending() int64 {
	p, err := h.rdb.XPending(context.Background(), hStream, hGroup).Result()
	if err != nil {
		return -1
	}
	return p.Count
}

// runUntilError runs the pipeline and returns what Run returned, within
// limit (failing t if it is still running then).
func runUntilError(t *testing.T, env map[string]string, limit time.Duration) (string, error) {
	t.Helper()
	cfg, err := loadConfig("run", nil, envOf(env), &bytes.Buffer{})
	if err != nil {
		return "", err
	}
	logs := &logtest.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, io.Discard, logs) }()
	select {
	case err := <-done:
		return logs.String(), err
	case <-time.After(limit):
		cancel()
		<-done
		t.Fatalf("run still going after %v; log:\n%s", limit, logs.String())
		return "", nil
	}
}

// Item 1: XGROUP DESTROY while running recreated the group at 0 and the
// whole stream was processed again: every leaderboard cell doubled,
// session events and dead letters doubled, not a log line. Now the group
// is recreated at the recorded commit position, nothing is counted twice,
// and the recreation is logged at error level.
func TestGroupDestroyedWhileRunningDoublesNoCellAndLogsAnError(t *testing.T) {
	h := newHardEnv(t)
	stop, logs := startRun(t, h.env())
	for range 20 {
		h.add("early", "Xcode", 10, false)
	}
	h.add("early", "Xcode", 5, true)
	h.add("early", "Xcode", 0, false, "duration", "NaN") // a duplicated field: a dead letter
	waitDrained(t, h.rdb, hStream, hGroup, logs)
	board := h.board("Development")
	before := h.score(board, "early")
	ctx := context.Background()
	if err := h.rdb.XGroupDestroy(ctx, hStream, hGroup).Err(); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		h.add("late", "Xcode", 3, false)
	}
	waitDrained(t, h.rdb, hStream, hGroup, logs)
	stop()
	if got := h.score(board, "early"); got != before || before != 205 {
		t.Errorf("score of the entries processed before XGROUP DESTROY: %v, then %v; want 205 both times (nothing doubled)", before, got)
	}
	if got := h.score(board, "late"); got != 30 {
		t.Errorf("score of the entries written after XGROUP DESTROY: %v, want 30", got)
	}
	if n := h.rdb.XLen(ctx, hSession).Val(); n != 1 {
		t.Errorf("session events: %d, want 1", n)
	}
	if n := h.rdb.XLen(ctx, hDead).Val(); n != 1 {
		t.Errorf("dead letters: %d, want 1", n)
	}
	out := logs.String()
	if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "consumer group vanished") ||
		!strings.Contains(out, "recorded commit position") {
		t.Errorf("no error-level log of the recreation at the recorded position:\n%s", out)
	}
}

// Item 1, the store's part: the group and its recorded position both
// vanished (XGROUP DESTROY, DEL of the {stream}:committed hash): the group
// is recreated at the stream id of the store's newest usage log, which
// the pipeline derived from its entry id, and nothing is counted twice.
func TestGroupAndItsRecordVanishedIsRecreatedAtTheStoresNewestUsageLog(t *testing.T) {
	h := newHardEnv(t)
	stop, logs := startRun(t, h.env())
	var last string
	for range 15 {
		last = h.add("early", "Xcode", 10, false)
	}
	waitDrained(t, h.rdb, hStream, hGroup, logs)
	ctx := context.Background()
	// Both at once: in between, the running process could recreate the
	// group from the record.
	if _, err := h.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.Del(ctx, redis.CommittedKey(hStream))
		p.XGroupDestroy(ctx, hStream, hGroup)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		h.add("late", "Xcode", 3, false)
	}
	waitDrained(t, h.rdb, hStream, hGroup, logs)
	stop()
	board := h.board("Development")
	if got := h.score(board, "early"); got != 150 {
		t.Errorf("early score %v, want 150 (not doubled)", got)
	}
	if got := h.score(board, "late"); got != 15 {
		t.Errorf("late score %v, want 15", got)
	}
	out := logs.String()
	if !strings.Contains(out, "consumer group vanished") || !strings.Contains(out, "resume position (the store)") ||
		!strings.Contains(out, "at="+last) {
		t.Errorf("want the group recreated at %s (the store's newest usage log), logged at error level:\n%s", last, out)
	}
}

// Item 1: with no position known at all the process stops with an error
// saying what to do. A running process always knows one (its own memory
// of the group), so this is the start of a process whose store holds
// usage logs of this stream while the group and its record are gone
// (vanished while no process ran): only the store says where it was, and
// when the store says nothing either the setting decides.
func TestGroupVanishedWhileStoppedWithNoRecordIsRecreatedFromTheStore(t *testing.T) {
	h := newHardEnv(t)
	stop, logs := startRun(t, h.env())
	for range 8 {
		h.add("early", "Xcode", 10, false)
	}
	waitDrained(t, h.rdb, hStream, hGroup, logs)
	stop()
	ctx := context.Background()
	h.rdb.XGroupDestroy(ctx, hStream, hGroup)
	h.rdb.Del(ctx, redis.CommittedKey(hStream))
	h.add("late", "Xcode", 3, false)
	stop, logs = startRun(t, h.env())
	waitDrained(t, h.rdb, hStream, hGroup, logs)
	stop()
	if got := h.score(h.board("Development"), "early"); got != 80 {
		t.Errorf("early score %v after the restart, want 80 (not doubled):\n%s", got, logs.String())
	}
}

// Item 6: two input streams sharing a store with the same
// POMOCORE_PARTITION derived colliding usage-log ids and overwrote each
// other's usage logs. The second stream is refused at start-up, naming
// the setting.
func TestTwoStreamsWithTheSamePartitionAreRefused(t *testing.T) {
	h := newHardEnv(t)
	stop, logs := startRun(t, h.env("POMOCORE_PARTITION", "3"))
	h.add("a", "Xcode", 1, false)
	waitDrained(t, h.rdb, hStream, hGroup, logs)
	stop()
	out, err := runUntilError(t, h.env("POMOCORE_PARTITION", "3", "POMOCORE_STREAM", "other_stream",
		"POMOCORE_DEAD_STREAM", "other_stream:dead"), time.Minute)
	if err == nil || !strings.Contains(err.Error(), "POMOCORE_PARTITION") || !strings.Contains(err.Error(), hStream) {
		t.Fatalf("second stream on partition 3: %v, want a refusal naming POMOCORE_PARTITION and %s\n%s", err, hStream, out)
	}
	// Another partition is fine, and the first stream may restart.
	stop, _ = startRun(t, h.env("POMOCORE_PARTITION", "4", "POMOCORE_STREAM", "other_stream",
		"POMOCORE_DEAD_STREAM", "other_stream:dead"))
	stop()
	stop, _ = startRun(t, h.env("POMOCORE_PARTITION", "3"))
	stop()
}

// Item 6: a dead-letter stream (or session stream) equal to the input
// stream made one bad entry loop forever; both are refused, naming the
// setting.
func TestDeadOrSessionStreamEqualToTheInputIsRefused(t *testing.T) {
	for _, setting := range []string{"POMOCORE_DEAD_STREAM", "POMOCORE_SESSION_STREAM"} {
		for _, stream := range []string{hStream, "other"} {
			env := map[string]string{setting: stream, "POMOCORE_STREAM": stream}
			_, err := loadConfig("run", nil, envOf(env), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), setting) {
				t.Errorf("%s = POMOCORE_STREAM = %s: %v, want a refusal naming %s", setting, stream, err, setting)
				continue
			}
			// Every line names a setting the operator can change, none a
			// field a setting is derived into (the reader's AlsoTrim).
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "POMOCORE_") {
					t.Errorf("%s = POMOCORE_STREAM = %s: line %q names no setting", setting, stream, line)
				}
			}
		}
	}
}

// Item 9: one string at a leaderboard key stopped every user's
// processing. Now only the entries that increment that key are
// dead-lettered (kind wrong_type_key), with none of their effects, while
// other users flow.
func TestStringAtALeaderboardKeyDeadLettersOnlyItsEntries(t *testing.T) {
	h := newHardEnv(t)
	ctx := context.Background()
	if err := h.rdb.Set(ctx, h.board("Development"), "not a sorted set", 0).Err(); err != nil {
		t.Fatal(err)
	}
	stop, logs := startRun(t, h.env())
	var blocked []string
	for i := range 10 {
		blocked = append(blocked, h.add("coder", "Xcode", 10, false))
		h.add("gamer", "Steam", float64(i+1), false)
	}
	waitDrained(t, h.rdb, hStream, hGroup, logs)
	stop()
	if got := h.score(h.board("Game"), "gamer"); got != 55 {
		t.Errorf("other users' score %v, want 55", got)
	}
	dead := h.deadKinds()
	for _, id := range blocked {
		if dead[id] != "wrong_type_key" {
			t.Errorf("entry %s at the string key: dead letter kind %q, want wrong_type_key", id, dead[id])
		}
	}
	if len(dead) != len(blocked) {
		t.Errorf("%d dead letters, want %d (only the blocked entries)", len(dead), len(blocked))
	}
	// None of the blocked entries' other increments applied.
	week := pomocore.LeaderboardKey("leaderboard", "Development", pomocore.PeriodsAt(h.ts, h.seoul).Week)
	if got := h.score(week, "coder"); got != 0 {
		t.Errorf("blocked entries' weekly score %v, want 0 (none of their effects)", got)
	}
	if h.rdb.Get(ctx, h.board("Development")).Val() != "not a sorted set" {
		t.Error("the string key was changed")
	}
	if !strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("no error-level log of the wrong-type key:\n%s", logs.String())
	}
}

// Item 9: a string at the dead-letter stream key: entries to be
// dead-lettered stay pending (there is nowhere to put them), every other
// entry flows; once the key is fixed they are dead-lettered.
func TestStringAtTheDeadStreamLeavesOnlyDeadEntriesPending(t *testing.T) {
	h := newHardEnv(t)
	ctx := context.Background()
	if err := h.rdb.Set(ctx, hDead, "oops", 0).Err(); err != nil {
		t.Fatal(err)
	}
	stop, logs := startRun(t, h.env("POMOCORE_CLAIM_IDLE", "200ms"))
	bad := h.add("", "Xcode", 10, false) // missing user: a dead letter
	var last string
	for range 10 {
		last = h.add("ok", "Xcode", 10, false)
	}
	if !eventually.Within(30*time.Second, func() bool {
		return h.score(h.board("Development"), "ok") == 100 && h.delivered(last)
	}) {
		t.Fatalf("other entries did not flow: score %v\n%s", h.score(h.board("Development"), "ok"), logs.String())
	}
	ps, err := h.rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: hStream, Group: hGroup, Start: "-", End: "+", Count: 10}).Result()
	if err != nil || len(ps) != 1 || ps[0].ID != bad {
		t.Fatalf("pending %+v (%v), want only the entry bound for the dead-letter stream %s", ps, err, bad)
	}
	if h.rdb.Get(ctx, hDead).Val() != "oops" {
		t.Error("the string at the dead-letter key was changed")
	}
	// Fixed: the entry is dead-lettered.
	h.rdb.Del(ctx, hDead)
	if !eventually.Within(30*time.Second, func() bool { return h.pending() == 0 && h.deadKinds()[bad] == "missing_user" }) {
		t.Errorf("after the key was deleted: pending %d, dead letters %v\n%s", h.pending(), h.deadKinds(), logs.String())
	}
	stop()
}

// Item 9: a string at session_score_stream: the session-ending entries
// are dead-lettered as wrong_type_key, every other entry flows.
func TestStringAtTheSessionStreamDeadLettersOnlySessionEnds(t *testing.T) {
	h := newHardEnv(t)
	ctx := context.Background()
	if err := h.rdb.Set(ctx, hSession, "oops", 0).Err(); err != nil {
		t.Fatal(err)
	}
	stop, logs := startRun(t, h.env())
	end := h.add("u", "Xcode", 7, true)
	for range 5 {
		h.add("u", "Xcode", 10, false)
	}
	waitDrained(t, h.rdb, hStream, hGroup, logs)
	stop()
	if got := h.score(h.board("Development"), "u"); got != 50 {
		t.Errorf("score %v, want 50 (the session end's 7 s not counted: it was dead-lettered whole)", got)
	}
	if dead := h.deadKinds(); len(dead) != 1 || dead[end] != "wrong_type_key" {
		t.Errorf("dead letters %v, want only %s as wrong_type_key", dead, end)
	}
}

// Item 4: the SQLite file deleted under a running process: writes went on
// to the unlinked file, entries were acknowledged and /readyz said the
// store was ok; after a restart the usage logs were gone. Now the process
// stops acknowledging, /readyz turns red naming the store, and after a
// restart every entry written since the deletion is stored.
func TestSQLiteFileDeletedStopsAcknowledgingAndTurnsReadyzRed(t *testing.T) {
	h := newHardEnv(t)
	stop, logs := startRun(t, h.env("POMOCORE_HTTP_ADDR", anyPort, "POMOCORE_SHUTDOWN_TIMEOUT", "1s"))
	httpAddr := httpAddrOf(t, logs)
	h.add("a", "Xcode", 1, false)
	waitDrained(t, h.rdb, hStream, hGroup, logs)
	db := filepath.Join(h.dir, "pomocore.db")
	for _, f := range []string{db, db + "-wal", db + "-shm"} {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	var after []string
	for range 5 {
		after = append(after, h.add("b", "Xcode", 2, false))
	}
	var body string
	var code int
	if !eventually.Within(30*time.Second, func() bool {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		code, body = resp.StatusCode, string(b)
		return code != http.StatusOK && strings.Contains(body, "store") && h.delivered(after[0])
	}) {
		t.Fatalf("/readyz %d %q after the file was deleted\n%s", code, body, logs.String())
	}
	// Nothing acknowledged once the file is gone: each entry written since
	// is pending, or not read yet (the batches in flight wait for the
	// store).
	ps, err := h.rdb.XPendingExt(context.Background(), &goredis.XPendingExtArgs{Stream: hStream, Group: hGroup, Start: "-", End: "+", Count: 100}).Result()
	if err != nil {
		t.Fatal(err)
	}
	isPending := map[string]bool{}
	for _, p := range ps {
		isPending[p.ID] = true
	}
	for _, id := range after {
		if h.delivered(id) && !isPending[id] {
			t.Errorf("entry %s acknowledged although the store file is gone", id)
		}
	}
	if got := h.score(h.board("Development"), "b"); got != 0 {
		t.Errorf("score of entries not stored: %v, want 0", got)
	}
	stop()
	if !strings.Contains(logs.String(), "deleted or replaced") {
		t.Errorf("no log saying the file vanished:\n%s", logs.String())
	}
	stop, logs = startRun(t, h.env())
	waitDrained(t, h.rdb, hStream, hGroup, logs)
	stop()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Dir: h.dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ids, err := st.NewestUsageLogIDs(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	have := map[pomocore.ObjectID]bool{}
	for _, id := range ids {
		have[id] = true
	}
	for _, e := range after {
		id, _ := pomocore.ObjectIDFromEntryID(e, 0)
		if !have[id] {
			t.Errorf("usage log of %s written after the deletion is missing after the restart", e)
		}
	}
	if got := h.score(h.board("Development"), "b"); got != 10 {
		t.Errorf("score after the restart %v, want 10", got)
	}
}

// unwritable makes the file at path unwritable to this process (chmod
// 0444, or, as root, whom modes do not stop, chattr +i) until the
// returned function is called; the test is skipped when neither can.
func unwritable(t *testing.T, path string) (writable func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		if err := os.Chmod(path, 0o444); err != nil {
			t.Skipf("chmod: %v", err)
		}
		return func() { _ = os.Chmod(path, 0o644) }
	}
	if out, err := exec.Command("chattr", "+i", path).CombinedOutput(); err != nil {
		t.Skipf("root, and chattr +i failed: %v %s", err, out)
	}
	var once sync.Once
	restore := func() {
		once.Do(func() {
			if out, err := exec.Command("chattr", "-i", path).CombinedOutput(); err != nil {
				t.Errorf("chattr -i: %v %s", err, out)
			}
		})
	}
	t.Cleanup(restore)
	return restore
}

// get returns the status and body of GET url (0 when it does not answer).
func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Issue 27 item 1: an instance started while its SQLite file could not be
// written retried its partition claim ("attempt to write a readonly
// database") forever, also once the file was writable again, and its
// HTTP server was not up meanwhile. Now /healthz answers and /readyz is
// red naming the wait while the store refuses, and the instance starts by
// itself once the file is writable: every entry is processed.
func TestStoreUnwritableAtStartRecoversByItselfWithReadyzRedMeanwhile(t *testing.T) {
	h := newHardEnv(t)
	st, err := sqlite.Open(context.Background(), sqlite.Config{Dir: h.dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	writable := unwritable(t, filepath.Join(h.dir, "pomocore.db"))
	for range 300 {
		h.add("a", "Xcode", 1, false)
	}
	stop, logs := startRun(t, h.env("POMOCORE_HTTP_ADDR", anyPort))
	httpAddr := httpAddrOf(t, logs)
	var health, ready int
	var body string
	if !eventually.Within(30*time.Second, func() bool {
		health, _ = get("http://" + httpAddr + "/healthz")
		ready, body = get("http://" + httpAddr + "/readyz")
		return health == http.StatusOK && ready == http.StatusServiceUnavailable && strings.Contains(body, "partition claim") &&
			strings.Contains(body, "readonly")
	}) {
		t.Fatalf("store unwritable at start: /healthz %d, /readyz %d %q; want 200, and 503 naming the partition claim\n%s",
			health, ready, body, logs.String())
	}
	writable()
	waitDrained(t, h.rdb, hStream, hGroup, logs)
	if !eventually.Within(30*time.Second, func() bool {
		ready, body = get("http://" + httpAddr + "/readyz")
		return ready == http.StatusOK
	}) {
		t.Errorf("/readyz %d %q once running", ready, body)
	}
	if got := h.score(h.board("Development"), "a"); got != 300 {
		t.Errorf("score %v after the store came back, want 300", got)
	}
	stop()
}

// Issue 27 item 9: an entry waiting behind a wrong-type dead stream
// waited a full claim-idle (84 s in the attack) after the key was fixed
// before it was dead-lettered. It is committed again every RetryMax (5 s),
// so it is dead-lettered within seconds of the fix, whatever the
// claim-idle.
func TestEntryBehindAWrongTypeDeadStreamIsDeadLetteredSoonAfterTheFix(t *testing.T) {
	h := newHardEnv(t)
	ctx := context.Background()
	if err := h.rdb.Set(ctx, hDead, "oops", 0).Err(); err != nil {
		t.Fatal(err)
	}
	stop, logs := startRun(t, h.env("POMOCORE_CLAIM_IDLE", "84s"))
	bad := h.add("", "Xcode", 10, false) // missing user: a dead letter
	if !eventually.Within(30*time.Second, func() bool { return h.delivered(bad) && h.pending() == 1 }) {
		t.Fatalf("entry not delivered and left pending\n%s", logs.String())
	}
	h.rdb.Del(ctx, hDead)
	fixed := time.Now()
	if !eventually.Within(15*time.Second, func() bool { return h.pending() == 0 && h.deadKinds()[bad] == "missing_user" }) {
		t.Fatalf("%v after the key was deleted: pending %d, dead letters %v\n%s", time.Since(fixed), h.pending(), h.deadKinds(), logs.String())
	}
	t.Logf("dead-lettered %v after the fix", time.Since(fixed))
	stop()
}
