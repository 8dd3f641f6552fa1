package redis

import (
	"context"

	"github.com/pomocore/pomocore/pipeline"
)

// CrashAfterBegin runs a three-step commit of entries up to its begin
// step (claims made, entries given to a token with their effects) and
// stops before applying them, as a process killed there would.
func (c *Committer) CrashAfterBegin(ctx context.Context, entries []pipeline.CommitEntry) error {
	b, err := newBatch(entries, c.cfg.DedupWindow > 0)
	if err != nil {
		return err
	}
	if err := c.claim(ctx, b); err != nil {
		return err
	}
	_, err = c.begin(ctx, b)
	return err
}
