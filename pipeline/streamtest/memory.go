package streamtest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/pipeline"
)

// Memory is an in-memory stand-in for the Redis the stream ports talk to:
// streams with consumer groups and their pending entries, leaderboards
// (sorted sets with an expiry) and keys of another type (Block). Its
// Reader and Committer implement pipeline.Reader (with pipeline.Toucher
// and pipeline.StreamTrimmer) and pipeline.Committer, and pass Run. The
// output streams a Committer writes are streams of the same Memory, so one
// deployment's dead-letter stream can be another's input.
//
// Commits are atomic (under one lock): a process dies before or after a
// commit, never within one. Time is the clock given to NewMemory plus what
// Advance added; it decides idle times (Claim), expiries and the
// millisecond of new entry ids. Safe for concurrent use.
type Memory struct {
	now func() time.Time

	mu      sync.Mutex
	offset  time.Duration
	streams map[string]*memStream
	boards  map[string]*board
	strings map[string]string
	seen    map[string]map[string]entryID // per input stream: activity -> entry that claimed it
	added   chan struct{}                 // closed and replaced at every Add
}

// NewMemory returns an empty Memory on clock now (nil: time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, streams: map[string]*memStream{}, boards: map[string]*board{},
		strings: map[string]string{}, seen: map[string]map[string]entryID{}, added: make(chan struct{})}
}

// entryID is a stream entry id, parsed.
type entryID struct{ ms, seq uint64 }

func (a entryID) less(b entryID) bool { return a.ms < b.ms || a.ms == b.ms && a.seq < b.seq }

func (a entryID) String() string {
	return strconv.FormatUint(a.ms, 10) + "-" + strconv.FormatUint(a.seq, 10)
}

func parseID(s string) (entryID, error) {
	ms, seq, err := pomocore.ParseEntryID(s)
	return entryID{ms, seq}, err
}

type memEntry struct {
	id      entryID
	fields  []string
	deleted bool
}

type memStream struct {
	entries []*memEntry // by id
	last    entryID
	groups  map[string]*memGroup
	// committed is, by group, the largest entry id a commit acknowledged
	// (redis.CommittedKey): it outlives the group, which is recreated
	// there when it vanished.
	committed map[string]entryID
}

type memGroup struct {
	delivered entryID
	pel       map[entryID]*pendingEntry
}

type pendingEntry struct {
	consumer   string
	deliveries int64
	at         time.Time // last delivery
}

type board struct {
	scores  map[string]float64
	expires time.Time // zero: never
}

func (m *Memory) clock() time.Time { return m.now().Add(m.offset) }

// Advance moves Memory's clock on by d: pending entries look d more idle,
// keys expire.
func (m *Memory) Advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.offset += d
}

func (m *Memory) stream(name string) *memStream {
	s := m.streams[name]
	if s == nil {
		s = &memStream{groups: map[string]*memGroup{}, committed: map[string]entryID{}}
		m.streams[name] = s
	}
	return s
}

// nextID returns the id an auto-id XADD gives: the clock's millisecond, or
// the last id's with the next sequence number when the clock is behind.
func (s *memStream) nextID(now time.Time) entryID {
	ms := uint64(max(now.UnixMilli(), 0))
	if ms > s.last.ms {
		return entryID{ms, 0}
	}
	return entryID{s.last.ms, s.last.seq + 1}
}

// Add appends an entry to stream (created when missing) under a new id, as
// the producer's XADD * does, and returns the id.
func (m *Memory) Add(stream string, fields ...string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stream(stream)
	return m.appendLocked(s, s.nextID(m.clock()), fields)
}

// AddID appends an entry under id, which must be above the stream's last.
func (m *Memory) AddID(stream, id string, fields ...string) (string, error) {
	e, err := parseID(id)
	if err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stream(stream)
	if !s.last.less(e) {
		return "", fmt.Errorf("entry id %s is not above the stream's last %s", id, s.last)
	}
	return m.appendLocked(s, e, fields), nil
}

func (m *Memory) appendLocked(s *memStream, id entryID, fields []string) string {
	s.entries = append(s.entries, &memEntry{id: id, fields: slices.Clone(fields)})
	s.last = id
	close(m.added)
	m.added = make(chan struct{})
	return id.String()
}

// Entry is an entry of a stream.
type Entry struct {
	ID     string
	Fields []string
}

// Values returns the entry's fields as a map (a later duplicate wins).
func (e Entry) Values() map[string]string {
	out := make(map[string]string, len(e.Fields)/2)
	for i := 0; i+1 < len(e.Fields); i += 2 {
		out[e.Fields[i]] = e.Fields[i+1]
	}
	return out
}

// Entries returns the entries left in stream, oldest first.
func (m *Memory) Entries(stream string) []Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Entry
	if s := m.streams[stream]; s != nil {
		for _, e := range s.entries {
			if !e.deleted {
				out = append(out, Entry{ID: e.id.String(), Fields: slices.Clone(e.fields)})
			}
		}
	}
	return out
}

// Len returns how many entries stream holds (XLEN).
func (m *Memory) Len(stream string) int { return len(m.Entries(stream)) }

// PendingEntry is an entry pending in a consumer group.
type PendingEntry struct {
	ID         string
	Consumer   string
	Deliveries int64
	Idle       time.Duration
}

// Pending returns the entries pending in group of stream, by id.
func (m *Memory) Pending(stream, group string) []PendingEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.streams[stream]
	if s == nil || s.groups[group] == nil {
		return nil
	}
	g := s.groups[group]
	var out []PendingEntry
	for _, id := range g.ids() {
		p := g.pel[id]
		out = append(out, PendingEntry{ID: id.String(), Consumer: p.consumer, Deliveries: p.deliveries, Idle: m.clock().Sub(p.at)})
	}
	return out
}

func (g *memGroup) ids() []entryID {
	ids := make([]entryID, 0, len(g.pel))
	for id := range g.pel {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b entryID) int {
		switch {
		case a.less(b):
			return -1
		case b.less(a):
			return 1
		}
		return 0
	})
	return ids
}

// Score returns member's score in leaderboard key (0 when it has none).
func (m *Memory) Score(key, member string) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if b := m.boardLocked(key); b != nil {
		return b.scores[member]
	}
	return 0
}

// TTL returns how long leaderboard key lives on: -1 when it never
// expires, -2 when it does not exist (as Redis's TTL, in durations).
func (m *Memory) TTL(key string) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.boardLocked(key)
	switch {
	case b == nil:
		return -2
	case b.expires.IsZero():
		return -1
	}
	return b.expires.Sub(m.clock())
}

// Exists reports whether key exists (a stream, leaderboard or string).
func (m *Memory) Exists(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.typeLocked(key) != "none"
}

// boardLocked returns leaderboard key, nil when missing or expired.
func (m *Memory) boardLocked(key string) *board {
	b := m.boards[key]
	if b != nil && !b.expires.IsZero() && !m.clock().Before(b.expires) {
		delete(m.boards, key)
		return nil
	}
	return b
}

// Block makes key hold a string, as an operator's mistake would: commits
// that touch it leave their entries out (pipeline.CommitResult.Blocked).
func (m *Memory) Block(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.boards, key)
	delete(m.streams, key)
	m.strings[key] = "x"
}

// Unblock deletes the string Block put at key.
func (m *Memory) Unblock(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.strings, key)
}

func (m *Memory) typeLocked(key string) string {
	switch {
	case m.strings[key] != "":
		return "string"
	case m.boardLocked(key) != nil:
		return "zset"
	case m.streams[key] != nil:
		return "stream"
	}
	return "none"
}

// Delete deletes entry id of stream, as XDEL does: pending, it stays so.
func (m *Memory) Delete(stream, id string) {
	e, err := parseID(id)
	if err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.streams[stream]; s != nil {
		if x := s.find(e); x != nil {
			x.deleted = true
			s.entries = slices.DeleteFunc(s.entries, func(x *memEntry) bool { return x.deleted })
		}
	}
}

// DestroyGroup deletes group of stream, as XGROUP DESTROY does; the next
// Reader call creates it again where it was: after the last entry a commit
// acknowledged (at 0 when none was).
func (m *Memory) DestroyGroup(stream, group string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.streams[stream]; s != nil {
		delete(s.groups, group)
	}
}

// Reader returns a Reader of stream as consumer of group.
func (m *Memory) Reader(stream, group, consumer string) *Reader {
	return &Reader{m: m, stream: stream, group: group, consumer: consumer}
}

// Reader implements pipeline.Reader, pipeline.Toucher and
// pipeline.StreamTrimmer over a Memory, as redis.Reader does over Redis: a
// group that never existed is created at 0, one that vanished after the
// last entry a commit acknowledged. Used by one goroutine at a time (Touch
// from any).
type Reader struct {
	m                       *Memory
	stream, group, consumer string
}

var (
	_ pipeline.Reader        = (*Reader)(nil)
	_ pipeline.Toucher       = (*Reader)(nil)
	_ pipeline.StreamTrimmer = (*Reader)(nil)
	_ pipeline.Committer     = (*Committer)(nil)
)

// groupLocked returns the reader's group, creating it (and the stream).
func (r *Reader) groupLocked() *memGroup {
	s := r.m.stream(r.stream)
	g := s.groups[r.group]
	if g == nil {
		g = &memGroup{delivered: s.committed[r.group], pel: map[entryID]*pendingEntry{}}
		s.groups[r.group] = g
	}
	return g
}

// Read implements pipeline.Reader: up to count entries after the group's
// last delivered one, waiting at most block (when positive) for the first.
func (r *Reader) Read(ctx context.Context, count int, block time.Duration) ([]pipeline.Message, error) {
	var deadline <-chan time.Time
	if block > 0 {
		timer := time.NewTimer(block)
		defer timer.Stop()
		deadline = timer.C
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r.m.mu.Lock()
		msgs := r.readLocked(count)
		added := r.m.added
		r.m.mu.Unlock()
		if len(msgs) > 0 || deadline == nil {
			return msgs, nil
		}
		select {
		case <-added:
		case <-deadline:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (r *Reader) readLocked(count int) []pipeline.Message {
	g := r.groupLocked()
	s := r.m.streams[r.stream]
	now := r.m.clock()
	var msgs []pipeline.Message
	for _, e := range s.entries {
		if len(msgs) >= max(count, 1) {
			break
		}
		if e.deleted || !g.delivered.less(e.id) {
			continue
		}
		g.delivered = e.id
		g.pel[e.id] = &pendingEntry{consumer: r.consumer, deliveries: 1, at: now}
		msgs = append(msgs, pipeline.Message{ID: e.id.String(), Fields: slices.Clone(e.fields), Deliveries: 1})
	}
	return msgs
}

// deliverLocked returns the message of pending entry id, delivered once
// more.
func (r *Reader) deliverLocked(id entryID, p *pendingEntry, now time.Time) pipeline.Message {
	p.deliveries++
	p.at = now
	msg := pipeline.Message{ID: id.String(), Deliveries: p.deliveries, Deleted: true}
	if e := r.m.streams[r.stream].find(id); e != nil {
		msg.Fields, msg.Deleted = slices.Clone(e.fields), false
	}
	return msg
}

func (s *memStream) find(id entryID) *memEntry {
	i, ok := slices.BinarySearchFunc(s.entries, id, func(e *memEntry, id entryID) int {
		switch {
		case e.id.less(id):
			return -1
		case id.less(e.id):
			return 1
		}
		return 0
	})
	if !ok || s.entries[i].deleted {
		return nil
	}
	return s.entries[i]
}

// Pending implements pipeline.Reader: this consumer's pending entries
// after after, each delivered once more (as XREADGROUP with an id counts
// it); an entry trimmed from the stream comes with Deleted set.
func (r *Reader) Pending(ctx context.Context, after string, count int) ([]pipeline.Message, error) {
	from, err := parseID(after)
	if after == "0" {
		from, err = entryID{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pending after %q: %w", after, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	g := r.groupLocked()
	now := r.m.clock()
	var msgs []pipeline.Message
	for _, id := range g.ids() {
		if len(msgs) >= max(count, 1) {
			break
		}
		if p := g.pel[id]; p.consumer == r.consumer && from.less(id) {
			msgs = append(msgs, r.deliverLocked(id, p, now))
		}
	}
	return msgs, nil
}

// Claim implements pipeline.Reader as XAUTOCLAIM does: entries pending
// for any consumer at least minIdle, from start, become this consumer's,
// delivered once more; entries trimmed from the stream leave the group's
// pending entries and come last, with Deleted set.
func (r *Reader) Claim(ctx context.Context, minIdle time.Duration, start string, count int) ([]pipeline.Message, string, error) {
	from, err := parseID(start)
	if err != nil {
		return nil, start, fmt.Errorf("claim from %q: %w", start, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, start, err
	}
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	g := r.groupLocked()
	now := r.m.clock()
	var msgs, deleted []pipeline.Message
	next := "0-0"
	for _, id := range g.ids() {
		if id.less(from) {
			continue
		}
		if len(msgs)+len(deleted) >= max(count, 1) {
			next = id.String()
			break
		}
		p := g.pel[id]
		if now.Sub(p.at) < minIdle {
			continue
		}
		if r.m.streams[r.stream].find(id) == nil {
			delete(g.pel, id)
			deleted = append(deleted, pipeline.Message{ID: id.String(), Deleted: true, Deliveries: 1})
			continue
		}
		p.consumer = r.consumer
		msgs = append(msgs, r.deliverLocked(id, p, now))
	}
	return append(msgs, deleted...), next, nil
}

// Touch implements pipeline.Toucher: the pending entries ids become this
// consumer's and look freshly delivered, their delivery counts unchanged.
func (r *Reader) Touch(ctx context.Context, ids []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	g := r.groupLocked()
	now := r.m.clock()
	for _, s := range ids {
		id, err := parseID(s)
		if err != nil {
			return fmt.Errorf("touch %q: %w", s, err)
		}
		if p := g.pel[id]; p != nil {
			p.consumer, p.at = r.consumer, now
		}
	}
	return nil
}

// TrimConsumed implements pipeline.StreamTrimmer: it deletes the entries
// of the stream every group has delivered and acknowledged.
func (r *Reader) TrimConsumed(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	r.groupLocked()
	s := r.m.streams[r.stream]
	var n int64
	for _, e := range s.entries {
		consumed := true
		for _, g := range s.groups {
			if g.delivered.less(e.id) || g.pel[e.id] != nil {
				consumed = false
				break
			}
		}
		if consumed && !e.deleted {
			e.deleted = true
			n++
		}
	}
	s.entries = slices.DeleteFunc(s.entries, func(e *memEntry) bool { return e.deleted })
	return n, nil
}

// CommitterConfig names what a Memory Committer writes.
type CommitterConfig struct {
	// Stream and Group are the input stream and its consumer group.
	Stream, Group string
	// SessionStream and DeadStream receive session ends and dead letters.
	SessionStream, DeadStream string
	// DedupWindow is how long, in the entry ids' time, an activity
	// (pipeline.CommitEntry.DedupKey) is remembered (0: no dedup).
	DedupWindow time.Duration
}

// Committer returns a Committer of cfg.
func (m *Memory) Committer(cfg CommitterConfig) *Committer { return &Committer{m: m, cfg: cfg} }

// Committer implements pipeline.Committer over a Memory, each commit
// atomic: session ends are written as {userId, sessionDate, session} and
// dead letters as {dead.id, dead.reason, dead.kind, the entry's fields},
// as redis.Committer writes them (long values are not cut). Safe for
// concurrent use.
type Committer struct {
	m   *Memory
	cfg CommitterConfig
}

// Commit implements pipeline.Committer.
func (c *Committer) Commit(ctx context.Context, entries []pipeline.CommitEntry) (pipeline.CommitResult, error) {
	var res pipeline.CommitResult
	if len(entries) == 0 {
		return res, nil
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	ids := make([]entryID, len(entries))
	var newest uint64
	for i := range entries {
		id, err := parseID(entries[i].ID)
		if err != nil {
			return res, fmt.Errorf("memory commit: entry id: %w", err)
		}
		ids[i] = id
		newest = max(newest, id.ms)
	}
	since := uint64(0)
	if w := uint64(c.cfg.DedupWindow.Milliseconds()); newest > w {
		since = newest - w
	}
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.streams[c.cfg.Stream]
	if s == nil || s.groups[c.cfg.Group] == nil {
		return res, fmt.Errorf("memory commit to %s/%s: %w", c.cfg.Stream, c.cfg.Group, pipeline.ErrGroupMissing)
	}
	g := s.groups[c.cfg.Group]
	seen := m.seen[c.cfg.Stream]
	if seen == nil {
		seen = map[string]entryID{}
		m.seen[c.cfg.Stream] = seen
	}
	done := map[entryID]bool{}
	for i := range entries {
		e, id := &entries[i], ids[i]
		if done[id] {
			continue
		}
		done[id] = true
		if g.pel[id] == nil {
			res.Skipped++
			continue
		}
		if why := c.blockedLocked(e); why != "" {
			if res.Blocked == nil {
				res.Blocked = map[string]string{}
			}
			res.Blocked[e.ID] = why
			continue
		}
		dup := false
		if k := e.DedupKey; k != "" && c.cfg.DedupWindow > 0 {
			if by, ok := seen[k]; ok && by != id && by.ms >= since {
				dup = true
			} else {
				seen[k] = id
			}
		}
		delete(g.pel, id)
		if s.committed[c.cfg.Group].less(id) {
			s.committed[c.cfg.Group] = id
		}
		res.Applied++
		if dup {
			res.Duplicates++
			continue
		}
		c.applyLocked(e)
	}
	return res, nil
}

// targets returns the keys e writes and the type each must have.
func (c *Committer) targets(e *pipeline.CommitEntry) map[string]string {
	out := map[string]string{}
	if e.Increment != nil {
		for _, k := range e.Increment.Keys {
			out[k] = "zset"
		}
	}
	if e.SessionEnd != nil {
		out[c.cfg.SessionStream] = "stream"
	}
	if e.Dead != nil {
		out[c.cfg.DeadStream] = "stream"
	}
	return out
}

func (c *Committer) blockedLocked(e *pipeline.CommitEntry) string {
	keys := c.targets(e)
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if t := c.m.typeLocked(k); t != "none" && t != keys[k] {
			return fmt.Sprintf("key %s holds a %s", k, t)
		}
	}
	return ""
}

func (c *Committer) applyLocked(e *pipeline.CommitEntry) {
	m := c.m
	now := m.clock()
	if inc := e.Increment; inc != nil {
		for j, k := range inc.Keys {
			b := m.boardLocked(k)
			if b == nil {
				b = &board{scores: map[string]float64{}}
				m.boards[k] = b
			}
			b.scores[inc.Member] += inc.Delta
			if j < len(inc.TTLs) && inc.TTLs[j] > 0 {
				b.expires = now.Add(inc.TTLs[j].Truncate(time.Second))
			}
		}
	}
	if se := e.SessionEnd; se != nil {
		out := m.stream(c.cfg.SessionStream)
		m.appendLocked(out, out.nextID(now), []string{"userId", se.UserID, "sessionDate", se.SessionDate, "session", strconv.Itoa(se.Session)})
	}
	if d := e.Dead; d != nil {
		f := append([]string{"dead.id", e.ID, "dead.reason", d.Reason, "dead.kind", d.Kind}, d.Fields[:len(d.Fields)/2*2]...)
		out := m.stream(c.cfg.DeadStream)
		m.appendLocked(out, out.nextID(now), f)
	}
}
