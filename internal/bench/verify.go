package bench

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/app"
	"github.com/pomocore/pomocore/redis"
)

// verify checks what the run left behind against what was produced:
// every leaderboard key's total, no other key, the session and dead-letter
// streams, nothing pending, and the store's documents.
func verify(ctx context.Context, rdb goredis.UniversalClient, cfg app.Config, reader *redis.Reader, st *store,
	exp *expectation, checkStore bool) (string, bool) {
	var problems []string
	keys := make([]string, 0, len(exp.sums))
	for k := range exp.sums {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var total, want float64
	for _, k := range keys {
		zs, err := rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
		if err != nil {
			return "reading " + k + ": " + err.Error(), false
		}
		var sum float64
		for _, z := range zs {
			sum += z.Score
		}
		total += sum
		want += exp.sums[k]
		if math.Abs(sum-exp.sums[k]) > 1e-6*math.Max(1, exp.sums[k]) {
			problems = append(problems, fmt.Sprintf("%s: total %.0f, want %.0f", k, sum, exp.sums[k]))
		}
	}
	var found atomic.Int64
	if err := ScanKeys(ctx, rdb, cfg.Pipeline.KeyPrefix+":*", func(context.Context, goredis.UniversalClient, string) { found.Add(1) }); err != nil {
		return "scanning keys: " + err.Error(), false
	}
	if int(found.Load()) != len(keys) {
		problems = append(problems, fmt.Sprintf("%d leaderboard keys, want %d", found.Load(), len(keys)))
	}
	for _, s := range []struct {
		name string
		key  string
		want int
	}{{"session-end events", cfg.Committer.SessionStream, exp.ends}, {"dead letters", cfg.Committer.DeadStream, exp.bad}} {
		n, err := rdb.XLen(ctx, s.key).Result()
		if err != nil {
			return "XLEN " + s.key + ": " + err.Error(), false
		}
		if int(n) != s.want {
			problems = append(problems, fmt.Sprintf("%d %s, want %d", n, s.name, s.want))
		}
	}
	if g, err := reader.GroupState(ctx); err != nil {
		return "group state: " + err.Error(), false
	} else if g.Pending != 0 {
		problems = append(problems, fmt.Sprintf("%d entries still pending", g.Pending))
	}
	docs := ""
	if checkStore {
		c, err := st.counts(ctx)
		if err != nil {
			return "store counts: " + err.Error(), false
		}
		ids, err := categoryIDs(ctx, st)
		if err != nil {
			return err.Error(), false
		}
		withCat := 0
		for cat, n := range exp.perCategory {
			if !ids[cat].IsZero() {
				withCat += n
			}
		}
		if c.UsageLogs != int64(exp.valid) || c.UsageLogsWithCategory != int64(withCat) {
			problems = append(problems, fmt.Sprintf("%d usage logs (%d with a category), want %d (%d)", c.UsageLogs, c.UsageLogsWithCategory, exp.valid, withCat))
		}
		if c.CategorizedData != int64(len(exp.keysUsed)) {
			problems = append(problems, fmt.Sprintf("%d categorized_data documents, want %d", c.CategorizedData, len(exp.keysUsed)))
		}
		docs = fmt.Sprintf(", %s usage logs, %s categorized_data", humanCount(c.UsageLogs), humanCount(c.CategorizedData))
	}
	if len(problems) > 0 {
		if len(problems) > 5 {
			problems = append(problems[:5], fmt.Sprintf("and %d more", len(problems)-5))
		}
		return strings.Join(problems, "; "), false
	}
	return fmt.Sprintf("ok: %d leaderboard keys total %.0f s (want %.0f), %d session ends, %d dead letters%s",
		len(keys), total, want, exp.ends, exp.bad, docs), true
}

// categoryIDs returns the category_pattern id of each category that has a
// document in st, as the application's classifier names them (the document
// loaded last of a category wins).
func categoryIDs(ctx context.Context, st *store) (map[string]pomocore.ObjectID, error) {
	patterns, err := st.LoadPatterns(ctx)
	if err != nil {
		return nil, fmt.Errorf("category ids: %w", err)
	}
	ids := make(map[string]pomocore.ObjectID, len(patterns))
	for _, p := range patterns {
		ids[p.Category] = p.ID
	}
	return ids, nil
}
