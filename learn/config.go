package learn

import (
	"cmp"
	"errors"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
)

// Config tunes the learning loop. DefaultConfig returns the defaults, the
// one place they are written; Validate reports settings that cannot work,
// as they are. NewTrainer, NewPromoter and TrainModel take a zero field of
// a partial Config as DefaultConfig's value (but Interval, whose zero
// means never, and Promote).
type Config struct {
	// Interval is how often the learning loop retrains and promotes
	// (default 6h; 0: never; else at least 1m). The wiring makes the
	// ticker (LoopDeps.Interval).
	Interval time.Duration
	// Threshold is the confidence the model must reach to answer (that of
	// classify.ChainConfig.ModelThreshold), at which the held-out coverage
	// and accuracy are reported (default 0.9, in (0, 1]).
	Threshold float64
	// HoldOutPercent of the examples (by a hash of the activity) are held
	// out of training to measure the model and calibrate its confidence
	// (default 20, 1..50).
	HoldOutPercent int
	// NovelPrecision is the precision the model must keep at Threshold on
	// the held-out sites and apps it never saw: their temperature is
	// raised until it does (classify.Model.KeepPrecision; default 0.9, in
	// (0, 1]).
	NovelPrecision float64
	// MaxLabels bounds the trusted labels read per training (default
	// 100,000; -1: none, patterns only).
	MaxLabels int
	// Train tunes the model's training (classify.TrainOptions defaults).
	Train classify.TrainOptions

	// Promote turns answers given consistently into patterns (off by
	// default).
	Promote bool
	// MinCount is how many different activities of one domain or app must
	// have been answered, all with the same category, before it is
	// promoted (default 5, at least 2).
	MinCount int
	// MinConfidence is the least confidence an answer must have to count
	// (default 0.95, in (0, 1]; LLM answers count as 1).
	MinConfidence float64
	// MaxCandidates bounds the domains and apps tracked for promotion
	// (default 10,000); more are not tracked until a promotion or a restart
	// frees room.
	MaxCandidates int
}

// DefaultConfig returns the learning loop's defaults.
func DefaultConfig() Config {
	return Config{
		Interval:       6 * time.Hour,
		Threshold:      0.9,
		HoldOutPercent: 20,
		NovelPrecision: 0.9,
		MaxLabels:      100000,
		MinCount:       5,
		MinConfidence:  0.95,
		MaxCandidates:  10000,
	}
}

// withDefaults fills the zero fields of a partial Config (see Config)
// from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	c.Threshold = cmp.Or(c.Threshold, d.Threshold)
	c.HoldOutPercent = cmp.Or(c.HoldOutPercent, d.HoldOutPercent)
	c.NovelPrecision = cmp.Or(c.NovelPrecision, d.NovelPrecision)
	c.MaxLabels = cmp.Or(c.MaxLabels, d.MaxLabels)
	c.MinCount = cmp.Or(c.MinCount, d.MinCount)
	c.MinConfidence = cmp.Or(c.MinConfidence, d.MinConfidence)
	c.MaxCandidates = cmp.Or(c.MaxCandidates, d.MaxCandidates)
	return c
}

// ConfigError is one setting of a Config that cannot work (the root
// package's, shared by every package's Validate).
type ConfigError = pomocore.ConfigError

// Validate reports settings that cannot work, as they are (a zero where
// zero cannot work is an error), each as a *ConfigError naming the field
// (joined).
func (c Config) Validate() error {
	var errs pomocore.ConfigErrors
	bad := errs.Add
	if c.Interval != 0 && c.Interval < time.Minute {
		bad("Interval", "%v: want 0 (never) or >= 1m", c.Interval)
	}
	if !(c.Threshold > 0 && c.Threshold <= 1) {
		bad("Threshold", "%v: want 0 < threshold <= 1", c.Threshold)
	}
	if c.HoldOutPercent < 1 || c.HoldOutPercent > 50 {
		bad("HoldOutPercent", "%d: want 1..50", c.HoldOutPercent)
	}
	if !(c.NovelPrecision > 0 && c.NovelPrecision <= 1) {
		bad("NovelPrecision", "%v: want 0 < precision <= 1", c.NovelPrecision)
	}
	if c.MaxLabels < -1 || c.MaxLabels == 0 {
		bad("MaxLabels", "%d: want a positive value, or -1 for none", c.MaxLabels)
	}
	if c.MinCount < 2 {
		bad("MinCount", "%d: want >= 2", c.MinCount)
	}
	if !(c.MinConfidence > 0 && c.MinConfidence <= 1) {
		bad("MinConfidence", "%v: want 0 < confidence <= 1", c.MinConfidence)
	}
	if c.MaxCandidates < 1 {
		bad("MaxCandidates", "%d: want >= 1", c.MaxCandidates)
	}
	if c.Train.Epochs < 0 || c.Train.LearningRate < 0 || c.Train.L2 < 0 {
		bad("Train", "epochs, learning rate and L2 must not be negative")
	}
	return errors.Join(errs...)
}
