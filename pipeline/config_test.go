package pipeline_test

import (
	"errors"
	"testing"
	"time"

	"github.com/pomocore/pomocore/pipeline"
)

// DefaultConfig is the one place the pipeline's defaults are written, and
// Validate checks a config as it is: a zero where zero cannot work is an
// error naming the field, not the default (the settings pass a zero on as
// the operator set it).
func TestDefaultConfigIsValidAndAZeroIsNotTheDefault(t *testing.T) {
	if err := pipeline.DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	for field, set := range map[string]func(*pipeline.Config){
		"BatchSize":            func(c *pipeline.Config) { c.BatchSize = 0 },
		"Block":                func(c *pipeline.Config) { c.Block = 0 },
		"ClaimIdle":            func(c *pipeline.Config) { c.ClaimIdle = 0 },
		"ConsumerIdle":         func(c *pipeline.Config) { c.ConsumerIdle = 0 },
		"MaxDeliveries":        func(c *pipeline.Config) { c.MaxDeliveries = 0 },
		"MaxWaiting":           func(c *pipeline.Config) { c.MaxWaiting = 0 },
		"SlowStore":            func(c *pipeline.Config) { c.SlowStore = 0 },
		"KeyPrefix":            func(c *pipeline.Config) { c.KeyPrefix = " " },
		"Limits.MaxDuration":   func(c *pipeline.Config) { c.Limits.MaxDuration = 0 },
		"Limits.MaxFieldBytes": func(c *pipeline.Config) { c.Limits.MaxFieldBytes = 0 },
		"ShutdownTimeout":      func(c *pipeline.Config) { d := -time.Second; c.ShutdownTimeout = &d },
	} {
		c := pipeline.DefaultConfig()
		set(&c)
		var ce *pipeline.ConfigError
		if err := c.Validate(); !errors.As(err, &ce) || ce.Field != field {
			t.Errorf("%s: got %v, want a ConfigError naming it", field, err)
		}
	}
	// Zero means something in these: it is valid.
	c := pipeline.DefaultConfig()
	zero := time.Duration(0)
	c.ShutdownTimeout, c.DecideWait, c.ClaimInterval = &zero, 0, 0
	if err := c.Validate(); err != nil {
		t.Errorf("stop at once, never wait, claim every ClaimIdle/2: %v", err)
	}
}
