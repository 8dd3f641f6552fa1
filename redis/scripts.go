package redis

import (
	"context"
	"strconv"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/route"
)

// The Lua scripts meet Go by position: KEYS[k] and ARGV[k]. Each script
// declares its layout once, in its header, and is called only through its
// builder below: a struct with named fields whose build method writes the
// keys and arguments in exactly that order, naming each as the layout
// does. TestScriptLayouts checks every builder against its script's
// layout, and the script against the arguments. A new script (route.lua,
// say) gets a layout header, a builder here, and a layoutCase in
// scripts_test.go (the test fails for a .lua file without one); nothing
// else makes a scriptCall.
//
// The header lines are "-- KEYS = <layout>" and "-- ARGV = <layout>" (a
// line of "--" and three or more spaces continues one). A layout is a list
// of items, each a name (one value), or name[count] (count values), or
// name[count]{items} (count groups of items); count is an earlier item's
// name (of this group or an enclosing one; KEYS may name ARGV's top-level
// items), a number, or * (the rest). A script reads only the items before
// the first repeated one at literal indexes (ARGV[3]).

// scriptArgs collects a script's KEYS and ARGV as a builder writes them.
// With trace set it also records each one's layout name ("claims.pairs.claim"),
// for the layout test; production calls leave it off.
type scriptArgs struct {
	keys []string
	args []any

	trace              bool
	keyNames, argNames []string
}

// key appends KEYS[#KEYS+1], named name in the layout.
func (w *scriptArgs) key(name, k string) {
	w.keys = append(w.keys, k)
	if w.trace {
		w.keyNames = append(w.keyNames, name)
	}
}

// arg appends ARGV[#ARGV+1], named name in the layout.
func (w *scriptArgs) arg(name string, v any) {
	w.args = append(w.args, v)
	if w.trace {
		w.argNames = append(w.argNames, name)
	}
}

// scriptBuilder is one script's typed arguments: script names the script
// and build writes its KEYS and ARGV in the order of its layout.
type scriptBuilder interface {
	script() *script
	build(w *scriptArgs)
}

// newCall returns the call of b's script with b's keys and arguments: the
// one way a scriptCall is made.
func newCall(b scriptBuilder) *scriptCall {
	var w scriptArgs
	b.build(&w)
	return &scriptCall{script: b.script(), keys: w.keys, args: w.args}
}

// evalCall runs one call by its SHA1, sending the source when the server
// does not know the script yet (a restart, a new replica).
func evalCall(ctx context.Context, rdb goredis.Scripter, call *scriptCall) *goredis.Cmd {
	cmd := rdb.EvalSha(ctx, call.script.hash, call.keys, call.args...)
	if goredis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		cmd = rdb.Eval(ctx, call.script.src, call.keys, call.args...)
	}
	return cmd
}

// singleCall is single.lua's layout: a whole commit on a single server.
type singleCall struct {
	stream, intents, committed string
	group                      string
	ids                        []string // the batch's entry ids
	lo, hi                     string   // the smallest and the largest of ids
	cl                         claims
	seenKeys                   []string // the committer's SeenKeys
	shardCap                   int
	shardTTL                   int64 // ms
	boards                     []*keyEffect
	outputs                    [2]output // the session stream, the dead-letter stream
}

func (*singleCall) script() *script { return singleScript }

func (s *singleCall) build(w *scriptArgs) {
	w.key("stream", s.stream)
	w.key("intents", s.intents)
	w.key("committed", s.committed)
	for _, k := range s.boards {
		w.key("boards", k.key)
	}
	w.key("session", s.outputs[0].stream)
	w.key("dead", s.outputs[1].stream)
	for _, sec := range s.cl.sections {
		w.key("shards", s.seenKeys[sec.shard])
	}
	for _, bs := range s.cl.bits {
		w.key("bitmaps", bs.key)
	}
	for _, sh := range s.cl.absent {
		w.key("absent", s.seenKeys[sh])
	}

	w.arg("group", s.group)
	w.arg("n", len(s.ids))
	w.arg("lo", s.lo)
	w.arg("hi", s.hi)
	w.arg("since", s.cl.since)
	w.arg("cap", s.shardCap)
	w.arg("ttl", s.shardTTL)
	w.arg("ns", len(s.cl.sections))
	w.arg("nb", len(s.cl.bits))
	w.arg("na", len(s.cl.absent))
	for _, id := range s.ids {
		w.arg("ids", id)
	}
	for i := range s.cl.sections {
		s.cl.sections[i].build(w, "claims.")
	}
	for i := range s.cl.bits {
		s.cl.bits[i].build(w, "bits.")
	}
	w.arg("L", len(s.boards))
	for _, k := range s.boards {
		w.arg("boards.ttl", k.ttl)
		w.arg("boards.m", len(k.members))
		buildSums(w, "boards.sums.", k)
	}
	for _, out := range s.outputs {
		w.arg("outputs.maxlen", out.maxLen)
		w.arg("outputs.count", len(out.events))
		buildEvents(w, "outputs.events.", out.events)
	}
}

// build writes the claims section of one shard (lib.lua): m, the trim
// flag, then m (claim, member) pairs, the names prefixed with prefix.
func (sec *claimSection) build(w *scriptArgs, prefix string) {
	if !w.trace {
		prefix = ""
	}
	w.arg(prefix+"m", len(sec.entries))
	trim := "0"
	switch {
	case sec.checkOnly:
		trim = "c"
	case sec.trim:
		trim = "1"
	}
	w.arg(prefix+"trim", trim)
	for j := 0; j+1 < len(sec.pairs); j += 2 {
		w.arg(prefix+"pairs.claim", sec.pairs[j])
		w.arg(prefix+"pairs.member", sec.pairs[j+1])
	}
}

// build writes the bits section of one seen bitmap (lib.lua): m, the
// first and last byte its claims touch, and their bit offsets, two bytes
// each, as one string; the names prefixed with prefix.
func (bs *bitsSection) build(w *scriptArgs, prefix string) {
	if !w.trace {
		prefix = ""
	}
	w.arg(prefix+"m", len(bs.entries))
	w.arg(prefix+"first", bs.first)
	w.arg(prefix+"last", bs.last)
	w.arg(prefix+"offsets", string(bs.offsets))
}

// buildSums writes k's (member, sum) pairs, each sum to the last bit.
func buildSums(w *scriptArgs, prefix string, k *keyEffect) {
	if !w.trace {
		prefix = ""
	}
	for i, m := range k.members {
		w.arg(prefix+"member", m)
		w.arg(prefix+"sum", strconv.FormatFloat(k.sums[i], 'g', 17, 64))
	}
}

// buildEvents writes events: per event its number f of field/value pairs,
// then the pairs.
func buildEvents(w *scriptArgs, prefix string, events [][]string) {
	if !w.trace {
		prefix = ""
	}
	for _, ev := range events {
		f := len(ev) / 2
		w.arg(prefix+"f", f)
		for j := 0; j < 2*f; j += 2 {
			w.arg(prefix+"fields.field", ev[j])
			w.arg(prefix+"fields.value", ev[j+1])
		}
	}
}

// claimCall is claim.lua's layout: the claims of one seen shard, in mode
// "claim" or "confirm".
type claimCall struct {
	shardKey string
	since    string
	shardCap int
	shardTTL int64 // ms
	mode     string
	sec      *claimSection
	bits     []bitsSection // checked only ("claim" on a single server)
}

func (*claimCall) script() *script { return claimScript }

func (c *claimCall) build(w *scriptArgs) {
	w.key("shard", c.shardKey)
	for _, bs := range c.bits {
		w.key("bitmaps", bs.key)
	}
	w.arg("since", c.since)
	w.arg("cap", c.shardCap)
	w.arg("ttl", c.shardTTL)
	w.arg("mode", c.mode)
	w.arg("nb", len(c.bits))
	c.sec.build(w, "")
	for i := range c.bits {
		c.bits[i].build(w, "bits.")
	}
}

// beginCall is begin.lua's layout: give entries to a new token.
type beginCall struct {
	stream, intents, tokens string
	group                   string
	ttl                     int64 // seconds
	token                   string
	score                   uint64
	fx                      string // the token's encoded effects
	lo, hi                  string
	ids                     []string
}

func (*beginCall) script() *script { return beginScript }

func (b *beginCall) build(w *scriptArgs) {
	w.key("stream", b.stream)
	w.key("intents", b.intents)
	w.key("tokens", b.tokens)
	w.arg("group", b.group)
	w.arg("ttl", b.ttl)
	w.arg("token", b.token)
	w.arg("score", b.score)
	w.arg("fx", b.fx)
	w.arg("n", len(b.ids))
	w.arg("lo", b.lo)
	w.arg("hi", b.hi)
	for _, id := range b.ids {
		w.arg("ids", id)
	}
}

// incrCall is incr.lua's layout: one token's increments of one
// leaderboard.
type incrCall struct {
	token     string
	score     uint64
	recordTTL int64 // seconds
	k         *keyEffect
	record    string // the leaderboard's applied record (ScopedAppliedKey)
}

func (*incrCall) script() *script { return incrScript }

func (c *incrCall) build(w *scriptArgs) {
	w.key("board", c.k.key)
	w.key("record", c.record)
	w.arg("token", c.token)
	w.arg("score", c.score)
	w.arg("ttl", c.k.ttl)
	w.arg("rttl", c.recordTTL)
	buildSums(w, "pairs.", c.k)
}

// emitCall is emit.lua's layout: one token's events of one stream.
type emitCall struct {
	token     string
	score     uint64
	recordTTL int64 // seconds
	out       output
	record    string // the stream's applied record (ScopedAppliedKey)
}

func (*emitCall) script() *script { return emitScript }

func (c *emitCall) build(w *scriptArgs) {
	w.key("stream", c.out.stream)
	w.key("record", c.record)
	w.arg("token", c.token)
	w.arg("score", c.score)
	w.arg("maxlen", c.out.maxLen)
	w.arg("rttl", c.recordTTL)
	buildEvents(w, "events.", c.out.events)
}

// ackCall is ack.lua's layout: acknowledge entries, forget tokens.
type ackCall struct {
	stream, intents, tokens, committed string
	group                              string
	forget                             []string // tokens all of whose entries are among ids
	ids                                []string
}

func (*ackCall) script() *script { return ackScript }

func (a *ackCall) build(w *scriptArgs) {
	w.key("stream", a.stream)
	w.key("intents", a.intents)
	w.key("tokens", a.tokens)
	w.key("committed", a.committed)
	w.arg("group", a.group)
	w.arg("nt", len(a.forget))
	for _, t := range a.forget {
		w.arg("tokens", t)
	}
	for _, id := range a.ids {
		w.arg("ids", id)
	}
}

// trimCall is trim.lua's layout: raise one applied record's floor.
type trimCall struct {
	record string
	floor  int64 // ms
}

func (*trimCall) script() *script { return trimScript }

func (t *trimCall) build(w *scriptArgs) {
	w.key("record", t.record)
	w.arg("floor", t.floor)
}

// forgetCall is forget.lua's layout: drop the effects of tokens below the
// floor.
type forgetCall struct {
	intents, tokens string
	floor           int64 // ms
}

func (*forgetCall) script() *script { return forgetScript }

func (f *forgetCall) build(w *scriptArgs) {
	w.key("intents", f.intents)
	w.key("tokens", f.tokens)
	w.arg("floor", f.floor)
}

// janitorCall is janitor.lua's layout: remove a group's idle, empty
// consumers.
type janitorCall struct {
	stream, group, keep string
	idleMs              int64
}

func (*janitorCall) script() *script { return janitorScript }

func (j *janitorCall) build(w *scriptArgs) {
	w.key("stream", j.stream)
	w.arg("group", j.group)
	w.arg("keep", j.keep)
	w.arg("idle", j.idleMs)
}

// routeCall is route.lua's layout: entries appended to one partition
// stream under a router's token.
type routeCall struct {
	stream, fence string
	token         int64
	entries       []route.Entry
}

func (*routeCall) script() *script { return routeScript }

func (c *routeCall) build(w *scriptArgs) {
	w.key("stream", c.stream)
	w.key("fence", c.fence)
	w.arg("token", c.token)
	for _, e := range c.entries {
		w.arg("entries.id", e.ID)
		w.arg("entries.n", len(e.Fields))
		for _, f := range e.Fields {
			w.arg("entries.fields", f)
		}
	}
}

// leaseCall is lease.lua's layout: acquire, renew or release the router
// role.
type leaseCall struct {
	lease, epoch string
	op           string // acquire, renew or release
	token        string // renew, release; "0" for acquire
	ttlMs        int64  // acquire, renew; 0 for release
}

func (*leaseCall) script() *script { return leaseScript }

func (c *leaseCall) build(w *scriptArgs) {
	w.key("lease", c.lease)
	w.key("epoch", c.epoch)
	w.arg("op", c.op)
	w.arg("token", c.token)
	w.arg("ttl", c.ttlMs)
}
