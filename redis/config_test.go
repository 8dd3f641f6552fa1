package redis_test

import (
	"errors"
	"testing"

	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/redis"
)

// DefaultReaderConfig and DefaultCommitterConfig are the one place the
// defaults are written; Validate checks a config as it is, so that a zero
// the operator set is refused, naming the field, instead of silently
// becoming the default.
func TestDefaultConfigsAreValidAndAZeroIsNotTheDefault(t *testing.T) {
	rc := redis.DefaultReaderConfig()
	rc.Consumer = "c1"
	if err := rc.Validate(); err != nil {
		t.Fatalf("DefaultReaderConfig: %v", err)
	}
	if err := redis.DefaultCommitterConfig().Validate(); err != nil {
		t.Fatalf("DefaultCommitterConfig: %v", err)
	}
	named := func(err error) string {
		var ce *pipeline.ConfigError
		if errors.As(err, &ce) {
			return ce.Field
		}
		return ""
	}
	r := rc
	r.MaxBatchBytes = 0
	if got := named(r.Validate()); got != "MaxBatchBytes" {
		t.Errorf("reader MaxBatchBytes 0: field %q", got)
	}
	for field, set := range map[string]func(*redis.CommitterConfig){
		"DedupMax":     func(c *redis.CommitterConfig) { c.DedupMax = 0 },
		"DeadValueMax": func(c *redis.CommitterConfig) { c.DeadValueMax = 0 },
		"DeadMaxLen":   func(c *redis.CommitterConfig) { c.DeadMaxLen = -1 },
	} {
		c := redis.DefaultCommitterConfig()
		set(&c)
		if got := named(c.Validate()); got != field {
			t.Errorf("%s: field %q", field, got)
		}
	}
}
