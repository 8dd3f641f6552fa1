package pomocore

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// ObjectID is a 12-byte MongoDB-style identifier. It is kept in the domain as
// a plain array so that the domain does not depend on a database driver; the
// zero value means "absent".
type ObjectID [12]byte

// IsZero reports whether id is the zero (absent) ObjectID.
func (id ObjectID) IsZero() bool { return id == ObjectID{} }

// Hex returns the 24-character lower-case hex form of id.
func (id ObjectID) Hex() string { return hex.EncodeToString(id[:]) }

// String returns the hex form of id.
func (id ObjectID) String() string { return id.Hex() }

// ParseObjectID parses the 24-character hex form of an ObjectID.
func ParseObjectID(s string) (ObjectID, error) {
	var id ObjectID
	if len(s) != 24 {
		return id, fmt.Errorf("object id %q: want 24 hex characters, got %d", truncate(s, 40), len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return ObjectID{}, fmt.Errorf("object id %q: not hex", truncate(s, 40))
	}
	return id, nil
}

var (
	oidProcess [5]byte
	oidCounter atomic.Uint32
)

func init() {
	var seed [9]byte
	if _, err := rand.Read(seed[:]); err != nil {
		panic(fmt.Sprintf("pomocore: no randomness for object ids: %v", err))
	}
	copy(oidProcess[:], seed[:5])
	oidCounter.Store(binary.BigEndian.Uint32(seed[5:]))
}

// NewObjectID returns a new ObjectID for time t, laid out like MongoDB's:
// 4 bytes of seconds, 5 random bytes per process, a 3-byte counter. It is
// safe for concurrent use.
func NewObjectID(t time.Time) ObjectID {
	var id ObjectID
	binary.BigEndian.PutUint32(id[0:4], uint32(t.Unix()))
	copy(id[4:9], oidProcess[:])
	c := oidCounter.Add(1)
	id[9], id[10], id[11] = byte(c>>16), byte(c>>8), byte(c)
	return id
}

// ParseEntryID splits a Redis stream entry id "<ms>-<seq>" into its
// milliseconds and sequence number.
func ParseEntryID(entryID string) (ms, seq uint64, err error) {
	msPart, seqPart, ok := strings.Cut(entryID, "-")
	if !ok {
		return 0, 0, fmt.Errorf("stream entry id %q: want <ms>-<seq>", truncate(entryID, 40))
	}
	if ms, err = strconv.ParseUint(msPart, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("stream entry id %q: milliseconds: %w", truncate(entryID, 40), err)
	}
	if seq, err = strconv.ParseUint(seqPart, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("stream entry id %q: sequence: %w", truncate(entryID, 40), err)
	}
	return ms, seq, nil
}

// ObjectIDFromEntryID derives a deterministic ObjectID from a Redis stream
// entry id ("<ms>-<seq>") and a partition number (0 when the input is one
// stream). The same entry always yields the same id, so a retried insert of
// its usage log is a duplicate-key no-op instead of a second document. Ids
// grow with the entry ids, which keeps inserts in index order.
//
// Layout: 4 bytes of seconds (as in any ObjectID, so the id sorts and shows
// the right creation time), 2 bytes holding the partition (6 bits) and the
// milliseconds (10 bits), 6 bytes of sequence number.
func ObjectIDFromEntryID(entryID string, partition uint8) (ObjectID, error) {
	var id ObjectID
	ms, seq, err := ParseEntryID(entryID)
	if err != nil {
		return id, err
	}
	secs := ms / 1000
	if secs > 0xFFFFFFFF || seq >= 1<<48 || partition >= 64 {
		return id, fmt.Errorf("stream entry id %q (partition %d): out of the ObjectID range", truncate(entryID, 40), partition)
	}
	binary.BigEndian.PutUint32(id[0:4], uint32(secs))
	binary.BigEndian.PutUint16(id[4:6], uint16(partition)<<10|uint16(ms%1000))
	id[6], id[7], id[8] = byte(seq>>40), byte(seq>>32), byte(seq>>24)
	id[9], id[10], id[11] = byte(seq>>16), byte(seq>>8), byte(seq)
	return id, nil
}

// EntryIDOf reads back the stream entry id an ObjectID was derived from in
// partition (the inverse of ObjectIDFromEntryID), and whether id is such
// an id at all. An id the main server created (generated, not derived) is
// told apart by its middle bytes: random per process in a generated
// ObjectID, the high bytes of a sequence number below 2^24 (so zero) in a
// derived one; with the partition bits, a generated id is mistaken for a
// derived one with odds of about 2^-30.
func EntryIDOf(id ObjectID, partition uint8) (string, bool) {
	mid := binary.BigEndian.Uint16(id[4:6])
	if uint8(mid>>10) != partition || mid&0x3ff >= 1000 || id[6] != 0 || id[7] != 0 || id[8] != 0 {
		return "", false
	}
	secs := uint64(binary.BigEndian.Uint32(id[0:4]))
	seq := uint64(id[9])<<16 | uint64(id[10])<<8 | uint64(id[11])
	entry := strconv.FormatUint(secs*1000+uint64(mid&0x3ff), 10) + "-" + strconv.FormatUint(seq, 10)
	if back, err := ObjectIDFromEntryID(entry, partition); err != nil || back != id {
		return "", false
	}
	return entry, true
}

// NewestEntryID returns the newest stream entry id among those ids were
// derived from in partition (EntryIDOf), "" when none was.
func NewestEntryID(ids []ObjectID, partition uint8) string {
	var best string
	var bestMs, bestSeq uint64
	for _, id := range ids {
		entry, ok := EntryIDOf(id, partition)
		if !ok {
			continue
		}
		ms, seq, _ := ParseEntryID(entry)
		if best == "" || ms > bestMs || (ms == bestMs && seq > bestSeq) {
			best, bestMs, bestSeq = entry, ms, seq
		}
	}
	return best
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
