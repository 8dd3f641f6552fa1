package mongo_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/mongo"
)

// Validate names the field of each setting that cannot work, as a
// *pomocore.ConfigError, and never shows the URI.
func TestConfigValidateNamesTheField(t *testing.T) {
	good := mongo.DefaultConfig()
	good.URI = "mongodb://u:s3cr3t@db:27017/"
	if err := good.Validate(); err != nil {
		t.Fatalf("defaults with a URI: %v", err)
	}
	for field, set := range map[string]func(*mongo.Config){
		"URI":           func(c *mongo.Config) { c.URI = "http://u:s3cr3t@db/" },
		"Database":      func(c *mongo.Config) { c.Database = "" },
		"Timeout":       func(c *mongo.Config) { c.Timeout = -time.Second },
		"MaxStatements": func(c *mongo.Config) { c.MaxStatements = 100 },
		"MaxIDs":        func(c *mongo.Config) { c.MaxIDs = -1 },
		"KeyCache":      func(c *mongo.Config) { c.KeyCache = -1 },
		"InsertBatch":   func(c *mongo.Config) { c.InsertBatch = -1 },
		"PerDocument":   func(c *mongo.Config) { c.PerDocument = "sometimes" },
	} {
		c := good
		set(&c)
		err := c.Validate()
		var ce *pomocore.ConfigError
		if !errors.As(err, &ce) || ce.Field != field {
			t.Errorf("bad %s: err = %v, want a ConfigError naming %s", field, err, field)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("bad %s: error shows the URI: %v", field, err)
		}
	}
}
