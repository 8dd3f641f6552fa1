package accuracy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/app"
)

// RunConfig is one run of the real pipeline over the traffic.
type RunConfig struct {
	// RedisAddr is a Redis server of the run's own (it is written to).
	RedisAddr string
	// DataDir is an empty directory for the SQLite store.
	DataDir string
	// BaseURL is the OpenAI-compatible endpoint ("http://host/v1/"); empty:
	// the LLM off.
	BaseURL string
	// Patterns are loaded into the empty store before the pipeline starts,
	// as production's category_pattern is already there at cut-over: the
	// built-in set then never seeds it.
	Patterns []pomocore.CategoryPattern
	// Rate is how many entries a second the producer sends (an upload's
	// entries at once); 0: all at once.
	Rate float64
	// Quiet is how long the endpoint must have been idle, after every
	// entry is acknowledged, before the boards are read (what the pipeline
	// still asks after the traffic cannot change them today, but the
	// comparison waits for it); default 2s.
	Quiet time.Duration
	// Timeout bounds the wait for the acknowledgements (default 10m).
	Timeout time.Duration
	// Tune, when set, changes the settings after the defaults (e.g. an
	// experiment's POMOCORE_ settings); the run uses the defaults otherwise.
	Tune func(*app.Config)
	// Log receives the application's log (default: discarded).
	Log *slog.Logger
	// Idle reports whether the endpoint has been idle for the duration;
	// nil: no wait.
	Idle func(quiet time.Duration) bool
}

// RunStats is what one run did.
type RunStats struct {
	Entries int
	// Elapsed is from the first entry sent to the last acknowledged;
	// Drained until the endpoint was idle too.
	Elapsed, Drained time.Duration
	// Dead is the length of the dead-letter stream (0 expected).
	Dead int64
	// Metrics are the pomocore_llm_* counters and gauges of the run's
	// registry, by name.
	Metrics map[string]float64
}

// RunPomocore runs the application of the default settings (OPENAI_API_KEY
// and OPENAI_BASE_URL pointing at the endpoint, REDIS_ADDR, the SQLite
// store in DataDir) with production's patterns in its store, sends the
// uploads to pattern_match_stream at Rate, waits until every entry is
// acknowledged and the endpoint is idle, stops it, and returns the daily
// leaderboards of the traffic's days and the work board.
func RunPomocore(ctx context.Context, cfg RunConfig, tr *Traffic) (board, work Board, st RunStats, err error) {
	cfg.Quiet, cfg.Timeout = cmp.Or(cfg.Quiet, 2*time.Second), cmp.Or(cfg.Timeout, 10*time.Minute)
	c := app.Defaults()
	c.Redis.Addrs = []string{cfg.RedisAddr}
	c.DataDir = cfg.DataDir
	c.Reader.Consumer = "accuracy"
	c.HTTPAddr = ""
	if cfg.BaseURL != "" {
		c.OpenAIKey, c.OpenAIBaseURL = "test-key", cfg.BaseURL
	}
	if cfg.Tune != nil {
		cfg.Tune(&c)
	}
	c.Complete(func(string) bool { return false })
	if err := c.Validate(); err != nil {
		return nil, nil, st, fmt.Errorf("accuracy: settings: %w", err)
	}
	reg := prometheus.NewRegistry()
	a, err := app.New(c, app.Deps{Log: cfg.Log, Registry: reg})
	if err != nil {
		return nil, nil, st, fmt.Errorf("accuracy: %w", err)
	}
	defer a.Close()
	rdb, err := a.Redis()
	if err != nil {
		return nil, nil, st, fmt.Errorf("accuracy: %w", err)
	}
	store, err := a.Store(ctx)
	if err != nil {
		return nil, nil, st, fmt.Errorf("accuracy: %w", err)
	}
	seeded, err := store.SeedPatterns(ctx, cfg.Patterns)
	if err != nil {
		return nil, nil, st, fmt.Errorf("accuracy: load production's patterns: %w", err)
	}
	if !seeded {
		return nil, nil, st, errors.New("accuracy: the store already had category_pattern documents: give an empty DataDir")
	}
	loaded, err := store.LoadPatterns(ctx)
	if err != nil {
		return nil, nil, st, fmt.Errorf("accuracy: %w", err)
	}
	if len(loaded) != len(cfg.Patterns) {
		return nil, nil, st, fmt.Errorf("accuracy: category_pattern holds %d documents, production %d", len(loaded), len(cfg.Patterns))
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()

	entries := tr.Entries()
	st.Entries = len(entries)
	start := time.Now()
	sent := 0
	var lastID string
	for _, up := range tr.Uploads {
		if cfg.Rate > 0 {
			due := start.Add(time.Duration(float64(sent) / cfg.Rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return nil, nil, st, ctx.Err()
				case err := <-done:
					return nil, nil, st, fmt.Errorf("accuracy: the pipeline stopped: %w", err)
				}
			}
		}
		p := rdb.Pipeline()
		cmds := make([]*goredis.StringCmd, len(up))
		for i, e := range up {
			cmds[i] = p.XAdd(ctx, &goredis.XAddArgs{Stream: c.Reader.Stream, Values: e.Fields()})
		}
		if _, err := p.Exec(ctx); err != nil {
			return nil, nil, st, fmt.Errorf("accuracy: XADD: %w", err)
		}
		lastID = cmds[len(cmds)-1].Val()
		sent += len(up)
	}
	deadline := time.Now().Add(cfg.Timeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		ok, err := acknowledged(ctx, rdb, c.Reader.Stream, c.Reader.Group, lastID)
		if err != nil {
			return nil, nil, st, err
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			return nil, nil, st, fmt.Errorf("accuracy: entries still unacknowledged after %v", cfg.Timeout)
		}
		select {
		case <-time.After(wait):
		case err := <-done:
			return nil, nil, st, fmt.Errorf("accuracy: the pipeline stopped: %w", err)
		}
	}
	st.Elapsed = time.Since(start)
	if cfg.Idle != nil {
		for !cfg.Idle(cfg.Quiet) {
			if time.Now().After(deadline) {
				return nil, nil, st, fmt.Errorf("accuracy: the endpoint still busy after %v", cfg.Timeout)
			}
			select {
			case <-time.After(100 * time.Millisecond):
			case err := <-done:
				return nil, nil, st, fmt.Errorf("accuracy: the pipeline stopped: %w", err)
			}
		}
	}
	st.Drained = time.Since(start)
	st.Metrics = llmMetrics(reg)
	stop()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		return nil, nil, st, fmt.Errorf("accuracy: the pipeline: %w", err)
	}
	if st.Dead, err = rdb.XLen(ctx, c.Committer.DeadStream).Result(); err != nil {
		return nil, nil, st, fmt.Errorf("accuracy: %w", err)
	}
	board, work, err = ReadBoards(ctx, rdb, c.Pipeline.KeyPrefix, a.Taxonomy().Categories, Truth(entries).Days())
	return board, work, st, err
}

// acknowledged reports whether the group has read up to lastID and has
// nothing pending.
func acknowledged(ctx context.Context, rdb goredis.UniversalClient, stream, group, lastID string) (bool, error) {
	gs, err := rdb.XInfoGroups(ctx, stream).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return false, nil
		}
		return false, fmt.Errorf("accuracy: XINFO GROUPS: %w", err)
	}
	for _, g := range gs {
		if g.Name == group {
			return g.Pending == 0 && g.LastDeliveredID == lastID, nil
		}
	}
	return false, nil
}

// llmMetrics reads the pomocore_llm_* series of the application's registry.
func llmMetrics(reg prometheus.Gatherer) map[string]float64 {
	out := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "pomocore_llm") && !strings.Contains(mf.GetName(), "uncategorized") &&
			!strings.Contains(mf.GetName(), "wait") {
			continue
		}
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			out[name] = m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue() +
				float64(m.GetHistogram().GetSampleCount())
		}
	}
	return out
}
