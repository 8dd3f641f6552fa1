package pomocore

import "time"

// PageSample is one point of the live page's timeline: how many entries
// the consumer group had processed (delivered and acknowledged) by At, and
// its lag then. The Redis adapter keeps the samples every replica shares;
// the HTTP API turns them into rates.
type PageSample struct {
	At        time.Time
	Processed int64
	Lag       int64
}
