package redis

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/route"
)

var (
	//go:embed route.lua
	routeLua string
	//go:embed lease.lua
	leaseLua string

	routeScript = newScript("route.lua", "", routeLua)
	leaseScript = newScript("lease.lua", "", leaseLua)
)

// RouterConsumer is the consumer name every router reads the source
// stream's group as: a router taking over reads its predecessor's pending
// entries as its own.
const RouterConsumer = "pomocore-router"

// PartitionStream returns the name of partition p of source:
// "<source>:p<NN>" (NN from 00). Unless source holds a hash tag, each
// partition stream hashes on its whole name, so a Cluster spreads them
// over its slots; its keys (the fence, the commit's state, the dedup
// shards) follow it.
func PartitionStream(source string, p int) string { return fmt.Sprintf("%s:p%02d", source, p) }

// FenceKey returns the key holding the newest router token that wrote
// partition stream stream (in its slot).
func FenceKey(stream string) string { return sameSlot(stream, "route:fence") }

// LeaseKey returns the key of the router role of source (in its slot).
func LeaseKey(source string) string { return sameSlot(source, "route:lease") }

// RouteSource reads the source stream through its consumer group as
// RouterConsumer. It implements route.Source: Pending, Deliver and Ack
// by one goroutine at a time; Lag from any.
type RouteSource struct {
	rdb           goredis.UniversalClient
	stream, group string
	startID       string
	timeout       time.Duration
	delivered     []route.Entry
}

// NewRouteSource returns the source stream's reader for a router; the
// group is created at startID ("0" when empty) when missing. timeout
// bounds every command beyond a read's block (default 5s).
func NewRouteSource(rdb goredis.UniversalClient, stream, group, startID string, timeout time.Duration) *RouteSource {
	if startID == "" {
		startID = "0"
	}
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return &RouteSource{rdb: rdb, stream: stream, group: group, startID: startID, timeout: timeout}
}

// Pending implements route.Source. After Deliver, the delivered entries
// are returned without reading them again when they are the oldest
// pending (one XPENDING); otherwise, and at first, XREADGROUP from 0.
func (s *RouteSource) Pending(ctx context.Context, count int) ([]route.Entry, error) {
	if d := s.delivered; len(d) > 0 {
		s.delivered = nil
		if len(d) <= count {
			cctx, cancel := context.WithTimeout(ctx, s.timeout)
			p, err := s.rdb.XPendingExt(cctx, &goredis.XPendingExtArgs{Stream: s.stream, Group: s.group,
				Start: "-", End: "+", Count: 1, Consumer: RouterConsumer}).Result()
			cancel()
			if err != nil {
				return nil, fmt.Errorf("pending of %s/%s: %w", s.stream, s.group, err)
			}
			if len(p) == 1 && p[0].ID == d[0].ID {
				return d, nil
			}
		}
	}
	return s.read(ctx, count, "0", -1)
}

// Deliver implements route.Source: XREADGROUP ... BLOCK block ... >.
func (s *RouteSource) Deliver(ctx context.Context, count int, block time.Duration) (int, error) {
	d, err := s.read(ctx, count, ">", block)
	if err != nil {
		return 0, err
	}
	s.delivered = d
	return len(d), nil
}

func (s *RouteSource) read(ctx context.Context, count int, from string, block time.Duration) ([]route.Entry, error) {
	args := []any{"XREADGROUP", "GROUP", s.group, RouterConsumer, "COUNT", count}
	timeout := s.timeout
	if block >= 0 {
		args = append(args, "BLOCK", block.Milliseconds())
		timeout += block
	}
	args = append(args, "STREAMS", s.stream, from)
	for range 2 {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		reply, err := s.rdb.Do(cctx, args...).Result()
		cancel()
		if err == goredis.Nil {
			return nil, nil
		}
		if err != nil && isNoGroup(err) {
			if cerr := s.createGroup(ctx); cerr != nil {
				return nil, cerr
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s/%s: %w", s.stream, s.group, err)
		}
		msgs, err := parseReadReply(reply)
		if err != nil {
			return nil, fmt.Errorf("read %s/%s: %w", s.stream, s.group, err)
		}
		out := make([]route.Entry, len(msgs))
		for i, m := range msgs {
			out[i] = route.Entry{ID: m.ID, Fields: m.Fields}
			if !m.Deleted && out[i].Fields == nil {
				out[i].Fields = []string{}
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("read %s/%s: the group vanished again", s.stream, s.group)
}

func isNoGroup(err error) bool { return goredis.HasErrorPrefix(err, "NOGROUP") }

func (s *RouteSource) createGroup(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := s.rdb.XGroupCreateMkStream(cctx, s.stream, s.group, s.startID).Err()
	if err != nil && !goredis.HasErrorPrefix(err, "BUSYGROUP") {
		return fmt.Errorf("create group %s/%s: %w", s.stream, s.group, err)
	}
	return nil
}

// Ack implements route.Source: XACK.
func (s *RouteSource) Ack(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.rdb.XAck(cctx, s.stream, s.group, ids...).Err(); err != nil {
		return fmt.Errorf("ack %d entries of %s/%s: %w", len(ids), s.stream, s.group, err)
	}
	return nil
}

// Lag returns the source group's lag (entries never delivered; -1 when
// Redis cannot tell) and its pending entries, for the router's metrics.
func (s *RouteSource) Lag(ctx context.Context) (lag, pending int64, err error) {
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	gs, err := s.rdb.XInfoGroups(cctx, s.stream).Result()
	if err != nil {
		return 0, 0, fmt.Errorf("groups of %s: %w", s.stream, err)
	}
	for _, g := range gs {
		if g.Name == s.group {
			return g.Lag, g.Pending, nil
		}
	}
	return 0, 0, fmt.Errorf("groups of %s: no group %s", s.stream, s.group)
}

// PartitionWriter writes the partition streams of a source (route.Writer),
// one script per partition, the partitions concurrently. Safe for
// concurrent use.
type PartitionWriter struct {
	rdb     goredis.UniversalClient
	streams []string
}

// NewPartitionWriter returns the writer of the n partition streams of
// source (PartitionStream).
func NewPartitionWriter(rdb goredis.UniversalClient, source string, n int) *PartitionWriter {
	w := &PartitionWriter{rdb: rdb}
	for p := range n {
		w.streams = append(w.streams, PartitionStream(source, p))
	}
	return w
}

// Write implements route.Writer.
func (w *PartitionWriter) Write(ctx context.Context, token int64, parts [][]route.Entry) ([]int, error) {
	if len(parts) > len(w.streams) {
		return nil, fmt.Errorf("route: %d partitions, %d streams", len(parts), len(w.streams))
	}
	added := make([]int, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for p, entries := range parts {
		if len(entries) == 0 {
			continue
		}
		wg.Go(func() {
			added[p], errs[p] = w.write(ctx, p, token, entries)
		})
	}
	wg.Wait()
	var first error
	for _, err := range errs {
		if err != nil && (first == nil || errors.Is(err, route.ErrFenced)) {
			first = err
		}
	}
	return added, first
}

// maxScriptFields is the most field names and values of one entry that
// route.lua appends (Lua's unpack has a C stack of about 8,000 slots); an
// entry with more, which only a hostile producer sends, is appended with
// a plain XADD in its place in the order, so that it cannot stall the
// routing of everyone behind it.
const maxScriptFields = 4000

func (w *PartitionWriter) write(ctx context.Context, p int, token int64, entries []route.Entry) (int, error) {
	stream := w.streams[p]
	added := 0
	for len(entries) > 0 {
		run := 0
		for run < len(entries) && len(entries[run].Fields) <= maxScriptFields {
			run++
		}
		if run == 0 {
			n, err := w.xadd(ctx, stream, entries[0])
			if err != nil {
				return added, err
			}
			added += n
			entries = entries[1:]
			continue
		}
		n, err := evalCall(ctx, w.rdb, newCall(&routeCall{stream: stream, fence: FenceKey(stream), token: token, entries: entries[:run]})).Int()
		if goredis.HasErrorPrefix(err, "FENCED") {
			return added, fmt.Errorf("partition %s: %w (%v)", stream, route.ErrFenced, err)
		}
		if err != nil {
			return added, fmt.Errorf("partition %s: %w", stream, err)
		}
		added += n
		entries = entries[run:]
	}
	return added, nil
}

// xadd appends one entry too large for route.lua, unfenced: an id not
// larger than the stream's last is already routed (0 added). Exactly once
// holds without the fence (the router writes the oldest pending entries
// in order); the fence only stops a stale router, which the next batch's
// script does.
func (w *PartitionWriter) xadd(ctx context.Context, stream string, e route.Entry) (int, error) {
	args := make([]any, 0, 3+len(e.Fields))
	args = append(args, "XADD", stream, e.ID)
	for _, f := range e.Fields {
		args = append(args, f)
	}
	err := w.rdb.Do(ctx, args...).Err()
	if goredis.HasErrorPrefix(err, "The ID specified in XADD is equal or smaller") {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("partition %s: entry %s: %w", stream, e.ID, err)
	}
	return 1, nil
}

// RouteLease is the router role of a source stream (route.Lease), in the
// source's slot. Safe for concurrent use.
type RouteLease struct {
	rdb        goredis.UniversalClient
	key, epoch string
	timeout    time.Duration
}

// NewRouteLease returns the router role of source; timeout bounds each
// command (default 5s).
func NewRouteLease(rdb goredis.UniversalClient, source string, timeout time.Duration) *RouteLease {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return &RouteLease{rdb: rdb, key: LeaseKey(source), epoch: sameSlot(source, "route:epoch"), timeout: timeout}
}

func (l *RouteLease) run(ctx context.Context, op, token string, ttl int64) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	n, err := evalCall(ctx, l.rdb, newCall(&leaseCall{lease: l.key, epoch: l.epoch, op: op, token: token, ttlMs: ttl})).Int64()
	if err != nil {
		return 0, fmt.Errorf("router lease %s: %w", l.key, err)
	}
	return n, nil
}

// Acquire implements route.Lease.
func (l *RouteLease) Acquire(ctx context.Context, ttl time.Duration) (int64, error) {
	return l.run(ctx, "acquire", "0", ttl.Milliseconds())
}

// Renew implements route.Lease.
func (l *RouteLease) Renew(ctx context.Context, token int64, ttl time.Duration) (bool, error) {
	n, err := l.run(ctx, "renew", strconv.FormatInt(token, 10), ttl.Milliseconds())
	return n == 1, err
}

// Release implements route.Lease.
func (l *RouteLease) Release(ctx context.Context, token int64) error {
	_, err := l.run(ctx, "release", strconv.FormatInt(token, 10), 0)
	return err
}
