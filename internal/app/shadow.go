package app

import (
	"context"
	"fmt"
	"strings"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/mongo"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/redis"
	"github.com/pomocore/pomocore/sqlite"
)

// Shadow mode (POMOCORE_SHADOW=true, docs/cutover.md): the pipeline reads
// the live stream in its own consumer group and writes nothing the main
// server or the deployed service reads. The settings that differ, and
// their defaults when not set:
const (
	// ShadowGroup is POMOCORE_GROUP's default in shadow mode.
	ShadowGroup = "pomocore_shadow"
	// ShadowKeyPrefix is POMOCORE_KEY_PREFIX's default in shadow mode:
	// outside "leaderboard:", which the main server's nightly job copies
	// and deletes.
	ShadowKeyPrefix = "pomocore-shadow"
	// ShadowStartID is POMOCORE_START_ID's default in shadow mode: the
	// group starts with the entries added from then on.
	ShadowStartID = "$"
	// ShadowDeadSuffix makes POMOCORE_DEAD_STREAM's default in shadow
	// mode, "<stream>:shadow-dead".
	ShadowDeadSuffix = ":shadow-dead"
)

// LiveGroups are the consumer groups the deployed system has on the input
// stream (CONTRACT section 1): the deployed data server's and the one the
// main server created. A shadow run refuses them.
var LiveGroups = []string{"pattern_match_group", "leaderboard_group"}

// completeShadow fills in the shadow defaults of the settings not set.
func (c *Config) completeShadow(isSet func(env string) bool) {
	if !c.Shadow {
		return
	}
	if !isSet("POMOCORE_GROUP") {
		c.Reader.Group = ShadowGroup
	}
	if !isSet("POMOCORE_START_ID") {
		c.Reader.StartID = ShadowStartID
	}
	if !isSet("POMOCORE_KEY_PREFIX") {
		c.Pipeline.KeyPrefix = ShadowKeyPrefix
	}
	if !isSet("POMOCORE_DEAD_STREAM") {
		c.Committer.DeadStream = c.Reader.Stream + ShadowDeadSuffix
	}
}

// validateShadow returns, in shadow mode, an error per setting that would
// make the shadow write what the deployed system reads, each naming its
// setting.
func (c *Config) validateShadow() []error {
	if !c.Shadow {
		return nil
	}
	var errs []error
	bad := func(env, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s (POMOCORE_SHADOW=true)", env, fmt.Sprintf(format, args...)))
	}
	for _, g := range LiveGroups {
		if c.Reader.Group == g {
			bad("POMOCORE_GROUP", "%q is a live group on the stream: a shadow reads in its own group (default %s)", c.Reader.Group, ShadowGroup)
		}
	}
	prefix := strings.TrimSpace(c.Pipeline.KeyPrefix)
	if prefix == pomocore.DefaultKeyPrefix || strings.HasPrefix(prefix, pomocore.DefaultKeyPrefix+":") {
		bad("POMOCORE_KEY_PREFIX", "%q writes live leaderboard keys (%s:*): use a prefix of its own (default %s)",
			c.Pipeline.KeyPrefix, pomocore.DefaultKeyPrefix, ShadowKeyPrefix)
	}
	if c.Committer.DeadStream == pomocore.DeadStream(c.Reader.Stream) {
		bad("POMOCORE_DEAD_STREAM", "%q is the live dead-letter stream (default in shadow mode %s)", c.Committer.DeadStream, c.Reader.Stream+ShadowDeadSuffix)
	}
	for _, w := range c.shadowWrites() {
		if underLivePrefix(w.key) {
			bad(w.env, "the shadow would write %q, under the live key prefix %s:* (the main server's nightly job copies and deletes those keys, expecting sorted sets)",
				w.key, pomocore.DefaultKeyPrefix)
		}
	}
	if c.Pipeline.TrimInput {
		bad("POMOCORE_TRIM_INPUT", "a shadow trims nothing of the live streams")
	}
	if c.Learn.Promote {
		bad("POMOCORE_LEARN_PROMOTE", "promoting writes category_pattern, which the deployed service reads")
	}
	if c.AdminToken != "" {
		bad("POMOCORE_ADMIN_TOKEN", "the write endpoints change category_pattern, which the deployed service reads")
	}
	return errs
}

// shadowWrite is a key a shadow run writes and the setting that names it.
type shadowWrite struct{ key, env string }

// shadowWrites lists every key a shadow run writes, with the setting that
// names it: the consumer group it creates on the input stream, its dead
// letters, and the committer's state (intents, tokens, remembered
// activities, committed positions) in its namespace. Its leaderboards,
// under POMOCORE_KEY_PREFIX, are checked as a prefix; it writes no session
// event, no document, and trims nothing.
func (c *Config) shadowWrites() []shadowWrite {
	ns := c.shadowNamespace()
	ws := []shadowWrite{{c.Reader.Stream, "POMOCORE_STREAM"}, {c.Committer.DeadStream, "POMOCORE_DEAD_STREAM"},
		{redis.StateKey(c.Reader.Stream, ns, "intent"), "POMOCORE_STREAM"}, {redis.StateKey(c.Reader.Stream, ns, "tokens"), "POMOCORE_STREAM"},
		{redis.CommittedKeyIn(c.Reader.Stream, ns), "POMOCORE_STREAM"}}
	for _, k := range redis.SeenKeys(c.Reader.Stream, ns) {
		ws = append(ws, shadowWrite{k, "POMOCORE_STREAM"})
	}
	ws = append(ws, shadowWrite{redis.StateKey(c.Reader.Stream, ns, "seen:"), "POMOCORE_STREAM"}) // the seen bitmaps' prefix
	return ws
}

// underLivePrefix reports whether key is, or is under, the live key prefix
// "leaderboard:" (a hash tag's braces aside: "{leaderboard:x}" is too).
func underLivePrefix(key string) bool {
	k := strings.TrimLeft(strings.TrimSpace(key), "{")
	return k == pomocore.DefaultKeyPrefix || strings.HasPrefix(k, pomocore.DefaultKeyPrefix+":")
}

// shadowNamespace is the committer's and the reader's state namespace of a
// shadow run (see redis.CommitterConfig.Namespace): its group, so that
// what it commits is never taken for a duplicate by the live group's
// committer, and its committed position is not written into the live
// "{<stream>}:committed" hash.
func (c *Config) shadowNamespace() string {
	if !c.Shadow {
		return ""
	}
	return "shadow:" + strings.NewReplacer("{", "", "}", "").Replace(c.Reader.Group)
}

// shadowStore opens the store of a shadow run: MongoDB through its
// read-only inspector (which creates no index, no collection), or the
// SQLite store when POMOCORE_DATA_DIR holds one (only category_pattern is
// read). Without either it reads no store and creates none (no data
// directory): the built-in patterns are used.
func (a *App) shadowStore(ctx context.Context) (Store, error) {
	cfg := a.cfg
	if cfg.Mongo.URI == "" {
		if !sqlite.Exists(cfg.DataDir) {
			a.log.Info("store: shadow mode: no SQLite store in POMOCORE_DATA_DIR, and none is created; the built-in patterns are used", "dir", cfg.DataDir)
			return pipeline.NewShadowStore(nil), nil
		}
		scfg := sqlite.Config{Dir: cfg.DataDir, Logger: a.log, Timeout: cfg.StoreTimeout()}
		st, err := sqlite.Open(ctx, scfg)
		if err != nil {
			return nil, fmt.Errorf("POMOCORE_DATA_DIR: %w", err)
		}
		a.closers = append(a.closers, func() { _ = st.Close() })
		return pipeline.NewShadowStore(st), nil
	}
	mcfg := cfg.MongoConfig()
	if err := mcfg.Validate(); err != nil {
		return nil, fmt.Errorf("mongo: %w", err)
	}
	var in *mongo.Inspector
	if err := a.waitFor(ctx, "mongodb", func(ctx context.Context) error {
		var err error
		in, err = mongo.OpenInspector(ctx, mcfg)
		return err
	}); err != nil {
		return nil, err
	}
	a.closeWithin(in.Close)
	return pipeline.NewShadowStore(in), nil
}
