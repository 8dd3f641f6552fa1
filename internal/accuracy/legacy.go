package accuracy

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/legacy"
)

// LegacyConfig is the simulation of the deployed data server
// (swmaeStrong/pomocore-data-server, CONTRACT section 8).
type LegacyConfig struct {
	// Patterns are production's category_pattern documents, in load order.
	Patterns []pomocore.CategoryPattern
	// BaseURL is the OpenAI-compatible endpoint ("http://host/v1"); empty:
	// no LLM (the deployed service without OPENAI_API_KEY).
	BaseURL string
	// Batch is how many entries one read takes (deployed: 50).
	Batch int
	// Workers is how many entries of a batch are classified at once
	// (deployed: 10).
	Workers int
	// Offered, when set, are the only categories the model can answer
	// right: a true category outside them counts as Uncategorized, as if
	// the model had picked Communication or Music, which the deployed
	// validation turns into Uncategorized. The deployed prompt offers
	// DeployedPromptCategories (no Meetings, no AFK). Empty: every answer of
	// the 19 is kept (the same oracle as pomocore's).
	Offered []string
}

// DeployedPromptCategories are the categories the deployed service's LLM
// prompt lists (llm_client.go buildSystemPrompt), those of the 19 only.
var DeployedPromptCategories = []string{"SNS", "Documentation", "Design", "LLM", "Development", "Productivity",
	"Video Editing", "Entertainment", "File Management", "System & Utilities", "Game", "Education", "Finance",
	"Browsing", "Marketing", "E-commerce & Shopping"}

// LegacyStats is what the simulation did.
type LegacyStats struct {
	Entries, Patterned, CacheHits, Calls, Failures int
	// PatternedSeconds are the seconds of the entries the patterns
	// decided; PatternedRight those of them in their true category.
	PatternedSeconds, PatternedRight float64
	Elapsed                          time.Duration
}

// SimulateLegacy counts the entries as the deployed data server does, and
// returns its daily boards and work board: per batch of Batch entries in
// stream order, each entry is classified by its app (exact, lower-cased)
// or its URL (substring) with production's patterns (legacy.Service's
// Classify), else from its unbounded cache keyed by (lower-cased app,
// title, URL), else by asking the LLM SYNCHRONOUSLY, one activity per call,
// before the batch is counted; an answer that is not one of the 19
// categories (or not offered, see LegacyConfig.Offered) is Uncategorized
// and cached, a failed call Uncategorized and not cached. The batch's distinct misses
// are asked Workers at a time (identical misses of one batch ask once,
// which favours the old service); batches follow one another (the
// deployed 10 batch workers would see each other's answers later, never
// sooner). Nothing is counted twice here: the traffic has no redeliveries.
func SimulateLegacy(ctx context.Context, entries []Entry, cfg LegacyConfig, tax *pomocore.Taxonomy) (board, work Board, st LegacyStats, err error) {
	cfg.Batch, cfg.Workers = cmp.Or(cfg.Batch, 50), cmp.Or(cfg.Workers, 10)
	start := time.Now()
	svc := &legacy.Service{Patterns: cfg.Patterns}
	isWork := map[string]bool{}
	for _, c := range legacy.WorkCategories {
		isWork[c] = true
	}
	valid := map[string]bool{}
	offered := tax.Categories
	if len(cfg.Offered) > 0 {
		offered = cfg.Offered
	}
	for _, c := range offered {
		valid[c] = true
	}
	cache := map[string]string{}
	board, work = Board{}, Board{}
	client := &http.Client{Timeout: 30 * time.Second}
	for lo := 0; lo < len(entries); lo += cfg.Batch {
		batch := entries[lo:min(lo+cfg.Batch, len(entries))]
		cats := make([]string, len(batch))
		var ask []string
		asked := map[string][]int{}
		for i, e := range batch {
			if c := svc.Classify(e.App, e.URL); c != pomocore.Uncategorized {
				cats[i] = c
				st.Patterned++
				st.PatternedSeconds += float64(e.Duration)
				if c == e.Truth {
					st.PatternedRight += float64(e.Duration)
				}
				continue
			}
			q := legacyQuery(e)
			if c, ok := cache[q]; ok {
				cats[i] = c
				st.CacheHits++
				continue
			}
			if _, ok := asked[q]; !ok {
				ask = append(ask, q)
			}
			asked[q] = append(asked[q], i)
		}
		answers := make([]string, len(ask))
		if cfg.BaseURL != "" {
			var wg sync.WaitGroup
			sem := make(chan struct{}, cfg.Workers)
			for j, q := range ask {
				e := batch[asked[q][0]]
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer func() { <-sem; wg.Done() }()
					switch a, err := askLegacy(ctx, client, cfg.BaseURL, e); {
					case err != nil:
						answers[j] = "error"
					case valid[a]:
						answers[j] = a
					default: // validateCategory
						answers[j] = pomocore.Uncategorized
					}
				}()
			}
			wg.Wait()
			st.Calls += len(ask)
		}
		for j, q := range ask {
			a := answers[j]
			if a == "error" {
				st.Failures++
				a = ""
			}
			if a != "" {
				cache[q] = a // the deployed service caches answers (Uncategorized too), not failures
			}
			for _, i := range asked[q] {
				cats[i] = cmp.Or(a, pomocore.Uncategorized)
			}
		}
		for i, e := range batch {
			c := Cell{e.UserID, cats[i], Day(e.Timestamp)}
			board[c] += float64(e.Duration)
			if isWork[cats[i]] {
				work[Cell{e.UserID, "work", c.Day}] += float64(e.Duration)
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, st, err
		}
	}
	st.Entries = len(entries)
	st.Elapsed = time.Since(start)
	return board, work, st, nil
}

// legacyQuery is the deployed cache key (getQuery, app lower-cased).
func legacyQuery(e Entry) string {
	return fmt.Sprintf("app: %s, title: %s, url: %s", strings.ToLower(e.App), e.Title, e.URL)
}

// askLegacy asks about one activity, as the deployed LLM client does (one
// activity per call); the user message is in the form the fake endpoint
// reads (a JSON array of one), the answer a JSON array of one category.
func askLegacy(ctx context.Context, c *http.Client, baseURL string, e Entry) (string, error) {
	item, _ := json.Marshal([]map[string]string{{"app": strings.ToLower(e.App), "host": Host(e.URL), "url": e.URL, "title": e.Title}})
	body, _ := json.Marshal(map[string]any{
		"model": "gpt-4.1", "temperature": 0.1,
		"messages": []map[string]string{
			{"role": "system", "content": "You are a usage categorization expert. (the deployed prompt)"},
			{"role": "user", "content": string(item)},
		},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(baseURL, "/")+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer test-key")
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("legacy LLM: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("legacy LLM: %s", resp.Status)
	}
	var out struct {
		Choices []struct {
			Message struct{ Content string }
		}
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out.Choices) == 0 {
		return "", fmt.Errorf("legacy LLM: unreadable answer %q", raw)
	}
	var cats []string
	content := strings.TrimSpace(out.Choices[0].Message.Content)
	if err := json.Unmarshal([]byte(content), &cats); err != nil || len(cats) != 1 {
		return content, nil
	}
	return cats[0], nil
}
