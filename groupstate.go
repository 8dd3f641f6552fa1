package pomocore

import "time"

// GroupState is a consumer group's backlog on its stream, as the metrics,
// readiness and the live page read it (redis.Reader.GroupState).
type GroupState struct {
	// Lag is entries not yet delivered to the group (-1 when unknown).
	Lag int64
	// Pending is entries delivered and not yet acknowledged.
	Pending int64
	// OldestPending is the age of the oldest pending entry (0 when none).
	OldestPending time.Duration
}
