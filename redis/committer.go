package redis

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/pipeline"
)

var (
	//go:embed begin.lua
	beginLua string
	//go:embed applied.lua
	appliedLua string
	//go:embed incr.lua
	incrLua string
	//go:embed emit.lua
	emitLua string
	//go:embed ack.lua
	ackLua string
	//go:embed trim.lua
	trimLua string
	//go:embed forget.lua
	forgetLua string
	//go:embed single.lua
	singleLua string

	beginScript  = newScript(appliedLua + beginLua)
	incrScript   = newScript(appliedLua + incrLua)
	emitScript   = newScript(appliedLua + emitLua)
	ackScript    = newScript(ackLua)
	trimScript   = newScript(trimLua)
	forgetScript = newScript(forgetLua)
	singleScript = newScript(appliedLua + singleLua)
)

// script is a Lua script and its SHA1, for EVALSHA.
type script struct{ src, hash string }

func newScript(src string) *script { return &script{src: src, hash: goredis.NewScript(src).Hash()} }

// ErrReplicaWait is returned by Commit when fewer replicas than
// CommitterConfig.ReplicaWaits confirmed a write in time; nothing was
// acknowledged and committing again is safe.
var ErrReplicaWait = errors.New("replicas did not confirm the write in time")

// CommitterConfig names the keys a Committer writes and how it makes them
// durable. The zero value of a duration means its default.
type CommitterConfig struct {
	// Stream and Group are the input stream and its consumer group, whose
	// entries are acknowledged.
	Stream, Group string
	// DeadStream receives rejected entries (default "<Stream>:dead").
	DeadStream string
	// SessionStream receives session-end events ("session_score_stream").
	SessionStream string
	// DeadMaxLen caps the dead-letter stream at about this many entries
	// (XADD MAXLEN ~; 0: no cap).
	DeadMaxLen int64
	// ReplicaWaits, when positive, makes every write step wait (WAIT) until
	// that many replicas of each master written to hold it, so that a
	// failover cannot lose an effect whose entry is acknowledged. 0: do not
	// wait (a standalone server, or when a lost second is acceptable).
	ReplicaWaits int
	// WaitTimeout bounds each WAIT (default 1s).
	WaitTimeout time.Duration
	// RecordTTL is how long an applied record or intent hash outlives its
	// last write (default 7 days): a safety net for keys no committer trims
	// any more.
	RecordTTL time.Duration
	// TrimEvery is how often a Committer trims the applied records of the
	// keys it wrote below the group's floor (default 1s: a trim runs inside
	// a commit, so it is kept small; negative: never, leaving them to
	// RecordTTL).
	TrimEvery time.Duration
	// AlwaysThreeSteps makes commits on a single server (standalone or
	// Sentinel) take the three steps a Cluster needs, instead of one script
	// that acknowledges and applies a batch at once. The two ways keep each
	// other exactly-once, so instances may differ; it exists for tests and
	// comparisons. Cluster commits always take three steps.
	AlwaysThreeSteps bool
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (c CommitterConfig) withDefaults() CommitterConfig {
	if c.WaitTimeout == 0 {
		c.WaitTimeout = time.Second
	}
	if c.RecordTTL == 0 {
		c.RecordTTL = 7 * 24 * time.Hour
	}
	if c.TrimEvery == 0 {
		c.TrimEvery = time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports a missing name or a setting that cannot work.
func (c CommitterConfig) Validate() error {
	var errs []error
	for _, f := range []struct{ name, v string }{
		{"stream", c.Stream}, {"group", c.Group}, {"dead-letter stream", c.DeadStream}, {"session stream", c.SessionStream},
	} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("%s: empty", f.name))
		}
	}
	if c.ReplicaWaits < 0 {
		errs = append(errs, fmt.Errorf("replica waits %d: want >= 0", c.ReplicaWaits))
	}
	if c.WaitTimeout < 0 || c.RecordTTL < 0 {
		errs = append(errs, errors.New("wait timeout and record TTL must not be negative"))
	}
	return errors.Join(errs...)
}

// Committer implements pipeline.Committer on one Redis server and on a
// Redis Cluster, where the input stream, the leaderboards and the output
// streams live in different slots and no script may touch them together.
//
// On a single server a commit is one script (single.lua): when every entry
// of the batch is pending and none was given to a token by an unfinished
// three-step commit, it acknowledges the entries and applies their summed
// effects atomically, so each applies exactly once. Otherwise it writes
// nothing and the batch is committed in three steps, as on a Cluster.
//
// A three-step commit takes three round trips (per master) of pipelined
// scripts:
//
//  1. begin, on the input stream's slot: the entries still pending in the
//     group and not yet given to a token are given to a new token (this
//     attempt, "<largest entry id>/<random>"), whose summed effects are
//     stored with it ("{<stream>}:intent", "{<stream>}:tokens"). Entries a
//     crashed or concurrent commit gave to another token keep it, and that
//     token's stored effects are applied instead of a new classification.
//     Entries no longer pending are skipped.
//  2. apply, one script per token and target key (a leaderboard, the
//     session stream, the dead-letter stream), on that key's slot: the key's
//     applied record "{<key>}:applied", a sorted set in the same slot, lists
//     the tokens the key already has; the script applies the token's share
//     unless it is listed, and lists it, atomically.
//  3. ack, on the input stream's slot: XACK the entries, forget their
//     tokens, atomically.
//
// With ReplicaWaits, each step ends with a WAIT on every master it wrote
// to. A crash between steps leaves the entries pending, to be committed
// again with the same token; keys that list the token skip it. So every
// entry's effects apply exactly once, and an entry is acknowledged only
// after all of them applied. A record costs one member per key per batch,
// not per entry. Records are trimmed below the group's floor (the smallest
// entry id any consumer could still commit): the trim raises a "floor"
// member in each record, and the apply scripts skip tokens below it, so a
// stale consumer committing entries acknowledged and trimmed long ago
// applies nothing. Safe for concurrent use.
type Committer struct {
	rdb goredis.UniversalClient
	cfg CommitterConfig

	intentKey, tokensKey string

	single bool // one script per commit when it can (a single server)

	mu       sync.Mutex
	touched  map[string]struct{} // record keys written since the last trim
	lastTrim time.Time
	trimming sync.Mutex
}

// NewCommitter returns a Committer writing through rdb: a *goredis.Client
// (standalone or Sentinel) or a *goredis.ClusterClient.
func NewCommitter(rdb goredis.UniversalClient, cfg CommitterConfig) (*Committer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("redis committer: %w", err)
	}
	cfg = cfg.withDefaults()
	_, cluster := rdb.(*goredis.ClusterClient)
	return &Committer{rdb: rdb, cfg: cfg, intentKey: sameSlot(cfg.Stream, "intent"), tokensKey: sameSlot(cfg.Stream, "tokens"),
		single: !cluster && !cfg.AlwaysThreeSteps, touched: map[string]struct{}{}, lastTrim: cfg.Now()}, nil
}

// sameSlot names a companion key of key that Redis Cluster puts in key's
// slot: key's own hash tag when it has one, else key itself as the tag.
func sameSlot(key, suffix string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key + ":" + suffix
		}
	}
	return "{" + key + "}:" + suffix
}

// AppliedKey returns the name of key's applied record.
func AppliedKey(key string) string { return sameSlot(key, "applied") }

// Commit implements pipeline.Committer.
func (c *Committer) Commit(ctx context.Context, entries []pipeline.CommitEntry) (pipeline.CommitResult, error) {
	if len(entries) == 0 {
		return pipeline.CommitResult{}, nil
	}
	res, err := c.commit(ctx, entries)
	if err != nil {
		if goredis.HasErrorPrefix(err, "NOGROUP") || errors.Is(err, errNoGroup) {
			err = fmt.Errorf("%w: %w", pipeline.ErrGroupMissing, err)
		}
		return pipeline.CommitResult{}, fmt.Errorf("redis commit of %d entries to %s/%s: %w", len(entries), c.cfg.Stream, c.cfg.Group, err)
	}
	c.maybeTrim(ctx)
	return res, nil
}

var errNoGroup = errors.New("NOGROUP")

func (c *Committer) commit(ctx context.Context, entries []pipeline.CommitEntry) (pipeline.CommitResult, error) {
	entries, ids, err := dedupe(entries)
	if err != nil {
		return pipeline.CommitResult{}, err
	}
	n := len(entries)
	if c.single {
		res, done, err := c.commitSingle(ctx, entries, ids)
		if err != nil || done {
			return res, err
		}
	}

	// 1. begin: give the pending entries without a token to a new one, and
	// learn the tokens of the others.
	type held struct {
		token string
		score uint64
		fx    *effects
	}
	var (
		fresh      *held
		old        = map[string]*held{}
		ackIDs     = make([]string, 0, n)
		todo, tids = entries, ids
		missingFx  int
	)
	for attempt := 0; len(todo) > 0; attempt++ {
		if attempt == 4 {
			return pipeline.CommitResult{}, errors.New("begin: entries keep changing hands; try again")
		}
		lo, hi := span(tids)
		h := &held{token: todo[hi].ID + "/" + randomHex(), score: tids[hi].ms, fx: effectsOf(todo)}
		args := make([]any, 0, 8+len(todo))
		args = append(args, c.cfg.Group, int64(c.cfg.RecordTTL/time.Second), h.token, h.score, h.fx.encode(),
			len(todo), todo[lo].ID, todo[hi].ID)
		for i := range todo {
			args = append(args, todo[i].ID)
		}
		begin := &scriptCall{script: beginScript, keys: []string{c.cfg.Stream, c.intentKey, c.tokensKey}, args: args}
		if err := c.run(ctx, []*scriptCall{begin}); err != nil {
			return pipeline.CommitResult{}, fmt.Errorf("begin: %w", err)
		}
		reply, err := begin.cmd.StringSlice()
		if err != nil || len(reply) == 0 {
			return pipeline.CommitResult{}, fmt.Errorf("begin: reply %v: %w", reply, err)
		}
		if reply[0] == "ok" {
			fresh = h
			for i := range todo {
				ackIDs = append(ackIDs, todo[i].ID)
			}
			break
		}
		if len(reply) < 1+len(todo) || (len(reply)-1-len(todo))%3 != 0 {
			return pipeline.CommitResult{}, fmt.Errorf("begin: reply of %d values for %d entries", len(reply), len(todo))
		}
		for t := 1 + len(todo); t < len(reply); t += 3 {
			token := reply[t]
			if _, ok := old[token]; ok {
				continue
			}
			score, _ := strconv.ParseUint(reply[t+2], 10, 64)
			h := &held{token: token, score: score}
			if reply[t+1] != "" {
				if h.fx, err = decodeEffects(reply[t+1]); err != nil {
					return pipeline.CommitResult{}, fmt.Errorf("begin: effects of token %s: %w", token, err)
				}
			}
			old[token] = h
		}
		var next []pipeline.CommitEntry
		var nextIDs []entryID
		for i, v := range reply[1 : 1+len(todo)] {
			switch v {
			case "":
				next = append(next, todo[i])
				nextIDs = append(nextIDs, tids[i])
			case "-":
			default:
				if old[v].fx == nil {
					missingFx++ // its effects expired (RecordTTL): nothing left to apply
				}
				ackIDs = append(ackIDs, todo[i].ID)
			}
		}
		todo, tids = next, nextIDs
	}
	if len(ackIDs) == 0 {
		return pipeline.CommitResult{Skipped: n}, nil
	}

	// 2. apply: one script per token and target key.
	var calls []*scriptCall
	if fresh != nil {
		calls = c.applyCalls(calls, fresh.token, fresh.score, fresh.fx)
	}
	for _, h := range old {
		if h.fx != nil {
			calls = c.applyCalls(calls, h.token, h.score, h.fx)
		}
	}
	if err := c.run(ctx, calls); err != nil {
		return pipeline.CommitResult{}, fmt.Errorf("apply: %w", err)
	}
	c.mu.Lock()
	for _, call := range calls {
		c.touched[call.keys[1]] = struct{}{}
	}
	c.mu.Unlock()

	// 3. ack, and forget the new token: all of its entries are here.
	args := make([]any, 0, 3+len(ackIDs))
	args = append(args, c.cfg.Group)
	if fresh != nil {
		args = append(args, 1, fresh.token)
	} else {
		args = append(args, 0)
	}
	for _, id := range ackIDs {
		args = append(args, id)
	}
	ack := &scriptCall{script: ackScript, keys: []string{c.cfg.Stream, c.intentKey, c.tokensKey}, args: args}
	if err := c.run(ctx, []*scriptCall{ack}); err != nil {
		return pipeline.CommitResult{}, fmt.Errorf("ack: %w", err)
	}
	acked, err := ack.cmd.Int64()
	if err != nil {
		return pipeline.CommitResult{}, fmt.Errorf("ack: %w", err)
	}
	res := pipeline.CommitResult{Applied: int(acked), Skipped: n - int(acked)}
	if missingFx > 0 {
		return res, fmt.Errorf("%d entries were acknowledged without effects: the effects their first commit stored had expired (RecordTTL %v)", missingFx, c.cfg.RecordTTL)
	}
	return res, nil
}

// commitSingle commits entries with single.lua. done is false when the
// script wrote nothing because the batch needs the three steps.
func (c *Committer) commitSingle(ctx context.Context, entries []pipeline.CommitEntry, ids []entryID) (res pipeline.CommitResult, done bool, err error) {
	lo, hi := span(ids)
	fx := effectsOf(entries)
	keys := make([]string, 0, 4+len(fx.keys))
	keys = append(keys, c.cfg.Stream, c.intentKey)
	args := make([]any, 0, 8+len(entries)+4*len(fx.keys))
	args = append(args, c.cfg.Group, len(entries), entries[lo].ID, entries[hi].ID)
	for i := range entries {
		args = append(args, entries[i].ID)
	}
	args = append(args, len(fx.keys))
	for _, k := range fx.keys {
		keys = append(keys, k.key)
		args = appendSums(append(args, k.ttl, len(k.members)), k)
	}
	for _, out := range c.outputs(fx) {
		keys = append(keys, out.stream)
		args = appendEvents(append(args, out.maxLen, len(out.events)), out.events)
	}
	call := &scriptCall{script: singleScript, keys: keys, args: args}
	if err := c.run(ctx, []*scriptCall{call}); err != nil {
		return res, false, fmt.Errorf("commit: %w", err)
	}
	reply, err := call.cmd.Slice()
	if err != nil || len(reply) == 0 {
		return res, false, fmt.Errorf("commit: reply %v: %w", reply, err)
	}
	if reply[0] == "steps" {
		return res, false, nil
	}
	acked, ok := reply[len(reply)-1].(int64)
	if reply[0] != "ok" || len(reply) != 2 || !ok {
		return res, false, fmt.Errorf("commit: reply %v", reply)
	}
	return pipeline.CommitResult{Applied: int(acked), Skipped: len(entries) - int(acked)}, true, nil
}

// entryID is a stream entry id, parsed.
type entryID struct{ ms, seq uint64 }

func (a entryID) less(b entryID) bool { return a.ms < b.ms || a.ms == b.ms && a.seq < b.seq }

// span returns the indexes of the smallest and the largest of ids.
func span(ids []entryID) (lo, hi int) {
	for i := range ids {
		if ids[i].less(ids[lo]) {
			lo = i
		}
		if ids[hi].less(ids[i]) {
			hi = i
		}
	}
	return lo, hi
}

// dedupe drops repeated entries (the first wins) and returns each entry's
// parsed id.
func dedupe(entries []pipeline.CommitEntry) ([]pipeline.CommitEntry, []entryID, error) {
	ids := make([]entryID, 0, len(entries))
	seen := make(map[string]struct{}, len(entries))
	out := make([]pipeline.CommitEntry, 0, len(entries))
	for i := range entries {
		ms, seq, err := pomocore.ParseEntryID(entries[i].ID)
		if err != nil {
			return nil, nil, fmt.Errorf("entry id: %w", err)
		}
		if _, dup := seen[entries[i].ID]; dup {
			continue
		}
		seen[entries[i].ID] = struct{}{}
		ids = append(ids, entryID{ms, seq})
		out = append(out, entries[i])
	}
	return out, ids, nil
}

func randomHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// applyCalls appends the scripts that apply fx as token: one per
// leaderboard key, one per output stream with events.
func (c *Committer) applyCalls(calls []*scriptCall, token string, score uint64, fx *effects) []*scriptCall {
	recordTTL := int64(c.cfg.RecordTTL / time.Second)
	for _, k := range fx.keys {
		args := make([]any, 0, 4+2*len(k.members))
		args = appendSums(append(args, token, score, k.ttl, recordTTL), k)
		calls = append(calls, &scriptCall{script: incrScript, keys: []string{k.key, AppliedKey(k.key)}, args: args})
	}
	for _, out := range c.outputs(fx) {
		if len(out.events) == 0 {
			continue
		}
		args := appendEvents([]any{token, score, out.maxLen, recordTTL}, out.events)
		calls = append(calls, &scriptCall{script: emitScript, keys: []string{out.stream, AppliedKey(out.stream)}, args: args})
	}
	return calls
}

// output is the events of a commit for one output stream.
type output struct {
	stream string
	maxLen int64 // MAXLEN ~ of the stream; 0: no cap
	events [][]string
}

// outputs returns fx's session events and dead letters, with their streams.
func (c *Committer) outputs(fx *effects) [2]output {
	return [2]output{{c.cfg.SessionStream, 0, fx.sessions}, {c.cfg.DeadStream, c.cfg.DeadMaxLen, fx.deads}}
}

// appendSums appends k's (member, sum) pairs as script arguments, each sum
// to the last bit.
func appendSums(args []any, k *keyEffect) []any {
	for i, m := range k.members {
		args = append(args, m, strconv.FormatFloat(k.sums[i], 'g', 17, 64))
	}
	return args
}

// appendEvents appends events as script arguments: per event its number of
// field/value pairs, then the pairs.
func appendEvents(args []any, events [][]string) []any {
	for _, ev := range events {
		args = append(args, len(ev)/2)
		for _, s := range ev[:len(ev)/2*2] {
			args = append(args, s)
		}
	}
	return args
}

// scriptCall is one script invocation of a commit step.
type scriptCall struct {
	script *script
	keys   []string
	args   []any
	cmd    *goredis.Cmd
}

// run sends calls, pipelined, one round trip per master (concurrently), each
// followed by a WAIT when ReplicaWaits is set. It fails when any call
// failed; every call is idempotent, so the caller may run them all again.
func (c *Committer) run(ctx context.Context, calls []*scriptCall) error {
	cc, cluster := c.rdb.(*goredis.ClusterClient)
	if !cluster {
		return c.runOn(ctx, c.rdb, calls)
	}
	byNode := map[*goredis.Client][]*scriptCall{}
	var nodes []*goredis.Client
	for _, call := range calls {
		node, err := cc.MasterForKey(ctx, call.keys[0])
		if err != nil {
			return fmt.Errorf("master of %s: %w", call.keys[0], err)
		}
		if _, ok := byNode[node]; !ok {
			nodes = append(nodes, node)
		}
		byNode[node] = append(byNode[node], call)
	}
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, node := range nodes {
		wg.Go(func() { errs[i] = c.runOn(ctx, node, byNode[node]) })
	}
	wg.Wait()
	err := errors.Join(errs...)
	if err != nil {
		// A failover or resharding moved slots: learn the new map before
		// the caller tries again.
		cc.ReloadState(ctx)
	}
	return err
}

// runOn runs calls on one node (or through a non-cluster client).
func (c *Committer) runOn(ctx context.Context, node goredis.Cmdable, calls []*scriptCall) error {
	for attempt := 0; ; attempt++ {
		var wait *goredis.Cmd
		_, _ = node.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for _, call := range calls {
				if attempt == 0 {
					call.cmd = p.EvalSha(ctx, call.script.hash, call.keys, call.args...)
				} else {
					call.cmd = p.Eval(ctx, call.script.src, call.keys, call.args...)
				}
			}
			if c.cfg.ReplicaWaits > 0 {
				wait = p.Do(ctx, "WAIT", c.cfg.ReplicaWaits, c.cfg.WaitTimeout.Milliseconds())
			}
			return nil
		})
		var errs []error
		noScript := false
		for _, call := range calls {
			if err := call.cmd.Err(); err != nil {
				if goredis.HasErrorPrefix(err, "NOSCRIPT") {
					noScript = true
				}
				errs = append(errs, fmt.Errorf("%s: %w", call.keys[0], err))
			}
		}
		if noScript && attempt == 0 {
			continue // the node does not know a script yet (a restart, a new replica): send the source once
		}
		if len(errs) == 0 && wait != nil {
			n, err := wait.Int64()
			if err != nil {
				errs = append(errs, fmt.Errorf("WAIT: %w", err))
			} else if n < int64(c.cfg.ReplicaWaits) {
				errs = append(errs, fmt.Errorf("%w: %d of %d within %v", ErrReplicaWait, n, c.cfg.ReplicaWaits, c.cfg.WaitTimeout))
			}
		}
		return errors.Join(errs...)
	}
}

// maybeTrim trims the applied records of the keys written since the last
// trim when TrimEvery has passed, at most one trim at a time. A failure is
// only a delay: the keys stay marked and records stay until the next trim.
func (c *Committer) maybeTrim(ctx context.Context) {
	if c.cfg.TrimEvery < 0 {
		return
	}
	c.mu.Lock()
	due := c.cfg.Now().Sub(c.lastTrim) >= c.cfg.TrimEvery
	if due && c.single && len(c.touched) == 0 {
		// Only one-script commits since the last trim: no record to trim.
		c.lastTrim, due = c.cfg.Now(), false
	}
	c.mu.Unlock()
	if !due || !c.trimming.TryLock() {
		return
	}
	defer c.trimming.Unlock()
	_, _ = c.TrimApplied(ctx)
}

// TrimApplied removes, from the applied records of the keys this Committer
// wrote since its last trim, the entries below the group's floor: the
// smaller of its oldest pending entry and its last delivered entry. Every
// entry below the floor is acknowledged, so no commit can need its record.
// It also drops the stored effects of tokens below the floor. It returns
// how many records it removed.
func (c *Committer) TrimApplied(ctx context.Context) (int64, error) {
	floor, err := c.floorMs(ctx)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	keys := make([]string, 0, len(c.touched))
	for k := range c.touched {
		keys = append(keys, k)
	}
	c.touched = map[string]struct{}{}
	c.lastTrim = c.cfg.Now()
	c.mu.Unlock()
	if floor <= 0 {
		return 0, nil
	}
	calls := make([]*scriptCall, 0, 1+len(keys))
	// Effects of tokens left by commits that crashed after begin.
	calls = append(calls, &scriptCall{script: forgetScript, keys: []string{c.intentKey, c.tokensKey}, args: []any{floor}})
	for _, k := range keys {
		// keys[0] routes the call: the record is in its leaderboard's slot.
		calls = append(calls, &scriptCall{script: trimScript, keys: []string{k}, args: []any{floor}})
	}
	if err := c.run(ctx, calls); err != nil {
		c.mu.Lock()
		for _, k := range keys {
			c.touched[k] = struct{}{}
		}
		c.mu.Unlock()
		return 0, fmt.Errorf("trim applied records: %w", err)
	}
	var removed int64
	for _, call := range calls[1:] {
		n, _ := call.cmd.Int64()
		removed += n
	}
	return removed, nil
}

// floorMs returns the millisecond part of the group's floor: any entry a
// consumer could still commit has an id at or above it (groupAndPending
// reads the two ids in the order that makes this hold). 0 when nothing was
// delivered yet.
func (c *Committer) floorMs(ctx context.Context) (int64, error) {
	g, p, err := groupAndPending(ctx, c.rdb, c.cfg.Stream, c.cfg.Group)
	if err != nil {
		return 0, fmt.Errorf("floor: %w", err)
	}
	last := g.LastDeliveredID
	ms, _, err := pomocore.ParseEntryID(last)
	if err != nil {
		return 0, fmt.Errorf("floor: last delivered id %q: %w", last, err)
	}
	floor := int64(ms)
	if p.Count > 0 {
		pms, _, err := pomocore.ParseEntryID(p.Lower)
		if err != nil {
			return 0, fmt.Errorf("floor: oldest pending id %q: %w", p.Lower, err)
		}
		floor = min(floor, int64(pms))
	}
	return floor, nil
}
