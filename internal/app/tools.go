package app

import (
	"context"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/llm"
	"github.com/pomocore/pomocore/redis"
)

// The tools' uses of adapters (the LLM of the settings, the configured
// Redis's leaderboards); what the tools do beyond that is internal/tools.

// LLMFallback is the LLM of the settings (OPENAI_API_KEY, OPENAI_BASE_URL,
// POMOCORE_LLM_*) for the tools, answering the default taxonomy's
// categories.
func (c *Config) LLMFallback() (classify.Fallback, error) {
	return llm.New(llm.Config{APIKey: c.OpenAIKey, BaseURL: c.OpenAIBaseURL, Model: c.LLMModel,
		Timeout: c.Chain.Timeout, Categories: pomocore.DefaultTaxonomy().Categories})
}

// Board reads the leaderboard key from the configured Redis: its top limit
// members when user is "", else user's rank and score (found false when
// user has none), with around members above and below when around > 0;
// within 10 seconds.
func (a *App) Board(ctx context.Context, key, user string, limit, around int) (list []pomocore.Ranked, found bool, err error) {
	rdb, err := a.Redis()
	if err != nil {
		return nil, false, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	l := redis.NewLeaderboards(rdb)
	if user == "" {
		list, err = l.Top(ctx, key, 0, limit)
		return list, err == nil, err
	}
	me, found, err := l.Rank(ctx, key, user)
	if err != nil || !found {
		return nil, false, err
	}
	if around == 0 {
		return []pomocore.Ranked{me}, true, nil
	}
	list, err = l.Around(ctx, key, user, around)
	return list, err == nil, err
}
