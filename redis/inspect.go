package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/doctor"
)

// Inspector reads streams, consumer groups, keys and sorted sets for
// `pomocore doctor` and `pomocore compare`. It sends read-only commands
// only (XINFO, XRANGE, XREVRANGE, XPENDING, SCAN, TYPE, ZRANGE): it never
// writes, never creates a group, never claims or acknowledges. It
// implements doctor.StreamInspector and doctor.LeaderboardInspector and the
// readers of package compare. Safe for concurrent use.
type Inspector struct {
	rdb goredis.UniversalClient
}

// NewInspector returns an Inspector over rdb; it does not touch Redis.
func NewInspector(rdb goredis.UniversalClient) *Inspector { return &Inspector{rdb: rdb} }

// Stream implements doctor.StreamInspector: XINFO STREAM, XINFO GROUPS,
// XINFO CONSUMERS and an XPENDING summary per group.
func (i *Inspector) Stream(ctx context.Context, stream string) (doctor.StreamState, error) {
	st := doctor.StreamState{Name: stream, Groups: []doctor.GroupState{}}
	typ, err := i.rdb.Type(ctx, stream).Result()
	if err != nil {
		return st, fmt.Errorf("inspect %s: %w", stream, err)
	}
	switch typ {
	case "none":
		return st, nil
	case "stream":
	default:
		st.Exists, st.Type = true, typ
		return st, nil
	}
	st.Exists = true
	info, err := i.rdb.XInfoStream(ctx, stream).Result()
	if err != nil {
		return st, fmt.Errorf("inspect %s: %w", stream, err)
	}
	st.Length, st.FirstID, st.LastID, st.EntriesAdded = info.Length, info.FirstEntry.ID, info.LastEntry.ID, info.EntriesAdded
	groups, err := i.rdb.XInfoGroups(ctx, stream).Result()
	if err != nil {
		return st, fmt.Errorf("inspect groups of %s: %w", stream, err)
	}
	for _, g := range groups {
		gs := doctor.GroupState{Name: g.Name, Pending: g.Pending, LastDeliveredID: g.LastDeliveredID,
			EntriesRead: g.EntriesRead, Lag: g.Lag, Consumers: []doctor.ConsumerState{}}
		cs, err := i.rdb.XInfoConsumers(ctx, stream, g.Name).Result()
		if err != nil {
			return st, fmt.Errorf("inspect consumers of %s/%s: %w", stream, g.Name, err)
		}
		for _, c := range cs {
			gs.Consumers = append(gs.Consumers, doctor.ConsumerState{Name: c.Name, Pending: c.Pending, Idle: c.Idle})
		}
		if g.Pending > 0 {
			p, err := i.rdb.XPending(ctx, stream, g.Name).Result()
			if err != nil {
				return st, fmt.Errorf("inspect pending of %s/%s: %w", stream, g.Name, err)
			}
			gs.OldestPendingID = p.Lower
		}
		st.Groups = append(st.Groups, gs)
	}
	return st, nil
}

// Sample implements doctor.StreamInspector: XRANGE - + and XREVRANGE + -,
// count/2 entries each (rounded up), without duplicates, oldest first.
func (i *Inspector) Sample(ctx context.Context, stream string, count int) ([]doctor.Entry, error) {
	if count <= 0 {
		return nil, nil
	}
	half := (count + 1) / 2
	oldest, err := i.rangeRaw(ctx, "XRANGE", stream, "-", "+", half)
	if err != nil {
		return nil, err
	}
	newest, err := i.rangeRaw(ctx, "XREVRANGE", stream, "+", "-", count-half)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(oldest))
	for _, e := range oldest {
		seen[e.ID] = true
	}
	slices.Reverse(newest)
	for _, e := range newest {
		if !seen[e.ID] {
			oldest = append(oldest, e)
		}
	}
	return oldest, nil
}

// Range returns up to count entries of stream with ids from start to end
// (inclusive; "-" and "+" for the ends), oldest first, in pages of 1,000:
// the entries a compare replays.
func (i *Inspector) Range(ctx context.Context, stream, start, end string, count int) ([]doctor.Entry, error) {
	var out []doctor.Entry
	for len(out) < count {
		n := min(1000, count-len(out))
		page, err := i.rangeRaw(ctx, "XRANGE", stream, start, end, n)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < n {
			break
		}
		start = "(" + page[len(page)-1].ID
	}
	return out, nil
}

// rangeRaw sends XRANGE or XREVRANGE and parses the reply raw, so that an
// entry's fields keep their order and duplicates.
func (i *Inspector) rangeRaw(ctx context.Context, cmd, stream, from, to string, count int) ([]doctor.Entry, error) {
	if count <= 0 {
		return nil, nil
	}
	reply, err := i.rdb.Do(ctx, cmd, stream, from, to, "COUNT", count).Result()
	if errors.Is(err, goredis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", cmd, stream, err)
	}
	list, ok := reply.([]any)
	if !ok {
		return nil, fmt.Errorf("%s %s: unexpected reply %T", cmd, stream, reply)
	}
	out := make([]doctor.Entry, 0, len(list))
	for _, e := range list {
		pair, ok := e.([]any)
		if !ok || len(pair) < 2 {
			return nil, fmt.Errorf("%s %s: unexpected entry %T", cmd, stream, e)
		}
		id, ok := str(pair[0])
		if !ok {
			return nil, fmt.Errorf("%s %s: entry id is %T", cmd, stream, pair[0])
		}
		raw, _ := pair[1].([]any)
		fields := make([]string, 0, len(raw))
		for _, f := range raw {
			s, ok := str(f)
			if !ok {
				return nil, fmt.Errorf("%s %s: entry %s: field is %T", cmd, stream, id, f)
			}
			fields = append(fields, s)
		}
		out = append(out, doctor.Entry{ID: id, Fields: fields})
	}
	return out, nil
}

// Deliveries returns the delivery count of up to limit pending entries of
// group on stream (XPENDING - + limit), by entry id: an entry delivered
// more than once that the deployed service processed each time counted
// more than once. None when the group or stream is missing.
func (i *Inspector) Deliveries(ctx context.Context, stream, group string, limit int) (map[string]int64, error) {
	out := map[string]int64{}
	start := "-"
	for len(out) < limit {
		n := min(1000, limit-len(out))
		ext, err := i.rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: stream, Group: group, Start: start, End: "+", Count: int64(n)}).Result()
		if goredis.HasErrorPrefix(err, "NOGROUP") {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("pending of %s/%s: %w", stream, group, err)
		}
		for _, e := range ext {
			out[e.ID] = e.RetryCount
		}
		if len(ext) < n {
			break
		}
		start = "(" + ext[len(ext)-1].ID
	}
	return out, nil
}

// Keys implements doctor.LeaderboardInspector with SCAN MATCH (on every
// master of a cluster) and TYPE.
func (i *Inspector) Keys(ctx context.Context, match string, limit int) ([]doctor.KeyInfo, bool, error) {
	var (
		mu        sync.Mutex
		names     []string
		truncated bool
	)
	scan := func(ctx context.Context, c goredis.Cmdable) error {
		var cursor uint64
		for {
			ks, next, err := c.Scan(ctx, cursor, match, 1000).Result()
			if err != nil {
				return fmt.Errorf("scan %s: %w", match, err)
			}
			mu.Lock()
			for _, k := range ks {
				if len(names) >= limit {
					truncated = true
					break
				}
				names = append(names, k)
			}
			full := truncated
			mu.Unlock()
			if full || next == 0 {
				return nil
			}
			cursor = next
		}
	}
	var err error
	if cc, ok := i.rdb.(*goredis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, i.rdb)
	}
	if err != nil {
		return nil, false, err
	}
	slices.Sort(names)
	names = slices.Compact(names)
	out := make([]doctor.KeyInfo, 0, len(names))
	for start := 0; start < len(names); start += 500 {
		chunk := names[start:min(start+500, len(names))]
		cmds := make([]*goredis.StatusCmd, len(chunk))
		_, err := i.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for j, k := range chunk {
				cmds[j] = p.Type(ctx, k)
			}
			return nil
		})
		if err != nil {
			return nil, false, fmt.Errorf("types of %s: %w", match, err)
		}
		for j, k := range chunk {
			out = append(out, doctor.KeyInfo{Key: k, Type: cmds[j].Val()})
		}
	}
	return out, truncated, nil
}

// Board returns the members and scores of the sorted set key (ZRANGE 0 -1
// WITHSCORES); an empty map when it is missing.
func (i *Inspector) Board(ctx context.Context, key string) (map[string]float64, error) {
	out, err := boardScores(ctx, i.rdb, key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return out, nil
}

// ServerVersions implements doctor.ServerInspector: the redis_version of
// INFO server, of the one server, or of every master of a Cluster.
func (i *Inspector) ServerVersions(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	var mu sync.Mutex
	read := func(ctx context.Context, c *goredis.Client) error {
		info, err := c.Info(ctx, "server").Result()
		if err != nil {
			return fmt.Errorf("INFO server of %s: %w", c.Options().Addr, err)
		}
		v := infoValue(info, "redis_version")
		if v == "" {
			return fmt.Errorf("INFO server of %s: no redis_version", c.Options().Addr)
		}
		mu.Lock()
		out[c.Options().Addr] = v
		mu.Unlock()
		return nil
	}
	if cc, ok := i.rdb.(*goredis.ClusterClient); ok {
		if err := cc.ForEachMaster(ctx, read); err != nil {
			return nil, err
		}
		return out, nil
	}
	info, err := i.rdb.Info(ctx, "server").Result()
	if err != nil {
		return nil, fmt.Errorf("INFO server: %w", err)
	}
	v := infoValue(info, "redis_version")
	if v == "" {
		return nil, errors.New("INFO server: no redis_version")
	}
	addr := "redis"
	if c, ok := i.rdb.(*goredis.Client); ok {
		addr = c.Options().Addr
	}
	out[addr] = v
	return out, nil
}

// infoValue returns the value of field in an INFO reply ("" when absent).
func infoValue(info, field string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}
