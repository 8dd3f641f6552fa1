package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/redis"
)

// rebuildPlan is which leaderboard periods a day range covers whole: every
// day, the ISO weeks and the months that lie entirely inside it.
type rebuildPlan struct {
	from, to       time.Time // midnight of the first day, midnight after the last, in the zone
	periods        map[string]bool
	partial        []string // weeks and months the range cuts (left alone)
	days, weeks, m int
}

func planRebuild(fromDay, toDay string, loc *time.Location) (*rebuildPlan, error) {
	from, err := time.ParseInLocation(time.DateOnly, fromDay, loc)
	if err != nil {
		return nil, fmt.Errorf("-from %q: want YYYY-MM-DD", fromDay)
	}
	last, err := time.ParseInLocation(time.DateOnly, toDay, loc)
	if err != nil {
		return nil, fmt.Errorf("-to %q: want YYYY-MM-DD", toDay)
	}
	if last.Before(from) {
		return nil, errors.New("-to is before -from")
	}
	p := &rebuildPlan{from: from, to: last.AddDate(0, 0, 1), periods: map[string]bool{}}
	weekDays, monthDays := map[string]int{}, map[string]int{}
	for d := from; d.Before(p.to); d = d.AddDate(0, 0, 1) {
		per := pomocore.PeriodsAt(d.Add(12*time.Hour), loc)
		p.periods[per.Day] = true
		p.days++
		weekDays[per.Week]++
		monthDays[per.Month]++
	}
	for w, n := range weekDays {
		if n == 7 {
			p.periods[w] = true
			p.weeks++
		} else {
			p.partial = append(p.partial, w)
		}
	}
	for mo, n := range monthDays {
		var y, month int
		fmt.Sscanf(mo, "%d-M%d", &y, &month)
		if n == time.Date(y, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
			p.periods[mo] = true
			p.m++
		} else {
			p.partial = append(p.partial, mo)
		}
	}
	slices.Sort(p.partial)
	return p, nil
}

// rebuild recomputes the planned leaderboards from the usage logs and swaps
// them in atomically.
func rebuild(ctx context.Context, st pipeline.UsageLogReader, patterns []pomocore.CategoryPattern, tax *pomocore.Taxonomy,
	lb *redis.Leaderboards, plan *rebuildPlan, prefix string, loc *time.Location, progress io.Writer) (keys int, logs int, err error) {
	names := map[pomocore.ObjectID]string{}
	for _, p := range patterns {
		names[p.ID] = p.Category
	}
	boards := map[string]map[string]float64{}
	add := func(cat, period, user string, d float64) {
		if !plan.periods[period] {
			return
		}
		k := pomocore.LeaderboardKey(prefix, cat, period)
		if boards[k] == nil {
			boards[k] = map[string]float64{}
		}
		boards[k][user] += d
	}
	unknown := 0
	err = st.UsageLogsBetween(ctx, float64(plan.from.Unix()), float64(plan.to.Unix()), func(ls []pomocore.UsageLog) error {
		for _, l := range ls {
			cat, ok := names[l.CategoryID]
			if !ok {
				unknown++
				continue
			}
			if l.Duration <= 0 {
				continue
			}
			sec, frac := int64(l.Timestamp), l.Timestamp-float64(int64(l.Timestamp))
			for _, period := range pomocore.PeriodsAt(time.Unix(sec, int64(frac*1e9)), loc).All() {
				add(cat, period, l.UserID, l.Duration)
				if tax.IsWork(cat) {
					add(tax.WorkAggregate, period, l.UserID, l.Duration)
				}
			}
		}
		logs += len(ls)
		// Logs come in id order, and ids follow time: the last one's
		// timestamp says how far through the range the read is.
		done := (ls[len(ls)-1].Timestamp - float64(plan.from.Unix())) / float64(plan.to.Unix()-plan.from.Unix())
		done = max(0, min(1, done))
		bar := strings.Repeat("#", int(done*30)) + strings.Repeat(".", 30-int(done*30))
		fmt.Fprintf(progress, "\rrebuild [%s] %3.0f%%  %d usage logs", bar, 100*done, logs)
		return ctx.Err()
	})
	fmt.Fprintln(progress)
	if err != nil {
		return 0, logs, err
	}
	if unknown > 0 {
		fmt.Fprintf(progress, "rebuild: %d usage logs have a categoryId with no category_pattern document; skipped\n", unknown)
	}
	// Every planned board of every category is replaced, so that boards
	// with no usage left are emptied too.
	var all []string
	for period := range plan.periods {
		for _, c := range append(slices.Clone(tax.Categories), tax.WorkAggregate) {
			all = append(all, pomocore.LeaderboardKey(prefix, c, period))
		}
	}
	slices.Sort(all)
	if err := lb.Replace(ctx, all, boards); err != nil {
		return 0, logs, err
	}
	return len(boards), logs, nil
}

// rebuildCmd implements `pomocore leaderboard rebuild -from D -to D`.
func rebuildCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("leaderboard rebuild", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "first day, YYYY-MM-DD (in POMOCORE_TIMEZONE)")
	to := fs.String("to", "", "last day, YYYY-MM-DD")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig("leaderboard", nil, getenv, stderr)
	if err != nil {
		return fmt.Errorf("bad settings: %w", err)
	}
	if len(cfg.RedisAddrs) == 0 {
		return errors.New("REDIS_ADDR: required")
	}
	loc, _ := time.LoadLocation(cfg.TimeZone)
	plan, err := planRebuild(*from, *to, loc)
	if err != nil {
		return err
	}
	tax := pomocore.DefaultTaxonomy()
	if cfg.TaxonomyFile != "" {
		if tax, err = pomocore.LoadTaxonomy(cfg.TaxonomyFile); err != nil {
			return err
		}
	}
	rdb, err := redis.NewClient(cfg.redisConfig())
	if err != nil {
		return err
	}
	defer rdb.Close()
	st, closeStore, err := openStore(ctx, cfg, newLogger(cfg, io.Discard))
	if err != nil {
		return err
	}
	defer closeStore()
	logsReader, ok := st.(pipeline.UsageLogReader)
	if !ok {
		return errors.New("this store cannot list usage logs")
	}
	patterns, err := st.LoadPatterns(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rebuilding %d days, %d whole weeks, %d whole months from %s to %s (%s)\n",
		plan.days, plan.weeks, plan.m, *from, *to, cfg.TimeZone)
	if len(plan.partial) > 0 {
		fmt.Fprintf(stdout, "left alone, only partly in the range: %v\n", plan.partial)
	}
	keys, logs, err := rebuild(ctx, logsReader, patterns, tax, redis.NewLeaderboards(rdb), plan, cfg.KeyPrefix, loc, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "swapped in %d leaderboards rebuilt from %d usage logs\n", keys, logs)
	return nil
}
