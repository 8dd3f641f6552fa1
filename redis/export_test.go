package redis

import (
	"context"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/pipeline"
)

// NewThreeStepCommitter returns a Committer that commits in the three
// steps of a Cluster even on a single server, for the tests that prove the
// two ways keep each other exactly-once.
func NewThreeStepCommitter(rdb goredis.UniversalClient, cfg CommitterConfig) (*Committer, error) {
	c, err := NewCommitter(rdb, cfg)
	if c != nil {
		c.single = false
	}
	return c, err
}

// CrashAfterClaim runs a three-step commit of entries up to its claims
// and stops there, as a process killed right after them would.
func (c *Committer) CrashAfterClaim(ctx context.Context, entries []pipeline.CommitEntry) error {
	b, err := newBatch(entries, c.cfg.DedupWindow > 0)
	if err != nil {
		return err
	}
	return c.claim(ctx, b)
}

// CrashAfterApply runs a three-step commit of entries up to its apply
// step (claims confirmed, effects applied) and stops before the
// acknowledgement, as a process killed there would.
func (c *Committer) CrashAfterApply(ctx context.Context, entries []pipeline.CommitEntry) error {
	b, err := newBatch(entries, c.cfg.DedupWindow > 0)
	if err != nil {
		return err
	}
	if err := c.claim(ctx, b); err != nil {
		return err
	}
	g, err := c.begin(ctx, b)
	if err != nil {
		return err
	}
	return c.apply(ctx, g, b, c.claims(b, true, false, inShards))
}

// SeenShard returns the seen shard of activity key.
func SeenShard(key string) int { return seenShard(key) }

// SeenKey returns the name of the shard of SeenKeys(stream, namespace)
// that remembers activity key.
func SeenKey(stream, namespace, key string) string {
	return seenKey(stream, namespace, seenShard(key))
}
