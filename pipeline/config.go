package pipeline

import (
	"errors"
	"fmt"
	"time"

	"github.com/pomocore/pomocore"
)

// Config tunes the pipeline. The zero value of a field means its default;
// Validate reports values that cannot work.
type Config struct {
	// BatchSize is the most entries read and processed at once (default 2000).
	// A read returns what is there up to this, so batches follow the backlog:
	// small when the pipeline keeps up, full when it catches up.
	BatchSize int
	// Block is how long one read waits for new entries (default 1s). It also
	// bounds how long a shutdown waits for an idle read.
	Block time.Duration
	// ClaimIdle is how long an entry must be pending with another consumer
	// before this one reclaims it with XAUTOCLAIM (default 60s).
	ClaimIdle time.Duration
	// ClaimInterval is how often the pending entries of other consumers are
	// scanned (default ClaimIdle/2).
	ClaimInterval time.Duration
	// ConsumerIdle is how long another consumer must be idle, with nothing
	// pending, before it is removed from the group (default 1h); the check
	// runs with each full reclaim scan when the Reader supports it.
	ConsumerIdle time.Duration
	// MaxDeliveries is how many deliveries an entry may have before it is
	// suspected of being poison (default 10). A suspect is not dead-lettered
	// for its deliveries alone: restarts during a store or Redis outage add
	// deliveries that are not the entry's fault. It is processed as usual
	// and dead-lettered (kind too_many_deliveries) only when it fails on its
	// own: when the store refuses it saved alone (a batch of one) while the
	// store answers its health probe (StorePinger) and the failure is not a
	// timeout. See Pipeline for the whole rule.
	MaxDeliveries int64
	// SlowStore is the store-call latency the batch size adapts to (default
	// 2.5s, a quarter of the default store timeout; negative: no
	// adaptation, batches of BatchSize always). A Save that takes longer, or
	// times out, halves the size of the following reads and of the store
	// calls of the batch in hand (down to 1); one that takes less than half
	// of it grows the size back by BatchSize/32 (at least 1), up to
	// BatchSize. When a slow call at half the size took nearly as long, the
	// store is slow per call: the size is restored and slow calls leave it
	// alone until one times out. Stats and BatchReport show the current
	// size.
	SlowStore time.Duration
	// DecideWait is how long an activity whose answer is on its way (the
	// Classifier is a Decider and awaits the LLM) is held, unacknowledged
	// and kept fresh, before it counts as the default category (0: never
	// held; the activity counts as the default at once). See waiting.
	DecideWait time.Duration
	// MaxWaiting bounds the activities held for DecideWait at once
	// (default 10,000); more count as the default at once.
	MaxWaiting int
	// KeyPrefix prefixes leaderboard keys (default "leaderboard").
	KeyPrefix string
	// Location is the time zone of leaderboard periods (default Asia/Seoul,
	// the CONTRACT's).
	Location *time.Location
	// Limits bounds what the validator accepts.
	Limits pomocore.Limits
	// Partition is this input stream's number when the input is split over
	// several streams (0..63), mixed into derived usage-log ids.
	Partition uint8
	// RetryMin and RetryMax bound the backoff between retries of a failed
	// store or commit call (defaults 100ms and 5s).
	RetryMin, RetryMax time.Duration
	// ShutdownTimeout is how long, after the context is cancelled, the batch
	// in hand may take to store and commit (default 30s; negative: no time,
	// stop at once). Entries not committed by then stay pending and are
	// reclaimed later: none is lost.
	ShutdownTimeout time.Duration
	// DeadFieldsMax caps the fields copied into a dead letter (default 128).
	DeadFieldsMax int
	// Retention is how long leaderboard keys live after their last
	// increment, per period kind (0: forever, as the deployed system).
	Retention Retention
	// TrimInput deletes input entries every consumer group has read and
	// acknowledged, after each full reclaim scan (when the Reader can).
	TrimInput bool
}

// seoul is the CONTRACT's time zone; a fixed UTC+9 (Korea has no daylight
// saving time) where the zone database is missing.
var seoul = func() *time.Location {
	if l, err := time.LoadLocation("Asia/Seoul"); err == nil {
		return l
	}
	return time.FixedZone("KST", 9*60*60)
}()

// Retention sets the lifetime of daily, weekly and monthly leaderboard keys.
type Retention struct {
	Day, Week, Month time.Duration
}

func (c Config) withDefaults() Config {
	if c.BatchSize == 0 {
		c.BatchSize = 2000
	}
	if c.Block == 0 {
		c.Block = time.Second
	}
	if c.ClaimIdle == 0 {
		c.ClaimIdle = time.Minute
	}
	if c.ClaimInterval == 0 {
		c.ClaimInterval = c.ClaimIdle / 2
	}
	if c.MaxDeliveries == 0 {
		c.MaxDeliveries = 10
	}
	if c.ConsumerIdle == 0 {
		c.ConsumerIdle = time.Hour
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = pomocore.DefaultKeyPrefix
	}
	if c.Location == nil {
		c.Location = seoul
	}
	if c.RetryMin == 0 {
		c.RetryMin = 100 * time.Millisecond
	}
	if c.RetryMax == 0 {
		c.RetryMax = 5 * time.Second
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.DeadFieldsMax == 0 {
		c.DeadFieldsMax = 128
	}
	if c.MaxWaiting == 0 {
		c.MaxWaiting = 10000
	}
	if c.SlowStore == 0 {
		c.SlowStore = 2500 * time.Millisecond
	}
	return c
}

// ConfigError is one setting of a Config that cannot work (the root
// package's, shared by every package's Validate).
type ConfigError = pomocore.ConfigError

// Validate reports settings that cannot work, each as a *ConfigError
// (joined).
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if c.BatchSize < 1 || c.BatchSize > 10000 {
		bad("BatchSize", "%d: want 1..10000", c.BatchSize)
	}
	if c.Block <= 0 {
		bad("Block", "%v: want > 0", c.Block)
	}
	if c.ClaimIdle < 100*time.Millisecond {
		// Shorter, consumers take each other's entries between the read
		// and the first touch of a batch, and deliveries are spent on it.
		bad("ClaimIdle", "%v: want >= 100ms", c.ClaimIdle)
	}
	if c.ClaimInterval <= 0 {
		bad("ClaimInterval", "%v: want > 0", c.ClaimInterval)
	}
	if c.ConsumerIdle <= 0 {
		bad("ConsumerIdle", "%v: want > 0", c.ConsumerIdle)
	}
	if c.MaxDeliveries < 1 {
		bad("MaxDeliveries", "%d: want >= 1", c.MaxDeliveries)
	}
	if c.Partition >= 64 {
		bad("Partition", "%d: want 0..63", c.Partition)
	}
	if c.DecideWait < 0 {
		bad("DecideWait", "%v: want >= 0 (0: never wait)", c.DecideWait)
	}
	if c.MaxWaiting < 0 {
		bad("MaxWaiting", "%d: want >= 0 (0: the default)", c.MaxWaiting)
	}
	if c.SlowStore > 0 && c.SlowStore < time.Millisecond {
		bad("SlowStore", "%v: want >= 1ms, or negative for no adaptation", c.SlowStore)
	}
	if c.RetryMin <= 0 || c.RetryMax < c.RetryMin {
		bad("RetryMin", "retry backoff %v..%v: want 0 < min <= max", c.RetryMin, c.RetryMax)
	}
	for _, r := range []struct {
		field string
		d     time.Duration
		min   time.Duration
	}{{"Retention.Day", c.Retention.Day, 24 * time.Hour}, {"Retention.Week", c.Retention.Week, 7 * 24 * time.Hour},
		{"Retention.Month", c.Retention.Month, 31 * 24 * time.Hour}} {
		if r.d != 0 && r.d < r.min {
			bad(r.field, "%v: want 0 (forever) or at least %v, the period itself", r.d, r.min)
		}
	}
	if err := c.Limits.Validate(); err != nil {
		bad("Limits", "%v", err)
	}
	return errors.Join(errs...)
}
