package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/httpapi"
	"github.com/pomocore/pomocore/internal/backoff"
	"github.com/pomocore/pomocore/llm"
	"github.com/pomocore/pomocore/mongo"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/redis"
	"github.com/pomocore/pomocore/sqlite"
)

// store is what run needs of a store adapter.
type store interface {
	pipeline.Store
	pipeline.Patterns
	Ping(ctx context.Context) error
}

// run wires the adapters for cfg and runs the pipeline until ctx ends. A
// signal during start-up (while waiting for Redis or the store) is a clean
// stop, not an error.
func run(ctx context.Context, cfg config, logOut io.Writer) error {
	log := newLogger(cfg, logOut)
	err := start(ctx, cfg, log)
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		log.Info("stopped during start-up", "reason", err)
		return nil
	}
	return err
}

// start is run's body.
func start(ctx context.Context, cfg config, log *slog.Logger) error {
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return fmt.Errorf("POMOCORE_TIMEZONE: %w", err)
	}
	tax := pomocore.DefaultTaxonomy()
	if cfg.TaxonomyFile != "" {
		if tax, err = pomocore.LoadTaxonomy(cfg.TaxonomyFile); err != nil {
			return fmt.Errorf("POMOCORE_TAXONOMY_FILE: %w", err)
		}
	}

	rdb, closeRedis, err := openRedis(cfg, log)
	if err != nil {
		return err
	}
	defer closeRedis()
	if err := waitFor(ctx, log, "redis", func(ctx context.Context) error { return rdb.Ping(ctx).Err() }); err != nil {
		return err
	}

	st, closeStore, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeStore()

	var patterns []pomocore.CategoryPattern
	if err := waitFor(ctx, log, "store", func(ctx context.Context) error {
		seeded, err := st.SeedPatterns(ctx, classify.DefaultPatterns())
		if err != nil {
			return err
		}
		if seeded {
			log.Info("category_pattern was empty: seeded the built-in pattern set")
		}
		patterns, err = st.LoadPatterns(ctx)
		return err
	}); err != nil {
		return err
	}
	rs, err := buildRules(patterns, tax, log)
	if err != nil {
		return err
	}
	chain, tokens, err := newChain(ctx, cfg, st, tax, rs, log)
	if err != nil {
		return err
	}
	defer chain.Close()

	reader, err := newReader(ctx, cfg, rdb, log)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		httpapi.NewGroupCollector(groupInspector{reader}),
		httpapi.NewLLMCollector(func() httpapi.LLMStats {
			c := chain.Stats()
			return httpapi.LLMStats{Calls: c.Calls, Failures: c.Failures, Answered: c.Answered, CacheHits: c.CacheHits,
				Dropped: c.Dropped, Tokens: tokens(), BreakerOpen: c.BreakerOpen}
		}))
	metrics := httpapi.NewMetrics(reg)
	p, err := newPipeline(cfg, loc, rdb, reader, st, tax, chain, rs.ids, log, metrics)
	if err != nil {
		return err
	}
	log.Info("pipeline running", "stream", cfg.Stream, "group", cfg.Group, "consumer", cfg.Consumer,
		"dead_stream", cfg.DeadStream, "session_stream", cfg.SessionStrm, "timezone", cfg.TimeZone, "batch", cfg.BatchSize)
	if cfg.HTTPAddr != "" {
		srv := httpapi.New(httpapi.Config{Addr: cfg.HTTPAddr, KeyPrefix: cfg.KeyPrefix, Location: loc, Taxonomy: tax},
			httpapi.Deps{
				Gatherer: reg, Leaderboards: leaderboards{redis.NewLeaderboards(rdb)}, Group: groupInspector{reader}, Log: log,
				Ready: map[string]httpapi.Pinger{
					"redis": func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
					"store": st.Ping,
				},
			})
		go func() {
			if err := srv.ListenAndServe(ctx); err != nil {
				log.Error("HTTP server stopped", "err", err)
			}
		}()
		log.Info("HTTP server", "addr", cfg.HTTPAddr)
	}
	if cfg.PatternReload > 0 {
		go reloadPatterns(ctx, st, tax, p, chain, rs.fingerprint, cfg.PatternReload, log)
	}
	if err := p.Run(ctx); err != nil {
		return err
	}
	s := p.Stats().Snapshot()
	log.Info("shut down cleanly", "read", s.Read, "committed", s.Committed, "dead", s.Dead, "skipped", s.Skipped)
	return nil
}

// newReader returns the input stream's reader for cfg, once its consumer
// group exists.
func newReader(ctx context.Context, cfg config, rdb goredis.UniversalClient, log *slog.Logger) (*redis.Reader, error) {
	reader, err := redis.NewReader(rdb, cfg.readerConfig())
	if err != nil {
		return nil, err
	}
	if err := waitFor(ctx, log, "consumer group", reader.EnsureGroup); err != nil {
		return nil, err
	}
	return reader, nil
}

// newPipeline wires a pipeline for cfg over reader, the store and the
// classifier, committing through rdb.
func newPipeline(cfg config, loc *time.Location, rdb goredis.UniversalClient, reader pipeline.Reader, st pipeline.Store,
	tax *pomocore.Taxonomy, c pipeline.Classifier, ids map[string]pomocore.ObjectID, log *slog.Logger, obs pipeline.Observer) (*pipeline.Pipeline, error) {
	committer, err := redis.NewCommitter(rdb, cfg.committerConfig())
	if err != nil {
		return nil, err
	}
	return pipeline.New(cfg.pipelineConfig(loc), pipeline.Deps{
		Reader:      reader,
		Store:       st,
		Committer:   committer,
		Classifier:  c,
		Taxonomy:    tax,
		CategoryIDs: ids,
		Logger:      log,
		Observer:    obs,
	})
}

// ruleSet is a classifier built from category_pattern with the ids of its
// categories.
type ruleSet struct {
	matcher *classify.Matcher
	ids     map[string]pomocore.ObjectID
	// usable are the taxonomy's categories that have a document: the only
	// answers the LLM fallback may give.
	usable      []string
	fingerprint string
}

func buildRules(patterns []pomocore.CategoryPattern, tax *pomocore.Taxonomy, log *slog.Logger) (*ruleSet, error) {
	matcher, err := classify.Build(patterns, tax.Default)
	if err != nil {
		return nil, fmt.Errorf("category patterns: %w", err)
	}
	if conflicts := matcher.Conflicts(); len(conflicts) > 0 {
		resolved := make([]string, len(conflicts))
		for i, c := range conflicts {
			resolved[i] = c.String()
		}
		log.Info("category patterns in two categories at the same priority: the document loaded later wins, as deployed",
			"count", len(conflicts), "resolved", resolved)
	}
	ids := make(map[string]pomocore.ObjectID, len(tax.Categories))
	var outside []string
	for _, p := range patterns {
		ids[p.Category] = p.ID
		if !tax.Has(p.Category) {
			outside = append(outside, p.Category)
		}
	}
	if len(outside) > 0 {
		log.Warn("category_pattern documents not in the taxonomy: their activities are recorded as the default",
			"categories", outside, "default", tax.Default)
	}
	// A category without a document has no categoryId the main server can
	// name: the pipeline records its activities as the default category.
	usable, missing := classify.Restrict(patterns, tax)
	if len(missing) > 0 {
		log.Warn("taxonomy categories without a category_pattern document: their activities are recorded as the default category",
			"categories", missing, "default", tax.Default)
	}
	if _, ok := ids[tax.Default]; !ok {
		log.Error("the default category has no category_pattern document: activities it gets are recorded without a categoryId",
			"default", tax.Default)
	}
	apps, domains := matcher.Stats()
	log.Info("classifier ready", "patterns", len(patterns), "apps", apps, "domains", domains)
	return &ruleSet{matcher: matcher, ids: ids, usable: usable, fingerprint: fingerprint(patterns)}, nil
}

// newChain puts the LLM fallback (when OPENAI_API_KEY is set) behind the
// patterns, remembering the answers the store already holds.
func newChain(ctx context.Context, cfg config, st store, tax *pomocore.Taxonomy, rs *ruleSet, log *slog.Logger) (*classify.Chain, func() int64, error) {
	noTokens := func() int64 { return 0 }
	ccfg := classify.ChainConfig{Categories: rs.usable, Default: tax.Default, CacheSize: cfg.LLMCache,
		Workers: cfg.LLMWorkers, Timeout: cfg.LLMTimeout, SendPath: cfg.LLMSendPath}
	if cfg.OpenAIKey == "" {
		log.Info("LLM fallback off (no OPENAI_API_KEY): unknown activities are " + tax.Default)
		return classify.NewChain(rs.matcher, nil, ccfg), noTokens, nil
	}
	client, err := llm.New(llm.Config{APIKey: cfg.OpenAIKey, BaseURL: cfg.OpenAIBaseURL, Model: cfg.LLMModel,
		Timeout: cfg.LLMTimeout, Categories: rs.usable})
	if err != nil {
		return nil, nil, fmt.Errorf("OPENAI_API_KEY/POMOCORE_LLM_*: %w", err)
	}
	chain := classify.NewChain(rs.matcher, client, ccfg)
	names := make(map[pomocore.ObjectID]string, len(rs.ids))
	for name, id := range rs.ids {
		names[id] = name
	}
	if mem, ok := st.(pipeline.LLMMemory); ok {
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		answers, err := mem.LLMAnswers(lctx, cfg.LLMCache)
		cancel()
		if err != nil {
			log.Warn("could not load earlier LLM answers; they will be asked again", "err", err)
		}
		for _, a := range answers {
			if name, ok := names[a.CategoryID]; ok {
				chain.Remember(a.App, a.URL, a.Title, name)
			}
		}
		log.Info("LLM fallback on", "model", cfg.LLMModel, "remembered_answers", len(answers), "custom_endpoint", cfg.OpenAIBaseURL != "")
	}
	return chain, client.Tokens, nil
}

// fingerprint identifies a pattern set, to rebuild only when it changed.
func fingerprint(patterns []pomocore.CategoryPattern) string {
	h := sha256.New()
	for _, p := range patterns {
		fmt.Fprintf(h, "%s\x00%s\x00%d\x00%q\x00%q\x00%+v\x00", p.ID, p.Category, p.Priority, p.AppPatterns, p.DomainPatterns, p.TitleRules)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// reloadPatterns reloads category_pattern every interval and swaps in a new
// classifier when it changed; a failed load or build keeps the old one.
func reloadPatterns(ctx context.Context, st pipeline.Patterns, tax *pomocore.Taxonomy, p *pipeline.Pipeline,
	chain *classify.Chain, current string, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		patterns, err := st.LoadPatterns(lctx)
		cancel()
		if err != nil {
			log.Warn("pattern reload failed; keeping the current patterns", "err", err)
			continue
		}
		if fingerprint(patterns) == current {
			continue
		}
		rs, err := buildRules(patterns, tax, log)
		if err != nil {
			log.Warn("reloaded patterns do not build; keeping the current ones", "err", err)
			continue
		}
		chain.SetMatcher(rs.matcher)
		p.SetRules(chain, rs.ids)
		current = rs.fingerprint
		log.Info("category patterns reloaded", "patterns", len(patterns))
	}
}

// openRedis connects to the configured Redis, or starts the embedded one.
func openRedis(cfg config, log *slog.Logger) (goredis.UniversalClient, func(), error) {
	rcfg := cfg.redisConfig()
	var mini *miniredis.Miniredis
	if len(cfg.RedisAddrs) == 0 {
		mini = miniredis.NewMiniRedis()
		addr := cfg.EmbeddedRedis
		if err := mini.StartAddr(addr); err != nil {
			if err2 := mini.StartAddr("127.0.0.1:0"); err2 != nil {
				return nil, nil, fmt.Errorf("embedded redis: %w", errors.Join(err, err2))
			}
			log.Warn("embedded redis: address taken, using a free port", "wanted", addr, "err", err)
		}
		rcfg.Addrs = []string{mini.Addr()}
		rcfg.Mode = redis.Standalone
		rcfg.Username, rcfg.Password = "", ""
		log.Warn("EMBEDDED REDIS (in-process, in memory, for development): set REDIS_ADDR for a real one",
			"addr", mini.Addr())
		fmt.Printf("embedded redis listening on %s\n", mini.Addr())
	} else {
		log.Info("redis", "mode", cmp.Or(cfg.RedisMode, redis.Standalone), "addrs", strings.Join(cfg.RedisAddrs, ","), "tls", cfg.RedisTLS || cfg.RedisTLSCA != "", "auth", cfg.RedisPassword != "")
	}
	rdb, err := redis.NewClient(rcfg)
	if err != nil {
		if mini != nil {
			mini.Close()
		}
		return nil, nil, fmt.Errorf("REDIS_ADDR: %w", err)
	}
	return rdb, func() {
		_ = rdb.Close()
		if mini != nil {
			mini.Close()
		}
	}, nil
}

// openStore opens the MongoDB store when MONGO_URI is set, else SQLite.
func openStore(ctx context.Context, cfg config, log *slog.Logger) (store, func(), error) {
	if cfg.MongoURI != "" {
		mcfg := cfg.mongoConfig()
		mcfg.Logger = log
		if err := mcfg.Validate(); err != nil {
			return nil, nil, fmt.Errorf("MONGO_URI/MONGO_DATABASE: %w", err)
		}
		var st *mongo.Store
		if err := waitFor(ctx, log, "mongodb", func(ctx context.Context) error {
			var err error
			st, err = mongo.Open(ctx, mcfg)
			return err
		}); err != nil {
			return nil, nil, err
		}
		log.Info("store: MongoDB", "database", cfg.MongoDatabase)
		return st, func() {
			c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = st.Close(c)
		}, nil
	}
	scfg := sqlite.Config{Dir: cfg.DataDir, Logger: log}
	if err := scfg.Validate(); err != nil {
		return nil, nil, fmt.Errorf("POMOCORE_DATA_DIR: %w", err)
	}
	st, err := sqlite.Open(ctx, scfg)
	if err != nil {
		return nil, nil, fmt.Errorf("POMOCORE_DATA_DIR: %w", err)
	}
	log.Warn("EMBEDDED STORE (SQLite, single node): set MONGO_URI for MongoDB", "dir", cfg.DataDir)
	return st, func() { _ = st.Close() }, nil
}

// waitFor calls f until it succeeds, backing off from 100ms to 10s, each try
// bounded by a timeout; it gives up only when ctx ends.
func waitFor(ctx context.Context, log *slog.Logger, what string, f func(context.Context) error) error {
	policy := backoff.Policy{Min: 100 * time.Millisecond, Max: 10 * time.Second}
	for attempt := 1; ; attempt++ {
		c, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := f(c)
		cancel()
		if err == nil {
			return nil
		}
		wait := policy.Wait(attempt)
		if ctx.Err() == nil {
			log.Warn(what+" not reachable; retrying", "err", err, "attempt", attempt, "in", wait)
		}
		if backoff.Sleep(ctx, wait) != nil {
			return fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), err)
		}
	}
}

// newLogger returns the process logger. Secret settings are replaced in
// every logged string, whatever logs them.
func newLogger(cfg config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	secrets := newRedactor(append([]string{cfg.RedisPassword, cfg.OpenAIKey}, mongo.Secrets(cfg.MongoURI)...)...)
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		return redactAttr(a, secrets)
	}}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func redactAttr(a slog.Attr, secrets *strings.Replacer) slog.Attr {
	if secrets == nil {
		return a
	}
	var s string
	switch v := a.Value.Any().(type) {
	case string:
		s = v
	case error:
		s = v.Error()
	case fmt.Stringer:
		s = v.String()
	default:
		return a
	}
	r := secrets.Replace(s)
	if r == s {
		return a
	}
	return slog.String(a.Key, r)
}

// newRedactor returns a replacer of every non-empty secret, however short,
// by "[REDACTED]" (nil when there is none). Longer secrets are matched
// first, so that a secret inside another is not left half-replaced, and
// replacements are not scanned again.
func newRedactor(secrets ...string) *strings.Replacer {
	var ss []string
	for _, s := range secrets {
		if s != "" {
			ss = append(ss, s)
		}
	}
	if len(ss) == 0 {
		return nil
	}
	slices.SortFunc(ss, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(ss))
	for _, s := range ss {
		pairs = append(pairs, s, "[REDACTED]")
	}
	return strings.NewReplacer(pairs...)
}
