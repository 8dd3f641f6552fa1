package redis

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/pipeline"
)

// KeyTypeError is returned by Committer.Commit when target keys (a
// leaderboard, the session stream, the dead-letter stream) hold another
// type than the commit needs (a string at a leaderboard key): the entries
// that touch them were neither acknowledged nor applied, and stay pending;
// every other entry of the batch was committed, and the CommitResult
// returned with the error counts those.
//
// The caller handles the listed entries itself (see BlockedEntries):
// committing them again fails the same way until the key is fixed.
type KeyTypeError struct {
	// Entries maps each blocked entry's id to the key that blocked it.
	Entries map[string]string
	// Keys maps each blocking key to the type it holds.
	Keys map[string]string
	// DeadStream is the dead-letter stream's name; when Keys holds it, the
	// entries blocked by it cannot be dead-lettered either.
	DeadStream string
}

// Error names the keys and how many entries they block.
func (e *KeyTypeError) Error() string {
	keys := make([]string, 0, len(e.Keys))
	for k, t := range e.Keys {
		keys = append(keys, fmt.Sprintf("%s holds a %s", k, t))
	}
	sort.Strings(keys)
	return fmt.Sprintf("WRONGTYPE: %d entries not committed: %s", len(e.Entries), strings.Join(keys, ", "))
}

// BlockedEntries returns, per blocked entry id, why it was not committed
// ("key <k> holds a <type>"). It lets the pipeline find the entries with
// errors.As and an interface of its own, without importing this package.
func (e *KeyTypeError) BlockedEntries() map[string]string {
	out := make(map[string]string, len(e.Entries))
	for id, k := range e.Entries {
		out[id] = fmt.Sprintf("key %s holds a %s", k, e.Keys[k])
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
// type), recording them in kerr; it returns how many it removed.
func (c *Committer) drop(b *batch, keys map[string]string, kerr **KeyTypeError) int {
	if *kerr == nil {
		*kerr = &KeyTypeError{Entries: map[string]string{}, Keys: map[string]string{}, DeadStream: c.cfg.DeadStream}
	}
	for k, t := range keys {
		(*kerr).Keys[k] = t
	}
	removed := 0
	keep := make([]bool, len(b.entries))
	for i := range b.entries {
		if k := c.blockedBy(&b.entries[i], keys); k != "" {
			(*kerr).Entries[b.entries[i].ID] = k
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
