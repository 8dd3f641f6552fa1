// Package streamtest is the contract suite of the stream ports,
// pipeline.Reader and pipeline.Committer (Run, named subtests: delivery,
// pending re-reads, claims, exactly-once commits across crashes at every
// step a harness can inject, dedup of producer retries, blocked entries,
// session ends and dead letters), and Memory, the in-memory fake that
// passes it. The redis adapter runs the suite against one redis-server, a
// Redis Cluster and miniredis; the pipeline's own tests use Memory.
package streamtest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pomocore/pomocore/pipeline"
)

// Harness makes a fresh stream for each case of the suite.
type Harness interface {
	// NewStream returns an input stream no other case uses, with its
	// consumer group, output streams and leaderboard keys (Key).
	NewStream(t *testing.T) Stream
}

// Stream is one input stream under test, seen as the producer, the
// consumers and an observer of the effects.
type Stream interface {
	// Add appends an entry with fields as the producer does, under id
	// ("*": a new id) and returns its id.
	Add(t *testing.T, id string, fields ...string) string
	// Reader returns a new Reader of the group as consumer: a process that
	// starts (again) under that name.
	Reader(t *testing.T, consumer string) pipeline.Reader
	// Committer returns a new Committer of the group, deduplicating
	// activities within window (0: off).
	Committer(t *testing.T, window time.Duration) pipeline.Committer
	// Crashes lists the points within a commit where the harness can make
	// the process die; none for a form whose commit is atomic.
	Crashes() []Crash
	// Age makes every pending entry look d more idle.
	Age(t *testing.T, d time.Duration)
	// Key returns a leaderboard key of this stream's own, named name.
	Key(name string) string
	// Outputs returns the session stream and the dead-letter stream.
	Outputs() (session, dead string)
	// Score returns member's score in leaderboard key (0 for none).
	Score(t *testing.T, key, member string) float64
	// Entries returns the fields of the entries of an output stream.
	Entries(t *testing.T, stream string) []map[string]string
	// Pending returns the group's pending entries, by id (Idle is not
	// read).
	Pending(t *testing.T) []PendingEntry
	// Delete deletes entry id from the stream (XDEL, or a trim); it stays
	// pending.
	Delete(t *testing.T, id string)
	// DestroyGroup deletes the consumer group (XGROUP DESTROY).
	DestroyGroup(t *testing.T)
	// Block makes key hold a string; Unblock deletes it.
	Block(t *testing.T, key string)
	Unblock(t *testing.T, key string)
}

// Crash is a point within a commit where the process can die.
type Crash struct {
	// Name names the point ("after claim").
	Name string
	// Commit runs a commit of entries, by a committer deduplicating within
	// window, up to this point, and stops there as a killed process would.
	Commit func(ctx context.Context, window time.Duration, entries []pipeline.CommitEntry) error
}

// Skip names cases of Run that a form cannot run, each with why.
type Skip map[string]string

// window is the dedup window the suite commits with.
const window = 2 * time.Hour

// contractCase is one case of Run.
type contractCase struct {
	name string
	f    func(t *testing.T, h Harness)
}

// Run runs the contract suite against the streams h makes; cases named in
// skip are skipped with their reason.
func Run(t *testing.T, h Harness, skip Skip) {
	cases := []contractCase{
		{"Delivery", testDelivery},
		{"BlockingRead", testBlockingRead},
		{"PendingAfterCrash", testPendingAfterCrash},
		{"PendingPages", testPendingPages},
		{"Claim", testClaim},
		{"ClaimPages", testClaimPages},
		{"DeletedPending", testDeletedPending},
		{"DeletedClaimed", testDeletedClaimed},
		{"Effects", testEffects},
		{"ConcurrentCommits", testConcurrentCommits},
		{"GroupMissing", testGroupMissing},
		{"GroupVanishedRecreatedWhereItWas", testGroupVanished},
		{"ExactlyOnceAcrossCrashes", testExactlyOnce},
		{"DedupProducerRetry", testDedup},
		{"DedupWindowByEntryIDs", testDedupWindow},
		{"Blocked", testBlocked},
		{"BlockedOutputs", testBlockedOutputs},
	}
	for name := range skip {
		if !slices.ContainsFunc(cases, func(c contractCase) bool { return c.name == name }) {
			t.Errorf("skip names %q, which is no case of the suite", name)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if why, ok := skip[c.name]; ok {
				t.Skip(why)
			}
			c.f(t, h)
		})
	}
}

func ctxOf(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ids(msgs []pipeline.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return out
}

func read(t *testing.T, r pipeline.Reader, count int) []pipeline.Message {
	t.Helper()
	msgs, err := r.Read(ctxOf(t), count, 0)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return msgs
}

func pending(t *testing.T, r pipeline.Reader, after string, count int) []pipeline.Message {
	t.Helper()
	msgs, err := r.Pending(ctxOf(t), after, count)
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	return msgs
}

func commit(t *testing.T, c pipeline.Committer, entries ...pipeline.CommitEntry) pipeline.CommitResult {
	t.Helper()
	res, err := c.Commit(ctxOf(t), entries)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return res
}

func pendingIDs(t *testing.T, s Stream) []string {
	t.Helper()
	var out []string
	for _, p := range s.Pending(t) {
		out = append(out, p.ID)
	}
	return out
}

// fields returns an entry's fields: a few, one name twice, in an order
// no map keeps.
func fields(n int) []string {
	return []string{"z", fmt.Sprint(n), "a", "x", "m", "", "a", "y"}
}

func testDelivery(t *testing.T, h Harness) {
	s := h.NewStream(t)
	var want []string
	for i := range 3 {
		want = append(want, s.Add(t, "*", fields(i)...))
	}
	r := s.Reader(t, "c1")
	msgs := read(t, r, 10)
	if !slices.Equal(ids(msgs), want) {
		t.Fatalf("Read = %v, want %v", ids(msgs), want)
	}
	for i, m := range msgs {
		if !slices.Equal(m.Fields, fields(i)) || m.Deliveries != 1 || m.Deleted {
			t.Errorf("entry %d = %+v, want fields %q (order and duplicates kept), 1 delivery", i, m, fields(i))
		}
	}
	if msgs := read(t, r, 10); len(msgs) != 0 {
		t.Errorf("second Read = %v, want nothing new", ids(msgs))
	}
	if msgs := read(t, s.Reader(t, "c2"), 10); len(msgs) != 0 {
		t.Errorf("another consumer's Read = %v: the group delivers an entry once", ids(msgs))
	}
	for i := range 3 {
		want = append(want, s.Add(t, "*", fields(3+i)...))
	}
	if got := ids(read(t, r, 2)); !slices.Equal(got, want[3:5]) {
		t.Errorf("Read of 2 = %v, want %v", got, want[3:5])
	}
	if got := ids(read(t, r, 10)); !slices.Equal(got, want[5:]) {
		t.Errorf("Read = %v, want %v", got, want[5:])
	}
	if got := pendingIDs(t, s); !slices.Equal(got, want) {
		t.Errorf("pending = %v, want every entry read (a Reader never acknowledges)", got)
	}
}

func testBlockingRead(t *testing.T, h Harness) {
	s := h.NewStream(t)
	r := s.Reader(t, "c1")
	msgs, err := r.Read(ctxOf(t), 10, 20*time.Millisecond)
	if err != nil || len(msgs) != 0 {
		t.Fatalf("Read of an empty stream = %v, %v; want nothing, no error", ids(msgs), err)
	}
	got := make(chan []pipeline.Message, 1)
	go func() {
		msgs, err := r.Read(context.Background(), 10, 5*time.Second)
		if err != nil {
			t.Errorf("blocking Read: %v", err)
		}
		got <- msgs
	}()
	id := s.Add(t, "*", fields(0)...)
	start := time.Now()
	if msgs := <-got; !slices.Equal(ids(msgs), []string{id}) {
		t.Errorf("blocking Read = %v, want %s", ids(msgs), id)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("blocking Read returned after %v: it waited for its block, not for the entry", d)
	}
}

func testPendingAfterCrash(t *testing.T, h Harness) {
	s := h.NewStream(t)
	var want []string
	for i := range 3 {
		want = append(want, s.Add(t, "*", fields(i)...))
	}
	read(t, s.Reader(t, "c1"), 10)
	// The process dies; it starts again under its name.
	r := s.Reader(t, "c1")
	msgs := pending(t, r, "0", 10)
	if !slices.Equal(ids(msgs), want) {
		t.Fatalf("Pending = %v, want %v", ids(msgs), want)
	}
	for i, m := range msgs {
		if !slices.Equal(m.Fields, fields(i)) || m.Deliveries != 2 || m.Deleted {
			t.Errorf("pending entry %d = %+v, want fields %q, 2 deliveries", i, m, fields(i))
		}
	}
	if got := ids(pending(t, r, want[0], 10)); !slices.Equal(got, want[1:]) {
		t.Errorf("Pending after %s = %v, want %v", want[0], got, want[1:])
	}
	if got := ids(pending(t, r, want[2], 10)); len(got) != 0 {
		t.Errorf("Pending after the last = %v", got)
	}
	if got := ids(pending(t, s.Reader(t, "c2"), "0", 10)); len(got) != 0 {
		t.Errorf("another consumer's Pending = %v, want none of c1's", got)
	}
	if got := ids(read(t, r, 10)); len(got) != 0 {
		t.Errorf("Read after the crash = %v: pending entries are not new", got)
	}
	// Once committed, they are no longer pending.
	c := s.Committer(t, 0)
	var entries []pipeline.CommitEntry
	for _, id := range want {
		entries = append(entries, pipeline.CommitEntry{ID: id})
	}
	if res := commit(t, c, entries...); res.Applied != 3 {
		t.Errorf("commit = %+v, want 3 applied", res)
	}
	if got := ids(pending(t, r, "0", 10)); len(got) != 0 {
		t.Errorf("Pending after the commit = %v", got)
	}
}

func testPendingPages(t *testing.T, h Harness) {
	s := h.NewStream(t)
	var want []string
	for i := range 5 {
		want = append(want, s.Add(t, "*", fields(i)...))
	}
	read(t, s.Reader(t, "c1"), 10)
	r := s.Reader(t, "c1")
	var got []string
	after := "0"
	for range 10 {
		msgs := pending(t, r, after, 2)
		if len(msgs) > 2 {
			t.Fatalf("Pending after %s, 2 = %v: more than asked for", after, ids(msgs))
		}
		if len(msgs) == 0 {
			break
		}
		got = append(got, ids(msgs)...)
		after = msgs[len(msgs)-1].ID
	}
	if !slices.Equal(got, want) {
		t.Errorf("Pending pages = %v, want %v", got, want)
	}
}

func testClaim(t *testing.T, h Harness) {
	s := h.NewStream(t)
	key := s.Key("day")
	var want []string
	for i := range 3 {
		want = append(want, s.Add(t, "*", fields(i)...))
	}
	read(t, s.Reader(t, "c1"), 10) // c1 dies with them
	c2 := s.Reader(t, "c2")
	if msgs, _, err := c2.Claim(ctxOf(t), time.Minute, "0-0", 10); err != nil || len(msgs) != 0 {
		t.Fatalf("Claim of fresh entries = %v, %v; want none: they are not idle yet", ids(msgs), err)
	}
	s.Age(t, 2*time.Minute)
	msgs, next, err := c2.Claim(ctxOf(t), time.Minute, "0-0", 10)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(msgs), want) || next != "0-0" {
		t.Fatalf("Claim = %v, next %q; want %v, 0-0", ids(msgs), next, want)
	}
	for i, m := range msgs {
		if !slices.Equal(m.Fields, fields(i)) || m.Deliveries != 2 || m.Deleted {
			t.Errorf("claimed entry %d = %+v, want fields %q, 2 deliveries", i, m, fields(i))
		}
	}
	for _, p := range s.Pending(t) {
		if p.Consumer != "c2" {
			t.Errorf("entry %s pending for %s after c2 claimed it", p.ID, p.Consumer)
		}
	}
	if got := ids(pending(t, s.Reader(t, "c1"), "0", 10)); len(got) != 0 {
		t.Errorf("c1's Pending after the claim = %v", got)
	}
	entries := increments(want, key, "u", 1)
	if res := commit(t, s.Committer(t, window), entries...); res.Applied != 3 || res.Skipped != 0 {
		t.Errorf("c2's commit = %+v, want 3 applied", res)
	}
	// c1 was not dead after all: its commit of the same entries applies
	// nothing.
	if res := commit(t, s.Committer(t, window), entries...); res.Applied != 0 || res.Skipped != 3 {
		t.Errorf("c1's late commit = %+v, want 3 skipped", res)
	}
	if got := s.Score(t, key, "u"); got != 3 {
		t.Errorf("score = %v, want 3", got)
	}
}

func testClaimPages(t *testing.T, h Harness) {
	s := h.NewStream(t)
	var want []string
	for i := range 5 {
		want = append(want, s.Add(t, "*", fields(i)...))
	}
	read(t, s.Reader(t, "c1"), 10)
	s.Age(t, 2*time.Minute)
	c2 := s.Reader(t, "c2")
	var got []string
	cursor := "0-0"
	for range 20 {
		msgs, next, err := c2.Claim(ctxOf(t), time.Minute, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) > 2 {
			t.Errorf("Claim of 2 gave %d", len(msgs))
		}
		got = append(got, ids(msgs)...)
		if cursor = next; cursor == "0-0" {
			break
		}
	}
	if cursor != "0-0" || !slices.Equal(got, want) {
		t.Errorf("Claim pages = %v (cursor %s), want %v then 0-0", got, cursor, want)
	}
}

// increments returns one commit entry per id adding delta to member in key.
func increments(ids []string, key, member string, delta float64) []pipeline.CommitEntry {
	out := make([]pipeline.CommitEntry, len(ids))
	for i, id := range ids {
		out[i] = pipeline.CommitEntry{ID: id, Increment: &pipeline.Increment{Keys: []string{key}, Member: member, Delta: delta}}
	}
	return out
}

// activity returns a 24-digit hex activity key (a pomodoroUsageLogId).
func activity(n int) string { return fmt.Sprintf("%024x", n) }

func testEffects(t *testing.T, h Harness) {
	s := h.NewStream(t)
	day, week := s.Key("day"), s.Key("week")
	session, dead := s.Outputs()
	var id []string
	for i := range 4 {
		id = append(id, s.Add(t, "*", fields(i)...))
	}
	read(t, s.Reader(t, "c1"), 10)
	entries := []pipeline.CommitEntry{
		{ID: id[0], Increment: &pipeline.Increment{Keys: []string{day, week}, TTLs: []time.Duration{time.Hour, 0}, Member: "u1", Delta: 10.5}},
		{ID: id[1], Increment: &pipeline.Increment{Keys: []string{day}, Member: "u1", Delta: 2}, SessionEnd: &pipeline.SessionEnd{UserID: "u1", SessionDate: "2026-11-24", Session: 3}},
		{ID: id[2], Dead: &pipeline.DeadLetter{Reason: "bad duration", Kind: "invalid", Fields: fields(2)}},
		{ID: id[3]},
	}
	c := s.Committer(t, window)
	if res := commit(t, c, entries...); res.Applied != 4 || res.Skipped != 0 || res.Duplicates != 0 || res.Blocked != nil {
		t.Errorf("commit = %+v, want 4 applied", res)
	}
	check := func(when string) {
		t.Helper()
		if got := s.Score(t, day, "u1"); got != 12.5 {
			t.Errorf("%s: %s u1 = %v, want 12.5", when, day, got)
		}
		if got := s.Score(t, week, "u1"); got != 10.5 {
			t.Errorf("%s: %s u1 = %v, want 10.5", when, week, got)
		}
		ses := s.Entries(t, session)
		if want := (map[string]string{"userId": "u1", "sessionDate": "2026-11-24", "session": "3"}); len(ses) != 1 || !maps.Equal(ses[0], want) {
			t.Errorf("%s: session events = %v, want one %v", when, ses, want)
		}
		dl := s.Entries(t, dead)
		if len(dl) != 1 {
			t.Fatalf("%s: dead letters = %v, want one", when, dl)
		}
		for k, v := range map[string]string{"dead.id": id[2], "dead.reason": "bad duration", "dead.kind": "invalid", "z": "2", "m": ""} {
			if got, ok := dl[0][k]; !ok || got != v {
				t.Errorf("%s: dead letter %s = %q, want %q", when, k, got, v)
			}
		}
		if p := pendingIDs(t, s); len(p) != 0 {
			t.Errorf("%s: pending = %v", when, p)
		}
	}
	check("after the commit")
	if res := commit(t, c, entries...); res.Applied != 0 || res.Skipped != 4 {
		t.Errorf("second commit = %+v, want 4 skipped", res)
	}
	if res := commit(t, s.Committer(t, window), entries...); res.Applied != 0 || res.Skipped != 4 {
		t.Errorf("another committer's commit = %+v, want 4 skipped", res)
	}
	check("after committing again")
	if res, err := c.Commit(ctxOf(t), nil); err != nil || res.Applied+res.Skipped+res.Duplicates != 0 || res.Blocked != nil {
		t.Errorf("empty commit = %+v, %v", res, err)
	}
}

// testExactlyOnce commits a batch that a crash interrupts at each point
// (before the commit, at each point the harness injects, after it with
// its reply lost), then recovers it: the same consumer restarts and
// re-reads its pending entries, or another claims them; the producer
// re-sends one activity meanwhile. Every effect applies once, every entry
// ends acknowledged, and the crashed process's late commit changes nothing.
func testExactlyOnce(t *testing.T, h Harness) {
	points := []string{"before"}
	for _, c := range h.NewStream(t).Crashes() {
		points = append(points, c.Name)
	}
	points = append(points, "after")
	for _, point := range points {
		for _, recovery := range []string{"restart", "claim"} {
			t.Run(point+"/"+recovery, func(t *testing.T) { exactlyOnce(t, h, point, recovery) })
		}
	}
}

func exactlyOnce(t *testing.T, h Harness, point, recovery string) {
	s := h.NewStream(t)
	day := s.Key("day")
	session, dead := s.Outputs()
	for i := range 4 {
		s.Add(t, "*", fields(i)...)
	}
	msgs := read(t, s.Reader(t, "c1"), 10)
	if len(msgs) != 4 {
		t.Fatalf("Read = %v, want the 4 entries", ids(msgs))
	}
	act := activity(1)
	batch := []pipeline.CommitEntry{
		{ID: msgs[0].ID, Increment: &pipeline.Increment{Keys: []string{day}, Member: "u1", Delta: 1}, DedupKey: activity(0)},
		{ID: msgs[1].ID, Increment: &pipeline.Increment{Keys: []string{day}, Member: "u1", Delta: 2}, SessionEnd: &pipeline.SessionEnd{UserID: "u1", SessionDate: "2026-11-24", Session: 1}, DedupKey: act},
		{ID: msgs[2].ID, Dead: &pipeline.DeadLetter{Reason: "r", Kind: "k", Fields: fields(2)}},
		{ID: msgs[3].ID, Increment: &pipeline.Increment{Keys: []string{day}, Member: "u2", Delta: 4}},
	}
	switch point {
	case "before":
	case "after":
		commit(t, s.Committer(t, window), batch...) // the reply is lost
	default:
		i := slices.IndexFunc(s.Crashes(), func(c Crash) bool { return c.Name == point })
		if err := s.Crashes()[i].Commit(ctxOf(t), window, batch); err != nil {
			t.Fatalf("commit up to %s: %v", point, err)
		}
	}
	// The producer re-sends the second activity under a new entry id.
	retry := s.Add(t, "*", fields(1)...)

	var r pipeline.Reader
	var recovered []pipeline.Message
	switch recovery {
	case "restart":
		r = s.Reader(t, "c1")
		recovered = pending(t, r, "0", 10)
	case "claim":
		s.Age(t, 2*time.Minute)
		r = s.Reader(t, "c2")
		var err error
		if recovered, _, err = r.Claim(ctxOf(t), time.Minute, "0-0", 10); err != nil {
			t.Fatal(err)
		}
	}
	if point == "after" && len(recovered) != 0 {
		t.Errorf("entries still pending after a finished commit: %v", ids(recovered))
	}
	byID := map[string]pipeline.CommitEntry{}
	for _, e := range batch {
		byID[e.ID] = e
	}
	var again []pipeline.CommitEntry
	for _, m := range recovered {
		e, ok := byID[m.ID]
		if !ok {
			t.Fatalf("recovered entry %s was never read", m.ID)
		}
		again = append(again, e)
	}
	c := s.Committer(t, window)
	// The retry, read by the recovering process, may commit first.
	if got := ids(read(t, r, 10)); !slices.Equal(got, []string{retry}) {
		t.Fatalf("Read = %v, want the retry %s", got, retry)
	}
	retried := batch[1]
	retried.ID = retry
	res := commit(t, c, retried)
	if res.Applied != 1 || res.Duplicates > 1 {
		t.Errorf("commit of the retry = %+v, want 1 applied", res)
	}
	dups := res.Duplicates
	res = commit(t, c, again...)
	if res.Applied+res.Skipped != len(again) {
		t.Errorf("commit of the recovered %v = %+v", ids(recovered), res)
	}
	dups += res.Duplicates
	if dups != 1 {
		t.Errorf("%d duplicates, want 1: of the original and its retry, one carries the effects", dups)
	}
	check := func(when string) {
		t.Helper()
		if got := s.Score(t, day, "u1"); got != 3 {
			t.Errorf("%s: u1 = %v, want 3 (1 + 2, each once)", when, got)
		}
		if got := s.Score(t, day, "u2"); got != 4 {
			t.Errorf("%s: u2 = %v, want 4", when, got)
		}
		if n := len(s.Entries(t, session)); n != 1 {
			t.Errorf("%s: %d session events, want 1", when, n)
		}
		if n := len(s.Entries(t, dead)); n != 1 {
			t.Errorf("%s: %d dead letters, want 1", when, n)
		}
		if p := pendingIDs(t, s); len(p) != 0 {
			t.Errorf("%s: pending = %v, want none", when, p)
		}
	}
	check("after recovery")
	// The crashed process was only slow: its commit of the batch comes now.
	if res := commit(t, s.Committer(t, window), append(batch, retried)...); res.Applied != 0 || res.Skipped != 5 {
		t.Errorf("late commit = %+v, want 5 skipped", res)
	}
	check("after the late commit")
}

func testDedup(t *testing.T, h Harness) {
	s := h.NewStream(t)
	key := s.Key("day")
	session, _ := s.Outputs()
	var id []string
	for i := range 6 {
		id = append(id, s.Add(t, "*", fields(i)...))
	}
	read(t, s.Reader(t, "c1"), 10)
	entry := func(i, act int, delta float64) pipeline.CommitEntry {
		return pipeline.CommitEntry{ID: id[i], Increment: &pipeline.Increment{Keys: []string{key}, Member: "u", Delta: delta},
			SessionEnd: &pipeline.SessionEnd{UserID: "u", SessionDate: "2026-11-24", Session: act}, DedupKey: activity(act)}
	}
	// A retry in a later commit, by another committer.
	if res := commit(t, s.Committer(t, window), entry(0, 1, 1)); res.Applied != 1 || res.Duplicates != 0 {
		t.Errorf("first copy = %+v, want applied", res)
	}
	if res := commit(t, s.Committer(t, window), entry(1, 1, 1)); res.Applied != 1 || res.Duplicates != 1 {
		t.Errorf("retry = %+v, want applied as a duplicate", res)
	}
	// Both copies in one commit: the first carries the effects.
	if res := commit(t, s.Committer(t, window), entry(2, 2, 10), entry(3, 2, 10)); res.Applied != 2 || res.Duplicates != 1 {
		t.Errorf("both copies = %+v, want 2 applied, 1 duplicate", res)
	}
	// Without a window, or without a key, nothing is a duplicate.
	if res := commit(t, s.Committer(t, 0), entry(4, 1, 100)); res.Applied != 1 || res.Duplicates != 0 {
		t.Errorf("commit without dedup = %+v, want applied", res)
	}
	noKey := entry(5, 1, 1000)
	noKey.DedupKey = ""
	if res := commit(t, s.Committer(t, window), noKey); res.Applied != 1 || res.Duplicates != 0 {
		t.Errorf("commit without a key = %+v, want applied", res)
	}
	if got := s.Score(t, key, "u"); got != 1111 {
		t.Errorf("score = %v, want 1111 (1 + 10 + 100 + 1000)", got)
	}
	if n := len(s.Entries(t, session)); n != 4 {
		t.Errorf("%d session events, want 4: a duplicate emits none", n)
	}
	if p := pendingIDs(t, s); len(p) != 0 {
		t.Errorf("pending = %v: duplicates are acknowledged", p)
	}
}

func testDedupWindow(t *testing.T, h Harness) {
	s := h.NewStream(t)
	key := s.Key("day")
	base := uint64(1_700_000_000_000)
	at := func(ms uint64) string { return fmt.Sprintf("%d-0", ms) }
	w := uint64(window.Milliseconds())
	id := []string{
		s.Add(t, at(base), fields(0)...),
		s.Add(t, at(base+w-1), fields(1)...),   // within the window of the first
		s.Add(t, at(base+2*w+1), fields(2)...), // past it
	}
	read(t, s.Reader(t, "c1"), 10)
	c := s.Committer(t, window)
	for i, want := range []int{0, 1, 0} {
		e := pipeline.CommitEntry{ID: id[i], Increment: &pipeline.Increment{Keys: []string{key}, Member: "u", Delta: 1}, DedupKey: activity(7)}
		if res := commit(t, c, e); res.Applied != 1 || res.Duplicates != want {
			t.Errorf("copy %d (%s) = %+v, want applied with %d duplicates", i, id[i], res, want)
		}
	}
	if got := s.Score(t, key, "u"); got != 2 {
		t.Errorf("score = %v, want 2: the window is measured between the entries' ids", got)
	}
}

func testBlocked(t *testing.T, h Harness) {
	s := h.NewStream(t)
	bad, good := s.Key("bad"), s.Key("good")
	var id []string
	for i := range 3 {
		id = append(id, s.Add(t, "*", fields(i)...))
	}
	read(t, s.Reader(t, "c1"), 10)
	s.Block(t, bad)
	entries := []pipeline.CommitEntry{
		{ID: id[0], Increment: &pipeline.Increment{Keys: []string{good, bad}, Member: "u", Delta: 1}},
		{ID: id[1], Increment: &pipeline.Increment{Keys: []string{good}, Member: "u", Delta: 2}},
		{ID: id[2], SessionEnd: &pipeline.SessionEnd{UserID: "u", SessionDate: "2026-11-24", Session: 1}},
	}
	c := s.Committer(t, window)
	for attempt := range 2 {
		res := commit(t, c, entries...)
		if len(res.Blocked) != 1 || !strings.Contains(res.Blocked[id[0]], bad) {
			t.Errorf("commit %d: Blocked = %v, want %s naming %s", attempt, res.Blocked, id[0], bad)
		}
		if res.Applied+res.Skipped != 2 {
			t.Errorf("commit %d = %+v, want the other 2 committed", attempt, res)
		}
		if got := pendingIDs(t, s); !slices.Equal(got, id[:1]) {
			t.Errorf("commit %d: pending = %v, want the blocked %s only", attempt, got, id[0])
		}
		if got := s.Score(t, good, "u"); got != 2 {
			t.Errorf("commit %d: %s = %v, want 2: the blocked entry applies none of its effects", attempt, good, got)
		}
	}
	s.Unblock(t, bad)
	if res := commit(t, c, entries...); res.Applied != 1 || res.Skipped != 2 || res.Blocked != nil {
		t.Errorf("commit after the fix = %+v, want 1 applied, 2 skipped", res)
	}
	if got, got2 := s.Score(t, good, "u"), s.Score(t, bad, "u"); got != 3 || got2 != 1 {
		t.Errorf("after the fix: %s = %v, %s = %v; want 3 and 1", good, got, bad, got2)
	}
	if p := pendingIDs(t, s); len(p) != 0 {
		t.Errorf("pending = %v", p)
	}
}

func testBlockedOutputs(t *testing.T, h Harness) {
	s := h.NewStream(t)
	session, dead := s.Outputs()
	key := s.Key("day")
	var id []string
	for i := range 3 {
		id = append(id, s.Add(t, "*", fields(i)...))
	}
	read(t, s.Reader(t, "c1"), 10)
	s.Block(t, session)
	s.Block(t, dead)
	entries := []pipeline.CommitEntry{
		{ID: id[0], Increment: &pipeline.Increment{Keys: []string{key}, Member: "u", Delta: 1}, SessionEnd: &pipeline.SessionEnd{UserID: "u", SessionDate: "2026-11-24", Session: 1}},
		{ID: id[1], Dead: &pipeline.DeadLetter{Reason: "r", Kind: "k", Fields: fields(1)}},
		{ID: id[2], Increment: &pipeline.Increment{Keys: []string{key}, Member: "u", Delta: 2}},
	}
	c := s.Committer(t, window)
	res := commit(t, c, entries...)
	if len(res.Blocked) != 2 || !strings.Contains(res.Blocked[id[0]], session) || !strings.Contains(res.Blocked[id[1]], dead) {
		t.Errorf("Blocked = %v, want %s naming %s and %s naming %s", res.Blocked, id[0], session, id[1], dead)
	}
	if res.Applied != 1 {
		t.Errorf("commit = %+v, want 1 applied", res)
	}
	if got := s.Score(t, key, "u"); got != 2 {
		t.Errorf("score = %v, want 2", got)
	}
	s.Unblock(t, session)
	s.Unblock(t, dead)
	if res := commit(t, c, entries...); res.Applied != 2 || res.Blocked != nil {
		t.Errorf("commit after the fix = %+v, want 2 applied", res)
	}
	if got := s.Score(t, key, "u"); got != 3 {
		t.Errorf("score = %v, want 3", got)
	}
	if n, m := len(s.Entries(t, session)), len(s.Entries(t, dead)); n != 1 || m != 1 {
		t.Errorf("%d session events and %d dead letters, want 1 and 1", n, m)
	}
}

func testDeletedPending(t *testing.T, h Harness) {
	s := h.NewStream(t)
	var id []string
	for i := range 3 {
		id = append(id, s.Add(t, "*", fields(i)...))
	}
	read(t, s.Reader(t, "c1"), 10)
	s.Delete(t, id[1])
	msgs := pending(t, s.Reader(t, "c1"), "0", 10)
	if !slices.Equal(ids(msgs), id) {
		t.Fatalf("Pending = %v, want %v: a deleted entry stays pending", ids(msgs), id)
	}
	for i, m := range msgs {
		if deleted := i == 1; m.Deleted != deleted || (!deleted && !slices.Equal(m.Fields, fields(i))) {
			t.Errorf("pending entry %d = %+v, want deleted %v", i, m, deleted)
		}
	}
	key := s.Key("day")
	entries := increments([]string{id[0], id[2]}, key, "u", 1)
	entries = append(entries, pipeline.CommitEntry{ID: id[1]})
	if res := commit(t, s.Committer(t, window), entries...); res.Applied+res.Skipped != 3 || res.Blocked != nil {
		t.Errorf("commit = %+v, want all 3 committed", res)
	}
	if p := pendingIDs(t, s); len(p) != 0 {
		t.Errorf("pending = %v, want none", p)
	}
	if got := s.Score(t, key, "u"); got != 2 {
		t.Errorf("score = %v, want 2", got)
	}
}

func testDeletedClaimed(t *testing.T, h Harness) {
	s := h.NewStream(t)
	var id []string
	for i := range 3 {
		id = append(id, s.Add(t, "*", fields(i)...))
	}
	read(t, s.Reader(t, "c1"), 10)
	s.Age(t, 2*time.Minute) // before the delete: a harness may age entries by claiming them
	s.Delete(t, id[1])
	msgs, next, err := s.Reader(t, "c2").Claim(ctxOf(t), time.Minute, "0-0", 10)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]pipeline.Message{}
	for _, m := range msgs {
		got[m.ID] = m
	}
	if len(msgs) != 3 || next != "0-0" || !got[id[1]].Deleted || got[id[0]].Deleted || got[id[2]].Deleted {
		t.Fatalf("Claim = %+v, next %s; want the 3 entries, %s deleted", msgs, next, id[1])
	}
	var entries []pipeline.CommitEntry
	for _, m := range msgs {
		entries = append(entries, pipeline.CommitEntry{ID: m.ID})
	}
	if res := commit(t, s.Committer(t, window), entries...); res.Applied+res.Skipped != 3 {
		t.Errorf("commit = %+v, want all 3 committed", res)
	}
	if p := pendingIDs(t, s); len(p) != 0 {
		t.Errorf("pending = %v, want none", p)
	}
}

// testConcurrentCommits commits one batch from several committers at once
// (consumers racing after a claim): each entry is applied by one of them,
// its effects once. A commit that fails is committed again, as the
// pipeline does.
func testConcurrentCommits(t *testing.T, h Harness) {
	s := h.NewStream(t)
	key := s.Key("day")
	session, _ := s.Outputs()
	var entries []pipeline.CommitEntry
	for i := range 10 {
		id := s.Add(t, "*", fields(i)...)
		e := pipeline.CommitEntry{ID: id, Increment: &pipeline.Increment{Keys: []string{key}, Member: "u", Delta: 1}, DedupKey: activity(100 + i)}
		if i%3 == 0 {
			e.SessionEnd = &pipeline.SessionEnd{UserID: "u", SessionDate: "2026-11-24", Session: i}
		}
		entries = append(entries, e)
	}
	read(t, s.Reader(t, "c1"), 20)
	const committers = 4
	results := make([]pipeline.CommitResult, committers)
	errs := make([]error, committers)
	var wg sync.WaitGroup
	for i := range committers {
		c := s.Committer(t, window)
		wg.Go(func() {
			for range 10 {
				if results[i], errs[i] = c.Commit(ctxOf(t), entries); errs[i] == nil {
					return
				}
			}
		})
	}
	wg.Wait()
	applied := 0
	for i := range committers {
		if errs[i] != nil {
			t.Fatalf("committer %d failed 10 times: %v", i, errs[i])
		}
		applied += results[i].Applied
		if results[i].Applied+results[i].Skipped != len(entries) || results[i].Duplicates != 0 {
			t.Errorf("committer %d: %+v, want every entry applied or skipped, no duplicates", i, results[i])
		}
	}
	if applied != len(entries) {
		t.Errorf("%d applied over all committers, want %d: each entry once", applied, len(entries))
	}
	if got := s.Score(t, key, "u"); got != 10 {
		t.Errorf("score = %v, want 10", got)
	}
	if n := len(s.Entries(t, session)); n != 4 {
		t.Errorf("%d session events, want 4", n)
	}
	if p := pendingIDs(t, s); len(p) != 0 {
		t.Errorf("pending = %v", p)
	}
}

func testGroupMissing(t *testing.T, h Harness) {
	s := h.NewStream(t)
	id := s.Add(t, "*", fields(0)...)
	read(t, s.Reader(t, "c1"), 10)
	s.DestroyGroup(t)
	_, err := s.Committer(t, window).Commit(ctxOf(t), increments([]string{id}, s.Key("day"), "u", 1))
	if !errors.Is(err, pipeline.ErrGroupMissing) {
		t.Errorf("Commit without the group = %v, want ErrGroupMissing", err)
	}
}

// testGroupVanished: a group that vanished while its Reader ran is
// recreated where it was (after the last committed entry), not at 0: the
// committed entries are not delivered again, the one in flight is.
func testGroupVanished(t *testing.T, h Harness) {
	s := h.NewStream(t)
	var all []string
	for i := range 3 {
		all = append(all, s.Add(t, "*", fields(i)...))
	}
	r := s.Reader(t, "c1")
	if got := ids(read(t, r, 10)); !slices.Equal(got, all) {
		t.Fatalf("read %v, want %v", got, all)
	}
	if _, err := s.Committer(t, window).Commit(ctxOf(t), increments(all[:2], s.Key("day"), "u", 1)); err != nil {
		t.Fatal(err)
	}
	s.DestroyGroup(t)
	if got := ids(read(t, r, 10)); !slices.Equal(got, all[2:]) {
		t.Errorf("read after the group vanished: %v, want %v (the entry not committed, nothing committed again)", got, all[2:])
	}
}
