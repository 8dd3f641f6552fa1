package redis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/pipeline"
)

// Recreation positions of ReaderConfig.RecreateAt.
const (
	// RecreateStop (the default) makes a Reader that lost its group and
	// knows no position stop with ErrGroupVanished.
	RecreateStop = ""
	// RecreateAll recreates the group at 0: every entry still in the
	// stream is processed again (doubling the effects of those processed).
	RecreateAll = "0"
	// RecreateNew recreates the group at $: only entries written from then
	// on are processed (entries not processed yet are skipped).
	RecreateNew = "$"
)

// DefaultMaxBatchBytes is ReaderConfig.MaxBatchBytes's default: 16 MiB.
const DefaultMaxBatchBytes = 16 << 20

// ErrGroupVanished is reported (wrapped, together with
// pipeline.ErrGroupMissing) by Read, Pending and Claim when the consumer
// group vanished while running (XGROUP DESTROY, a key deleted) and the Reader
// knows no position to recreate it at: recreating it at 0 would process the
// whole stream again, at $ skip what was not processed yet. The operator
// recreates the group by hand (XGROUP CREATE <stream> <group> <id> at the
// last processed entry) or sets ReaderConfig.RecreateAt.
var ErrGroupVanished = errors.New("consumer group vanished and no position to recreate it at is known")

// ReaderConfig names the stream, group and consumer a Reader reads as.
type ReaderConfig struct {
	Stream, Group, Consumer string
	// Namespace, when set, is the committers' state namespace (see
	// CommitterConfig.Namespace): the group's committed position is kept
	// in CommittedKeyIn(Stream, Namespace), the committers' own, not in
	// the deployed group's hash (a shadow run).
	Namespace string
	// StartID is where a group that never existed is created on the first
	// start (default "0": the whole stream, so entries written before the
	// first start are processed).
	StartID string
	// Resume, when set, tells a Reader whose group vanished while running,
	// and which knows no position itself (see Reader), the id of an entry
	// at or below which every entry is known processed: the group is
	// recreated there. The wiring fills it from the store (the stream
	// entry id of the newest usage log). It returns "" when it knows
	// nothing. Called only when the group is missing and no position is
	// recorded (also at start-up, to tell a first start from a group that
	// vanished while no process ran).
	Resume func(ctx context.Context) (string, error)
	// RecreateAt is what a Reader does when its group vanished and no
	// position is known: RecreateStop (default: Read, Pending and Claim
	// fail with ErrGroupVanished), RecreateAll ("0") or RecreateNew ("$").
	RecreateAt string
	// ReadTimeout is how long a read may wait for its reply beyond its
	// BLOCK (default 10s, go-redis's extra time for blocking commands).
	// Reads are never re-sent by the client (a re-sent XREADGROUP strands
	// the entries the first one delivered); a read that times out fails.
	ReadTimeout time.Duration
	// MaxBlock, when set, is the longest BLOCK the caller passes to Read
	// (pipeline.Config.Block); Validate refuses it at or above the client's
	// read timeout (ClientReadTimeout).
	MaxBlock time.Duration
	// ClientReadTimeout is the client's read timeout (Config.ReadTimeout,
	// default 10s), for Validate's check of MaxBlock.
	ClientReadTimeout time.Duration
	// MaxBatchBytes bounds the bytes (field names and values) of the
	// entries one Read, Pending or Claim hands out (default
	// DefaultMaxBatchBytes); at least one entry is always handed out.
	// Entries read beyond it stay pending for this consumer and are handed
	// out by the next Read, and the next reads ask for fewer entries while
	// entries are large.
	MaxBatchBytes int
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
	// Log receives the recreation of a vanished group, at error level
	// (default: slog.Default()).
	Log *slog.Logger
}

// DefaultReaderConfig returns the reader's defaults: the deployed stream
// and group (no consumer name: each process has its own).
func DefaultReaderConfig() ReaderConfig {
	return ReaderConfig{
		Stream:            pomocore.DefaultStream,
		Group:             pomocore.DefaultGroup,
		StartID:           "0",
		ReadTimeout:       10 * time.Second,
		ClientReadTimeout: 10 * time.Second,
		MaxBatchBytes:     DefaultMaxBatchBytes,
	}
}

// withDefaults fills the zero fields of a partial ReaderConfig (NewReader
// takes one) from DefaultReaderConfig, but the names, and the clock and
// log (time.Now, slog.Default()).
func (c ReaderConfig) withDefaults() ReaderConfig {
	d := DefaultReaderConfig()
	c.StartID = cmp.Or(c.StartID, d.StartID)
	if c.Now == nil {
		c.Now = time.Now
	}
	c.ReadTimeout = cmp.Or(c.ReadTimeout, d.ReadTimeout)
	c.ClientReadTimeout = cmp.Or(c.ClientReadTimeout, d.ClientReadTimeout)
	c.MaxBatchBytes = cmp.Or(c.MaxBatchBytes, d.MaxBatchBytes)
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c
}

// Validate reports settings that cannot work, as they are (NewReader
// fills a partial config first), each as a *pipeline.ConfigError naming
// the ReaderConfig field (joined).
func (c ReaderConfig) Validate() error {
	var errs pomocore.ConfigErrors
	bad := errs.Add
	for _, f := range []struct{ name, v string }{{"Stream", c.Stream}, {"Group", c.Group}, {"Consumer", c.Consumer}} {
		if f.v == "" {
			bad(f.name, "empty")
		}
	}
	for _, s := range c.AlsoTrim {
		if s == c.Stream && s != "" {
			bad("AlsoTrim", "%q is the input stream", s)
		}
	}
	if c.TrimMaxAge < 0 {
		bad("TrimMaxAge", "%v: want >= 0", c.TrimMaxAge)
	}
	switch c.RecreateAt {
	case RecreateStop, RecreateAll, RecreateNew:
	default:
		bad("RecreateAt", "%q: want \"\" (stop), \"0\" or \"$\"", c.RecreateAt)
	}
	if c.StartID == "" {
		bad("StartID", "empty: want 0, $ or an entry id")
	}
	if c.ReadTimeout <= 0 {
		bad("ReadTimeout", "%v: want > 0", c.ReadTimeout)
	}
	if c.ClientReadTimeout <= 0 {
		bad("ClientReadTimeout", "%v: want > 0", c.ClientReadTimeout)
	}
	if c.MaxBlock < 0 || (c.MaxBlock > 0 && c.MaxBlock >= c.ClientReadTimeout) {
		bad("MaxBlock", "%v: want less than the Redis read timeout %v", c.MaxBlock, c.ClientReadTimeout)
	}
	if c.MaxBatchBytes < 1 {
		bad("MaxBatchBytes", "%d: want > 0", c.MaxBatchBytes)
	}
	return errors.Join(errs...)
}

// Reader implements pipeline.Reader over XREADGROUP, XAUTOCLAIM and
// XPENDING. It reads replies raw so that an entry's fields keep their order
// and duplicates (go-redis's XMessage folds them into a map), and sends
// every read once: the client never re-sends one by itself. Used by one
// goroutine at a time.
//
// A group that vanished while running (XGROUP DESTROY, the key deleted,
// FLUSHALL) is recreated where it was, never at 0 unless told, and logged
// at error level. Where it was is, in this order: the position recorded in
// CommittedKey (EnsureGroup records the group's position there, and every
// commit raises it to the largest entry id it acknowledged), the id
// ReaderConfig.Resume gives, the largest entry id this Reader knows (the
// group's position when it saw it, the entries it handed out since: used
// when the record went with the group, as in a FLUSHALL, where every entry
// left is newer), ReaderConfig.RecreateAt; with none of these (a Reader
// that never saw the group finds it and its record gone) Read, Pending and
// Claim fail with ErrGroupVanished. Entries in flight when the group
// vanished (delivered, not yet committed) lost their pending state: those
// above the recreation point are delivered again; those below it (in
// flight at another consumer while a later batch was committed) are not,
// and their Commit skips them (their store writes stay, their Redis
// effects are lost).
//
// EnsureGroup tells a first start from a group that vanished while no
// process ran by the record, then by ReaderConfig.Resume: a missing group
// with a recorded position, or without one but with a resume position
// (the store holds usage logs of this stream), is recreated there (logged
// at error level); with neither it is a first start, and the group is
// created at StartID.
type Reader struct {
	rdb goredis.UniversalClient
	cfg ReaderConfig

	committedKey string
	known        string // the largest entry id known delivered in the group
	knows        bool   // known is set: this Reader saw the group

	// The byte budget: entries read beyond it wait at ids (restFrom,
	// restTo], pending for this consumer; avg is the mean entry size of the
	// last read (0: unknown).
	restFrom, restTo string
	avg              int
	handed           string // the largest entry id Read handed out
}

// NewReader returns a Reader; it does not touch Redis.
func NewReader(rdb goredis.UniversalClient, cfg ReaderConfig) (*Reader, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("redis reader: %w", err)
	}
	return &Reader{rdb: rdb, cfg: cfg, committedKey: CommittedKeyIn(cfg.Stream, cfg.Namespace)}, nil
}

// CommittedKey returns the name of the hash, in the input stream's slot,
// that records per consumer group the largest entry id a commit
// acknowledged: where a vanished group is recreated.
func CommittedKey(stream string) string { return sameSlot(stream, "committed") }

// CommittedKeyIn returns the committed positions' hash of the committers
// of stream in namespace (see CommitterConfig.Namespace): CommittedKey
// without a namespace, "{<stream>}:<namespace>:committed" with one.
func CommittedKeyIn(stream, namespace string) string { return StateKey(stream, namespace, "committed") }

// EnsureGroup creates the consumer group (and the stream) if missing: at
// StartID on a first start, at the recorded commit position when the group
// vanished while no process ran (see Reader).
func (r *Reader) EnsureGroup(ctx context.Context) error {
	return r.create(ctx, false)
}

// create creates the group where it belongs, unless it exists; vanished
// says the Reader saw it before. Either way it then records the group's
// position in CommittedKey unless one is recorded.
func (r *Reader) create(ctx context.Context, vanished bool) error {
	g, err := r.group(ctx)
	if err != nil {
		return err
	}
	if g == nil {
		at, why, err := r.position(ctx, vanished)
		if err != nil {
			return err
		}
		err = r.rdb.XGroupCreateMkStream(ctx, r.cfg.Stream, r.cfg.Group, at).Err()
		if err != nil && !goredis.HasErrorPrefix(err, "BUSYGROUP") {
			return fmt.Errorf("create group %s on %s at %s: %w", r.cfg.Group, r.cfg.Stream, at, err)
		}
		if err == nil && why != "" {
			r.cfg.Log.Error("consumer group vanished: recreated", "stream", r.cfg.Stream, "group", r.cfg.Group, "at", at, "from", why)
		}
		if g, err = r.group(ctx); err != nil {
			return err
		}
		if g == nil {
			return fmt.Errorf("group %s on %s: %w", r.cfg.Group, r.cfg.Stream, pipeline.ErrGroupMissing)
		}
	}
	r.remember(g.LastDeliveredID)
	// Every entry at or below the mark is acknowledged: the group's last
	// delivered entry, or just below its oldest pending one.
	mark := g.LastDeliveredID
	if g.Pending > 0 {
		p, err := r.rdb.XPending(ctx, r.cfg.Stream, r.cfg.Group).Result()
		if err != nil {
			return fmt.Errorf("pending of %s: %w", r.cfg.Group, err)
		}
		if p.Count > 0 && lessID(prevID(p.Lower), mark) {
			mark = prevID(p.Lower)
		}
	}
	if err := r.rdb.HSetNX(ctx, r.committedKey, r.cfg.Group, mark).Err(); err != nil {
		return fmt.Errorf("record the position of %s: %w", r.cfg.Group, err)
	}
	return nil
}

// group returns the state of the Reader's group, nil when it (or its
// stream) does not exist.
func (r *Reader) group(ctx context.Context) (*goredis.XInfoGroup, error) {
	groups, err := r.rdb.XInfoGroups(ctx, r.cfg.Stream).Result()
	if err != nil && !isNoSuchKey(err) {
		return nil, fmt.Errorf("groups of %s: %w", r.cfg.Stream, err)
	}
	for i := range groups {
		if groups[i].Name == r.cfg.Group {
			return &groups[i], nil
		}
	}
	return nil, nil
}

// position returns where to create the missing group and, when it
// vanished, what said so.
func (r *Reader) position(ctx context.Context, vanished bool) (at, why string, err error) {
	mark, err := r.rdb.HGet(ctx, r.committedKey, r.cfg.Group).Result()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return "", "", fmt.Errorf("committed position of %s: %w", r.cfg.Group, err)
	}
	if mark != "" {
		return mark, "the recorded commit position (" + r.committedKey + ")", nil
	}
	if r.cfg.Resume != nil {
		id, err := r.cfg.Resume(ctx)
		switch {
		case err != nil && vanished:
			return "", "", fmt.Errorf("%w: asking for a position: %w", ErrGroupVanished, err)
		case err != nil:
			return "", "", fmt.Errorf("group %s on %s is missing and unrecorded: asking the store whether it existed: %w", r.cfg.Group, r.cfg.Stream, err)
		}
		if id != "" {
			if _, _, err := pomocore.ParseEntryID(id); err != nil {
				return "", "", fmt.Errorf("%w: resume position %q: %w", ErrGroupVanished, id, err)
			}
			if !vanished {
				// No record, but the store holds usage logs of this stream:
				// the group and its record vanished while no process ran.
				return id, "the resume position (the store): the group and its record vanished while no process ran", nil
			}
			return id, "the resume position (the store)", nil
		}
	}
	if !vanished {
		return r.cfg.StartID, "", nil // first start
	}
	if r.knows {
		// The mark went with the group (FLUSHALL, a restart without
		// persistence): entries written since are newer than what this
		// Reader knows.
		return r.known, "this reader's last known position of the group", nil
	}
	if r.cfg.RecreateAt != RecreateStop {
		return r.cfg.RecreateAt, "RecreateAt", nil
	}
	return "", "", fmt.Errorf("%w: recreate it by hand (XGROUP CREATE %s %s <id of the last processed entry>) or choose 0 (all again) or $ (new entries only)",
		ErrGroupVanished, r.cfg.Stream, r.cfg.Group)
}

// remember raises the largest entry id known delivered in the group.
func (r *Reader) remember(id string) {
	if id == "" {
		return
	}
	if !r.knows || lessID(r.known, id) {
		r.known, r.knows = id, true
	}
}

// prevID returns the largest stream id below id ("0-0" for the smallest).
func prevID(id string) string {
	ms, seq, err := pomocore.ParseEntryID(id)
	switch {
	case err != nil || (ms == 0 && seq == 0):
		return "0-0"
	case seq > 0:
		return strconv.FormatUint(ms, 10) + "-" + strconv.FormatUint(seq-1, 10)
	}
	return strconv.FormatUint(ms-1, 10) + "-18446744073709551615"
}

func isNoSuchKey(err error) bool {
	return err != nil && strings.Contains(strings.ToLower(err.Error()), "no such key")
}

// withGroup runs f, and once more after recreating the group when f failed
// because the group or its stream is gone.
func (r *Reader) withGroup(ctx context.Context, f func() error) error {
	err := f()
	if err != nil && goredis.HasErrorPrefix(err, "NOGROUP") {
		if err := r.create(ctx, true); err != nil {
			if errors.Is(err, ErrGroupVanished) {
				err = fmt.Errorf("%w (%w)", err, pipeline.ErrGroupMissing)
			}
			return err
		}
		r.restFrom, r.restTo = "", ""
		err = f()
	}
	return err
}

// noRetry is a command the client sends once: go-redis re-sends a command
// whose reply timed out, which for XREADGROUP would deliver entries a
// second time while the first reply's entries stay pending, stranded.
type noRetry struct{ *goredis.Cmd }

// NoRetry tells go-redis not to re-send the command.
func (noRetry) NoRetry() bool { return true }

// do sends args once, bounded by timeout.
func (r *Reader) do(ctx context.Context, timeout time.Duration, args ...any) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := noRetry{goredis.NewCmd(ctx, args...)}
	_ = r.rdb.Process(ctx, cmd)
	return cmd.Result()
}

// countFor is how many entries to ask for: count, fewer when the last
// entries were large.
func (r *Reader) countFor(count int) int {
	if r.avg > 0 {
		count = min(count, max(1, r.cfg.MaxBatchBytes/r.avg))
	}
	return max(count, 1)
}

// budget keeps the first entries of msgs that fit MaxBatchBytes (at least
// one) and learns their mean size; it returns the kept ones and the id of
// the last entry left out ("" for none).
func (r *Reader) budget(msgs []pipeline.Message) ([]pipeline.Message, string) {
	if len(msgs) == 0 {
		return msgs, ""
	}
	total, keep := 0, len(msgs)
	for i := range msgs {
		size := 0
		for _, f := range msgs[i].Fields {
			size += len(f)
		}
		if i > 0 && keep == len(msgs) && total+size > r.cfg.MaxBatchBytes {
			keep = i
		}
		total += size
	}
	r.avg = max(1, total/len(msgs))
	if keep == len(msgs) {
		return msgs, ""
	}
	return msgs[:keep], msgs[len(msgs)-1].ID
}

// Read implements pipeline.Reader: XREADGROUP ... STREAMS <stream> >. Entries
// a previous Read left out for the byte budget come first.
func (r *Reader) Read(ctx context.Context, count int, block time.Duration) ([]pipeline.Message, error) {
	if block >= r.cfg.ClientReadTimeout {
		// The client would time out before the server answers an empty
		// BLOCK: every idle read would fail.
		return nil, fmt.Errorf("read %s: block %v is not below the Redis read timeout %v", r.cfg.Stream, block, r.cfg.ClientReadTimeout)
	}
	if r.restFrom != "" {
		msgs, err := r.readRest(ctx, count)
		if err != nil || len(msgs) > 0 {
			return msgs, err
		}
	}
	args := []any{"XREADGROUP", "GROUP", r.cfg.Group, r.cfg.Consumer, "COUNT", r.countFor(count)}
	if block > 0 {
		args = append(args, "BLOCK", max(block.Milliseconds(), 1))
	}
	args = append(args, "STREAMS", r.cfg.Stream, ">")
	msgs, err := r.readGroup(ctx, max(block, 0)+r.cfg.ReadTimeout, args)
	if err != nil {
		// The read may have delivered entries whose reply was lost (a
		// timeout): the next Read looks for them among this consumer's
		// pending entries after the last one handed out.
		r.restFrom, r.restTo = r.handed, ""
		if r.restFrom == "" {
			r.restFrom = "0-0"
		}
		return nil, fmt.Errorf("read %s as %s/%s: %w", r.cfg.Stream, r.cfg.Group, r.cfg.Consumer, err)
	}
	for i := range msgs {
		msgs[i].Deliveries = 1
	}
	var last string
	msgs, last = r.budget(msgs)
	if last != "" {
		r.restFrom, r.restTo = msgs[len(msgs)-1].ID, last
	}
	if len(msgs) > 0 {
		r.remember(msgs[len(msgs)-1].ID)
		r.handed = msgs[len(msgs)-1].ID
	}
	return msgs, nil
}

// readRest hands out entries an earlier Read left out for the byte budget
// or lost with a failed reply: this consumer's pending entries in
// (restFrom, restTo] (restTo "": no end).
func (r *Reader) readRest(ctx context.Context, count int) ([]pipeline.Message, error) {
	msgs, err := r.readGroup(ctx, r.cfg.ReadTimeout, []any{"XREADGROUP", "GROUP", r.cfg.Group, r.cfg.Consumer,
		"COUNT", r.countFor(count), "STREAMS", r.cfg.Stream, r.restFrom})
	if err == nil {
		for i := range msgs {
			if r.restTo != "" && lessID(r.restTo, msgs[i].ID) {
				msgs = msgs[:i]
				break
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read entries left for the byte budget of %s/%s: %w", r.cfg.Group, r.cfg.Consumer, err)
	}
	msgs, _ = r.budget(msgs)
	for i := range msgs {
		// Delivered once to the pipeline; the other deliveries Redis counts
		// are this Reader's reads for the budget.
		msgs[i].Deliveries = 1
	}
	if len(msgs) == 0 || msgs[len(msgs)-1].ID == r.restTo {
		r.restFrom, r.restTo = "", ""
	} else {
		r.restFrom = msgs[len(msgs)-1].ID
	}
	if len(msgs) > 0 && lessID(r.handed, msgs[len(msgs)-1].ID) {
		r.handed = msgs[len(msgs)-1].ID
	}
	return msgs, nil
}

// Pending implements pipeline.Reader: XREADGROUP ... STREAMS <stream> <after>
// re-reads this consumer's own pending entries (at most MaxBatchBytes of
// them; the caller pages on with the last id).
func (r *Reader) Pending(ctx context.Context, after string, count int) ([]pipeline.Message, error) {
	msgs, err := r.readGroup(ctx, r.cfg.ReadTimeout, []any{"XREADGROUP", "GROUP", r.cfg.Group, r.cfg.Consumer, "COUNT", r.countFor(count),
		"STREAMS", r.cfg.Stream, after})
	if err == nil {
		msgs, _ = r.budget(msgs)
		err = r.deliveries(ctx, msgs)
	}
	if err != nil {
		return nil, fmt.Errorf("read own pending of %s/%s: %w", r.cfg.Group, r.cfg.Consumer, err)
	}
	if len(msgs) > 0 {
		r.remember(msgs[len(msgs)-1].ID)
	}
	return msgs, nil
}

// readGroup sends one XREADGROUP (args is the whole command), once, and
// parses the entries; none when a BLOCK timed out.
func (r *Reader) readGroup(ctx context.Context, timeout time.Duration, args []any) ([]pipeline.Message, error) {
	var msgs []pipeline.Message
	err := r.withGroup(ctx, func() error {
		reply, err := r.do(ctx, timeout, args...)
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
		reply, err := r.do(ctx, r.cfg.ReadTimeout, "XAUTOCLAIM", r.cfg.Stream, r.cfg.Group, r.cfg.Consumer,
			max(minIdle.Milliseconds(), 1), start, "COUNT", r.countFor(count))
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
		_, _ = r.budget(msgs) // learn the size; claimed entries are all handed out
		err = r.deliveries(ctx, msgs)
		for i := range msgs {
			r.remember(msgs[i].ID)
		}
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
// idle at least idle and have nothing pending; it returns how many. The
// check and the deletion are one script (janitor.lua), so a consumer that
// reads or claims entries meanwhile is never deleted with them.
func (r *Reader) RemoveIdleConsumers(ctx context.Context, idle time.Duration) (int, error) {
	call := newCall(&janitorCall{stream: r.cfg.Stream, group: r.cfg.Group, keep: r.cfg.Consumer, idleMs: idle.Milliseconds()})
	n, err := evalCall(ctx, r.rdb, call).Int()
	if err != nil {
		return 0, fmt.Errorf("remove idle consumers of %s/%s: %w", r.cfg.Stream, r.cfg.Group, err)
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

// str reads a string out of a raw reply element (a bulk string, or an
// integer as its decimal digits), for the reader and the Inspector.
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
