package pipeline

import (
	"errors"
	"strings"
	"time"

	"github.com/pomocore/pomocore"
)

// preparedBatch is a prepared batch: the records to store and the commit entries,
// one per message, in message order.
type preparedBatch struct {
	Records []Record
	Entries []CommitEntry
	report  BatchReport
	dead    int
	deleted int
	msgs    []Message
	start   time.Time
	// release ends the batch's hold on its entries' freshness.
	release func()
	// recEntry is, for each record, the index of its message and commit
	// entry; pending marks the entries left pending (not committed)
	// because they failed on their own under the delivery limit.
	recEntry []int
	pending  map[int]bool
	// held marks the entries held to wait for their answer (waiting): not
	// committed with this batch.
	held map[int]bool
}

// prepareBatch validates and classifies msgs into the records to store and
// the commit entries, without any I/O.
//
// given, when set, holds the classification of each message (by id) let go
// by waiting; otherwise an activity whose answer is on its way is held,
// and so is a session end while an activity of its session is.
func (p *Pipeline) prepareBatch(msgs []Message, given map[string]pomocore.Classification) *preparedBatch {
	rs := p.rules.Load()
	var quarantined []string // "id (kind)" of the dead letters read back, for the log
	b := &preparedBatch{
		Records: make([]Record, 0, len(msgs)),
		Entries: make([]CommitEntry, 0, len(msgs)),
		report:  BatchReport{Size: len(msgs), DeadByKind: map[string]int{}, BySource: map[pomocore.Source]int{}, ByCategory: map[string]int{}},
	}
	for i := range msgs {
		m := &msgs[i]
		if m.Deleted {
			// Trimmed away while pending: nothing to process; acknowledge.
			b.Entries = append(b.Entries, CommitEntry{ID: m.ID})
			b.deleted++
			continue
		}
		if p.unknown.note(m) {
			b.report.UnknownFields++
		}
		cls, ok := given[m.ID]
		var force *pomocore.Classification
		if ok {
			force = &cls
		}
		rec, entry, awaited, err := p.safePrepare(m, rs, force)
		var panicked *panicError
		if errors.As(err, &panicked) {
			if !p.failedAlone(b, m, len(b.Entries), err) {
				b.Entries = append(b.Entries, CommitEntry{ID: m.ID}) // left pending
				continue
			}
			err = p.poison(m, err)
		}
		if err != nil {
			var inv *pomocore.InvalidError
			kind := "invalid"
			if errors.As(err, &inv) {
				kind = inv.Kind
			}
			if isDeadLetter(m) {
				b.Entries = append(b.Entries, CommitEntry{ID: m.ID}) // acknowledged, nothing else
				b.report.Quarantined++
				quarantined = append(quarantined, m.ID+" ("+kind+")")
				continue
			}
			b.Entries = append(b.Entries, p.rejected(m, kind, err))
			b.dead++
			b.report.DeadByKind[kind]++
			continue
		}
		if given == nil && p.hold(b, m, &rec, &entry, awaited) {
			continue
		}
		b.report.BySource[rec.Classification.Source]++
		b.report.ByCategory[rec.Classification.Category]++
		if !decided(rec.Classification.Source) {
			b.report.Unknowns = append(b.report.Unknowns, Unknown{App: rec.Activity.App, URL: rec.Activity.URL,
				Classification: rec.Classification, Seconds: rec.Activity.Duration})
		}
		b.recEntry = append(b.recEntry, len(b.Entries))
		b.Records = append(b.Records, rec)
		b.Entries = append(b.Entries, entry)
	}
	if len(quarantined) > 0 {
		p.log.Warn("quarantine: rejected input entries that are dead letters already (they carry "+DeadFieldPrefix+"* fields) are acknowledged and counted "+
			"(pomocore_events_quarantined_total), never dead-lettered again; is the input stream a dead-letter stream (another deployment's, "+
			"whose input is this one's dead-letter stream)?", "quarantined", len(quarantined), "entries", quarantined[:min(len(quarantined), 5)])
	}
	return b
}

// DeadFieldPrefix starts the names of the fields a committer adds to a
// dead letter ("dead.id", "dead.reason", "dead.kind"; see DeadLetter).
const DeadFieldPrefix = "dead."

// isDeadLetter reports whether m carries dead-letter fields: it is a dead
// letter read back as input, e.g. by a deployment whose input is another's
// dead-letter stream while its own dead-letter stream is the other's
// input. Rejected, such an entry is not dead-lettered again (that loop
// nested dead.* fields and went round forever): it is acknowledged with no
// effect and counted (BatchReport.Quarantined). Counting and a log line
// were chosen over a capped quarantine stream: nothing to size or trim, no
// key that could itself be another deployment's input, and the entry is
// still in the stream it was read from.
func isDeadLetter(m *Message) bool {
	for i := 0; i < len(m.Fields); i += 2 {
		if strings.HasPrefix(m.Fields[i], DeadFieldPrefix) {
			return true
		}
	}
	return false
}

// hold holds the entry just prepared (m, its record and commit entry) in
// waiting when its answer is awaited, or when it ends a session an activity
// of which is held, and reports whether it did. An activity that cannot
// be held (MaxWaiting are) counts as the default now.
func (p *Pipeline) hold(b *preparedBatch, m *Message, rec *Record, entry *CommitEntry, awaited pomocore.Awaited) bool {
	if p.waiting == nil {
		return false
	}
	a := &rec.Activity
	s := sessionKey{user: a.UserID, date: a.SessionDate, session: a.Session}
	now := p.deps.Now()
	held := false
	switch {
	case awaited != nil:
		if held = p.waiting.holdActivity(*m, awaited, s, entry.SessionEnd != nil, now); !held {
			b.report.Overflow++
			held = entry.SessionEnd != nil && p.waiting.holdEnd(*m, rec.Classification, s, now)
		}
	case entry.SessionEnd != nil:
		held = p.waiting.holdEnd(*m, rec.Classification, s, now)
	}
	if !held {
		return false
	}
	b.Entries = append(b.Entries, CommitEntry{ID: m.ID})
	if b.held == nil {
		b.held = map[int]bool{}
	}
	b.held[len(b.Entries)-1] = true
	b.report.Held++
	return true
}

// prepare validates and classifies one message into its record and its
// commit entry; with force, the classification is force's. It returns the
// answer on its way when the classifier is a Decider that awaits one and
// waiting is on (the record then has the default category).
func (p *Pipeline) prepare(m *Message, rs *rules, force *pomocore.Classification) (Record, CommitEntry, pomocore.Awaited, error) {
	a, err := p.validator.Parse(m.ID, m.Fields)
	if err != nil {
		return Record{}, CommitEntry{}, nil, err
	}
	ulid := a.UsageLogID
	if ulid.IsZero() {
		if ulid, err = pomocore.ObjectIDFromEntryID(m.ID, p.cfg.Partition); err != nil {
			return Record{}, CommitEntry{}, nil, &pomocore.InvalidError{Kind: "bad_entry_id", Detail: err.Error()}
		}
	}
	var cls pomocore.Classification
	var awaited pomocore.Awaited
	d, decides := rs.classifier.(Decider)
	switch {
	case force != nil:
		cls = *force
	case decides && p.waiting != nil:
		cls, awaited = d.Decide(a.App, a.URL, a.Title)
	default:
		cls = rs.classifier.Classify(a.App, a.URL, a.Title)
	}
	_, hasID := rs.ids[cls.Category]
	if !p.deps.Taxonomy.Has(cls.Category) || (len(rs.ids) > 0 && !hasID) {
		// Not a category, or one category_pattern lacks: the main server
		// could not name it, so it is recorded as the default.
		cls = pomocore.Classification{Category: p.deps.Taxonomy.Default, Source: pomocore.SourceDefault}
	}
	rec := Record{Activity: a, Classification: cls, CategoryID: rs.ids[cls.Category], UsageLogID: ulid}
	entry := CommitEntry{ID: m.ID}
	if !a.UsageLogID.IsZero() {
		entry.DedupKey = a.UsageLogID.Hex()
	}
	if a.Duration > 0 {
		entry.Increment = &Increment{Keys: p.keys(cls.Category, a.Time()), Member: a.UserID, Delta: a.Duration}
		if p.cfg.Retention != (Retention{}) {
			ttl := [3]time.Duration{p.cfg.Retention.Day, p.cfg.Retention.Week, p.cfg.Retention.Month}
			for i := range entry.Increment.Keys {
				entry.Increment.TTLs = append(entry.Increment.TTLs, ttl[i%3])
			}
		}
	}
	if a.IsEnd {
		entry.SessionEnd = &SessionEnd{UserID: a.UserID, SessionDate: a.SessionDate, Session: a.Session}
	}
	return rec, entry, awaited, nil
}

// keys returns the leaderboard keys an activity of category at t increments:
// the category's daily, weekly and monthly keys, and the work aggregate's
// when the category counts as work, in that order (day, week, month).
func (p *Pipeline) keys(category string, t time.Time) []string {
	per := pomocore.PeriodsAt(t, p.cfg.Location).All()
	n := 3
	work := p.deps.Taxonomy.IsWork(category)
	if work {
		n = 6
	}
	keys := make([]string, 0, n)
	for _, period := range per {
		keys = append(keys, pomocore.LeaderboardKey(p.cfg.KeyPrefix, category, period))
	}
	if work {
		for _, period := range per {
			keys = append(keys, pomocore.LeaderboardKey(p.cfg.KeyPrefix, p.deps.Taxonomy.WorkAggregate, period))
		}
	}
	return keys
}

// rejected returns the commit entry of a message that failed validation: a
// dead letter, and, when the entry ended a session whose user, session and
// date are valid, that session's end (its duration counts nowhere; the
// main server scores the session from the usage logs it has).
//
// A dead letter read back as input (isDeadLetter) is never dead-lettered
// again, and ends no session again: its commit entry only acknowledges it.
func (p *Pipeline) rejected(m *Message, kind string, reason error) CommitEntry {
	if isDeadLetter(m) {
		return CommitEntry{ID: m.ID}
	}
	e := CommitEntry{ID: m.ID, Dead: p.deadLetter(m, kind, reason)}
	r := p.validator.Remains(m.Fields)
	if !r.UsageLogID.IsZero() {
		e.DedupKey = r.UsageLogID.Hex()
	}
	if r.EndsSession {
		e.SessionEnd = &SessionEnd{UserID: r.UserID, SessionDate: r.SessionDate, Session: r.Session}
	}
	return e
}

func (p *Pipeline) deadLetter(m *Message, kind string, reason error) *DeadLetter {
	p.stats.mu.Lock()
	p.stats.deadByKind[kind]++
	p.stats.mu.Unlock()
	fields := m.Fields
	if max := 2 * p.cfg.DeadFieldsMax; len(fields) > max {
		fields = fields[:max]
	}
	return &DeadLetter{Reason: reason.Error(), Kind: kind, Fields: fields}
}
