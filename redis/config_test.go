package redis_test

import (
	"errors"
	"strings"
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

// The client's Validate names the field of each setting that cannot work,
// as a *pipeline.ConfigError, and never shows the password.
func TestClientConfigValidateNamesTheField(t *testing.T) {
	good := redis.DefaultConfig()
	good.Addrs, good.Password = []string{"r:6379"}, "hunter2-redis"
	if err := good.Validate(); err != nil {
		t.Fatalf("defaults with an address: %v", err)
	}
	for _, tc := range []struct {
		field string
		set   func(*redis.Config)
	}{
		{"Addrs", func(c *redis.Config) { c.Addrs = nil }},
		{"Addrs", func(c *redis.Config) { c.Addrs = []string{""} }},
		{"Mode", func(c *redis.Config) { c.Addrs = []string{"a:1", "b:2"} }},
		{"Mode", func(c *redis.Config) { c.Mode = "ring" }},
		{"MasterName", func(c *redis.Config) { c.Mode = redis.Sentinel }},
		{"DB", func(c *redis.Config) { c.DB = -1 }},
		{"DB", func(c *redis.Config) { c.Mode, c.DB = redis.Cluster, 1 }},
		{"DialTimeout", func(c *redis.Config) { c.DialTimeout = -1 }},
		{"ReadTimeout", func(c *redis.Config) { c.ReadTimeout = -1 }},
		{"WriteTimeout", func(c *redis.Config) { c.WriteTimeout = -1 }},
	} {
		c := good
		tc.set(&c)
		err := c.Validate()
		var ce *pipeline.ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("bad %s: err = %v, want a ConfigError naming it", tc.field, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("bad %s: error shows the password: %v", tc.field, err)
		}
	}
}
