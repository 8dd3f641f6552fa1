package redis_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/redis"
)

// Issue 19 item 9: one wrong-type key failed every commit, stopping every
// user's processing; now only the entries touching it are left out, listed
// in the result's Blocked (issue 25: not an error, after which nothing may
// be assumed of the batch).
func TestWrongTypeKeyFailsOnlyTheEntriesThatTouchIt(t *testing.T) {
	for _, mode := range []string{"one-script", "three-steps"} {
		t.Run(mode, func(t *testing.T) {
			rdb := redistest.Start(t).Client(t)
			ctx := context.Background()
			c := newCommitterWith(t, rdb, mode == "three-steps")
			ids := deliver(t, rdb, 7)
			for _, k := range []string{"board:bad", session, dead} {
				if err := rdb.Set(ctx, k, "oops", 0).Err(); err != nil {
					t.Fatal(err)
				}
			}
			bad := entry(ids[1], "board:bad", 5)
			bad.Increment.Keys = append(bad.Increment.Keys, "board:ok") // touches a good key too: still blocked whole
			sess := entry(ids[2], "board:ok", 1)
			sess.SessionEnd = &pipeline.SessionEnd{UserID: "u", SessionDate: "2026-12-01", Session: 1}
			deadOne := pipeline.CommitEntry{ID: ids[3], Dead: &pipeline.DeadLetter{Reason: "r", Kind: "k", Fields: []string{"a", "b"}}}
			batch := []pipeline.CommitEntry{entry(ids[0], "board:ok", 1), bad, sess, deadOne, entry(ids[4], "board:ok", 1)}
			res, err := c.Commit(ctx, batch)
			if err != nil {
				t.Fatalf("commit = %v, want the blocked entries in the result, no error", err)
			}
			want := map[string]string{ids[1]: "key board:bad holds a string", ids[2]: "key " + session + " holds a string",
				ids[3]: "key " + dead + " holds a string"}
			if len(res.Blocked) != len(want) {
				t.Errorf("blocked %v, want %v", res.Blocked, want)
			}
			for id, why := range want {
				if res.Blocked[id] != why {
					t.Errorf("entry %s blocked: %q, want %q", id, res.Blocked[id], why)
				}
			}
			if res.Applied != 2 {
				t.Errorf("applied %d, want the 2 entries touching no bad key", res.Applied)
			}
			if got := rdb.ZScore(ctx, "board:ok", "u").Val(); got != 2 {
				t.Errorf("board:ok = %v, want 2 (only the unblocked entries)", got)
			}
			p, _ := rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: stream, Group: group, Start: "-", End: "+", Count: 10}).Result()
			pending := map[string]bool{}
			for _, e := range p {
				pending[e.ID] = true
			}
			for id := range want {
				if !pending[id] {
					t.Errorf("blocked entry %s is not pending", id)
				}
			}
			if pending[ids[0]] || pending[ids[4]] {
				t.Errorf("committed entries still pending: %v", pending)
			}

			// Fixed: the blocked entries commit, once.
			for _, k := range []string{"board:bad", session, dead} {
				rdb.Del(ctx, k)
			}
			res, err = c.Commit(ctx, batch)
			if err != nil || res.Applied != 3 || res.Skipped != 2 {
				t.Fatalf("commit after the fix = %+v, %v; want 3 applied, 2 skipped", res, err)
			}
			if got := rdb.ZScore(ctx, "board:ok", "u").Val(); got != 8 {
				t.Errorf("board:ok = %v, want 8", got)
			}
			if n := rdb.XLen(ctx, session).Val(); n != 1 {
				t.Errorf("session events = %d, want 1", n)
			}
		})
	}
}

// Issue 19 item 8: an oversized value was copied whole into its dead
// letter.
func TestDeadLetterKeepsABoundedPrefixWithSizeAndHash(t *testing.T) {
	committerBackends(t, func(t *testing.T, rdb goredis.UniversalClient) {
		ctx := context.Background()
		c := newCommitter(t, rdb)
		ids := deliver(t, rdb, 1)
		huge := strings.Repeat("é", 1<<19) // 1 MiB, 2-byte runes
		if _, err := c.Commit(ctx, []pipeline.CommitEntry{{ID: ids[0], Dead: &pipeline.DeadLetter{
			Reason: "too long", Kind: "too_long", Fields: []string{"userId", "u", "title", huge}}}}); err != nil {
			t.Fatal(err)
		}
		dl, err := rdb.XRange(ctx, dead, "-", "+").Result()
		if err != nil || len(dl) != 1 {
			t.Fatalf("dead letters %d, %v", len(dl), err)
		}
		v := dl[0].Values
		title, _ := v["title"].(string)
		if len(title) > redis.DefaultDeadValueMax || !strings.HasPrefix(huge, title) || len(title) < redis.DefaultDeadValueMax-2 {
			t.Errorf("title kept %d bytes, want a UTF-8 prefix of at most %d", len(title), redis.DefaultDeadValueMax)
		}
		sum := sha256.Sum256([]byte(huge))
		if v["title.size"] != "1048576" || v["title.sha256"] != hex.EncodeToString(sum[:]) {
			t.Errorf("size %v, hash %v", v["title.size"], v["title.sha256"])
		}
		if v["userId"] != "u" || v["userId.size"] != nil {
			t.Errorf("short field changed: %v", v)
		}
		total := 0
		for k, x := range v {
			total += len(k) + len(x.(string))
		}
		if total > 2*redis.DefaultDeadValueMax {
			t.Errorf("dead letter is %d bytes", total)
		}
	})
}

// Issue 19 item 6 (Redis part): a dead-letter or session stream equal to
// the input stream made one bad entry loop forever.
func TestConfigRefusesOutputStreamsEqualToTheInput(t *testing.T) {
	field := func(err error) []string {
		var out []string
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			var ce *pipeline.ConfigError
			if errors.As(e, &ce) {
				out = append(out, ce.Field)
			}
		}
		return out
	}
	cc := redis.CommitterConfig{Stream: "in", Group: "g", DeadStream: "in", SessionStream: "in"}
	err := cc.Validate()
	if err == nil {
		t.Fatal("dead and session stream = input stream accepted")
	}
	if got := field(err); !strings.Contains(strings.Join(got, ","), "DeadStream") || !strings.Contains(strings.Join(got, ","), "SessionStream") {
		t.Errorf("fields %v, want DeadStream and SessionStream", got)
	}
	good := redis.DefaultCommitterConfig()
	good.Stream, good.Group, good.DeadStream, good.SessionStream = "in", "g", "in:dead", "s"
	if err := good.Validate(); err != nil {
		t.Errorf("good config refused: %v", err)
	}
	rc := redis.DefaultReaderConfig()
	rc.Stream, rc.Group, rc.Consumer, rc.AlsoTrim, rc.MaxBlock = "in", "g", "c", []string{"in"}, 10_000_000_000
	if got := field(rc.Validate()); strings.Join(got, ",") != "AlsoTrim,MaxBlock" {
		t.Errorf("reader config fields %v, want AlsoTrim (the session stream is the input) and MaxBlock (not below the read timeout)", got)
	}
}
