package redis

import (
	"cmp"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
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
	//go:embed lib.lua
	libLua string
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
	//go:embed janitor.lua
	janitorLua string
	//go:embed claim.lua
	claimLua string

	beginScript   = newScript("begin.lua", libLua, beginLua)
	incrScript    = newScript("incr.lua", libLua, incrLua)
	emitScript    = newScript("emit.lua", libLua, emitLua)
	ackScript     = newScript("ack.lua", libLua, ackLua)
	trimScript    = newScript("trim.lua", "", trimLua)
	forgetScript  = newScript("forget.lua", "", forgetLua)
	singleScript  = newScript("single.lua", libLua, singleLua)
	janitorScript = newScript("janitor.lua", "", janitorLua)
	claimScript   = newScript("claim.lua", libLua, claimLua)
)

// script is a Lua script (its body after the library it uses, if any),
// its SHA1 for EVALSHA, and the name of its file, whose header declares
// its layout (scripts.go).
type script struct{ name, body, src, hash string }

func newScript(name, lib, body string) *script {
	src := lib + body
	return &script{name: name, body: body, src: src, hash: goredis.NewScript(src).Hash()}
}

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
	// DeadValueMax bounds each field name and value a dead letter copies
	// from its entry, in bytes (default DefaultDeadValueMax; at least 64):
	// a longer one is cut to that many bytes (at a UTF-8 boundary) and
	// followed by the fields "<name>.size" (its length in bytes) and
	// "<name>.sha256" (the hex SHA-256 of the whole value).
	DeadValueMax int
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
	// DedupWindow is how long the activity key (pipeline.CommitEntry.
	// DedupKey: the pomodoroUsageLogId the entry named) of a committed entry
	// is remembered: an entry whose activity another stream entry committed
	// within it is acknowledged with no effects. The window is measured in
	// the stream entries' own time (the millisecond of their ids, Redis's
	// clock when the producer added them), never an instance's clock: a
	// producer retry added up to DedupWindow after the first copy is a
	// duplicate, however late either is committed. 0: no deduplication by
	// activity (each stream entry still applies once).
	//
	// The activities are remembered in SeenShards sorted sets (SeenKeys),
	// each in a Redis Cluster slot of its own, so that no key (and no
	// master) holds all of them: rate x window activities in all, about
	// SeenBytesPerActivity bytes each. A commit reads each shard its batch
	// touches once (one ZMSCORE), not once per activity. On a single server
	// (standalone or Sentinel), where a commit is one script, an activity
	// named by an ObjectId (as the main server's pomodoroUsageLogIds are)
	// is remembered as one bit instead, in seen bitmaps: a string per
	// second, main-server process and 2,048 consecutive ObjectId counters
	// (SeenBitmapBytesPerActivity at 1,667 events/s, up to ~420 bytes for an
	// activity alone in its second), remembered for at least the window and
	// forgotten whole at most DedupWindow after the newest commit that wrote
	// the string. A commit reads and writes a few short ranges of them,
	// instead of a sorted-set member per activity (BENCHMARKS.md, issue 29).
	// Claims of unfinished three-step commits stay in the shards, and a
	// commit checks the bits and the shards both.
	DedupWindow time.Duration
	// DedupMax bounds the activities remembered, in all shards together
	// (each shard keeps at most DedupMax/SeenShards, rounded up; default
	// DefaultDedupMax): past it a shard forgets its oldest first, so the
	// window shrinks under a rate above DedupMax/DedupWindow instead of
	// memory growing. The default covers 20,000 events/s for 2 hours.
	DedupMax int
	// Namespace, when set, names the committer's own state in the input
	// stream's slot: its intents, tokens and committed positions are
	// "{<Stream>}:<Namespace>:intent", ":tokens" and ":committed"
	// (CommittedKeyIn; the Reader's ReaderConfig.Namespace must match)
	// instead of "{<Stream>}:intent", ..., and its remembered activities
	// are SeenKeys(Stream, Namespace). A shadow run (its own group on the live
	// stream) sets it, so that what it commits is never taken by the
	// deployed group's committer for a duplicate or a commit in flight.
	Namespace string
	// RecordScope, when set, names this committer's applied records apart
	// from those of other input streams committing onto the same keys:
	// "{<key>}:applied:<RecordScope>" instead of "{<key>}:applied". Each
	// stream's floor (TrimApplied) then guards and trims only its own
	// tokens. The partition streams of a split input (POMOCORE_PARTITIONS)
	// set it to their stream's name: with one shared record, a partition
	// running ahead raised the floor above a lagging one's entries, whose
	// increments were then skipped.
	RecordScope string
	// NoSessionEvents drops the entries' session-end events: nothing is
	// written to SessionStream (a shadow run, whose events the main server
	// must not see).
	NoSessionEvents bool
	// Now is the clock of the applied records' trims (default time.Now);
	// deduplication never reads it (see DedupWindow).
	Now func() time.Time
}

// DefaultCommitterConfig returns the committer's defaults: the deployed
// stream, group and session stream, and a dedup window of 2 hours (the
// dead-letter stream follows the stream).
func DefaultCommitterConfig() CommitterConfig {
	return CommitterConfig{
		Stream:        pomocore.DefaultStream,
		Group:         pomocore.DefaultGroup,
		SessionStream: pomocore.DefaultSessionStream,
		DeadValueMax:  DefaultDeadValueMax,
		WaitTimeout:   time.Second,
		RecordTTL:     7 * 24 * time.Hour,
		TrimEvery:     time.Second,
		DedupWindow:   2 * time.Hour,
		DedupMax:      DefaultDedupMax,
	}
}

// withDefaults fills the zero fields of a partial CommitterConfig
// (NewCommitter takes one) from DefaultCommitterConfig, but the names and
// DedupWindow and DeadMaxLen, whose zeros mean off, and the clock
// (time.Now).
func (c CommitterConfig) withDefaults() CommitterConfig {
	d := DefaultCommitterConfig()
	c.DeadStream = c.deadStream()
	c.WaitTimeout = cmp.Or(c.WaitTimeout, d.WaitTimeout)
	c.RecordTTL = cmp.Or(c.RecordTTL, d.RecordTTL)
	c.DedupMax = cmp.Or(c.DedupMax, d.DedupMax)
	c.TrimEvery = cmp.Or(c.TrimEvery, d.TrimEvery)
	if c.Now == nil {
		c.Now = time.Now
	}
	c.DeadValueMax = cmp.Or(c.DeadValueMax, d.DeadValueMax)
	return c
}

// DefaultDedupMax is CommitterConfig.DedupMax's default: 200 million
// activities, at most about 21 GB (SeenBytesPerActivity each), which covers
// 20,000 events/s for the default 2-hour window. Below that rate memory is
// rate x window, not this bound.
const DefaultDedupMax = 200_000_000

// SeenShards is the number of sorted sets that remember the committed
// activities (see CommitterConfig.DedupWindow and SeenKeys). Changing it
// moves activities to other shards: the ones remembered are then missed.
const SeenShards = 64

// SeenBytesPerActivity is what remembering one activity costs in Redis
// memory, measured with MEMORY USAGE on redis-server 7.0 (a
// pomodoroUsageLogId, kept as its 12 bytes; TestSeenMemoryPerActivity).
const SeenBytesPerActivity = 105

// SeenBitmapBytesPerActivity is what remembering one activity as a bit in
// the seen bitmaps of a single server costs in Redis memory at 1,667
// events/s from one main-server process (MEMORY USAGE of every bitmap,
// redis-server 7.0; TestSeenBitmapMemoryPerActivity).
const SeenBitmapBytesPerActivity = 0.5

// DefaultDeadValueMax is CommitterConfig.DeadValueMax's default: 4 KiB.
const DefaultDeadValueMax = 4096

// Validate reports a missing name or a setting that cannot work, as they
// are (NewCommitter fills a partial config first), each as a
// *pipeline.ConfigError naming the CommitterConfig field (joined).
func (c CommitterConfig) Validate() error {
	var errs pomocore.ConfigErrors
	bad := errs.Add
	for _, f := range []struct{ name, v string }{
		{"Stream", c.Stream}, {"Group", c.Group}, {"SessionStream", c.SessionStream},
	} {
		if f.v == "" {
			bad(f.name, "empty")
		}
	}
	dead := c.deadStream()
	if c.Stream != "" {
		// A dead letter or session event written to the input stream is read
		// again: one bad entry would loop forever.
		if dead == c.Stream {
			bad("DeadStream", "%q is the input stream", dead)
		}
		if c.SessionStream == c.Stream {
			bad("SessionStream", "%q is the input stream", c.SessionStream)
		}
	}
	if dead == c.SessionStream {
		bad("DeadStream", "%q is the session stream", dead)
	}
	if c.ReplicaWaits < 0 {
		bad("ReplicaWaits", "%d: want >= 0", c.ReplicaWaits)
	}
	if c.DedupWindow < 0 {
		bad("DedupWindow", "%v: want >= 0 (0: off)", c.DedupWindow)
	}
	if c.DedupMax < 1 {
		bad("DedupMax", "%d: want > 0", c.DedupMax)
	}
	if c.WaitTimeout <= 0 {
		bad("WaitTimeout", "%v: want > 0", c.WaitTimeout)
	}
	if c.RecordTTL <= 0 {
		bad("RecordTTL", "%v: want > 0", c.RecordTTL)
	}
	if c.TrimEvery == 0 {
		bad("TrimEvery", "0: want > 0, or negative for never")
	}
	if c.DeadMaxLen < 0 {
		bad("DeadMaxLen", "%d: want >= 0 (0: no cap)", c.DeadMaxLen)
	}
	if strings.ContainsAny(c.Namespace, "{}") {
		bad("Namespace", "%q: must not hold '{' or '}' (the state keys keep the stream's slot)", c.Namespace)
	}
	if c.DeadValueMax < 64 {
		bad("DeadValueMax", "%d: want at least 64", c.DeadValueMax)
	}
	return errors.Join(errs...)
}

// deadStream is DeadStream, "<Stream>:dead" when empty.
func (c CommitterConfig) deadStream() string {
	if c.DeadStream == "" {
		return pomocore.DeadStream(c.Stream)
	}
	return c.DeadStream
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
// applies nothing.
//
// Every commit also raises the group's committed position in CommittedKey
// (the largest entry id it acknowledged, atomically with the
// acknowledgement): where a Reader recreates the group if it vanishes.
// Entries touching a key of the wrong type are left out (see
// pipeline.CommitResult.Blocked).
// Safe for concurrent use.
type Committer struct {
	rdb goredis.UniversalClient
	cfg CommitterConfig

	intentKey, tokensKey string
	seenKeys             []string // SeenKeys

	single  bool // one script per commit when it can (a single server)
	cluster bool // a Cluster: claims in the seen shards only, never as bits

	// checkShardsUntil: single.lua checks the claims it keeps as bits
	// against their seen shards too, until then (see checkShardsFor).
	checkShardsUntil time.Time

	mu        sync.Mutex
	touched   map[string]struct{} // record keys written since the last trim
	lastTrim  time.Time
	trimmedAt [SeenShards]uint64 // per seen shard: the window start (ms) of its last trim (trimDue)
	trimming  sync.Mutex
}

// NewCommitter returns a Committer writing through rdb: a *goredis.Client
// (standalone or Sentinel) or a *goredis.ClusterClient.
func NewCommitter(rdb goredis.UniversalClient, cfg CommitterConfig) (*Committer, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("redis committer: %w", err)
	}
	_, cluster := rdb.(*goredis.ClusterClient)
	return &Committer{rdb: rdb, cfg: cfg, intentKey: StateKey(cfg.Stream, cfg.Namespace, "intent"),
		tokensKey: StateKey(cfg.Stream, cfg.Namespace, "tokens"), seenKeys: SeenKeys(cfg.Stream, cfg.Namespace), single: !cluster, cluster: cluster, touched: map[string]struct{}{}, lastTrim: cfg.Now()}, nil
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

// ScopedAppliedKey returns the name of key's applied record for the
// committers of CommitterConfig.RecordScope scope (AppliedKey when scope
// is empty).
func ScopedAppliedKey(key, scope string) string {
	if scope == "" {
		return AppliedKey(key)
	}
	return sameSlot(key, "applied:"+scope)
}

// SeenKeys returns the names of the SeenShards sorted sets that remember
// the activities committed by the committers of stream in namespace (see
// CommitterConfig.Namespace): "{<stream>:seen:<i>}", or
// "{<stream>:<namespace>:seen:<i>}", i from 00. Each is its own hash tag, so
// a Cluster spreads them over its masters ("{" and "}" in the stream's name
// become "(" and ")" to keep it so). Each maps an activity key (a
// pomodoroUsageLogId as its 12 bytes) to its claim: the stream entry that
// counts it, and whether its commit finished (see lib.lua). A shard is
// chosen by the FNV-1a hash of the key.
func SeenKeys(stream, namespace string) []string {
	keys := make([]string, SeenShards)
	for i := range keys {
		keys[i] = seenKey(stream, namespace, i)
	}
	return keys
}

// seenKey returns the name of seen shard i (see SeenKeys).
func seenKey(stream, namespace string, i int) string {
	base := stream
	if namespace != "" {
		base += ":" + namespace
	}
	base = strings.NewReplacer("{", "(", "}", ")").Replace(base)
	return fmt.Sprintf("{%s:seen:%02d}", base, i)
}

// seenShard returns the shard (an index into SeenKeys) of activity key:
// its 32-bit FNV-1a hash modulo SeenShards (hash/fnv's New32a, written out
// so that a commit does not allocate per activity for it).
func seenShard(key string) int {
	const offset32, prime32 = 2166136261, 16777619
	h := uint32(offset32)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= prime32
	}
	return int(h % SeenShards)
}

// StateKey returns the name of a committer's state key name ("intent" or
// "tokens") of stream in namespace (see
// CommitterConfig.Namespace), in the stream's slot: "{<stream>}:<name>"
// without a namespace, "{<stream>}:<namespace>:<name>" with one.
func StateKey(stream, namespace, name string) string {
	if namespace != "" {
		name = namespace + ":" + name
	}
	return sameSlot(stream, name)
}

// Commit implements pipeline.Committer. When target keys hold another type
// (a string at a leaderboard key), it commits the entries that do not touch
// them and lists the others, which stay pending, in the result's Blocked.
func (c *Committer) Commit(ctx context.Context, entries []pipeline.CommitEntry) (pipeline.CommitResult, error) {
	if len(entries) == 0 {
		return pipeline.CommitResult{}, nil
	}
	res, wrong, err := c.commit(ctx, entries)
	if err != nil {
		if goredis.HasErrorPrefix(err, "NOGROUP") || errors.Is(err, errNoGroup) {
			err = fmt.Errorf("%w: %w", pipeline.ErrGroupMissing, err)
		}
		return pipeline.CommitResult{}, fmt.Errorf("redis commit of %d entries to %s/%s: %w", len(entries), c.cfg.Stream, c.cfg.Group, err)
	}
	c.maybeTrim(ctx)
	if wrong != nil {
		res.Blocked = wrong.reasons()
	}
	return res, nil
}

var errNoGroup = errors.New("NOGROUP")

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
		calls = append(calls, newCall(&incrCall{token: token, score: score, recordTTL: recordTTL, k: k, record: ScopedAppliedKey(k.key, c.cfg.RecordScope)}))
	}
	for _, out := range c.outputs(fx) {
		if len(out.events) == 0 {
			continue
		}
		calls = append(calls, newCall(&emitCall{token: token, score: score, recordTTL: recordTTL, out: out, record: ScopedAppliedKey(out.stream, c.cfg.RecordScope)}))
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

// scriptCall is one script invocation of a commit step, made by newCall
// from the script's builder (scripts.go).
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
	calls = append(calls, newCall(&forgetCall{intents: c.intentKey, tokens: c.tokensKey, floor: floor}))
	for _, k := range keys {
		// keys[0] routes the call: the record is in its leaderboard's slot.
		calls = append(calls, newCall(&trimCall{record: k, floor: floor}))
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
