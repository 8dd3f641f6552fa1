package redis

import (
	"context"
	"fmt"
	"slices"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/pipeline"
)

// wrongTypes records the entries a commit left out because target keys (a
// leaderboard, the session stream, the dead-letter stream) hold another
// type than the commit needs (a string at a leaderboard key): neither
// acknowledged nor applied, they stay pending, and Commit lists them in
// pipeline.CommitResult.Blocked while it commits every other entry of the
// batch. Committing them again fails the same way until the key is fixed.
type wrongTypes struct {
	// entries maps each blocked entry's id to the key that blocked it.
	entries map[string]string
	// keys maps each blocking key to the type it holds.
	keys map[string]string
}

// reasons returns, per blocked entry id, why it was not committed ("key
// <k> holds a <type>").
func (w *wrongTypes) reasons() map[string]string {
	out := make(map[string]string, len(w.entries))
	for id, k := range w.entries {
		out[id] = fmt.Sprintf("key %s holds a %s", k, w.keys[k])
	}
	return out
}

// wantTypes is the type each target key of a commit must have (or none).
func (c *Committer) wantType(key string) string {
	if key == c.cfg.SessionStream || key == c.cfg.DeadStream {
		return "stream"
	}
	return "zset"
}

// blockedBy returns the key of keys (wrong-typed, key -> type) entry e
// touches, "" for none.
func (c *Committer) blockedBy(e *pipeline.CommitEntry, keys map[string]string) string {
	if inc := e.Increment; inc != nil {
		for _, k := range inc.Keys {
			if _, ok := keys[k]; ok {
				return k
			}
		}
	}
	if _, ok := keys[c.cfg.SessionStream]; ok && e.SessionEnd != nil {
		return c.cfg.SessionStream
	}
	if _, ok := keys[c.cfg.DeadStream]; ok && e.Dead != nil {
		return c.cfg.DeadStream
	}
	return ""
}

// drop removes from b the entries that touch keys (wrong-typed, key ->
// type), recording them in wrong; it returns how many it removed.
func (c *Committer) drop(b *batch, keys map[string]string, wrong **wrongTypes) int {
	if *wrong == nil {
		*wrong = &wrongTypes{entries: map[string]string{}, keys: map[string]string{}}
	}
	for k, t := range keys {
		(*wrong).keys[k] = t
	}
	removed := 0
	keep := make([]bool, len(b.entries))
	for i := range b.entries {
		if k := c.blockedBy(&b.entries[i], keys); k != "" {
			(*wrong).entries[b.entries[i].ID] = k
			removed++
			continue
		}
		keep[i] = true
	}
	if removed == 0 {
		return 0
	}
	var out batch
	for i := range b.entries {
		if keep[i] {
			out.entries = append(out.entries, b.entries[i])
			out.ids = append(out.ids, b.ids[i])
			out.dup = append(out.dup, b.dup[i])
		}
	}
	*b = out
	return removed
}

// checkTypes finds the target keys of b's effects that hold another type
// (for the three steps, whose apply scripts would fail on them after
// begin): one pipelined TYPE per key.
func (c *Committer) checkTypes(ctx context.Context, b *batch) (map[string]string, error) {
	fx := effectsOf(b.entries, c.cfg.DeadValueMax)
	var keys []string
	for _, k := range fx.keys {
		keys = append(keys, k.key)
	}
	if len(fx.sessions) > 0 {
		keys = append(keys, c.cfg.SessionStream)
	}
	if len(fx.deads) > 0 && !slices.Contains(keys, c.cfg.DeadStream) {
		keys = append(keys, c.cfg.DeadStream)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	cmds := make([]*goredis.StatusCmd, len(keys))
	_, err := c.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Type(ctx, k)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("key types: %w", err)
	}
	var wrong map[string]string
	for i, k := range keys {
		if t := cmds[i].Val(); t != "none" && t != c.wantType(k) {
			if wrong == nil {
				wrong = map[string]string{}
			}
			wrong[k] = t
		}
	}
	return wrong, nil
}
