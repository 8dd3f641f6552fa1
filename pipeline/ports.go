// Package pipeline is the application: it reads activity entries from the
// input stream, validates and classifies them, stores usage logs and
// classifications, and commits the Redis effects (leaderboard increments,
// session-end events, dead letters) exactly once, before the acknowledgement.
//
// It declares the small interfaces (ports) it needs; the redis, mongo and
// sqlite packages implement them and cmd/pomocore wires them.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pomocore/pomocore"
)

// Message is one entry of the input stream as delivered to this consumer.
type Message struct {
	// ID is the stream entry id.
	ID string
	// Fields holds the entry's field names and values, alternating, in the
	// order Redis returned them (duplicates preserved).
	Fields []string
	// Deliveries is how many times the entry has been delivered, this
	// delivery included (1 for an entry read for the first time).
	Deliveries int64
	// Deleted is set for an entry that is pending but whose stream record was
	// trimmed away: there is nothing left to process, only to acknowledge.
	Deleted bool
}

// Reader reads the input stream as one consumer of a consumer group.
// Readers that are also a Toucher keep the entries of slow batches from
// looking idle.
//
// Entries handed out stay pending (in the group's PEL) until a Committer
// acknowledges them; a Reader never acknowledges. Implementations create a
// group that never existed (and its stream) at their configured start
// (redis.Reader: ReaderConfig.StartID, default 0). A group that vanished
// (XGROUP DESTROY, the key deleted, a Redis restart without persistence)
// they recreate where it was, at an entry known processed, never at 0 or
// at the stream's end unless configured to; knowing no such position,
// Read, Pending and Claim fail with an error wrapping ErrGroupMissing
// (redis.Reader: also ErrGroupVanished), and the Pipeline stops. Entries
// in flight when it vanished lost their pending state. A Reader is used by
// one goroutine at a time.
type Reader interface {
	// Pending returns up to count entries already pending for this consumer
	// with ids greater than after ("0" for all), with their delivery counts.
	Pending(ctx context.Context, after string, count int) ([]Message, error)
	// Claim transfers to this consumer up to count entries pending for other
	// consumers longer than minIdle, scanning the PEL from start ("0-0" for
	// the beginning); it returns the cursor for the next call ("0-0" when the
	// scan is complete).
	Claim(ctx context.Context, minIdle time.Duration, start string, count int) (msgs []Message, next string, err error)
	// Read returns up to count new entries, waiting at most block for the
	// first; none and no error when nothing arrived.
	Read(ctx context.Context, count int, block time.Duration) ([]Message, error)
}

// Increment adds Delta seconds to Member's score in each of Keys. When TTLs
// is set (one per key), a key with a positive TTL expires that long after
// its last increment.
type Increment struct {
	Keys   []string
	TTLs   []time.Duration
	Member string
	Delta  float64
}

// SessionEnd is the session-end event of the CONTRACT's session_score_stream.
type SessionEnd struct {
	UserID      string
	SessionDate string
	Session     int
}

// DeadLetter is an entry moved to the dead-letter stream: its original
// fields and why it was rejected.
type DeadLetter struct {
	Reason string
	Kind   string
	Fields []string
}

// CommitEntry is one input entry's share of a commit: its acknowledgement
// and the effects that must apply exactly when that acknowledgement does.
type CommitEntry struct {
	// ID is the input stream entry id to acknowledge.
	ID string
	// Increment is the entry's leaderboard increments (nil for none).
	Increment *Increment
	// SessionEnd, when set, is emitted to the session stream.
	SessionEnd *SessionEnd
	// Dead, when set, copies the entry to the dead-letter stream.
	Dead *DeadLetter
	// DedupKey identifies the activity behind the entry across stream
	// entries (the pomodoroUsageLogId it named; "" for none). The producer
	// re-sends a failed batch under new entry ids: an entry whose activity
	// another entry claimed within the committer's window (measured
	// between the entries' ids, not by any instance's clock), or whose own
	// commit of it finished already (the entry delivered again), is
	// acknowledged without its effects.
	DedupKey string
}

// CommitResult says what a commit did.
type CommitResult struct {
	// Applied counts the entries whose acknowledgement took effect, and with
	// it their effects.
	Applied int
	// Skipped counts entries that were no longer pending (another consumer
	// committed them first): their effects were not applied again.
	Skipped int
	// Duplicates counts the applied entries whose activity (DedupKey) had
	// been committed already, under another entry: acknowledged, with no
	// effects.
	Duplicates int
	// Blocked lists the entries left out because a key they touch holds
	// another type than the commit needs (a string at a leaderboard key,
	// the session stream or the dead-letter stream), each with why ("key
	// <k> holds a <type>"): neither acknowledged nor applied, they stay
	// pending, and committing them again fails the same way until the key
	// is fixed. Nil when none.
	Blocked map[string]string
}

// Committer applies a batch's Redis effects and acknowledgements.
//
// Contract: each entry's effects (increments, session event, dead letter)
// apply exactly once over all the commits of that entry, by this consumer or
// any other, and the entry is acknowledged only after all of them applied.
// Entries with the same DedupKey apply once within the committer's window:
// the first to claim the activity carries the effects (committed again
// after a crash, however its commit ended), the others none.
// A crash at any point leaves each entry either pending (with none, some or
// all of its effects applied, and the same effects still to come; a
// committer may keep the effects of the first attempt rather than those of
// a later one) or acknowledged with all of them. Entries already
// acknowledged are skipped. Without error, every entry was committed
// (counted in Applied or Skipped) except those listed in Blocked, which
// stay pending with none of their effects: one bad key stops only the
// entries that touch it. On error, nothing may be assumed about the
// batch; committing it again is always safe. Safe for concurrent use.
type Committer interface {
	Commit(ctx context.Context, entries []CommitEntry) (CommitResult, error)
}

// Record is one validated, classified activity to store.
type Record struct {
	Activity       pomocore.Activity
	Classification pomocore.Classification
	// CategoryID is the category_pattern _id of Classification.Category.
	CategoryID pomocore.ObjectID
	// UsageLogID is the usage log's id: the one the entry named, or one
	// derived from the stream entry id (pomocore.ObjectIDFromEntryID).
	UsageLogID pomocore.ObjectID
}

// Store persists classified activities: categorized_data and
// pomodoro_usage_log.
//
// Contract: Save is idempotent. Saving a batch again after a success or a
// partial failure leaves exactly the documents one success leaves:
//   - a record whose Activity.CategorizedDataID is set sets categoryId and
//     IsLLMBased on that categorized_data document (created with the
//     record's app, url and title if it does not exist); otherwise the
//     document of the (app, url, title) key is found (the smallest id when
//     the main server left several) or created; an existing one gets the
//     record's categoryId;
//   - the usage log with id UsageLogID is created with the activity's fields
//     (CategorizedDataId, and sessionDate at midnight of the session day in
//     the service time zone, as the main server writes them), or, when it
//     exists, gets categoryId and CategorizedDataId.
//
// A record classified as the default (pomocore.SourceDefault: nothing
// matched, the LLM's answer not back yet) does not replace the category of
// a categorized_data document that holds an LLM answer (IsLLMBased): the
// answer keeper (AnswerKeeper) may have written the answer before the
// batch of an earlier sighting is saved, and the answer is the better
// knowledge; its usage log still gets the record's categoryId, as it was
// counted. (MongoDB: guaranteed for the documents this store instance
// wrote or read the answer of; storetest's DefaultKeepsAnLLMAnswer.)
//
// Within one batch, later records win over earlier ones for the same
// document. An error means some writes may be missing; the caller retries.
// An error of a call that timed out wraps context.DeadlineExceeded (the
// pipeline never takes a timeout for an entry's fault); a store that can
// also say whether it answers at all implements StorePinger, which lets
// the pipeline tell an outage from a record the store refuses (see
// Pipeline). Safe for concurrent use.
type Store interface {
	Save(ctx context.Context, records []Record) error
}

// Patterns reads and seeds the category_pattern collection.
type Patterns interface {
	// LoadPatterns returns every category pattern document.
	LoadPatterns(ctx context.Context) ([]pomocore.CategoryPattern, error)
	// SeedPatterns inserts defaults when the collection is empty and reports
	// whether it did; a non-empty collection is left alone. Patterns with a
	// zero ID get a new one.
	SeedPatterns(ctx context.Context, defaults []pomocore.CategoryPattern) (bool, error)
}

// PatternEditor changes category_pattern documents (the `patterns` tools);
// running pipelines pick the change up at their next reload.
type PatternEditor interface {
	// UpsertPattern writes p under p.ID (a new document when no document has
	// that ID; p.ID must not be zero).
	UpsertPattern(ctx context.Context, p pomocore.CategoryPattern) error
}

// Classifier gives an activity its category. Implementations must be safe
// for concurrent use and must not block on I/O on the hot path.
type Classifier interface {
	Classify(app, url, title string) pomocore.Classification
}

// LLMMemory is implemented by stores that can list the classifications the
// LLM fallback gave (categorized_data with isLLMBased), so that a restarted
// or new instance remembers them instead of asking again.
type LLMMemory interface {
	// LLMAnswers returns up to limit categorized_data documents with
	// isLLMBased set, most recently created first.
	LLMAnswers(ctx context.Context, limit int) ([]pomocore.CategorizedData, error)
}

// UsageLogReader lists stored usage logs by time, for rebuilding the
// leaderboards from them.
type UsageLogReader interface {
	// UsageLogsBetween calls f with every usage log whose timestamp is in
	// [from, to) (unix seconds), in batches; an error from f stops it.
	UsageLogsBetween(ctx context.Context, from, to float64, f func([]pomocore.UsageLog) error) error
}

// ErrPartitionTaken is the error kind of PartitionClaimer.ClaimPartition
// when another input stream owns the partition.
var ErrPartitionTaken = errors.New("partition owned by another input stream")

// PartitionSource is an input stream as a partition claim records it:
// the Redis it is read from, the database number and the stream's key.
// Streams of one name in two Redis servers, or in two databases of one,
// are different sources.
type PartitionSource struct {
	// Redis names the Redis server (or cluster, or Sentinel master): an
	// identity the operator configured, else its addresses as configured.
	Redis string
	// DB is the database number (0 on a cluster).
	DB int
	// Stream is the input stream's key.
	Stream string
}

// String describes s for messages.
func (s PartitionSource) String() string {
	return fmt.Sprintf("stream %q in database %d of Redis %q", s.Stream, s.DB, s.Redis)
}

// PartitionTakenError is the error of PartitionClaimer.ClaimPartition when
// another source owns the partition; it wraps ErrPartitionTaken.
type PartitionTakenError struct {
	// Partition is the partition claimed.
	Partition uint8
	// Owner is the source that owns it; Claimer the one refused.
	Owner, Claimer PartitionSource
	// Release says how to delete the owner's claim in this store.
	Release string
}

// Error names the owner, the claimer and the ways out.
func (e *PartitionTakenError) Error() string {
	return fmt.Sprintf("%v: partition %d belongs to %v in this store, so %v would overwrite its usage logs; "+
		"give this stream another partition, or, if the owner is gone for good, delete its claim: %s",
		ErrPartitionTaken, e.Partition, e.Owner, e.Claimer, e.Release)
}

// Unwrap returns ErrPartitionTaken.
func (e *PartitionTakenError) Unwrap() error { return ErrPartitionTaken }

// PartitionClaimer is implemented by stores that record which input stream
// owns each partition (Config.Partition). Usage-log ids derived from entry
// ids mix in the partition only, so two input streams sharing a store with
// the same partition produce colliding ids and overwrite each other's
// usage logs; claiming the partition at start refuses the second source,
// be it another stream, the same stream in another database, or in
// another Redis.
type PartitionClaimer interface {
	// ClaimPartition records src as the owner of partition when it has
	// none, and succeeds when src owns it already (a claim recorded
	// before sources were, with the stream's key only, is taken over by
	// a source of that stream, which it then records); when another
	// source does, it fails with a *PartitionTakenError. Of two sources
	// claiming one partition at once, one wins. Safe for concurrent use.
	ClaimPartition(ctx context.Context, partition uint8, src PartitionSource) error
}

// AnswerKeeper is implemented by stores that keep the LLM fallback's
// answers as they arrive, so that a restarted or another instance (through
// LLMMemory) and the learning loop know them without a second sighting.
type AnswerKeeper interface {
	// KeepAnswers sets categoryId and IsLLMBased (source llm) on the
	// categorized_data document of each answer's (App, URL, Title) key,
	// creating it when the key has none, as Save does for a record without
	// a CategorizedDataID; no usage log is written. CategorizedData.ID and
	// LLMBased of the answers are ignored. Idempotent; safe for concurrent
	// use with Save.
	KeepAnswers(ctx context.Context, answers []pomocore.CategorizedData) error
}

// AnswerRecords turns kept answers into the records whose categorized_data
// writes KeepAnswers makes (no usage log is to be written for them), for
// stores that implement it with their Save path.
func AnswerRecords(answers []pomocore.CategorizedData) []Record {
	out := make([]Record, len(answers))
	for i, a := range answers {
		out[i] = Record{Activity: pomocore.Activity{App: a.App, URL: a.URL, Title: a.Title},
			Classification: pomocore.Classification{Source: pomocore.SourceLLM}, CategoryID: a.CategoryID}
	}
	return out
}

// ErrGroupMissing is the error kind adapters report when the consumer group
// (or its stream) no longer exists, e.g. after a Redis restart without
// persistence, and was not recreated. The pipeline does not retry it: from
// a Reader (which could not recreate the group where it was) it stops; from
// a Committer it drops the batch, whose entries still in the stream are
// delivered again once the Reader recreated the group.
var ErrGroupMissing = errors.New("consumer group missing")

// ErrStoreCannotWrite marks a Store error that says the server cannot
// write at all for now (its disk is full, its database is read-only),
// whatever else it still accepts: a small write may fit where a larger one
// does not. Like a timeout, such an error is never taken for an entry's
// fault: the entries stay pending and are retried until it passes.
// Adapters wrap the errors they recognise as such with it.
var ErrStoreCannotWrite = errors.New("the store cannot write (out of space or read-only)")

// ConsumerJanitor is implemented by Readers that can remove consumers that
// left the group (dead processes under one-off names) once they are idle and
// own nothing. Called from the pipeline's goroutine only.
type ConsumerJanitor interface {
	RemoveIdleConsumers(ctx context.Context, idle time.Duration) (int, error)
}

// StreamTrimmer is implemented by Readers that can delete input entries
// every consumer group has consumed. Called from the pipeline's goroutine.
type StreamTrimmer interface {
	TrimConsumed(ctx context.Context) (int64, error)
}

// Toucher is implemented by Readers that can reset the idle time of
// entries pending for this consumer without counting a delivery (Redis:
// XCLAIM <stream> <group> <consumer> 0 <id>... JUSTID), so that entries of
// a batch that is slow to store or commit are not reclaimed as abandoned.
// Touch may be called from its own goroutine, concurrently with the
// Reader's other methods. Ids no longer pending are left alone; an id
// another consumer reclaimed meanwhile may move back to this one (XCLAIM
// takes it), which is safe: the committer applies each entry's effects
// once, whoever commits it.
type Toucher interface {
	Touch(ctx context.Context, ids []string) error
}

// StorePinger is implemented by stores that can say whether they answer at
// all (the health probe that tells a store outage from an entry the store
// refuses). Safe for concurrent use.
type StorePinger interface {
	Ping(ctx context.Context) error
}
