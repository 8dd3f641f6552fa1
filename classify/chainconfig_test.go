package classify_test

import (
	"errors"
	"testing"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
)

// DefaultChainConfig is the one place the chain's defaults are written;
// Validate checks a config as it is, naming the field. A Linger of 0 is no
// wait (a setting of 0 needs no stand-in value).
func TestChainConfigDefaultsAndValidate(t *testing.T) {
	if err := classify.DefaultChainConfig().Validate(); err != nil {
		t.Fatalf("DefaultChainConfig: %v", err)
	}
	for field, set := range map[string]func(*classify.ChainConfig){
		"CacheSize": func(c *classify.ChainConfig) { c.CacheSize = 0 },
		"Workers":   func(c *classify.ChainConfig) { c.Workers = 65 },
		"Batch":     func(c *classify.ChainConfig) { c.Batch = 0 },
		"Linger":    func(c *classify.ChainConfig) { c.Linger = 6 * time.Second },
		"Timeout":   func(c *classify.ChainConfig) { c.Timeout = 0 },
	} {
		c := classify.DefaultChainConfig()
		set(&c)
		var ce *pomocore.ConfigError
		if err := c.Validate(); !errors.As(err, &ce) || ce.Field != field {
			t.Errorf("%s: got %v", field, err)
		}
	}
	c := classify.DefaultChainConfig()
	c.Linger = 0
	if err := c.Validate(); err != nil {
		t.Errorf("Linger 0 (no wait): %v", err)
	}
}
