package app

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pomocore/pomocore"
)

// Every setting is bound straight to a field of Config or of a package's
// config in it, and a package's ConfigError naming a field is reported
// under the setting bound to it, found through the binding alone (no
// field-to-setting map to keep in step).
func TestSettingsBindFieldsAndPackageErrorsNameThem(t *testing.T) {
	c := Defaults()
	fields := map[any]string{} // address of each field of c -> its path
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		for i := range v.NumField() {
			f, sf := v.Field(i), v.Type().Field(i)
			if !sf.IsExported() {
				continue
			}
			p := strings.TrimPrefix(path+"."+sf.Name, ".")
			fields[f.Addr().Interface()] = p
			if f.Kind() == reflect.Struct && sf.Type.PkgPath() != "time" {
				walk(f, p)
			}
		}
	}
	walk(reflect.ValueOf(&c).Elem(), "")
	bound := map[string]string{} // field path -> setting
	for _, s := range c.Settings() {
		b, ok := s.Value.(binder)
		if !ok {
			t.Errorf("%s is bound to no field", s.Env)
			continue
		}
		p, ok := fields[b.field()]
		if !ok {
			t.Errorf("%s is bound to something that is not a field of Config", s.Env)
			continue
		}
		if other, dup := bound[p]; dup {
			t.Errorf("%s and %s are bound to the same field %s", s.Env, other, p)
		}
		bound[p] = s.Env
	}
	parts := map[string]any{"Pipeline": &c.Pipeline, "Learn": &c.Learn, "Reader": &c.Reader, "Committer": &c.Committer, "Chain": &c.Chain,
		"Mongo": &c.Mongo, "Redis": &c.Redis}
	named := 0
	for path, env := range bound {
		part, field, ok := strings.Cut(path, ".")
		if !ok || parts[part] == nil {
			continue
		}
		got, msg := c.setting(&pomocore.ConfigError{Field: field, Msg: "bad"}, parts[part])
		if got != env || msg != "bad" {
			t.Errorf("a %s error on %s is reported as %q, want %s", part, field, got, env)
		}
		named++
	}
	if named < 43 {
		t.Errorf("%d settings bound into the packages' configs, want the pipeline's, learning's, reader's, committer's, MongoDB's and Redis's (>= 43)", named)
	}
	// The committer's stream and group are the reader's settings.
	if got, _ := c.setting(&pomocore.ConfigError{Field: "Stream"}, &c.Committer, &c.Reader); got != "POMOCORE_STREAM" {
		t.Errorf("committer Stream: %q", got)
	}
	if got, _ := c.setting(&pomocore.ConfigError{Field: "NoSuchField"}, &c.Pipeline); got != "" {
		t.Errorf("unknown field named %q", got)
	}
}

// The packages' defaults are the settings' defaults: written once, in the
// package.
func TestDefaultsAreThePackagesDefaults(t *testing.T) {
	c := Defaults()
	if c.Pipeline.BatchSize != 2000 || *c.Pipeline.ShutdownTimeout != 30e9 || c.Learn.MaxLabels != 100000 ||
		c.Committer.DedupMax != 200_000_000 || c.Reader.Stream != pomocore.DefaultStream || c.Reader.Consumer == "" {
		t.Errorf("defaults: %+v", c)
	}
}

// A setting of 0 that means off or none reaches the package as 0: no
// stand-in value (compare's dedup window, the chain's linger, the
// pipeline's shutdown grace).
func TestZeroSettingsReachThePackagesAsZero(t *testing.T) {
	c := Defaults()
	zero := time.Duration(0)
	c.Committer.DedupWindow, c.Chain.Linger, c.Pipeline.ShutdownTimeout = 0, 0, &zero
	if w := c.CompareConfig("2026-11-24", "2026-11-24", "g", time.UTC, pomocore.DefaultTaxonomy()).DedupWindow; w == nil || *w != 0 {
		t.Errorf("compare's dedup window = %v, want 0 (off)", w)
	}
	if d := c.PipelineConfig(time.UTC).ShutdownTimeout; d == nil || *d != 0 {
		t.Errorf("shutdown timeout = %v, want 0", d)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("zeros that mean off: %v", err)
	}
}

// A bad MongoDB or Redis client setting is reported by its package's
// Validate and named by the setting bound to the field it names; the
// secrets (the URI, the password) are never in the message.
func TestMongoAndRedisErrorsNameTheirSetting(t *testing.T) {
	const uri, password = "mongodb://u:s3cr3t-uri@db:27017/", "hunter2-redis"
	for _, tc := range []struct {
		set  func(*Config)
		want string
	}{
		{func(c *Config) { c.Mongo.URI = "http://u:s3cr3t-uri@db/" }, "MONGO_URI: not a valid"},
		{func(c *Config) { c.Mongo.URI, c.Mongo.Database = uri, "" }, "MONGO_DATABASE: empty"},
		{func(c *Config) { c.Mongo.MaxStatements = 100 }, "POMOCORE_MONGO_MAX_STATEMENTS: 100: want 1..99"},
		{func(c *Config) { c.Mongo.PerDocument = "sometimes" }, "POMOCORE_MONGO_PER_DOCUMENT: \"sometimes\""},
		{func(c *Config) { c.Mongo.Timeout = -time.Second }, "POMOCORE_STORE_TIMEOUT: -1s"},
		{func(c *Config) { c.Redis.Addrs = []string{"a:1", "b:2"} }, "REDIS_MODE: 2 addresses"},
		{func(c *Config) { c.Redis.Addrs, c.Redis.Mode = []string{"a:1"}, "ring" }, "REDIS_MODE: \"ring\""},
		{func(c *Config) { c.Redis.Addrs, c.Redis.Mode = []string{"a:1"}, "sentinel" }, "REDIS_MASTER_NAME: empty"},
		{func(c *Config) { c.Redis.Addrs, c.Redis.DB = []string{"a:1"}, -1 }, "POMOCORE_REDIS_DB: -1"},
		{func(c *Config) { c.Redis.Addrs, c.Redis.Mode, c.Redis.DB = []string{"a:1"}, "cluster", 2 }, "POMOCORE_REDIS_DB: 2: a cluster"},
	} {
		c := Defaults()
		c.Redis.Password = password
		tc.set(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want one saying %q", err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t-uri") || strings.Contains(err.Error(), password) {
			t.Errorf("error shows a secret: %v", err)
		}
	}
	// Without a URI the store is SQLite: no database needed, the store
	// timeout (both stores') still checked.
	c := Defaults()
	c.Mongo.Database = ""
	if err := c.Validate(); err != nil {
		t.Errorf("SQLite store, no MongoDB database: %v", err)
	}
	c.Mongo.Timeout = -time.Second
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "POMOCORE_STORE_TIMEOUT") {
		t.Errorf("negative store timeout with SQLite: %v", err)
	}
}
