// Package app is the application as the commands of cmd/pomocore use it:
// from the settings (Config) it builds the Redis client, the store, the
// classifier chain, stream readers, committers, pipelines and the metrics
// registry, and runs the pipeline (Run). The commands read the environment
// and flags; app never does.
package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/httpapi"
	"github.com/pomocore/pomocore/internal/backoff"
	"github.com/pomocore/pomocore/mongo"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/redis"
	"github.com/pomocore/pomocore/sqlite"
)

// Store is what the application needs of a store adapter.
type Store interface {
	pipeline.Store
	pipeline.Patterns
	Ping(ctx context.Context) error
}

// Deps are what the application takes from its caller. Store and
// Committer, when set, replace the ones the settings name (a host that
// brings its own adapters or wraps them: the benchmark's stores, including
// one that discards, and its timed committer); the caller closes them.
type Deps struct {
	// Log receives everything the application logs (default: discard).
	Log *slog.Logger
	// Out is told the address of the embedded Redis (default: discard).
	Out   io.Writer
	Store Store
	// Committer commits the batches of every pipeline (default: a Redis
	// committer of the settings).
	Committer pipeline.Committer
	// Registry receives the application's metrics (default: a registry
	// of its own, served on POMOCORE_HTTP_ADDR).
	Registry *prometheus.Registry
}

// App is the application of one Config. Its parts are opened on first use
// and closed by Close. An App is used by one goroutine; the pipelines it
// builds run concurrently.
type App struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	loc  *time.Location
	tax  *pomocore.Taxonomy
	reg  *prometheus.Registry

	rdb     goredis.UniversalClient
	st      Store
	chain   *classify.Chain
	tokens  func() int64
	rules   *classify.Rules
	builtin *classify.Matcher // the built-in set under category_pattern; nil unless fallback
	keeper  *answerKeeper     // stores LLM answers as they arrive; nil without an LLM or a store that keeps them
	applied appliedPatterns   // what applyPatterns compares with (the periodic reload and a pattern change)
	closers []func()
	// startup is what Run waits for while it starts (waitFor).
	startup httpapi.Startup
	// source is the main server's stream when the input is partitioned
	// (cfg.Stream is then this process's partition stream); else "".
	source string
}

// New returns the application of cfg (validated by the caller: see
// Config.Validate). It opens nothing yet.
func New(cfg Config, deps Deps) (*App, error) {
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Out == nil {
		deps.Out = io.Discard
	}
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("POMOCORE_TIMEZONE: %w", err)
	}
	tax := pomocore.DefaultTaxonomy()
	if cfg.TaxonomyFile != "" {
		if tax, err = pomocore.LoadTaxonomy(cfg.TaxonomyFile); err != nil {
			return nil, fmt.Errorf("POMOCORE_TAXONOMY_FILE: %w", err)
		}
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	cfg, source := partitioned(cfg)
	return &App{cfg: cfg, deps: deps, log: deps.Log, loc: loc, tax: tax, reg: deps.Registry,
		st: deps.Store, source: source}, nil
}

// Config returns the application's settings.
func (a *App) Config() Config { return a.cfg }

// Location returns the time zone of leaderboard periods.
func (a *App) Location() *time.Location { return a.loc }

// Taxonomy returns the categories and which of them are work.
func (a *App) Taxonomy() *pomocore.Taxonomy { return a.tax }

// Close closes what the application opened, last opened first.
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// closeWithin has Close call closeFn with 5 seconds to finish (a client
// that disconnects from a server).
func (a *App) closeWithin(closeFn func(context.Context) error) {
	a.closers = append(a.closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = closeFn(ctx)
	})
}

// Redis returns the Redis client: the configured server's, or, when
// REDIS_ADDR is unset, an embedded in-process one's. It does not wait for
// the server to answer.
func (a *App) Redis() (goredis.UniversalClient, error) {
	if a.rdb != nil {
		return a.rdb, nil
	}
	cfg := a.cfg
	rcfg := cfg.Redis
	var mini *miniredis.Miniredis
	if len(cfg.Redis.Addrs) == 0 {
		mini = miniredis.NewMiniRedis()
		addr := cfg.EmbeddedRedis
		if err := mini.StartAddr(addr); err != nil {
			if err2 := mini.StartAddr("127.0.0.1:0"); err2 != nil {
				return nil, fmt.Errorf("embedded redis: %w", errors.Join(err, err2))
			}
			a.log.Warn("embedded redis: address taken, using a free port: redis-cli at the usual port talks to another server", "wanted", addr, "using", mini.Addr(), "err", err)
		}
		rcfg.Addrs = []string{mini.Addr()}
		rcfg.Mode = redis.Standalone
		rcfg.Username, rcfg.Password = "", ""
		a.log.Warn("EMBEDDED REDIS (in-process, in memory, for development): it starts empty on every run (stream, groups and leaderboards of an earlier run are gone; the store keeps its usage logs); set REDIS_ADDR for a real one",
			"addr", mini.Addr())
		fmt.Fprint(a.deps.Out, embeddedNotice(cfg, addr, mini.Addr()))
	} else {
		a.log.Info("redis", "mode", cmp.Or(cfg.Redis.Mode, redis.Standalone), "addrs", strings.Join(cfg.Redis.Addrs, ","),
			"tls", cfg.Redis.TLS || cfg.Redis.TLSCAFile != "", "auth", cfg.Redis.Password != "")
	}
	rdb, err := redis.NewClient(rcfg)
	if err != nil {
		if mini != nil {
			mini.Close()
		}
		return nil, fmt.Errorf("REDIS_ADDR: %w", err)
	}
	a.rdb = rdb
	a.closers = append(a.closers, func() {
		_ = rdb.Close()
		if mini != nil {
			mini.Close()
		}
	})
	return rdb, nil
}

// Store returns the store: MongoDB when MONGO_URI is set (waiting until it
// answers), else SQLite in the data directory; in shadow mode a
// pipeline.ShadowStore over it, which writes nothing.
func (a *App) Store(ctx context.Context) (Store, error) {
	if a.st != nil {
		return a.st, nil
	}
	cfg := a.cfg
	if cfg.Shadow {
		st, err := a.shadowStore(ctx)
		if err != nil {
			return nil, err
		}
		a.log.Info("store: shadow mode: no document is written; category_pattern is only read")
		a.st = st
		return st, nil
	}
	if cfg.Mongo.URI != "" {
		mcfg := cfg.MongoConfig()
		mcfg.Logger = a.log
		if err := mcfg.Validate(); err != nil { // Config.Validate names the settings; this is for a Config it did not check
			return nil, fmt.Errorf("mongo: %w", err)
		}
		var st *mongo.Store
		if err := a.waitFor(ctx, "mongodb", func(ctx context.Context) error {
			var err error
			st, err = mongo.Open(ctx, mcfg)
			return err
		}); err != nil {
			return nil, err
		}
		a.log.Info("store: MongoDB", "database", cfg.Mongo.Database)
		a.closeWithin(st.Close)
		if err := st.Register(a.reg); err != nil {
			return nil, err
		}
		a.st = st
		return st, nil
	}
	scfg := sqlite.Config{Dir: cfg.DataDir, Logger: a.log, Timeout: cfg.StoreTimeout()}
	if err := scfg.Validate(); err != nil {
		return nil, fmt.Errorf("POMOCORE_DATA_DIR: %w", err)
	}
	st, err := sqlite.Open(ctx, scfg)
	if err != nil {
		return nil, fmt.Errorf("POMOCORE_DATA_DIR: %w", err)
	}
	a.log.Warn("EMBEDDED STORE (SQLite, single node): set MONGO_URI for MongoDB", "dir", cfg.DataDir)
	a.st = st
	a.closers = append(a.closers, func() { _ = st.Close() })
	return st, nil
}

// Classifier returns the classifier chain: the patterns of category_pattern
// (seeded with the built-in set when empty, unless
// POMOCORE_BUILTIN_PATTERNS=off), the built-in set where they are silent
// (POMOCORE_BUILTIN_PATTERNS=fallback), then the LLM fallback when
// OPENAI_API_KEY is set. It opens the store.
func (a *App) Classifier(ctx context.Context) (*classify.Chain, error) {
	if a.chain != nil {
		return a.chain, nil
	}
	st, err := a.Store(ctx)
	if err != nil {
		return nil, err
	}
	var patterns []pomocore.CategoryPattern
	if err := a.waitFor(ctx, "store", func(ctx context.Context) error {
		if a.cfg.BuiltinPatterns != "off" {
			seeded, err := st.SeedPatterns(ctx, classify.DefaultPatterns())
			if err != nil {
				return err
			}
			if seeded {
				a.log.Info("category_pattern was empty: seeded the built-in pattern set")
			}
		}
		var err error
		patterns, err = st.LoadPatterns(ctx)
		return err
	}); err != nil {
		return nil, err
	}
	if a.builtin, err = builtinMatcher(a.cfg.BuiltinPatterns, a.tax); err != nil {
		return nil, err
	}
	rs, err := buildRules(patterns, a.tax, a.builtin, a.log)
	if err != nil {
		return nil, err
	}
	chain, tokens, err := a.newChain(ctx, st, rs)
	if err != nil {
		return nil, err
	}
	a.chain, a.tokens, a.rules = chain, tokens, rs
	a.applied.rules = rs
	a.closers = append(a.closers, chain.Close)
	return chain, nil
}

// NewReader returns a reader of the input stream as consumer (the
// settings' consumer when empty), once its consumer group exists.
func (a *App) NewReader(ctx context.Context, consumer string) (*redis.Reader, error) {
	rdb, err := a.Redis()
	if err != nil {
		return nil, err
	}
	rcfg := a.cfg.ReaderConfig()
	rcfg.Consumer = cmp.Or(consumer, rcfg.Consumer)
	if a.source != "" {
		// Partitioned: the main server's stream is trimmed (when trimming
		// is on) once the router's group has acknowledged its entries.
		rcfg.AlsoTrim = append(rcfg.AlsoTrim, a.source)
	}
	rcfg.Log = a.log
	// A shadow's store holds no usage log of its own to resume from; the
	// embedded Redis starts empty on every run, so the store's usage logs
	// of an earlier run say nothing about its stream.
	if !a.cfg.Shadow && len(a.cfg.Redis.Addrs) > 0 {
		rcfg.Resume = a.resumePosition
	}
	reader, err := redis.NewReader(rdb, rcfg)
	if err != nil {
		return nil, err
	}
	if err := a.waitFor(ctx, "consumer group", reader.EnsureGroup); err != nil {
		return nil, err
	}
	return reader, nil
}

// NewPipeline returns a pipeline over reader, the store and the classifier
// (both must be open: see Classifier), committing through the committer of
// the settings (or Deps.Committer) and reporting to obs.
func (a *App) NewPipeline(reader pipeline.Reader, obs pipeline.Observer) (*pipeline.Pipeline, error) {
	if a.chain == nil {
		return nil, errors.New("app: NewPipeline before Classifier")
	}
	committer := a.deps.Committer
	if committer == nil {
		rdb, err := a.Redis()
		if err != nil {
			return nil, err
		}
		if committer, err = redis.NewCommitter(rdb, a.cfg.CommitterConfig()); err != nil {
			return nil, err
		}
	}
	return pipeline.New(a.cfg.PipelineConfig(a.loc), pipeline.Deps{
		Reader:      reader,
		Store:       a.st,
		Committer:   committer,
		Classifier:  a.chain,
		Taxonomy:    a.tax,
		CategoryIDs: a.rules.IDs,
		Logger:      a.log,
		Observer:    obs,
	})
}

// waitFor calls f until it succeeds, backing off from 100ms to 10s, each try
// bounded by a timeout; it gives up only when ctx ends.
func (a *App) waitFor(ctx context.Context, what string, f func(context.Context) error) error {
	policy := backoff.Policy{Min: 100 * time.Millisecond, Max: 10 * time.Second}
	a.startup.Set(what, nil)
	for attempt := 1; ; attempt++ {
		c, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := f(c)
		cancel()
		if err == nil {
			if attempt > 1 {
				a.log.Info(what+" answers", "attempts", attempt)
			}
			return nil
		}
		a.startup.Set(what, err)
		wait := policy.Wait(attempt)
		if ctx.Err() == nil {
			a.log.Warn(what+" not reachable; retrying", "err", err, "attempt", attempt, "retry_in", wait.Round(time.Millisecond).String())
		}
		if backoff.Sleep(ctx, wait) != nil {
			return fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), err)
		}
	}
}
