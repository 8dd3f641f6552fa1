package pipeline

import (
	"cmp"
	"errors"
	"strings"
	"time"

	"github.com/pomocore/pomocore"
)

// Config tunes the pipeline. DefaultConfig returns the defaults, the one
// place they are written; Validate reports values that cannot work, as
// they are (a zero where zero cannot work is an error). New takes a zero
// field of a partial Config as DefaultConfig's value, so that a caller
// may name only what it changes; a field whose zero means something
// (DecideWait, Retention, Partition, TrimInput) is never filled, and
// ShutdownTimeout, whose zero means "stop at once", is a pointer (nil:
// the default).
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
	// scanned (0, the default: ClaimIdle/2).
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
	// and kept fresh, before it counts as the default category (default
	// 30s; 0: never held, the activity counts as the default at once). See
	// waiting.
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
	// retryMin and retryMax bound the backoff between retries of a failed
	// store or commit call (100ms and 5s; tests shorten them through
	// export_test.go).
	retryMin, retryMax time.Duration
	// ShutdownTimeout is how long, after the context is cancelled, the batch
	// in hand may take to store and commit (default 30s; 0: no time, stop
	// at once; nil: the default). Entries not committed by then stay
	// pending and are reclaimed later: none is lost.
	ShutdownTimeout *time.Duration
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

// DefaultConfig returns the pipeline's defaults.
func DefaultConfig() Config {
	shutdown := 30 * time.Second
	return Config{
		BatchSize:       2000,
		Block:           time.Second,
		ClaimIdle:       time.Minute,
		ConsumerIdle:    time.Hour,
		MaxDeliveries:   10,
		SlowStore:       2500 * time.Millisecond,
		DecideWait:      30 * time.Second,
		MaxWaiting:      10000,
		KeyPrefix:       pomocore.DefaultKeyPrefix,
		Location:        seoul,
		Limits:          pomocore.DefaultLimits(),
		retryMin:        100 * time.Millisecond,
		retryMax:        5 * time.Second,
		ShutdownTimeout: &shutdown,
		DeadFieldsMax:   128,
	}
}

// withDefaults fills the zero fields of a partial Config (see Config)
// from DefaultConfig; ClaimInterval follows ClaimIdle.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	c.BatchSize = cmp.Or(c.BatchSize, d.BatchSize)
	c.Block = cmp.Or(c.Block, d.Block)
	c.ClaimIdle = cmp.Or(c.ClaimIdle, d.ClaimIdle)
	c.ClaimInterval = cmp.Or(c.ClaimInterval, c.ClaimIdle/2)
	c.MaxDeliveries = cmp.Or(c.MaxDeliveries, d.MaxDeliveries)
	c.ConsumerIdle = cmp.Or(c.ConsumerIdle, d.ConsumerIdle)
	c.KeyPrefix = cmp.Or(c.KeyPrefix, d.KeyPrefix)
	c.Location = cmp.Or(c.Location, d.Location)
	c.Limits = c.Limits.WithDefaults()
	c.retryMin = cmp.Or(c.retryMin, d.retryMin)
	c.retryMax = cmp.Or(c.retryMax, d.retryMax)
	c.ShutdownTimeout = cmp.Or(c.ShutdownTimeout, d.ShutdownTimeout)
	c.DeadFieldsMax = cmp.Or(c.DeadFieldsMax, d.DeadFieldsMax)
	c.MaxWaiting = cmp.Or(c.MaxWaiting, d.MaxWaiting)
	c.SlowStore = cmp.Or(c.SlowStore, d.SlowStore)
	return c
}

// Shutdown returns how long the batch in hand may take after the context
// is cancelled: ShutdownTimeout, or its default when nil.
func (c Config) Shutdown() time.Duration {
	if c.ShutdownTimeout == nil {
		return *DefaultConfig().ShutdownTimeout
	}
	return *c.ShutdownTimeout
}

// ConfigError is one setting of a Config that cannot work (the root
// package's, shared by every package's Validate).
type ConfigError = pomocore.ConfigError

// Validate reports settings that cannot work, as they are, each as a
// *ConfigError naming the field (joined). A nil Location is Asia/Seoul.
func (c Config) Validate() error {
	var errs pomocore.ConfigErrors
	bad := errs.Add
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
	if c.ClaimInterval < 0 {
		bad("ClaimInterval", "%v: want > 0 (0: ClaimIdle/2)", c.ClaimInterval)
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
	if c.MaxWaiting < 1 {
		bad("MaxWaiting", "%d: want >= 1", c.MaxWaiting)
	}
	if c.SlowStore == 0 {
		bad("SlowStore", "0: want >= 1ms, or negative for no adaptation")
	}
	if c.ShutdownTimeout != nil && *c.ShutdownTimeout < 0 {
		bad("ShutdownTimeout", "%v: want >= 0 (0: stop at once)", *c.ShutdownTimeout)
	}
	if strings.TrimSpace(c.KeyPrefix) == "" {
		bad("KeyPrefix", "must not be empty")
	}
	if c.DeadFieldsMax < 1 {
		bad("DeadFieldsMax", "%d: want >= 1", c.DeadFieldsMax)
	}
	if c.SlowStore > 0 && c.SlowStore < time.Millisecond {
		bad("SlowStore", "%v: want >= 1ms, or negative for no adaptation", c.SlowStore)
	}
	if c.retryMin < 0 || c.retryMax < 0 || (c.retryMin > 0 && c.retryMax > 0 && c.retryMax < c.retryMin) {
		// zero: the default (the retry bounds are not settings)
		bad("retry", "backoff %v..%v: want 0 < min <= max", c.retryMin, c.retryMax)
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
	errs = append(errs, pomocore.Nested("Limits", c.Limits.Validate())...)
	return errors.Join(errs...)
}
