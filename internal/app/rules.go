package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/llm"
	"github.com/pomocore/pomocore/pipeline"
)

// buildRules compiles category_pattern, layering builtin under it when
// not nil (see builtinMatcher and classify.Compile), and logs what the
// operator should know of the documents.
func buildRules(patterns []pomocore.CategoryPattern, tax *pomocore.Taxonomy, builtin *classify.Matcher, log *slog.Logger) (*classify.Rules, error) {
	rs, err := classify.Compile(patterns, tax, builtin)
	if err != nil {
		return nil, err
	}
	if len(rs.Conflicts) > 0 {
		resolved := make([]string, len(rs.Conflicts))
		for i, c := range rs.Conflicts {
			resolved[i] = c.String()
		}
		log.Info("category patterns in two categories at the same priority: the document loaded later wins, as deployed",
			"count", len(rs.Conflicts), "resolved", resolved)
	}
	if len(rs.Outside) > 0 {
		log.Warn("category_pattern documents not in the taxonomy: their activities are recorded as the default",
			"categories", rs.Outside, "default", tax.Default)
	}
	if len(rs.Missing) > 0 {
		log.Warn("taxonomy categories without a category_pattern document: their activities are recorded as the default category",
			"categories", rs.Missing, "default", tax.Default)
	}
	if rs.NoDefault {
		log.Error("the default category has no category_pattern document: activities it gets are recorded without a categoryId",
			"default", tax.Default)
	}
	if d := rs.Disagreements; len(d) > 0 {
		examples := make([]string, min(len(d), 5))
		for i := range examples {
			examples[i] = d[i].String()
		}
		log.Info("the built-in pattern set disagrees with category_pattern; category_pattern's category stands (pomocore doctor, pomocore patterns list)",
			"count", len(d), "examples", examples)
	}
	apps, domains := rs.Matcher.Stats()
	log.Info("classifier ready", "patterns", len(patterns), "apps", apps, "domains", domains, "builtin_fallback", builtin != nil)
	return rs, nil
}

// builtinMatcher returns the built-in pattern set compiled, to layer under
// category_pattern when POMOCORE_BUILTIN_PATTERNS=fallback; nil otherwise.
func builtinMatcher(mode string, tax *pomocore.Taxonomy) (*classify.Matcher, error) {
	if mode != "fallback" {
		return nil, nil
	}
	m, err := classify.Build(classify.DefaultPatterns(), tax.Default)
	if err != nil {
		return nil, fmt.Errorf("built-in patterns: %w", err)
	}
	return m, nil
}

// newChain puts the LLM fallback (when OPENAI_API_KEY is set) behind the
// patterns, remembering the answers the store already holds.
func (a *App) newChain(ctx context.Context, st Store, rs *classify.Rules) (*classify.Chain, func() int64, error) {
	cfg, tax, log := a.cfg, a.tax, a.log
	noTokens := func() int64 { return 0 }
	ccfg := cfg.Chain
	ccfg.Categories, ccfg.Default, ccfg.ModelThreshold = rs.Usable, tax.Default, cfg.Learn.Threshold
	if cfg.OpenAIKey == "" {
		log.Info("LLM fallback off (no OPENAI_API_KEY): unknown activities are " + tax.Default)
		return classify.NewChain(rs.Matcher, nil, ccfg), noTokens, nil
	}
	client, err := llm.New(llm.Config{APIKey: cfg.OpenAIKey, BaseURL: cfg.OpenAIBaseURL, Model: cfg.LLMModel,
		Timeout: cfg.Chain.Timeout, Categories: rs.Usable})
	if err != nil {
		return nil, nil, fmt.Errorf("OPENAI_API_KEY/POMOCORE_LLM_*: %w", err)
	}
	if keeper, ok := st.(pipeline.AnswerKeeper); ok {
		a.keeper = newAnswerKeeper(keeper, rs.IDs, cfg.StoreTimeout(), log)
		ccfg.Keep = a.keeper.keep
	}
	chain := classify.NewChain(rs.Matcher, client, ccfg)
	names := make(map[pomocore.ObjectID]string, len(rs.IDs))
	for name, id := range rs.IDs {
		names[id] = name
	}
	if mem, ok := st.(pipeline.LLMMemory); ok {
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		answers, err := mem.LLMAnswers(lctx, cfg.Chain.CacheSize)
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

// reloadPatterns reloads category_pattern every interval (applyPatterns);
// a failed load or build keeps the rules in use.
func (a *App) reloadPatterns(ctx context.Context, p *pipeline.Pipeline) {
	t := time.NewTicker(a.cfg.PatternReload)
	defer t.Stop()
	a.reloadOn(ctx, p, t.C)
}

// reloadOn applies category_pattern (applyPatterns) at every tick until
// ctx ends.
func (a *App) reloadOn(ctx context.Context, p *pipeline.Pipeline, tick <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		if err := a.applyPatterns(ctx, p, "periodic"); err != nil {
			a.log.Warn("pattern reload failed; keeping the current patterns", "err", err)
		}
	}
}

// appliedPatterns is what applyPatterns compares a load with: the rules in
// use, and the number of the newest load compared. Loads are numbered as they start, so that one that started
// earlier and ended later (a read that may predate a change) is not
// swapped in over a newer one.
type appliedPatterns struct {
	loads  atomic.Uint64   // loads started
	mu     sync.Mutex      // guards the fields below and the swap
	newest uint64          // number of the newest load compared
	rules  *classify.Rules // in use
}

// applyPatterns is the one load-compare-build-swap of category_pattern,
// for the periodic reload and a pattern change (an edit, a promotion;
// reason says which): it reads the patterns, and when they differ from
// the rules in use, builds new rules and swaps them in (useRules); a
// failed load or build keeps the rules in use. No lock is held while it
// reads, so a slow or blocked read on one path holds back neither the
// other path nor the next periodic reload; only the compare, build and
// swap are serialised. A set already in use is not built again, and a
// read that started before the newest one compared is dropped. (On SQLite
// every store call shares one connection, so a read there still waits
// behind a slow Save or KeepAnswers, on either path, lock or none.)
func (a *App) applyPatterns(ctx context.Context, p *pipeline.Pipeline, reason string) error {
	ap := &a.applied
	n := ap.loads.Add(1)
	patterns, err := a.loadPatterns(ctx)
	if err != nil {
		return err
	}
	fp := classify.Fingerprint(patterns)
	ap.mu.Lock()
	defer ap.mu.Unlock()
	if n < ap.newest {
		return nil // a later read was compared: this one may be older
	}
	ap.newest = n
	if fp == ap.rules.Fingerprint {
		return nil
	}
	rs, err := buildRules(patterns, a.tax, a.builtin, a.log)
	if err != nil {
		return fmt.Errorf("the patterns do not build: %w", err)
	}
	a.useRules(rs, p)
	ap.rules = rs
	a.log.Info("category patterns reloaded", "patterns", len(patterns), "reason", reason)
	return nil
}

// loadPatterns reads category_pattern from the store, within 30 seconds.
func (a *App) loadPatterns(ctx context.Context) ([]pomocore.CategoryPattern, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return a.st.LoadPatterns(ctx)
}

// useRules swaps rs into the chain, the pipeline p (when not nil) and the
// answer keeper at once.
func (a *App) useRules(rs *classify.Rules, p *pipeline.Pipeline) {
	a.chain.SetMatcher(rs.Matcher)
	if p != nil {
		p.SetRules(a.chain, rs.IDs)
	}
	if a.keeper != nil {
		a.keeper.setIDs(rs.IDs)
	}
}
