// Package route splits one input stream into partition streams: the
// main server XADDs every activity to one stream (CONTRACT.md), and a
// Router moves each entry, exactly once and in order, to the partition
// stream its userId hashes to, so that N pipelines (one per partition
// stream, each with its own consumer group, dedup shards and commit
// bookkeeping) spread the input's Redis load over N keys, and so over the
// masters of a Cluster.
//
// The policy is here, with no I/O; the redis adapter implements the ports
// (Source, Writer, Lease). Exactly once rests on three rules:
//
//   - A partition entry keeps its source entry's id, and a partition
//     stream refuses an id not larger than its last one: a write repeated
//     after a crash is refused, which means "already routed".
//   - The router always routes the oldest entries its source group has
//     delivered and not acknowledged (every router reads as the same
//     consumer), in id order, and acknowledges them only after writing
//     them: no entry can be written to a partition after a younger one.
//   - One router at a time holds the lease; its token fences the partition
//     streams, so a router that lost the lease (paused, partitioned away)
//     is refused at its next write and stops routing.
package route

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync/atomic"
	"time"
)

// MaxPartitions is the most partition streams a source is split into.
const MaxPartitions = 64

// ErrFenced is returned by Writer.Write when a router with a newer lease
// token has written to the partition: this router must stop routing.
var ErrFenced = errors.New("fenced by a newer router")

// Entry is one source stream entry: its id and its fields as alternating
// names and values, in order. Fields is nil for an entry deleted from the
// source while pending (nothing to route; it is acknowledged).
type Entry struct {
	ID     string
	Fields []string
}

// Partition returns the partition of an entry among n: the FNV-1a 32-bit
// hash of the bytes of its first non-empty userId field value, modulo n;
// 0 for an entry without one (its pipeline dead-letters it). The hash is
// fixed: changing it would move users between partitions. A user's
// activities and its session end share a partition (the session end waits
// for its session's activities), and so do the producer's retries of an
// activity (same pomodoroUsageLogId, same userId), which its partition's
// dedup then counts once.
func Partition(fields []string, n int) int {
	if n <= 1 {
		return 0
	}
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i] == "userId" && fields[i+1] != "" {
			h := fnv.New32a()
			h.Write([]byte(fields[i+1]))
			return int(h.Sum32() % uint32(n))
		}
	}
	return 0
}

// Source is the source stream, read through its consumer group as the
// router's one consumer name. Safe for use by one goroutine at a time.
type Source interface {
	// Pending returns up to count of the entries delivered to the router
	// and not acknowledged, oldest first.
	Pending(ctx context.Context, count int) ([]Entry, error)
	// Deliver waits up to block for entries never delivered to the group
	// and delivers up to count of them to the router (Pending returns
	// them); it reports how many.
	Deliver(ctx context.Context, count int, block time.Duration) (int, error)
	// Ack acknowledges the entries ids in the group.
	Ack(ctx context.Context, ids []string) error
}

// Writer appends entries to the partition streams under a lease token.
// Safe for concurrent use.
type Writer interface {
	// Write appends parts[p] (ids ascending) to partition stream p, each
	// under its own id, atomically per partition, unless a router with a
	// token newer than token wrote there (ErrFenced, wrapped; nothing
	// written to that partition). Entries whose id is not larger than the
	// partition's last id are already routed and skipped. It returns how
	// many entries were added per partition, also with an error (the
	// partitions written before it).
	Write(ctx context.Context, token int64, parts [][]Entry) (added []int, err error)
}

// Lease is the router role: one holder at a time, with a token that
// grows with every grant. Safe for concurrent use.
type Lease interface {
	// Acquire takes the role for ttl when nobody holds it and returns its
	// new token; 0 when another holder has it.
	Acquire(ctx context.Context, ttl time.Duration) (int64, error)
	// Renew extends the role held under token by ttl; false when it was
	// lost (expired and taken, or released).
	Renew(ctx context.Context, token int64, ttl time.Duration) (bool, error)
	// Release gives the role up, if still held under token.
	Release(ctx context.Context, token int64) error
}

// Config is how a Router routes. The zero value of a field means its
// default.
type Config struct {
	// Partitions is the number of partition streams (1..MaxPartitions).
	Partitions int
	// Batch is the most entries routed at once (default 2000).
	Batch int
	// Block is how long one read waits for new entries (default 1s; less
	// than LeaseTTL/3).
	Block time.Duration
	// LeaseTTL is how long the role outlives its holder's last renewal
	// (default 10s): after a router dies, another routes within it.
	LeaseTTL time.Duration
	// Timeout bounds one batch's writes and acknowledgement, which finish
	// after a stop (default 10s).
	Timeout time.Duration
	// Log receives the role's changes (default: discarded).
	Log *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Wait waits d or until ctx ends (default: a timer), between tries for
	// the role and after errors.
	Wait func(ctx context.Context, d time.Duration)
}

// DefaultConfig returns the defaults of every field that has one: one
// partition (not split), batches of 2000, 1s reads, a 10s lease and 10s
// for a batch's writes.
func DefaultConfig() Config {
	return Config{Partitions: 1, Batch: 2000, Block: time.Second, LeaseTTL: 10 * time.Second, Timeout: 10 * time.Second}
}

// withDefaults fills c's zero fields from DefaultConfig (Partitions
// excepted: it is always given) and the clock, log and wait.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	c.Batch = cmp.Or(c.Batch, d.Batch)
	c.Block = cmp.Or(c.Block, d.Block)
	c.LeaseTTL = cmp.Or(c.LeaseTTL, d.LeaseTTL)
	c.Timeout = cmp.Or(c.Timeout, d.Timeout)
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Wait == nil {
		c.Wait = func(ctx context.Context, d time.Duration) {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
			case <-t.C:
			}
		}
	}
	return c
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Partitions < 1 || c.Partitions > MaxPartitions {
		errs = append(errs, fmt.Errorf("partitions %d: want 1..%d", c.Partitions, MaxPartitions))
	}
	if c.Batch < 1 {
		errs = append(errs, fmt.Errorf("batch %d: want >= 1", c.Batch))
	}
	if c.Block < 0 || c.LeaseTTL < 0 || c.Timeout < 0 {
		errs = append(errs, errors.New("block, lease TTL and timeout must not be negative (0: the default)"))
	}
	if c.Block*3 >= c.LeaseTTL {
		errs = append(errs, fmt.Errorf("block %v: want less than a third of the lease TTL %v", c.Block, c.LeaseTTL))
	}
	return errors.Join(errs...)
}

// Stats are a Router's counters, safe to read while it runs.
type Stats struct {
	// Routed counts entries added to a partition stream; Already those
	// found there already (routed before a crash or by another router);
	// Deleted those deleted from the source before they were routed.
	Routed, Already, Deleted atomic.Int64
	// Batches counts routed batches; Fenced the times this router was
	// refused by a newer one; Leases the times it took the role.
	Batches, Fenced, Leases atomic.Int64
	// Holding is 1 while this router holds the role.
	Holding atomic.Int64
	// PerPartition counts the entries added to each partition stream.
	PerPartition [MaxPartitions]atomic.Int64
}

// Router moves the source's entries to the partition streams while it
// holds the lease. Candidates in every process: one routes, the others
// wait to take over.
type Router struct {
	cfg   Config
	src   Source
	out   Writer
	lease Lease
	stats Stats
}

// New returns a Router; it does not touch Redis.
func New(cfg Config, src Source, out Writer, lease Lease) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("route: %w", err)
	}
	return &Router{cfg: cfg.withDefaults(), src: src, out: out, lease: lease}, nil
}

// Stats returns the router's counters.
func (r *Router) Stats() *Stats { return &r.stats }

// Run competes for the role and routes while it holds it, until ctx ends;
// the batch in hand is finished (written and acknowledged, within
// Config.Timeout) and the role released, so that another candidate takes
// over at once. It returns nil when ctx ends.
func (r *Router) Run(ctx context.Context) error {
	cfg := r.cfg
	for ctx.Err() == nil {
		token, err := r.lease.Acquire(ctx, cfg.LeaseTTL)
		if err != nil || token == 0 {
			if err != nil && ctx.Err() == nil {
				cfg.Log.Warn("router: cannot take the role", "err", err)
			}
			cfg.Wait(ctx, cfg.LeaseTTL/3)
			continue
		}
		r.stats.Leases.Add(1)
		r.stats.Holding.Store(1)
		cfg.Log.Info("router: routing", "token", token, "partitions", cfg.Partitions)
		err = r.hold(ctx, token)
		r.stats.Holding.Store(0)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Timeout)
		if rerr := r.lease.Release(rctx, token); rerr != nil {
			cfg.Log.Warn("router: cannot release the role", "err", rerr)
		}
		cancel()
		if err != nil {
			cfg.Log.Warn("router: stopped routing", "token", token, "err", err)
			cfg.Wait(ctx, cfg.LeaseTTL/3)
		}
	}
	return nil
}

// hold routes under token until ctx ends (nil) or the role is lost or an
// error stops it.
func (r *Router) hold(ctx context.Context, token int64) error {
	cfg := r.cfg
	renewed := cfg.Now()
	for ctx.Err() == nil {
		if cfg.Now().Sub(renewed) >= cfg.LeaseTTL/3 {
			ok, err := r.lease.Renew(ctx, token, cfg.LeaseTTL)
			if err != nil {
				return fmt.Errorf("renew the role: %w", err)
			}
			if !ok {
				return errors.New("the role was lost")
			}
			renewed = cfg.Now()
		}
		n, err := r.Step(ctx, token)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if n == 0 {
			if _, err := r.src.Deliver(ctx, cfg.Batch, cfg.Block); err != nil && ctx.Err() == nil {
				return fmt.Errorf("read the source: %w", err)
			}
		}
	}
	return nil
}

// Step routes one batch of the router's pending entries under token: it
// writes them to their partitions and then acknowledges them, and returns
// how many it handled (0: none pending). Once the pending entries are
// read, the batch is finished even if ctx ends (within Config.Timeout).
func (r *Router) Step(ctx context.Context, token int64) (int, error) {
	cfg := r.cfg
	batch, err := r.src.Pending(ctx, cfg.Batch)
	if err != nil || len(batch) == 0 {
		return 0, err
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Timeout)
	defer cancel()
	parts := make([][]Entry, cfg.Partitions)
	ids := make([]string, 0, len(batch))
	deleted := 0
	for _, e := range batch {
		ids = append(ids, e.ID)
		if e.Fields == nil {
			deleted++
			continue
		}
		p := Partition(e.Fields, cfg.Partitions)
		parts[p] = append(parts[p], e)
	}
	added, err := r.out.Write(wctx, token, parts)
	total := 0
	for p, n := range added {
		r.stats.PerPartition[p].Add(int64(n))
		total += n
	}
	r.stats.Routed.Add(int64(total))
	if err != nil {
		if errors.Is(err, ErrFenced) {
			r.stats.Fenced.Add(1)
		}
		return 0, fmt.Errorf("route %d entries: %w", len(batch), err)
	}
	if err := r.src.Ack(wctx, ids); err != nil {
		return 0, fmt.Errorf("acknowledge %d routed entries: %w", len(ids), err)
	}
	r.stats.Already.Add(int64(len(batch) - deleted - total))
	r.stats.Deleted.Add(int64(deleted))
	r.stats.Batches.Add(1)
	return len(batch), nil
}
