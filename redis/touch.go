package redis

import (
	"context"
	"fmt"
)

// Touch implements pipeline.Toucher: XCLAIM <stream> <group> <consumer> 0
// <ids...> JUSTID resets the idle time of the given entries without
// counting a delivery, so that entries of a batch that is slow to store or
// commit do not look abandoned to reclaimers (XAUTOCLAIM with a minimum
// idle). Ids no longer pending are left alone by Redis; an id another
// consumer reclaimed meanwhile moves back to this one, which the
// committer's exactly-once contract makes safe. It is sent once (never
// re-sent by the client), within ReaderConfig.ReadTimeout, and is safe to
// call concurrently with the Reader's other methods (it reads no Reader
// state but the configuration).
func (r *Reader) Touch(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, 0, 6+len(ids))
	args = append(args, "XCLAIM", r.cfg.Stream, r.cfg.Group, r.cfg.Consumer, 0)
	for _, id := range ids {
		args = append(args, id)
	}
	args = append(args, "JUSTID")
	if _, err := r.do(ctx, r.cfg.ReadTimeout, args...); err != nil {
		return fmt.Errorf("touch %d entries of %s/%s: %w", len(ids), r.cfg.Stream, r.cfg.Group, err)
	}
	return nil
}
