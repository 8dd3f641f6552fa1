package redis

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pomocore/pomocore/pipeline"
)

// A commit, step by step. commit is the whole of it; commitSingle the
// one-script commit of a single server; begin, apply and ack the three
// steps (see Committer). Each script's reply is decoded into a type of its
// own (singleReply, beginReply) by one function.

// batch is the entries of one commit, deduplicated by entry id, with their
// parsed ids and what deduplication by activity decided.
type batch struct {
	entries []pipeline.CommitEntry
	ids     []entryID
	dup     []bool // the entry's activity was committed already: no effects
}

// newBatch drops repeated entries (the first wins), parses their ids, and
// marks the entries whose DedupKey an earlier entry of the batch has.
func newBatch(entries []pipeline.CommitEntry, dedup bool) (*batch, error) {
	entries, ids, err := dedupe(entries)
	if err != nil {
		return nil, err
	}
	b := &batch{entries: entries, ids: ids, dup: make([]bool, len(entries))}
	if !dedup {
		for i := range b.entries {
			b.entries[i].DedupKey = ""
		}
		return b, nil
	}
	first := make(map[string]struct{})
	for i := range b.entries {
		k := canonicalKey(b.entries[i].DedupKey)
		if k == "" {
			continue
		}
		b.entries[i].DedupKey = k
		if _, seen := first[k]; seen {
			b.markDup(i)
			continue
		}
		first[k] = struct{}{}
	}
	return b, nil
}

// canonicalKey returns activity key as the dedup state keeps it: an
// ObjectId in lower case (its shard is chosen by the key's text, its
// member and bit by its bytes), any other key as it is. The pipeline's
// keys are lower case already (pomocore.ObjectID.Hex).
func canonicalKey(key string) string {
	if len(key) != 24 || strings.IndexFunc(key, func(r rune) bool { return r >= 'A' && r <= 'F' }) < 0 {
		return key
	}
	if _, ok := objectIDOf(key); !ok {
		return key
	}
	return strings.ToLower(key)
}

// markDup drops entry i's effects: its activity was committed already.
func (b *batch) markDup(i int) {
	e := &b.entries[i]
	e.Increment, e.SessionEnd, e.Dead, e.DedupKey = nil, nil, nil, ""
	b.dup[i] = true
}

// claimSeqs is how many sequence numbers a claim tells apart in one
// millisecond (lib.lua).
const claimSeqs = 1024

// claimUnits is how many claims fit in a millisecond: a claim is (the
// entry's millisecond x claimSeqs + its sequence number, capped at
// claimSeqs-1) x 2, + 1 when its commit finished.
const claimUnits = 2 * claimSeqs

// claimOf returns the claim of an entry id, finished when done.
func claimOf(id entryID, done bool) string {
	c := (id.ms*claimSeqs + min(id.seq, claimSeqs-1)) * 2
	if done {
		c++
	}
	return strconv.FormatUint(c, 10)
}

// claims is what the dedup state needs of a batch: the claims of the
// entries that name an activity, by seen shard and, on a single server,
// by seen bitmap, and the window's start. A claim's ordinal (lib.lua) is
// its place in sections, then in bits.
type claims struct {
	sections []claimSection // one per shard the batch touches (two: kept, checkOnly)
	bits     []bitsSection  // one per seen bitmap the batch touches
	absent   []int          // seen shards that must not exist (single.lua's "full")
	since    string         // claims below it are outside the window
}

// claimSection is the claims of a batch in one seen shard: a claims
// section of lib.lua.
type claimSection struct {
	shard     int      // an index into SeenKeys
	trim      bool     // forget the shard's claims below the window, and past its cap, first
	checkOnly bool     // checked against the shard, kept as bits (flag "c")
	entries   []int    // the entries claiming, as indexes into the batch
	pairs     []string // per entry: its claim and its seen member
}

// bitsSection is the claims of a batch in one seen bitmap: a bits section
// of lib.lua.
type bitsSection struct {
	key         string
	entries     []int  // the entries claiming, as indexes into the batch
	offsets     []byte // per entry: its bit, two bytes big-endian
	first, last int    // the first and the last byte the bits are in
}

// claimForm is where a commit keeps and looks up its claims.
type claimForm int

const (
	// inShards keeps every claim in the seen shards: a Cluster's, and a
	// three-step commit's on a single server (claimCalls adds the bits to
	// check there).
	inShards claimForm = iota
	// asBits keeps the claims of ObjectId activities as bits only, their
	// shards required absent (single.lua's common case).
	asBits
	// asBitsChecked keeps them as bits and checks them against their
	// shards too (single.lua after a "full" reply).
	asBitsChecked
)

// trimEvery is how far the window's start (stream time, ms) moves before a
// Committer trims a seen shard again: claims below the window are ignored
// anyway (lib.lua's claim_dups), so trimming them is only about memory,
// and trimming every shard a batch touches, every batch, cost a
// ZREMRANGEBYSCORE and a ZCARD per shard per batch (issue 29 item 3).
const trimEvery = 1000

// trimDue tells which sections of cl to trim: a shard this Committer has
// not trimmed yet, or whose last trim was at least trimEvery of stream
// time before since; it records them as trimmed.
func (c *Committer) trimDue(cl *claims, sinceMs uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range cl.sections {
		if cl.sections[i].checkOnly {
			continue
		}
		s := cl.sections[i].shard
		if last := c.trimmedAt[s]; last == 0 || sinceMs >= last+trimEvery {
			cl.sections[i].trim = true
			c.trimmedAt[s] = max(sinceMs, 1)
		}
	}
}

// entryAt returns the entry (an index into the batch) of the claim at
// ordinal o (1-based) of cl: lib.lua reports duplicates so.
func (cl *claims) entryAt(o int64) (int, bool) {
	for _, sec := range cl.sections {
		if o >= 1 && o <= int64(len(sec.entries)) {
			return sec.entries[o-1], true
		}
		o -= int64(len(sec.entries))
	}
	for _, bs := range cl.bits {
		if o >= 1 && o <= int64(len(bs.entries)) {
			return bs.entries[o-1], true
		}
		o -= int64(len(bs.entries))
	}
	return 0, false
}

// claims returns the claims of b's entries that have a DedupKey, finished
// when done, in form, the window ending at b's newest entry: the stream's
// own time, so that no instance's clock decides what is expired. With
// trim, the sections of the shards due a trim (trimDue) are marked so.
func (c *Committer) claims(b *batch, done, trim bool, form claimForm) claims {
	var newest uint64
	for _, id := range b.ids {
		newest = max(newest, id.ms)
	}
	since := uint64(0)
	if w := uint64(c.cfg.DedupWindow.Milliseconds()); newest > w {
		since = newest - w
	}
	cl := claims{since: strconv.FormatUint(since*claimUnits, 10)}
	var at [2][SeenShards]int // per checkOnly: 1 + index into cl.sections; 0: none yet
	var absent [SeenShards]bool
	var bits []bitRef
	for i := range b.entries {
		k := b.entries[i].DedupKey
		if k == "" {
			continue
		}
		s := seenShard(k)
		check := 0
		if id, oid := objectIDOf(k); oid && form != inShards {
			bits = append(bits, bitRef{entry: i, id: id})
			if form == asBits {
				if !absent[s] {
					absent[s] = true
					cl.absent = append(cl.absent, s)
				}
				continue
			}
			check = 1
		}
		if at[check][s] == 0 {
			cl.sections = append(cl.sections, claimSection{shard: s, checkOnly: check == 1})
			at[check][s] = len(cl.sections)
		}
		sec := &cl.sections[at[check][s]-1]
		sec.entries = append(sec.entries, i)
		sec.pairs = append(sec.pairs, claimOf(b.ids[i], done), seenMember(k))
	}
	cl.bits = c.bitsOf(bits)
	if trim {
		c.trimDue(&cl, since)
	}
	return cl
}

// seenBitmapBits is how many activities one seen bitmap holds (lib.lua):
// 256 bytes after its header, the counters of 2,048 consecutive ObjectIds
// of one process in one second.
const seenBitmapBits = 2048

// objectIDOf returns the 12 bytes of activity key when it is an ObjectId
// (24 hex digits, as the main server's pomodoroUsageLogId is).
func objectIDOf(key string) (id [12]byte, ok bool) {
	if len(key) != 24 {
		return id, false
	}
	_, err := hex.Decode(id[:], []byte(key))
	return id, err == nil
}

// bitRef is an entry of a batch whose activity is an ObjectId.
type bitRef struct {
	entry int // an index into the batch
	id    [12]byte
}

// bitmapOf returns what names the seen bitmap that remembers an ObjectId,
// and its bit there: a bitmap per (second, process, counter /
// seenBitmapBits), so that two ObjectIds share a bit only when they are
// equal, and the ObjectIds a process makes one after another share a
// bitmap.
func bitmapOf(id [12]byte) (bitmap [11]byte, bit int) {
	counter := int(id[9])<<16 | int(id[10])<<8 | int(id[11])
	copy(bitmap[:9], id[:9])
	chunk := counter / seenBitmapBits
	bitmap[9], bitmap[10] = byte(chunk>>8), byte(chunk)
	return bitmap, counter % seenBitmapBits
}

// bitmapKey returns the key of a seen bitmap bitmapOf named.
func (c *Committer) bitmapKey(bitmap [11]byte) string {
	chunk := int64(bitmap[9])<<8 | int64(bitmap[10])
	return StateKey(c.cfg.Stream, c.cfg.Namespace, "seen:"+hex.EncodeToString(bitmap[:9])+":"+strconv.FormatInt(chunk, 16))
}

// bitsOf returns the bits sections of refs, one per seen bitmap, in the
// order of their first entry.
func (c *Committer) bitsOf(refs []bitRef) []bitsSection {
	var out []bitsSection
	at := map[[11]byte]int{}
	for _, r := range refs {
		bitmap, bit := bitmapOf(r.id)
		j, ok := at[bitmap]
		if !ok {
			out = append(out, bitsSection{key: c.bitmapKey(bitmap), first: bit / 8, last: bit / 8})
			j = len(out) - 1
			at[bitmap] = j
		}
		bs := &out[j]
		bs.entries = append(bs.entries, r.entry)
		bs.offsets = append(bs.offsets, byte(bit>>8), byte(bit))
		bs.first, bs.last = min(bs.first, bit/8), max(bs.last, bit/8)
	}
	return out
}

// seenMember returns the member that stands for activity key in its seen
// shard: the 12 bytes of a 24-digit hex key (a pomodoroUsageLogId, an
// ObjectId), which Redis keeps in 16 bytes instead of 32; key itself
// otherwise. The shard is chosen by key, before this.
func seenMember(key string) string {
	if id, ok := objectIDOf(key); ok {
		return string(id[:])
	}
	return key
}

// shardCap is the most claims one seen shard keeps.
func (c *Committer) shardCap() int { return (c.cfg.DedupMax + SeenShards - 1) / SeenShards }

// shardTTL is how long a seen shard outlives its last write, in ms.
func (c *Committer) shardTTL() int64 { return max(1, c.cfg.DedupWindow.Milliseconds()) }

// checkShardsFor is how long single.lua checks the claims it keeps as bits
// against their seen shards after it found one of those shards: claims
// there (a three-step commit's, an adoption's) live for the dedup window,
// and trying the bits alone again costs one wasted script a minute.
const checkShardsFor = time.Minute

// maxDedupRounds bounds how often one commit learns of more duplicates
// (another committer committing the same activities at the same time).
const maxDedupRounds = 4

// commit commits entries; entries that touch a target key of another type
// are left out and reported in the *wrongTypes returned with the result
// of the others.
func (c *Committer) commit(ctx context.Context, entries []pipeline.CommitEntry) (pipeline.CommitResult, *wrongTypes, error) {
	b, err := newBatch(entries, c.cfg.DedupWindow > 0)
	if err != nil {
		return pipeline.CommitResult{}, nil, err
	}
	if c.cfg.NoSessionEvents {
		for i := range b.entries { // copies: the caller's entries keep theirs
			b.entries[i].SessionEnd = nil
		}
	}
	var blocked *wrongTypes
	if c.single {
		res, done, err := c.commitSingle(ctx, b, &blocked)
		if err != nil || done {
			return res, blocked, err
		}
	}
	wrong, err := c.checkTypes(ctx, b)
	if err != nil {
		return pipeline.CommitResult{}, nil, err
	}
	if len(wrong) > 0 {
		c.drop(b, wrong, &blocked)
		if len(b.entries) == 0 {
			return pipeline.CommitResult{}, blocked, nil
		}
	}
	res, err := c.commitSteps(ctx, b)
	return res, blocked, err
}

// singleReply is single.lua's reply.
type singleReply struct {
	// steps: the batch needs the three steps (nothing written).
	steps bool
	// full: a seen shard the claims sent as bits only must be checked
	// exists (nothing written): send them in the asBitsChecked form.
	full bool
	// dups are the positions (0-based) of entries whose activity was
	// committed already (nothing written).
	dups []int
	// acked counts the acknowledgements that took effect ("ok").
	acked int
	// blocked maps the target keys of another type to their type (nothing
	// written).
	blocked map[string]string
}

func decodeSingle(v any, cl *claims) (singleReply, error) {
	reply, ok := v.([]any)
	if !ok || len(reply) == 0 {
		return singleReply{}, fmt.Errorf("reply %v: not a list", v)
	}
	switch reply[0] {
	case "steps":
		return singleReply{steps: true}, nil
	case "full":
		return singleReply{full: true}, nil
	case "dups":
		dups, err := entriesOf(reply[1:], cl)
		return singleReply{dups: dups}, err
	case "blocked":
		r := singleReply{blocked: map[string]string{}}
		for i := 1; i+1 < len(reply); i += 2 {
			k, _ := reply[i].(string)
			t, _ := reply[i+1].(string)
			r.blocked[k] = t
		}
		if len(r.blocked) == 0 {
			break
		}
		return r, nil
	case "ok":
		if acked, ok := reply[len(reply)-1].(int64); ok && len(reply) == 2 {
			return singleReply{acked: int(acked)}, nil
		}
	}
	return singleReply{}, fmt.Errorf("reply %v", reply)
}

// entriesOf decodes the claim ordinals of a script's reply (lib.lua's
// claim_dups, bits_dups) into the entries of cl they stand for.
func entriesOf(vs []any, cl *claims) ([]int, error) {
	out := make([]int, 0, len(vs))
	for _, v := range vs {
		o, ok := v.(int64)
		i, found := cl.entryAt(o)
		if !ok || !found {
			return nil, fmt.Errorf("claim ordinal %v out of range", v)
		}
		out = append(out, i)
	}
	return out, nil
}

// commitSingle commits b with single.lua. done is false when the script
// wrote nothing because the batch needs the three steps.
func (c *Committer) commitSingle(ctx context.Context, b *batch, blocked **wrongTypes) (res pipeline.CommitResult, done bool, err error) {
	for round, blockedRounds := 0, 0; ; round++ {
		n := len(b.entries)
		if n == 0 {
			return res, true, nil
		}
		ids := make([]string, n)
		for i := range b.entries {
			ids[i] = b.entries[i].ID
		}
		lo, hi := span(b.ids)
		fx := effectsOf(b.entries, c.cfg.DeadValueMax)
		form := asBits
		c.mu.Lock()
		if c.cfg.Now().Before(c.checkShardsUntil) {
			form = asBitsChecked
		}
		c.mu.Unlock()
		cl := c.claims(b, true, true, form)
		call := newCall(&singleCall{stream: c.cfg.Stream, intents: c.intentKey, committed: CommittedKeyIn(c.cfg.Stream, c.cfg.Namespace),
			group: c.cfg.Group, ids: ids, lo: ids[lo], hi: ids[hi], cl: cl, seenKeys: c.seenKeys, shardCap: c.shardCap(), shardTTL: c.shardTTL(),
			boards: fx.keys, outputs: c.outputs(fx)})
		if err := c.run(ctx, []*scriptCall{call}); err != nil {
			return res, false, fmt.Errorf("commit: %w", err)
		}
		r, err := decodeSingle(call.cmd.Val(), &cl)
		if err != nil {
			return res, false, fmt.Errorf("commit: %w", err)
		}
		switch {
		case r.full && form == asBits:
			// Claims in the seen shards (a three-step commit's, an
			// adoption's): check them there for a while.
			c.mu.Lock()
			c.checkShardsUntil = c.cfg.Now().Add(checkShardsFor)
			c.mu.Unlock()
			round--
			continue
		case r.full:
			return res, false, fmt.Errorf("commit: reply %v to claims checked against their shards", call.cmd.Val())
		case len(r.blocked) > 0:
			// Keys of another type: drop the entries touching them, commit
			// the rest. Each round drops at least one entry, so this ends.
			if c.drop(b, r.blocked, blocked) == 0 || blockedRounds > 8 {
				return res, false, fmt.Errorf("commit: keys of another type: %v", r.blocked)
			}
			blockedRounds++
			round--
			continue
		case r.steps:
			return res, false, nil
		case len(r.dups) > 0 && round < maxDedupRounds:
			for _, i := range r.dups {
				b.markDup(i)
			}
			continue
		case len(r.dups) > 0:
			return res, false, errors.New("commit: duplicates keep appearing; try again")
		}
		return pipeline.CommitResult{Applied: r.acked, Skipped: n - r.acked, Duplicates: count(b.dup)}, true, nil
	}
}

// count returns how many of bs are true.
func count(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// held is a token and the effects it stands for.
type held struct {
	token string
	score uint64
	fx    *effects // nil: expired (RecordTTL)
}

// beginReply is begin.lua's reply.
type beginReply struct {
	// ok: the entries were given to the new token.
	ok bool
	// verdicts has per entry "" (give it to a new token), "-" (not
	// pending: skip it) or the token it has (nothing written).
	verdicts []string
	// tokens are the tokens the verdicts name, with their effects.
	tokens map[string]*held
}

func decodeBegin(v any, n int) (beginReply, error) {
	reply, ok := v.([]any)
	if !ok || len(reply) == 0 {
		return beginReply{}, fmt.Errorf("reply %v: not a list", v)
	}
	switch reply[0] {
	case "ok":
		return beginReply{ok: true}, nil
	case "retry":
	default:
		return beginReply{}, fmt.Errorf("reply %v", reply[0])
	}
	strs := make([]string, len(reply)-1)
	for i, v := range reply[1:] {
		s, ok := v.(string)
		if !ok {
			return beginReply{}, fmt.Errorf("reply value %d: %v is not a string", i+1, v)
		}
		strs[i] = s
	}
	if len(strs) < n || (len(strs)-n)%3 != 0 {
		return beginReply{}, fmt.Errorf("reply of %d values for %d entries", len(strs), n)
	}
	r := beginReply{verdicts: strs[:n], tokens: map[string]*held{}}
	for t := n; t < len(strs); t += 3 {
		score, err := strconv.ParseUint(strs[t+2], 10, 64)
		if err != nil {
			return beginReply{}, fmt.Errorf("score of token %s: %w", strs[t], err)
		}
		h := &held{token: strs[t], score: score}
		if strs[t+1] != "" {
			if h.fx, err = decodeEffects(strs[t+1]); err != nil {
				return beginReply{}, fmt.Errorf("effects of token %s: %w", strs[t], err)
			}
		}
		r.tokens[h.token] = h
	}
	for _, v := range r.verdicts {
		if v != "" && v != "-" && r.tokens[v] == nil {
			return beginReply{}, fmt.Errorf("token %s without its effects", v)
		}
	}
	return r, nil
}

// begun is what the begin step decided for a batch.
type begun struct {
	fresh   *held            // the new token, nil if no entry got it
	old     map[string]*held // tokens earlier commits gave some entries
	ackIDs  []string         // entries to acknowledge: those of fresh and old tokens
	freshIx []int            // the entries given to fresh
	expired int              // entries of old tokens whose effects expired
}

// maxBeginRounds bounds the begin rounds of one commit: entries changing
// hands between rounds (another consumer's commit) make one more.
const maxBeginRounds = 4

// begin gives the pending entries of b without a token to a new one, and
// learns the tokens of the others.
func (c *Committer) begin(ctx context.Context, b *batch) (*begun, error) {
	g := &begun{old: map[string]*held{}}
	todo := make([]int, len(b.entries))
	for i := range todo {
		todo[i] = i
	}
	for rounds := 0; len(todo) > 0; {
		if rounds == maxBeginRounds {
			return nil, errors.New("begin: entries keep changing hands; try again")
		}
		sub := make([]pipeline.CommitEntry, len(todo))
		ids := make([]entryID, len(todo))
		for j, i := range todo {
			sub[j], ids[j] = b.entries[i], b.ids[i]
		}
		lo, hi := span(ids)
		h := &held{token: sub[hi].ID + "/" + randomHex(), score: ids[hi].ms, fx: effectsOf(sub, c.cfg.DeadValueMax)}
		todoIDs := make([]string, len(sub))
		for j := range sub {
			todoIDs[j] = sub[j].ID
		}
		call := newCall(&beginCall{stream: c.cfg.Stream, intents: c.intentKey, tokens: c.tokensKey, group: c.cfg.Group,
			ttl: int64(c.cfg.RecordTTL / time.Second), token: h.token, score: h.score, fx: h.fx.encode(),
			lo: sub[lo].ID, hi: sub[hi].ID, ids: todoIDs})
		if err := c.run(ctx, []*scriptCall{call}); err != nil {
			return nil, fmt.Errorf("begin: %w", err)
		}
		r, err := decodeBegin(call.cmd.Val(), len(todo))
		if err != nil {
			return nil, fmt.Errorf("begin: %w", err)
		}
		switch {
		case r.ok:
			g.fresh, g.freshIx = h, todo
			for _, i := range todo {
				g.ackIDs = append(g.ackIDs, b.entries[i].ID)
			}
			return g, nil
		}
		rounds++
		var next []int
		for j, v := range r.verdicts {
			i := todo[j]
			switch v {
			case "":
				next = append(next, i)
			case "-":
			default:
				if _, ok := g.old[v]; !ok {
					g.old[v] = r.tokens[v]
				}
				if g.old[v].fx == nil {
					g.expired++ // its effects expired (RecordTTL): nothing left to apply
				}
				g.ackIDs = append(g.ackIDs, b.entries[i].ID)
			}
		}
		todo = next
	}
	return g, nil
}

// claimCalls returns the claim.lua calls of cl (of b, in the inShards
// form), one per shard, in mode "claim" or "confirm", and the claims each
// call's ordinals stand for. On a single server a claim also checks the
// seen bitmaps of its ObjectId activities, which single.lua keeps there.
func (c *Committer) claimCalls(b *batch, cl claims, mode string) ([]*scriptCall, []claims) {
	calls := make([]*scriptCall, len(cl.sections))
	each := make([]claims, len(cl.sections))
	for j := range cl.sections {
		sec := &cl.sections[j]
		each[j] = claims{sections: cl.sections[j : j+1], since: cl.since}
		if mode == "claim" && !c.cluster {
			var refs []bitRef
			for _, i := range sec.entries {
				if id, ok := objectIDOf(b.entries[i].DedupKey); ok {
					refs = append(refs, bitRef{entry: i, id: id})
				}
			}
			each[j].bits = c.bitsOf(refs)
		}
		calls[j] = newCall(&claimCall{shardKey: c.seenKeys[sec.shard], since: cl.since, shardCap: c.shardCap(), shardTTL: c.shardTTL(),
			mode: mode, sec: sec, bits: each[j].bits})
	}
	return calls, each
}

// claim records, in the seen shards, which entry of b counts each activity
// b's entries name, unfinished, before begin: an entry whose activity is
// claimed already within the window is marked a duplicate (no effects).
// One script per shard touched, pipelined per master. The same entry
// claiming again after a crash is no duplicate; the apply step confirms
// the claims (finished), after which it is.
func (c *Committer) claim(ctx context.Context, b *batch) error {
	for round := 0; ; round++ {
		cl := c.claims(b, false, true, inShards)
		if len(cl.sections) == 0 {
			return nil
		}
		calls, each := c.claimCalls(b, cl, "claim")
		if err := c.run(ctx, calls); err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		var dups []int
		for j, call := range calls {
			reply, ok := call.cmd.Val().([]any)
			if !ok || len(reply) == 0 || (reply[0] != "ok" && reply[0] != "dups") {
				return fmt.Errorf("claim: reply %v", call.cmd.Val())
			}
			ps, err := entriesOf(reply[1:], &each[j])
			if err != nil {
				return fmt.Errorf("claim: %w", err)
			}
			dups = append(dups, ps...)
		}
		if len(dups) == 0 {
			return nil
		}
		if round == maxDedupRounds {
			return errors.New("claim: duplicates keep appearing; try again")
		}
		for _, i := range dups {
			b.markDup(i)
		}
	}
}

// commitSteps commits b in three steps: begin, apply, ack, after claiming
// its activities.
func (c *Committer) commitSteps(ctx context.Context, b *batch) (pipeline.CommitResult, error) {
	n := len(b.entries)
	if err := c.claim(ctx, b); err != nil {
		return pipeline.CommitResult{}, err
	}
	g, err := c.begin(ctx, b)
	if err != nil {
		return pipeline.CommitResult{}, err
	}
	if len(g.ackIDs) == 0 {
		return pipeline.CommitResult{Skipped: n}, nil
	}
	if err := c.apply(ctx, g, b, c.claims(b, true, false, inShards)); err != nil {
		return pipeline.CommitResult{}, err
	}
	acked, err := c.ack(ctx, g)
	if err != nil {
		return pipeline.CommitResult{}, err
	}
	dups := 0
	for _, i := range g.freshIx {
		if b.dup[i] {
			dups++
		}
	}
	res := pipeline.CommitResult{Applied: acked, Skipped: n - acked, Duplicates: dups}
	if g.expired > 0 {
		return res, fmt.Errorf("%d entries were acknowledged without effects: the effects their first commit stored had expired (RecordTTL %v)", g.expired, c.cfg.RecordTTL)
	}
	return res, nil
}

// apply applies the effects of g's tokens: one script per token and target
// key; with them it confirms the claims cl (finished), so that their
// entries delivered again are duplicates.
func (c *Committer) apply(ctx context.Context, g *begun, b *batch, cl claims) error {
	calls, _ := c.claimCalls(b, cl, "confirm")
	if g.fresh != nil {
		calls = c.applyCalls(calls, g.fresh.token, g.fresh.score, g.fresh.fx)
	}
	for _, h := range g.old {
		if h.fx != nil {
			calls = c.applyCalls(calls, h.token, h.score, h.fx)
		}
	}
	if err := c.run(ctx, calls); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	c.mu.Lock()
	for _, call := range calls[len(cl.sections):] {
		c.touched[call.keys[1]] = struct{}{}
	}
	c.mu.Unlock()
	return nil
}

// ack acknowledges g's entries and forgets the new token (all of its
// entries are among them); it returns how many acknowledgements took
// effect.
func (c *Committer) ack(ctx context.Context, g *begun) (int, error) {
	a := &ackCall{stream: c.cfg.Stream, intents: c.intentKey, tokens: c.tokensKey, committed: CommittedKeyIn(c.cfg.Stream, c.cfg.Namespace),
		group: c.cfg.Group, ids: g.ackIDs}
	if g.fresh != nil {
		a.forget = []string{g.fresh.token}
	}
	call := newCall(a)
	if err := c.run(ctx, []*scriptCall{call}); err != nil {
		return 0, fmt.Errorf("ack: %w", err)
	}
	acked, err := call.cmd.Int64()
	if err != nil {
		return 0, fmt.Errorf("ack: %w", err)
	}
	return int(acked), nil
}
