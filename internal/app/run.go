package app

import (
	"context"

	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/pomocore/pomocore/httpapi"
	"github.com/pomocore/pomocore/redis"
)

// Run opens every part, waiting for Redis and the store to answer, and runs
// the pipeline (with the HTTP server when POMOCORE_HTTP_ADDR is set, and the
// pattern reload) until ctx ends. The HTTP server listens first: while Run
// waits for a dependency (Redis, the store, the partition claim, the
// patterns, the consumer group and its resume position), /healthz answers
// and /readyz is red, naming the wait; each wait ends by itself once its
// dependency answers.
func (a *App) Run(ctx context.Context) error {
	cfg := a.cfg
	var w *httpapi.Endpoint
	if cfg.HTTPAddr != "" {
		// The server stops with Run, also when Run fails.
		webCtx, stopWeb := context.WithCancel(ctx)
		var err error
		if w, err = httpapi.Listen(webCtx, cfg.HTTPAddr, a.startup.Handler(a.reg), a.log); err != nil {
			stopWeb()
			return err
		}
		defer w.Wait()
		defer stopWeb()
		a.log.Info("HTTP server (starting)", "addr", w.Addr())
	}
	rdb, err := a.Redis()
	if err != nil {
		return err
	}
	ping := func(ctx context.Context) error { return rdb.Ping(ctx).Err() }
	if err := a.waitFor(ctx, "redis", ping); err != nil {
		return err
	}
	var st Store
	if err := a.waitFor(ctx, "store", func(ctx context.Context) (err error) {
		st, err = a.Store(ctx)
		return err
	}); err != nil {
		return err
	}
	if err := a.claimPartition(ctx, st); err != nil {
		return err
	}
	chain, err := a.Classifier(ctx)
	if err != nil {
		return err
	}
	lrn, err := a.startLearning(ctx, chain, st)
	if err != nil {
		return err
	}
	reader, err := a.NewReader(ctx, "")
	if err != nil {
		return err
	}
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		httpapi.NewGroupCollector(reader),
		httpapi.NewLLMCollector(chain.Stats, a.tokens))
	p, err := a.NewPipeline(reader, lrn.observer(httpapi.NewMetrics(a.reg)))
	if err != nil {
		return err
	}
	lrn.attach(p)
	a.log.Info("pipeline running", "stream", cfg.Reader.Stream, "group", cfg.Reader.Group, "consumer", cfg.Reader.Consumer,
		"dead_stream", cfg.Committer.DeadStream, "session_stream", cfg.Committer.SessionStream, "timezone", cfg.TimeZone, "batch", cfg.Pipeline.BatchSize)
	if w != nil {
		srv := httpapi.New(httpapi.Config{Addr: cfg.HTTPAddr, KeyPrefix: cfg.Pipeline.KeyPrefix, Location: a.loc, Taxonomy: a.tax,
			AdminToken: cfg.AdminToken},
			httpapi.Deps{
				Gatherer: a.reg, Leaderboards: redis.NewLeaderboards(rdb), Group: reader, Log: a.log,
				Ready:    map[string]httpapi.Pinger{"redis": ping, "store": st.Ping},
				Unknowns: lrn.unknowns, Patterns: lrn.patternEditor(), Page: newPageStore(rdb, cfg),
			})
		go srv.KeepTimeline(ctx, pageSampleEvery)
		w.Handle(srv)
		a.startup.Set("", nil)
		a.log.Info("HTTP server", "addr", cfg.HTTPAddr)
	}
	if cfg.PatternReload > 0 {
		go a.reloadPatterns(ctx, p)
	}
	stopRouter, err := a.startRouter(ctx)
	if err != nil {
		return err
	}
	defer stopRouter()
	if err := p.Run(ctx); err != nil {
		return err
	}
	s := p.Stats().Snapshot()
	a.log.Info("shut down cleanly", "read", s.Read, "committed", s.Committed, "dead", s.Dead, "skipped", s.Skipped)
	return nil
}
