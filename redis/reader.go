package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/pipeline"
)

// ReaderConfig names the stream, group and consumer a Reader reads as.
type ReaderConfig struct {
	Stream, Group, Consumer string
	// StartID is where a missing group is created (default "0": the whole
	// stream, so entries written before the first start are processed).
	StartID string
	// AlsoTrim lists other streams TrimConsumed trims once their consumer
	// groups have acknowledged their entries (the session stream).
	AlsoTrim []string
	// TrimIgnoreGroups names consumer groups nobody reads (the main server
	// created leaderboard_group on the input stream and never reads it):
	// TrimConsumed does not wait for them, or, with TrimMaxAge, waits for
	// them only that long. Groups not listed are always waited for.
	TrimIgnoreGroups []string
	// TrimMaxAge, when positive, is how long an entry is kept for an ignored
	// group that has not read or acknowledged it (0: not at all).
	TrimMaxAge time.Duration
	// Now is the clock of TrimMaxAge (default time.Now).
	Now func() time.Time
}

// Reader implements pipeline.Reader over XREADGROUP, XAUTOCLAIM and
// XPENDING. It reads replies raw so that an entry's fields keep their order
// and duplicates (go-redis's XMessage folds them into a map). Used by one
// goroutine at a time.
type Reader struct {
	rdb goredis.UniversalClient
	cfg ReaderConfig
}

// NewReader returns a Reader; it does not touch Redis.
func NewReader(rdb goredis.UniversalClient, cfg ReaderConfig) (*Reader, error) {
	if cfg.StartID == "" {
		cfg.StartID = "0"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var errs []error
	if cfg.Stream == "" {
		errs = append(errs, errors.New("stream: empty"))
	}
	if cfg.Group == "" {
		errs = append(errs, errors.New("group: empty"))
	}
	if cfg.Consumer == "" {
		errs = append(errs, errors.New("consumer: empty"))
	}
	if cfg.TrimMaxAge < 0 {
		errs = append(errs, fmt.Errorf("trim max age %v: want >= 0", cfg.TrimMaxAge))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("redis reader: %w", err)
	}
	return &Reader{rdb: rdb, cfg: cfg}, nil
}

// EnsureGroup creates the consumer group (and the stream) if missing.
func (r *Reader) EnsureGroup(ctx context.Context) error {
	err := r.rdb.XGroupCreateMkStream(ctx, r.cfg.Stream, r.cfg.Group, r.cfg.StartID).Err()
	if err != nil && !goredis.HasErrorPrefix(err, "BUSYGROUP") {
		return fmt.Errorf("create group %s on %s: %w", r.cfg.Group, r.cfg.Stream, err)
	}
	return nil
}

// withGroup runs f, and once more after recreating the group when f failed
// because the group or its stream is gone.
func (r *Reader) withGroup(ctx context.Context, f func() error) error {
	err := f()
	if err != nil && goredis.HasErrorPrefix(err, "NOGROUP") {
		if err := r.EnsureGroup(ctx); err != nil {
			return err
		}
		err = f()
	}
	return err
}

// Read implements pipeline.Reader: XREADGROUP ... STREAMS <stream> >.
func (r *Reader) Read(ctx context.Context, count int, block time.Duration) ([]pipeline.Message, error) {
	args := []any{"XREADGROUP", "GROUP", r.cfg.Group, r.cfg.Consumer, "COUNT", count}
	if block > 0 {
		args = append(args, "BLOCK", max(block.Milliseconds(), 1))
	}
	args = append(args, "STREAMS", r.cfg.Stream, ">")
	msgs, err := r.readGroup(ctx, args)
	if err != nil {
		return nil, fmt.Errorf("read %s as %s/%s: %w", r.cfg.Stream, r.cfg.Group, r.cfg.Consumer, err)
	}
	for i := range msgs {
		msgs[i].Deliveries = 1
	}
	return msgs, nil
}

// Pending implements pipeline.Reader: XREADGROUP ... STREAMS <stream> <after>
// re-reads this consumer's own pending entries.
func (r *Reader) Pending(ctx context.Context, after string, count int) ([]pipeline.Message, error) {
	msgs, err := r.readGroup(ctx, []any{"XREADGROUP", "GROUP", r.cfg.Group, r.cfg.Consumer, "COUNT", count,
		"STREAMS", r.cfg.Stream, after})
	if err == nil {
		err = r.deliveries(ctx, msgs)
	}
	if err != nil {
		return nil, fmt.Errorf("read own pending of %s/%s: %w", r.cfg.Group, r.cfg.Consumer, err)
	}
	return msgs, nil
}

// readGroup sends one XREADGROUP (args is the whole command) and parses the
// entries; none when a BLOCK timed out.
func (r *Reader) readGroup(ctx context.Context, args []any) ([]pipeline.Message, error) {
	var msgs []pipeline.Message
	err := r.withGroup(ctx, func() error {
		reply, err := r.rdb.Do(ctx, args...).Result()
		if errors.Is(err, goredis.Nil) {
			msgs = nil
			return nil
		}
		if err != nil {
			return err
		}
		msgs, err = parseReadReply(reply)
		return err
	})
	return msgs, err
}

// Claim implements pipeline.Reader with XAUTOCLAIM. Entries XAUTOCLAIM
// reports deleted from the stream come back last, with Deleted set.
func (r *Reader) Claim(ctx context.Context, minIdle time.Duration, start string, count int) ([]pipeline.Message, string, error) {
	var msgs, deleted []pipeline.Message
	next := "0-0"
	err := r.withGroup(ctx, func() error {
		reply, err := r.rdb.Do(ctx, "XAUTOCLAIM", r.cfg.Stream, r.cfg.Group, r.cfg.Consumer,
			max(minIdle.Milliseconds(), 1), start, "COUNT", count).Result()
		if err != nil {
			return err
		}
		parts, ok := reply.([]any)
		if !ok || len(parts) < 2 {
			return fmt.Errorf("XAUTOCLAIM: unexpected reply %T", reply)
		}
		if next, ok = str(parts[0]); !ok {
			return fmt.Errorf("XAUTOCLAIM: cursor is %T", parts[0])
		}
		if msgs, err = parseEntries(parts[1]); err != nil {
			return err
		}
		if len(parts) > 2 {
			if del, ok := parts[2].([]any); ok {
				for _, d := range del {
					if id, ok := str(d); ok {
						deleted = append(deleted, pipeline.Message{ID: id, Deleted: true, Deliveries: 1})
					}
				}
			}
		}
		return nil
	})
	if err == nil {
		err = r.deliveries(ctx, msgs)
		// Redis already dropped these from the PEL; they are reported so that
		// the pipeline counts them (acknowledging them again is a no-op).
		msgs = append(msgs, deleted...)
	}
	if err != nil {
		return nil, start, fmt.Errorf("claim idle entries of %s/%s: %w", r.cfg.Stream, r.cfg.Group, err)
	}
	return msgs, next, nil
}

// deliveries fills in the delivery counts of msgs (all pending for this
// consumer) with one XPENDING over their id range.
func (r *Reader) deliveries(ctx context.Context, msgs []pipeline.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	ext, err := r.rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{
		Stream: r.cfg.Stream, Group: r.cfg.Group, Consumer: r.cfg.Consumer,
		Start: msgs[0].ID, End: msgs[len(msgs)-1].ID, Count: int64(len(msgs)) + 16,
	}).Result()
	if err != nil {
		return fmt.Errorf("XPENDING: %w", err)
	}
	counts := make(map[string]int64, len(ext))
	for _, e := range ext {
		counts[e.ID] = e.RetryCount
	}
	for i := range msgs {
		if n, ok := counts[msgs[i].ID]; ok {
			msgs[i].Deliveries = n
		} else {
			msgs[i].Deliveries = 1
		}
	}
	return nil
}

// RemoveIdleConsumers deletes the group's other consumers that have been
// idle longer than idle and have nothing pending; it returns how many.
func (r *Reader) RemoveIdleConsumers(ctx context.Context, idle time.Duration) (int, error) {
	cs, err := r.rdb.XInfoConsumers(ctx, r.cfg.Stream, r.cfg.Group).Result()
	if err != nil {
		return 0, fmt.Errorf("list consumers of %s/%s: %w", r.cfg.Stream, r.cfg.Group, err)
	}
	n := 0
	for _, c := range cs {
		if c.Name == r.cfg.Consumer || c.Pending > 0 || c.Idle < idle {
			continue
		}
		if err := r.rdb.XGroupDelConsumer(ctx, r.cfg.Stream, r.cfg.Group, c.Name).Err(); err != nil {
			return n, fmt.Errorf("remove consumer %s: %w", c.Name, err)
		}
		n++
	}
	return n, nil
}

// parseReadReply parses an XREADGROUP reply for one stream, RESP2 (array
// of [stream, entries]) or RESP3 (map of stream to entries).
func parseReadReply(reply any) ([]pipeline.Message, error) {
	switch v := reply.(type) {
	case nil:
		return nil, nil
	case map[any]any:
		for _, entries := range v {
			return parseEntries(entries)
		}
		return nil, nil
	case []any:
		if len(v) == 0 {
			return nil, nil
		}
		pair, ok := v[0].([]any)
		if !ok || len(pair) != 2 {
			return nil, fmt.Errorf("XREADGROUP: unexpected stream reply %T", v[0])
		}
		return parseEntries(pair[1])
	}
	return nil, fmt.Errorf("XREADGROUP: unexpected reply %T", reply)
}

// parseEntries parses [[id, [field, value, ...]], ...]; an entry whose
// fields are nil (deleted from the stream while pending) is Deleted.
func parseEntries(v any) ([]pipeline.Message, error) {
	list, ok := v.([]any)
	if !ok {
		if v == nil {
			return nil, nil
		}
		return nil, fmt.Errorf("entries: unexpected %T", v)
	}
	msgs := make([]pipeline.Message, 0, len(list))
	for _, e := range list {
		pair, ok := e.([]any)
		if !ok || len(pair) == 0 {
			return nil, fmt.Errorf("entry: unexpected %T", e)
		}
		id, ok := str(pair[0])
		if !ok {
			return nil, fmt.Errorf("entry id: unexpected %T", pair[0])
		}
		m := pipeline.Message{ID: id}
		var raw []any
		if len(pair) > 1 {
			raw, _ = pair[1].([]any)
		}
		if raw == nil {
			m.Deleted = true
			msgs = append(msgs, m)
			continue
		}
		m.Fields = make([]string, 0, len(raw))
		for _, f := range raw {
			s, ok := str(f)
			if !ok {
				return nil, fmt.Errorf("entry %s field: unexpected %T", id, f)
			}
			m.Fields = append(m.Fields, s)
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

func str(v any) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, true
	case []byte:
		return string(s), true
	case int64:
		return strconv.FormatInt(s, 10), true
	}
	return "", false
}

// TrimConsumed deletes the entries of the input stream, and of the
// ReaderConfig.AlsoTrim streams (e.g. the session stream, consumed by the
// main server), that every consumer group of each has read and
// acknowledged, except the groups of ReaderConfig.TrimIgnoreGroups (waited
// for only ReaderConfig.TrimMaxAge); it returns how many it deleted. A
// stream without groups is left alone, and so is a stream all of whose
// groups are ignored without a TrimMaxAge.
func (r *Reader) TrimConsumed(ctx context.Context) (int64, error) {
	var total int64
	for _, stream := range append([]string{r.cfg.Stream}, r.cfg.AlsoTrim...) {
		n, err := r.trimConsumed(ctx, stream)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// trimConsumed is XTRIM MINID below the oldest entry a group of stream
// still needs.
func (r *Reader) trimConsumed(ctx context.Context, stream string) (int64, error) {
	if n, err := r.rdb.Exists(ctx, stream).Result(); err != nil || n == 0 {
		return 0, err // no stream, nothing to trim
	}
	groups, err := r.rdb.XInfoGroups(ctx, stream).Result()
	if err != nil {
		return 0, fmt.Errorf("trim %s: %w", stream, err)
	}
	var minID string
	for _, g := range groups {
		need := nextID(g.LastDeliveredID) // entries after the last delivered are unread
		if g.Pending > 0 {
			p, err := r.rdb.XPending(ctx, stream, g.Name).Result()
			if err != nil {
				return 0, fmt.Errorf("trim %s: pending of %s: %w", stream, g.Name, err)
			}
			if p.Count > 0 { // all acknowledged since XINFO: nothing older is needed
				need = p.Lower
			}
		}
		if slices.Contains(r.cfg.TrimIgnoreGroups, g.Name) {
			if r.cfg.TrimMaxAge <= 0 {
				continue
			}
			// Kept for the ignored group only as long as TrimMaxAge.
			aged := strconv.FormatInt(r.cfg.Now().Add(-r.cfg.TrimMaxAge).UnixMilli(), 10) + "-0"
			if lessID(need, aged) {
				need = aged
			}
		}
		if minID == "" || lessID(need, minID) {
			minID = need
		}
	}
	if minID == "" {
		return 0, nil
	}
	n, err := r.rdb.XTrimMinID(ctx, stream, minID).Result()
	if err != nil {
		return 0, fmt.Errorf("trim %s below %s: %w", stream, minID, err)
	}
	return n, nil
}

// nextID returns the smallest stream id after id.
func nextID(id string) string {
	ms, seq, err := pomocore.ParseEntryID(id)
	if err != nil {
		return "0-1"
	}
	return strconv.FormatUint(ms, 10) + "-" + strconv.FormatUint(seq+1, 10)
}

// lessID orders stream ids.
func lessID(a, b string) bool {
	am, as, _ := pomocore.ParseEntryID(a)
	bm, bs, _ := pomocore.ParseEntryID(b)
	return am < bm || (am == bm && as < bs)
}
