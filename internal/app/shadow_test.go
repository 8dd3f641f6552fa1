package app

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/internal/eventually"
	"github.com/pomocore/pomocore/internal/redistest"
)

// shadowConfig is the settings with POMOCORE_SHADOW=true and the given
// settings set (by their environment variable), completed.
func shadowConfig(set map[string]func(*Config)) Config {
	c := Defaults()
	c.Shadow = true
	for _, f := range set {
		f(&c)
	}
	c.Complete(func(env string) bool { _, ok := set[env]; return ok })
	return c
}

func TestShadowDefaultsWriteNoLiveKey(t *testing.T) {
	c := shadowConfig(nil)
	if err := c.Validate(); err != nil {
		t.Fatalf("shadow defaults refused: %v", err)
	}
	if c.Reader.Group != ShadowGroup || c.Reader.StartID != "$" || c.Pipeline.KeyPrefix != ShadowKeyPrefix || c.Committer.DeadStream != "pattern_match_stream:shadow-dead" {
		t.Errorf("shadow defaults = group %q, start %q, prefix %q, dead %q", c.Reader.Group, c.Reader.StartID, c.Pipeline.KeyPrefix, c.Committer.DeadStream)
	}
	cc := c.CommitterConfig()
	if !cc.NoSessionEvents || cc.Namespace != "shadow:"+ShadowGroup {
		t.Errorf("committer = %+v: want no session events and the shadow's own state namespace", cc)
	}
	if c.PipelineConfig(nil).TrimInput {
		t.Error("a shadow trims")
	}
	// Without shadow mode nothing changes.
	live := Defaults()
	live.Complete(func(string) bool { return false })
	if live.Reader.Group != "pattern_match_group" || live.Reader.StartID != "0" || live.Pipeline.KeyPrefix != "leaderboard" || live.Committer.DeadStream != "pattern_match_stream:dead" {
		t.Errorf("live defaults changed: %+v", live)
	}
	if lc := live.CommitterConfig(); lc.Namespace != "" || lc.NoSessionEvents {
		t.Errorf("live committer = %+v", lc)
	}
}

func TestShadowKeepsSettingsGiven(t *testing.T) {
	c := shadowConfig(map[string]func(*Config){
		"POMOCORE_GROUP":       func(c *Config) { c.Reader.Group = "shadow2" },
		"POMOCORE_START_ID":    func(c *Config) { c.Reader.StartID = "1700000000000-0" },
		"POMOCORE_KEY_PREFIX":  func(c *Config) { c.Pipeline.KeyPrefix = "s2" },
		"POMOCORE_DEAD_STREAM": func(c *Config) { c.Committer.DeadStream = "s2-dead" },
	})
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Reader.Group != "shadow2" || c.Reader.StartID != "1700000000000-0" || c.Pipeline.KeyPrefix != "s2" || c.Committer.DeadStream != "s2-dead" {
		t.Errorf("settings given were replaced: %+v", c)
	}
}

// Each setting that would make a shadow write what the deployed system
// reads is refused, naming the setting.
func TestShadowRefusesProductionKeys(t *testing.T) {
	for _, c := range []struct {
		env string
		set func(*Config)
	}{
		{"POMOCORE_GROUP", func(c *Config) { c.Reader.Group = "pattern_match_group" }},
		{"POMOCORE_GROUP", func(c *Config) { c.Reader.Group = "leaderboard_group" }},
		{"POMOCORE_KEY_PREFIX", func(c *Config) { c.Pipeline.KeyPrefix = "leaderboard" }},
		{"POMOCORE_KEY_PREFIX", func(c *Config) { c.Pipeline.KeyPrefix = "leaderboard:shadow" }},
		{"POMOCORE_DEAD_STREAM", func(c *Config) { c.Committer.DeadStream = "pattern_match_stream:dead" }},
		{"POMOCORE_TRIM_INPUT", func(c *Config) { c.Pipeline.TrimInput = true }},
		{"POMOCORE_LEARN_PROMOTE", func(c *Config) { c.Learn.Promote = true }},
		{"POMOCORE_ADMIN_TOKEN", func(c *Config) { c.AdminToken = "t0ken" }},
	} {
		cfg := shadowConfig(map[string]func(*Config){c.env: c.set})
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.env+":") || !strings.Contains(err.Error(), "POMOCORE_SHADOW") {
			t.Errorf("%s: err = %v, want a shadow refusal naming it", c.env, err)
		}
		if strings.Contains(err.Error(), "t0ken") {
			t.Errorf("the admin token is in the error: %v", err)
		}
		// The same setting is fine without shadow mode.
		live := Defaults()
		c.set(&live)
		live.Complete(func(env string) bool { return env == c.env })
		if err := live.Validate(); err != nil && strings.Contains(err.Error(), "POMOCORE_SHADOW") {
			t.Errorf("%s refused without shadow mode: %v", c.env, err)
		}
	}
}

// A shadow refuses every name it writes that is a live name: under the
// live key prefix "leaderboard:" (which the main server's nightly job
// copies and deletes, expecting sorted sets), the input stream, the live
// session stream, or the live dead-letter stream (issue 27 item 6).
func TestShadowRefusesLiveNamesForEverythingItWrites(t *testing.T) {
	for _, c := range []struct {
		env string
		set func(*Config)
	}{
		{"POMOCORE_DEAD_STREAM", func(c *Config) { c.Committer.DeadStream = "leaderboard:x" }},
		{"POMOCORE_DEAD_STREAM", func(c *Config) { c.Committer.DeadStream = "{leaderboard:x}" }},
		{"POMOCORE_DEAD_STREAM", func(c *Config) { c.Committer.DeadStream = "leaderboard" }},
		{"POMOCORE_DEAD_STREAM", func(c *Config) { c.Committer.DeadStream = "session_score_stream" }},
		{"POMOCORE_DEAD_STREAM", func(c *Config) { c.Committer.DeadStream = "pattern_match_stream" }},
		{"POMOCORE_STREAM", func(c *Config) { c.Reader.Stream = "leaderboard:in" }},
	} {
		cfg := shadowConfig(map[string]func(*Config){c.env: c.set})
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.env+":") {
			t.Errorf("%s (dead %q, stream %q): err = %v, want a refusal naming it", c.env, cfg.Committer.DeadStream, cfg.Reader.Stream, err)
		}
	}
}

// A shadow run writes no live key (the committed positions' hash
// "{<stream>}:committed" included: it keeps its own in its namespace) and
// creates no data directory where it runs (issue 27 item 6).
func TestShadowRunWritesNoLiveKeyAndNoDataDirectory(t *testing.T) {
	t.Chdir(t.TempDir())
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := shadowConfig(map[string]func(*Config){
		"REDIS_ADDR":              func(c *Config) { c.Redis.Addrs = []string{srv.Addr()} },
		"POMOCORE_BLOCK":          func(c *Config) { c.Pipeline.Block = 20 * time.Millisecond },
		"POMOCORE_LEARN_INTERVAL": func(c *Config) { c.Learn.Interval = 0 },
	})
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	if !eventually.Within(20*time.Second, func() bool {
		gs, _ := rdb.XInfoGroups(ctx, cfg.Reader.Stream).Result()
		return len(gs) == 1
	}) {
		t.Fatal("the shadow group was never created")
	}
	now := time.Now()
	id := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: cfg.Reader.Stream, Values: []string{"userId", "u1", "app", "Xcode", "duration", "60.0",
		"timestamp", strconv.FormatInt(now.Unix(), 10), "session", "1", "sessionDate", now.Format(time.DateOnly),
		"sessionMinutes", "25", "isEnd", "false"}}).Val()
	if !eventually.Within(20*time.Second, func() bool {
		gs, _ := rdb.XInfoGroups(ctx, cfg.Reader.Stream).Result()
		return len(gs) == 1 && gs[0].LastDeliveredID == id && gs[0].Pending == 0
	}) {
		t.Fatal("the shadow never committed the entry")
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	for _, k := range rdb.Keys(context.Background(), "*").Val() {
		if k == cfg.Reader.Stream || strings.Contains(k, ShadowKeyPrefix) || strings.Contains(k, ":shadow:"+ShadowGroup) || strings.Contains(k, ":shadow-dead") {
			continue
		}
		t.Errorf("the shadow wrote %q, a name of the live deployment", k)
	}
	if _, err := os.Stat("pomocore-data"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the shadow created ./pomocore-data (stat: %v)", err)
	}
}
