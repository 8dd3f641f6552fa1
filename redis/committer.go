package redis

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/pipeline"
)

//go:embed commit.lua
var commitLua string

var commitScript = goredis.NewScript(commitLua)

// CommitterConfig names the keys a Committer writes.
type CommitterConfig struct {
	// Stream and Group are the input stream and its consumer group, whose
	// entries are acknowledged.
	Stream, Group string
	// DeadStream receives rejected entries (default "<Stream>:dead").
	DeadStream string
	// SessionStream receives session-end events ("session_score_stream").
	SessionStream string
	// DeadMaxLen caps the dead-letter stream at about this many entries
	// (XADD MAXLEN ~; 0: no cap).
	DeadMaxLen int64
}

// Validate reports a missing name.
func (c CommitterConfig) Validate() error {
	var errs []error
	for _, f := range []struct{ name, v string }{
		{"stream", c.Stream}, {"group", c.Group}, {"dead-letter stream", c.DeadStream}, {"session stream", c.SessionStream},
	} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("%s: empty", f.name))
		}
	}
	return errors.Join(errs...)
}

// Committer implements pipeline.Committer with one Lua script per batch
// (EVALSHA, falling back to EVAL): the script acknowledges every entry first
// and applies an entry's effects only when its XACK returned 1, so a
// redelivered or doubly-claimed entry is never counted twice, and Redis runs
// the whole script atomically. Increments of one (key, member) within the
// batch are summed and sent as one ZINCRBY. Safe for concurrent use.
type Committer struct {
	rdb goredis.Scripter
	cfg CommitterConfig
}

// NewCommitter returns a Committer writing through rdb.
func NewCommitter(rdb goredis.Scripter, cfg CommitterConfig) (*Committer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("redis committer: %w", err)
	}
	return &Committer{rdb: rdb, cfg: cfg}, nil
}

// Commit implements pipeline.Committer.
func (c *Committer) Commit(ctx context.Context, entries []pipeline.CommitEntry) (pipeline.CommitResult, error) {
	if len(entries) == 0 {
		return pipeline.CommitResult{}, nil
	}
	keys, args := c.encode(entries)
	res, err := commitScript.Run(ctx, c.rdb, keys, args...).Int64Slice()
	if err != nil {
		if goredis.HasErrorPrefix(err, "NOGROUP") {
			err = fmt.Errorf("%w: %w", pipeline.ErrGroupMissing, err)
		}
		return pipeline.CommitResult{}, fmt.Errorf("redis commit of %d entries to %s/%s: %w", len(entries), c.cfg.Stream, c.cfg.Group, err)
	}
	if len(res) != 2 {
		return pipeline.CommitResult{}, fmt.Errorf("redis commit: script returned %d values, want 2", len(res))
	}
	return pipeline.CommitResult{Applied: int(res[0]), Skipped: int(res[1])}, nil
}

// encode lays the batch out for commit.lua. KEYS: the input stream, the
// dead-letter stream, the session stream, then every leaderboard key once.
// ARGV: group, entry count, dead-letter MAXLEN (0: none), then per entry: id, flags ("i" increment, "s"
// session end, "d" dead letter, any combination, "-" for none), followed by
// the parts its flags name, in the order i, s, d; last, a count and that
// many (key index, seconds) pairs of leaderboard TTLs:
//
//	i: member, delta, n, n key indexes (1-based into KEYS)
//	s: userId, sessionDate, session
//	d: reason, kind, n, n field/value pairs
func (c *Committer) encode(entries []pipeline.CommitEntry) ([]string, []any) {
	keys := []string{c.cfg.Stream, c.cfg.DeadStream, c.cfg.SessionStream}
	keyIndex := make(map[string]int)
	ttls := map[int]int64{} // key index -> seconds
	args := make([]any, 0, 2+len(entries)*10)
	args = append(args, c.cfg.Group, len(entries), c.cfg.DeadMaxLen)
	for i := range entries {
		e := &entries[i]
		flags := make([]byte, 0, 3)
		if e.Increment != nil && len(e.Increment.Keys) > 0 {
			flags = append(flags, 'i')
		}
		if e.SessionEnd != nil {
			flags = append(flags, 's')
		}
		if e.Dead != nil {
			flags = append(flags, 'd')
		}
		if len(flags) == 0 {
			flags = append(flags, '-')
		}
		args = append(args, e.ID, string(flags))
		if e.Increment != nil && len(e.Increment.Keys) > 0 {
			inc := e.Increment
			args = append(args, inc.Member, strconv.FormatFloat(inc.Delta, 'g', 17, 64), len(inc.Keys))
			for i, k := range inc.Keys {
				idx, ok := keyIndex[k]
				if !ok {
					keys = append(keys, k)
					idx = len(keys)
					keyIndex[k] = idx
				}
				args = append(args, idx)
				if i < len(inc.TTLs) && inc.TTLs[i] > 0 {
					ttls[idx] = max(ttls[idx], int64(inc.TTLs[i]/time.Second))
				}
			}
		}
		if s := e.SessionEnd; s != nil {
			args = append(args, s.UserID, s.SessionDate, s.Session)
		}
		if d := e.Dead; d != nil {
			args = append(args, d.Reason, d.Kind, len(d.Fields)/2)
			for _, f := range d.Fields[:len(d.Fields)/2*2] {
				args = append(args, f)
			}
		}
	}
	args = append(args, len(ttls))
	for idx, secs := range ttls {
		args = append(args, idx, secs)
	}
	return keys, args
}
