package learn_test

import (
	"testing"

	"github.com/pomocore/pomocore/learn"
)

// Validate checks a config as it is: a zero where zero cannot work is an
// error, not the default (DefaultConfig has those); Interval's zero is
// "never".
func TestAZeroIsNotTheDefault(t *testing.T) {
	for field, set := range map[string]func(*learn.Config){
		"Threshold":     func(c *learn.Config) { c.Threshold = 0 },
		"MaxLabels":     func(c *learn.Config) { c.MaxLabels = 0 },
		"MinCount":      func(c *learn.Config) { c.MinCount = 0 },
		"MinConfidence": func(c *learn.Config) { c.MinConfidence = 0 },
	} {
		c := learn.DefaultConfig()
		set(&c)
		if c.Validate() == nil {
			t.Errorf("%s = 0 accepted", field)
		}
	}
	c := learn.DefaultConfig()
	c.Interval = 0
	if err := c.Validate(); err != nil {
		t.Errorf("Interval 0 (never): %v", err)
	}
}
