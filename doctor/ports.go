// Package doctor is `pomocore doctor`: a read-only preflight of the
// deployed data a cut-over meets (CONTRACT.md): the input stream and its
// consumer groups, category_pattern, categorized_data and
// pomodoro_usage_log, the leaderboard keys and the session stream. It
// never writes: it declares the read-only ports it needs (StreamInspector,
// LeaderboardInspector, PatternSource, DocumentInspector), which the redis
// and mongo adapters implement, and gives a verdict (ok, warn, blocker)
// per line of its Report.
package doctor

import (
	"context"
	"time"

	"github.com/pomocore/pomocore"
)

// StreamState is what a stream holds and who reads it.
type StreamState struct {
	Name   string `json:"name"`
	Exists bool   `json:"exists"`
	// Type is the Redis type of the key when it exists and is not a
	// stream ("" for a stream or a missing key).
	Type         string       `json:"type,omitempty"`
	Length       int64        `json:"length"`
	FirstID      string       `json:"firstId,omitempty"`
	LastID       string       `json:"lastId,omitempty"`
	EntriesAdded int64        `json:"entriesAdded"`
	Groups       []GroupState `json:"groups"`
}

// GroupState is one consumer group of a stream.
type GroupState struct {
	Name            string `json:"name"`
	Pending         int64  `json:"pending"`
	LastDeliveredID string `json:"lastDeliveredId"`
	EntriesRead     int64  `json:"entriesRead"`
	// Lag is the entries not yet delivered to the group (-1: unknown).
	Lag int64 `json:"lag"`
	// OldestPendingID is the smallest pending id ("" when none).
	OldestPendingID string          `json:"oldestPendingId,omitempty"`
	Consumers       []ConsumerState `json:"consumers"`
}

// ConsumerState is one consumer of a group.
type ConsumerState struct {
	Name    string        `json:"name"`
	Pending int64         `json:"pending"`
	Idle    time.Duration `json:"idleNs"`
}

// Entry is one stream entry: its id and its fields as alternating names
// and values, in order.
type Entry struct {
	ID     string   `json:"id"`
	Fields []string `json:"fields"`
}

// KeyInfo is a Redis key and its type.
type KeyInfo struct {
	Key  string `json:"key"`
	Type string `json:"type"`
}

// Index is a MongoDB index: its name, its keys in order ("app:1") and
// whether it is unique.
type Index struct {
	Name   string   `json:"name"`
	Keys   []string `json:"keys"`
	Unique bool     `json:"unique,omitempty"`
}

// Collection is a MongoDB collection's existence and size.
type Collection struct {
	Name   string `json:"name"`
	Exists bool   `json:"exists"`
	// Count is the estimated number of documents.
	Count int64 `json:"count"`
}

// Document is a sampled document: field name to value, with dates as
// time.Time, strings as string, ObjectIDs as their hex string and numbers
// as float64 or int64.
type Document map[string]any

// StreamInspector reads streams; it never writes, never creates a group.
// Safe for concurrent use.
type StreamInspector interface {
	// Stream returns the state of stream, Exists false when it is missing.
	Stream(ctx context.Context, stream string) (StreamState, error)
	// Sample returns up to count entries of stream: the oldest half and
	// the newest half, oldest first, each once.
	Sample(ctx context.Context, stream string, count int) ([]Entry, error)
	// Deliveries returns the delivery counts of up to limit entries
	// pending in group, by entry id (none when the group is missing).
	Deliveries(ctx context.Context, stream, group string, limit int) (map[string]int64, error)
}

// LeaderboardInspector lists keys; it never writes. Safe for concurrent
// use.
type LeaderboardInspector interface {
	// Keys returns up to limit keys matching the SCAN pattern match, with
	// their types, and whether more were left unread.
	Keys(ctx context.Context, match string, limit int) (keys []KeyInfo, truncated bool, err error)
}

// ServerInspector reads the Redis servers' versions; it never writes. Safe
// for concurrent use.
type ServerInspector interface {
	// ServerVersions returns the redis_version of every server holding
	// pomocore's keys (the one server, or every master of a Cluster), by
	// address.
	ServerVersions(ctx context.Context) (map[string]string, error)
}

// PatternSource reads the category_pattern documents, in load order.
type PatternSource interface {
	LoadPatterns(ctx context.Context) ([]pomocore.CategoryPattern, error)
}

// DocumentInspector reads collections; it never writes, never creates a
// collection or an index. Safe for concurrent use.
type DocumentInspector interface {
	// Collection returns whether coll exists and its estimated size.
	Collection(ctx context.Context, coll string) (Collection, error)
	// Indexes returns the indexes coll has (none when it is missing) and
	// those pomocore's store creates on it at start.
	Indexes(ctx context.Context, coll string) (existing, planned []Index, err error)
	// SampleDocuments returns up to n documents of coll, newest first.
	SampleDocuments(ctx context.Context, coll string, n int) ([]Document, error)
}
