package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/pipeline"
)

// Adoption of the old service's history at the switch (docs/cutover.md):
// the activities the deployed service counted before pomocore took over
// its group are recorded in the dedup state as committed, so that a
// producer retry of one of them within the window is acknowledged with no
// effects.

// Adopted is an activity another service committed: the stream entry that
// counted it and its key (pipeline.CommitEntry.DedupKey: the
// pomodoroUsageLogId, 24 hex digits).
type Adopted struct {
	ID  string // the stream entry id
	Key string // the activity key
}

// adoptChunk is how many activities one Adopt round records.
const adoptChunk = 1000

// Adopt records each activity of as committed (a finished claim) by its
// stream entry, in the committer's dedup state, as a commit of that entry
// would have. An activity already claimed within the window (by pomocore,
// or by an earlier Adopt: Adopt is idempotent) is left as it is. It
// returns how many activities it recorded. Without a dedup window it
// records nothing.
func (c *Committer) Adopt(ctx context.Context, as []Adopted) (int, error) {
	if c.cfg.DedupWindow == 0 {
		return 0, nil
	}
	recorded := 0
	for lo := 0; lo < len(as); lo += adoptChunk {
		part := as[lo:min(len(as), lo+adoptChunk)]
		entries := make([]pipeline.CommitEntry, 0, len(part))
		for _, a := range part {
			if a.Key == "" {
				continue
			}
			entries = append(entries, pipeline.CommitEntry{ID: a.ID, DedupKey: a.Key})
		}
		b, err := newBatch(entries, true)
		if err != nil {
			return recorded, fmt.Errorf("adopt: %w", err)
		}
		if err := c.claim(ctx, b); err != nil {
			return recorded, fmt.Errorf("adopt: %w", err)
		}
		cl := c.claims(b, true, false, inShards)
		if len(cl.sections) > 0 {
			calls, _ := c.claimCalls(b, cl, "confirm")
			if err := c.run(ctx, calls); err != nil {
				return recorded, fmt.Errorf("adopt: confirm: %w", err)
			}
		}
		for i := range b.entries {
			if !b.dup[i] {
				recorded++
			}
		}
	}
	return recorded, nil
}

// ErrNoGroup is returned by AdoptGroup when the stream has no such
// consumer group: there is no history to adopt.
var ErrNoGroup = errors.New("no such consumer group")

// AdoptReport is what AdoptGroup found and did.
type AdoptReport struct {
	// LastDelivered is the group's last-delivered id when it started.
	LastDelivered string
	// Scanned is how many entries of the window (up to LastDelivered) it read.
	Scanned int
	// Acknowledged is how many of them the group acknowledged: counted by
	// the old service.
	Acknowledged int
	// PendingCounted is how many pending entries the decision said were
	// counted: recorded, then acknowledged without effects.
	PendingCounted int
	// PendingUncounted is how many pending entries the decision said were
	// not counted: left pending, for pomocore to count.
	PendingUncounted int
	// PendingUnknown is how many pending entries could not be decided (no
	// pomodoroUsageLogId, or no usage log found): left pending, uncertain.
	PendingUnknown int
	// NoKey is how many acknowledged entries name no activity (nothing to
	// record: a retry of them cannot be recognised).
	NoKey int
	// Recorded is how many activities were newly recorded (the rest were
	// recorded already: an earlier run, or pomocore's own commits).
	Recorded int
}

// Verdict is what the old service did with a pending entry's activity.
type Verdict int

// The verdicts of a Decide function.
const (
	// Unknown: it cannot be told (left pending, reported).
	Unknown Verdict = iota
	// Counted: the old service counted it (recorded and acknowledged).
	Counted
	// Uncounted: it did not (left pending, for pomocore to count).
	Uncounted
)

// Decide says, for pomodoroUsageLogIds (24 hex digits) of entries pending
// at the old service's consumers, what the old service did with each; a
// key missing from the map is Unknown.
type Decide func(ctx context.Context, usageLogIDs []string) (map[string]Verdict, error)

// UsageLogCategories reads the categoryId of usage logs by their ids (the
// zero ObjectID for a log without one; an id with no log is left out).
// mongo.Inspector implements it.
type UsageLogCategories interface {
	UsageLogCategories(ctx context.Context, ids []pomocore.ObjectID) (map[pomocore.ObjectID]pomocore.ObjectID, error)
}

// DecideByCategory decides pending entries by their usage logs' categoryId
// in logs: the deployed service writes a log's categoryId before it
// increments, so a log with a categoryId was counted, one without was not;
// an id that is not an ObjectID, or has no log, is Unknown. With nil logs
// nothing is decided.
func DecideByCategory(logs UsageLogCategories) Decide {
	return func(ctx context.Context, keys []string) (map[string]Verdict, error) {
		out := map[string]Verdict{}
		if logs == nil {
			return out, nil
		}
		ids := make([]pomocore.ObjectID, 0, len(keys))
		for _, k := range keys {
			if id, err := pomocore.ParseObjectID(k); err == nil {
				ids = append(ids, id)
			}
		}
		cats, err := logs.UsageLogCategories(ctx, ids)
		if err != nil {
			return nil, err
		}
		for id, cat := range cats {
			v := Uncounted
			if !cat.IsZero() {
				v = Counted
			}
			out[id.Hex()] = v
		}
		return out, nil
	}
}

// AdoptGroup adopts the history of the committer's group on its stream:
// the entries the group delivered (ids up to its last-delivered id) within
// the dedup window before it. Those acknowledged were counted and their
// activities are recorded (Adopt). Those still pending are decided by
// decide: Counted ones are recorded and acknowledged (with no effects),
// the others are left pending. Run it before pomocore consumes the group;
// running it again records nothing more.
func (c *Committer) AdoptGroup(ctx context.Context, decide Decide) (AdoptReport, error) {
	var rep AdoptReport
	groups, err := c.rdb.XInfoGroups(ctx, c.cfg.Stream).Result()
	if err != nil {
		return rep, fmt.Errorf("adopt: XINFO GROUPS: %w", err)
	}
	found := false
	for _, g := range groups {
		if g.Name == c.cfg.Group {
			rep.LastDelivered, found = g.LastDeliveredID, true
		}
	}
	if !found {
		return rep, fmt.Errorf("adopt: %w: %s on %s", ErrNoGroup, c.cfg.Group, c.cfg.Stream)
	}
	ms, _, err := pomocore.ParseEntryID(rep.LastDelivered)
	if err != nil {
		return rep, fmt.Errorf("adopt: last-delivered id: %w", err)
	}
	if ms == 0 || c.cfg.DedupWindow == 0 {
		return rep, nil
	}
	from := uint64(0)
	if w := uint64(c.cfg.DedupWindow.Milliseconds()); ms > w {
		from = ms - w
	}
	pending, err := c.pendingIDs(ctx, rep.LastDelivered)
	if err != nil {
		return rep, err
	}
	var done []Adopted
	var held []Adopted // pending, with a key
	start := strconv.FormatUint(from, 10)
	for {
		msgs, err := c.rdb.XRangeN(ctx, c.cfg.Stream, start, rep.LastDelivered, adoptChunk).Result()
		if err != nil {
			return rep, fmt.Errorf("adopt: XRANGE: %w", err)
		}
		for _, m := range msgs {
			rep.Scanned++
			key, _ := m.Values[pomocore.FieldPomodoroUsageLogID].(string)
			if _, err := pomocore.ParseObjectID(key); err != nil {
				key = ""
			}
			if _, ok := pending[m.ID]; ok {
				if key == "" {
					rep.PendingUnknown++
				} else {
					held = append(held, Adopted{ID: m.ID, Key: key})
				}
				continue
			}
			rep.Acknowledged++
			if key == "" {
				rep.NoKey++
				continue
			}
			done = append(done, Adopted{ID: m.ID, Key: key})
		}
		n, err := c.Adopt(ctx, done) // page by page: memory bounded by a page, not the window
		rep.Recorded += n
		if err != nil {
			return rep, err
		}
		done = done[:0]
		if len(msgs) < adoptChunk {
			break
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
	var ack []string
	if len(held) > 0 {
		ids := make([]string, len(held))
		for i, a := range held {
			ids[i] = a.Key
		}
		verdicts, err := decide(ctx, ids)
		if err != nil {
			return rep, fmt.Errorf("adopt: deciding pending entries: %w", err)
		}
		for _, a := range held {
			switch verdicts[a.Key] {
			case Counted:
				rep.PendingCounted++
				done = append(done, a)
				ack = append(ack, a.ID)
			case Uncounted:
				rep.PendingUncounted++
			default:
				rep.PendingUnknown++
			}
		}
	}
	n, err := c.Adopt(ctx, done)
	rep.Recorded += n
	if err != nil {
		return rep, err
	}
	for lo := 0; lo < len(ack); lo += adoptChunk {
		if err := c.rdb.XAck(ctx, c.cfg.Stream, c.cfg.Group, ack[lo:min(len(ack), lo+adoptChunk)]...).Err(); err != nil {
			return rep, fmt.Errorf("adopt: XACK: %w", err)
		}
	}
	return rep, nil
}

// pendingIDs returns the ids of the group's pending entries up to last.
func (c *Committer) pendingIDs(ctx context.Context, last string) (map[string]struct{}, error) {
	ids := map[string]struct{}{}
	start := "-"
	for {
		ps, err := c.rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: c.cfg.Stream, Group: c.cfg.Group, Start: start, End: last, Count: adoptChunk}).Result()
		if err != nil && !errors.Is(err, goredis.Nil) {
			return nil, fmt.Errorf("adopt: XPENDING: %w", err)
		}
		for _, p := range ps {
			ids[p.ID] = struct{}{}
		}
		if len(ps) < adoptChunk {
			return ids, nil
		}
		start = "(" + ps[len(ps)-1].ID
	}
}

// Write writes the report as `pomocore cutover adopt` prints it: lines of
// text, or one JSON document.
func (rep AdoptReport) Write(w io.Writer, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(rep)
	}
	_, err := fmt.Fprintf(w, `group last delivered %s; entries in the window up to it: %d
acknowledged (counted by the old service): %d, of which without a pomodoroUsageLogId (retries unrecognisable): %d
pending, usage log has a categoryId (counted; recorded and acknowledged): %d
pending, usage log without categoryId (not counted; left for pomocore): %d
pending, undecided (no pomodoroUsageLogId or no usage log; left for pomocore, may count twice): %d
activities newly recorded as counted: %d
`, rep.LastDelivered, rep.Scanned, rep.Acknowledged, rep.NoKey, rep.PendingCounted, rep.PendingUncounted, rep.PendingUnknown, rep.Recorded)
	return err
}
