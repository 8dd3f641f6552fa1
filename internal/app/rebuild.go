package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/redis"
)

// RebuildPlan is which leaderboard periods a day range covers whole: every
// day, the ISO weeks and the months that lie entirely inside it.
type RebuildPlan struct {
	from, to time.Time // midnight of the first day, midnight after the last, in the zone
	periods  map[string]bool
	// Partial are the weeks and months the range cuts (left alone).
	Partial []string
	// Days, Weeks and Months count the periods rebuilt.
	Days, Weeks, Months int
}

// PlanRebuild plans the rebuild of the days fromDay to toDay (YYYY-MM-DD,
// both included) in loc.
func PlanRebuild(fromDay, toDay string, loc *time.Location) (*RebuildPlan, error) {
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
	p := &RebuildPlan{from: from, to: last.AddDate(0, 0, 1), periods: map[string]bool{}}
	weekDays, monthDays := map[string]int{}, map[string]int{}
	for d := from; d.Before(p.to); d = d.AddDate(0, 0, 1) {
		per := pomocore.PeriodsAt(d.Add(12*time.Hour), loc)
		p.periods[per.Day] = true
		p.Days++
		weekDays[per.Week]++
		monthDays[per.Month]++
	}
	for w, n := range weekDays {
		if n == 7 {
			p.periods[w] = true
			p.Weeks++
		} else {
			p.Partial = append(p.Partial, w)
		}
	}
	for mo, n := range monthDays {
		var y, month int
		fmt.Sscanf(mo, "%d-M%d", &y, &month)
		if n == time.Date(y, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
			p.periods[mo] = true
			p.Months++
		} else {
			p.Partial = append(p.Partial, mo)
		}
	}
	slices.Sort(p.Partial)
	return p, nil
}

// Rebuild recomputes the planned leaderboards from the usage logs of the
// store and swaps them in atomically, drawing its progress on progress; it
// returns how many leaderboards it wrote, from how many usage logs.
func (a *App) Rebuild(ctx context.Context, plan *RebuildPlan, progress io.Writer) (keys int, logs int, err error) {
	rdb, err := a.Redis()
	if err != nil {
		return 0, 0, err
	}
	st, err := a.Store(ctx)
	if err != nil {
		return 0, 0, err
	}
	usage, ok := st.(pipeline.UsageLogReader)
	if !ok {
		return 0, 0, errors.New("this store cannot list usage logs")
	}
	patterns, err := st.LoadPatterns(ctx)
	if err != nil {
		return 0, 0, err
	}
	tax, prefix, loc := a.tax, a.cfg.KeyPrefix, a.loc
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
	err = usage.UsageLogsBetween(ctx, float64(plan.from.Unix()), float64(plan.to.Unix()), func(ls []pomocore.UsageLog) error {
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
	if err := redis.NewLeaderboards(rdb).Replace(ctx, all, boards); err != nil {
		return 0, logs, err
	}
	return len(boards), logs, nil
}
