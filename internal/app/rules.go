package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/llm"
	"github.com/pomocore/pomocore/pipeline"
)

// ruleSet is a classifier built from category_pattern with the ids of its
// categories.
type ruleSet struct {
	// matcher is category_pattern's, with the built-in set layered under
	// it when POMOCORE_BUILTIN_PATTERNS=fallback.
	matcher *classify.Matcher
	ids     map[string]pomocore.ObjectID
	// usable are the taxonomy's categories that have a document: the only
	// answers the LLM fallback may give.
	usable      []string
	fingerprint string
}

// buildRules compiles category_pattern and, when builtin is not nil (see
// builtinMatcher), layers the built-in set under it: it answers, as source
// builtin, only where category_pattern is silent, and only categories that
// have a document.
func buildRules(patterns []pomocore.CategoryPattern, tax *pomocore.Taxonomy, builtin *classify.Matcher, log *slog.Logger) (*ruleSet, error) {
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
	if builtin != nil {
		matcher = classify.Layer(matcher, builtin, usable)
		if d := classify.Disagreements(patterns, classify.DefaultPatterns()); len(d) > 0 {
			examples := make([]string, min(len(d), 5))
			for i := range examples {
				examples[i] = d[i].String()
			}
			log.Info("the built-in pattern set disagrees with category_pattern; category_pattern's category stands (pomocore doctor, pomocore patterns list)",
				"count", len(d), "examples", examples)
		}
	}
	apps, domains := matcher.Stats()
	log.Info("classifier ready", "patterns", len(patterns), "apps", apps, "domains", domains, "builtin_fallback", builtin != nil)
	return &ruleSet{matcher: matcher, ids: ids, usable: usable, fingerprint: fingerprint(patterns)}, nil
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
func (a *App) newChain(ctx context.Context, st Store, rs *ruleSet) (*classify.Chain, func() int64, error) {
	cfg, tax, log := a.cfg, a.tax, a.log
	noTokens := func() int64 { return 0 }
	ccfg := cfg.Chain
	ccfg.Categories, ccfg.Default, ccfg.ModelThreshold = rs.usable, tax.Default, cfg.Learn.Threshold
	if cfg.OpenAIKey == "" {
		log.Info("LLM fallback off (no OPENAI_API_KEY): unknown activities are " + tax.Default)
		return classify.NewChain(rs.matcher, nil, ccfg), noTokens, nil
	}
	client, err := llm.New(llm.Config{APIKey: cfg.OpenAIKey, BaseURL: cfg.OpenAIBaseURL, Model: cfg.LLMModel,
		Timeout: cfg.Chain.Timeout, Categories: rs.usable})
	if err != nil {
		return nil, nil, fmt.Errorf("OPENAI_API_KEY/POMOCORE_LLM_*: %w", err)
	}
	if keeper, ok := st.(pipeline.AnswerKeeper); ok {
		a.keeper = newAnswerKeeper(keeper, rs.ids, cfg.StoreTimeout(), log)
		ccfg.Keep = a.keeper.keep
	}
	chain := classify.NewChain(rs.matcher, client, ccfg)
	names := make(map[pomocore.ObjectID]string, len(rs.ids))
	for name, id := range rs.ids {
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
func (a *App) reloadPatterns(ctx context.Context, p *pipeline.Pipeline) {
	st, tax, chain, current, interval, log := a.st, a.tax, a.chain, a.rules.fingerprint, a.cfg.PatternReload, a.log
	builtin := a.builtin
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
		rs, err := buildRules(patterns, tax, builtin, log)
		if err != nil {
			log.Warn("reloaded patterns do not build; keeping the current ones", "err", err)
			continue
		}
		chain.SetMatcher(rs.matcher)
		p.SetRules(chain, rs.ids)
		if a.keeper != nil {
			a.keeper.setIDs(rs.ids)
		}
		current = rs.fingerprint
		log.Info("category patterns reloaded", "patterns", len(patterns))
	}
}
