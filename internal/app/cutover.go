package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/compare"
	"github.com/pomocore/pomocore/doctor"
	"github.com/pomocore/pomocore/mongo"
	"github.com/pomocore/pomocore/redis"
)

// The cut-over tools (`pomocore doctor`, `pomocore compare`,
// docs/cutover.md): their configurations from the settings, and their
// read-only sources.

// DoctorConfig is the preflight of these settings: the stream, group,
// start id, streams, key prefix and trimming pomocore would run with.
func (c *Config) DoctorConfig(loc *time.Location, tax *pomocore.Taxonomy) doctor.Config {
	return doctor.Config{
		Deployment: pomocore.Deployment{Stream: c.Reader.Stream, Group: c.Reader.Group, Location: loc, Taxonomy: tax},
		StartID:    c.Reader.StartID, SessionStream: c.Committer.SessionStream, DeadStream: c.Committer.DeadStream, KeyPrefix: c.Pipeline.KeyPrefix,
		TrimInput: c.Pipeline.TrimInput, TrimIgnoreGroups: c.Reader.TrimIgnoreGroups, Limits: c.PipelineConfig(loc).Limits,
		MaxDeliveries: int64(c.Pipeline.MaxDeliveries), Builtin: c.layeredBuiltin(),
	}
}

// layeredBuiltin is the pattern set layered under category_pattern, which
// doctor compares with it and compare replays: the built-in set with
// POMOCORE_BUILTIN_PATTERNS=fallback, else none.
func (c *Config) layeredBuiltin() []pomocore.CategoryPattern {
	if c.BuiltinPatterns == "fallback" {
		return classify.DefaultPatterns()
	}
	return nil
}

// CompareConfig compares the shadow run of these settings (read as
// POMOCORE_SHADOW=true: its key prefix and dead-letter stream) with the
// deployed service's leaderboards (prefix "leaderboard", group
// liveGroup) for the days from..to.
func (c *Config) CompareConfig(from, to, liveGroup string, loc *time.Location, tax *pomocore.Taxonomy) compare.Config {
	window := c.Committer.DedupWindow // 0: off
	return compare.Config{
		LivePrefix: pomocore.DefaultKeyPrefix, ShadowPrefix: c.Pipeline.KeyPrefix, From: from, To: to,
		Deployment: pomocore.Deployment{Stream: c.Reader.Stream, Group: liveGroup, Location: loc, Taxonomy: tax},
		DeadStream: c.Committer.DeadStream, Limits: c.PipelineConfig(loc).Limits, DedupWindow: &window,
		Builtin: c.layeredBuiltin(),
	}
}

// Inspectors are the read-only sources of the cut-over tools: Redis, and
// MongoDB when MONGO_URI is set (nil with the SQLite store, whose sections
// are skipped). They never write, never create a group, an index or a
// collection.
type Inspectors struct {
	Redis *redis.Inspector
	Mongo *mongo.Inspector
}

// DoctorSources returns the sources of `pomocore doctor`.
func (in Inspectors) DoctorSources() doctor.Sources {
	src := doctor.Sources{Server: in.Redis, Streams: in.Redis, Boards: in.Redis}
	if in.Mongo != nil {
		src.Patterns, src.Docs = in.Mongo, in.Mongo
	}
	return src
}

// CompareSources returns the sources of `pomocore compare`.
func (in Inspectors) CompareSources() compare.Sources {
	src := compare.Sources{Boards: in.Redis, Entries: in.Redis}
	if in.Mongo != nil {
		src.Patterns = in.Mongo
	}
	return src
}

// Inspectors connects the read-only inspectors; it needs REDIS_ADDR (an
// embedded Redis holds nothing to inspect). The App closes them.
func (a *App) Inspectors(ctx context.Context) (Inspectors, error) {
	if len(a.cfg.Redis.Addrs) == 0 {
		return Inspectors{}, errors.New("REDIS_ADDR: required (the deployed Redis to inspect)")
	}
	rdb, err := a.Redis()
	if err != nil {
		return Inspectors{}, err
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		return Inspectors{}, fmt.Errorf("REDIS_ADDR: %w", err)
	}
	in := Inspectors{Redis: redis.NewInspector(rdb)}
	if a.cfg.Mongo.URI != "" {
		if in.Mongo, err = mongo.OpenInspector(ctx, a.cfg.MongoConfig()); err != nil {
			return Inspectors{}, fmt.Errorf("MONGO_URI: %w", err)
		}
		a.closeWithin(in.Mongo.Close)
	}
	return in, nil
}

// OpenInspectors returns the application of cfg (validated) and its
// read-only inspectors, connected within 30s; the caller closes the App.
// check, when set, is run on the App before anything connects: a tool's
// own flags are refused there without waiting for a server.
func OpenInspectors(ctx context.Context, cfg Config, check func(*App) error) (*App, Inspectors, error) {
	a, err := New(cfg, Deps{})
	if err != nil {
		return nil, Inspectors{}, err
	}
	if check != nil {
		if err := check(a); err != nil {
			a.Close()
			return nil, Inspectors{}, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	in, err := a.Inspectors(ctx)
	if err != nil {
		a.Close()
		return nil, Inspectors{}, err
	}
	return a, in, nil
}

// AdoptHistory is `pomocore cutover adopt`: before pomocore first consumes
// the group the deployed service used, it records the activities that
// service counted within the dedup window as committed (redis.Committer.
// AdoptGroup), so that producer retries of them are acknowledged with no
// effects. The entries still pending at the deployed service's consumers
// are decided by their pomodoro_usage_log (in.Mongo; without MONGO_URI
// every one is undecided): the deployed service writes the log's categoryId
// before it increments, so a log with a categoryId was counted (recorded,
// acknowledged), one without was not (left pending for pomocore); an entry
// with no pomodoroUsageLogId or no log is undecided (left pending, counted
// by pomocore: it may count twice). Run again, it records nothing more.
func (a *App) AdoptHistory(ctx context.Context, in Inspectors) (redis.AdoptReport, error) {
	if a.cfg.Shadow {
		return redis.AdoptReport{}, errors.New("cutover adopt: POMOCORE_SHADOW=true: adopt the deployed group's history with the live settings")
	}
	if a.cfg.Committer.DedupWindow == 0 {
		return redis.AdoptReport{}, errors.New("cutover adopt: POMOCORE_DEDUP_WINDOW=0: no dedup state to record the history in")
	}
	rdb, err := a.Redis()
	if err != nil {
		return redis.AdoptReport{}, err
	}
	c, err := redis.NewCommitter(rdb, a.cfg.CommitterConfig())
	if err != nil {
		return redis.AdoptReport{}, err
	}
	var logs redis.UsageLogCategories
	if in.Mongo != nil {
		logs = in.Mongo
	}
	return c.AdoptGroup(ctx, redis.DecideByCategory(logs))
}
