package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	goredis "github.com/redis/go-redis/v9"

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

// RebuildOptions says how a rebuild goes about it.
type RebuildOptions struct {
	// DryRun computes the boards and reports what would change, writing
	// nothing.
	DryRun bool
	// Force swaps the boards in even when a safety check refuses (see
	// ErrRebuildRefused).
	Force bool
	// StoreSet is whether the operator named the store (MONGO_URI or
	// POMOCORE_DATA_DIR) rather than left it to the default.
	StoreSet bool
	// Progress receives the progress; Terminal says it is a terminal: a
	// bar redrawn in place there, plain lines at each tenth otherwise.
	Progress io.Writer
	Terminal bool
}

// ErrRebuildRefused is wrapped by the error of a rebuild that would swap
// in boards that are probably wrong: with no store setting, from a store
// it just created, or from no usage logs where the live boards hold
// scores. RebuildOptions.Force overrides it.
var ErrRebuildRefused = errors.New("rebuild refused (-force to do it anyway)")

// BoardChange is how a rebuild changes one leaderboard.
type BoardChange struct {
	Key                     string
	LiveMembers, NewMembers int
	LiveTotal, NewTotal     float64
}

// RebuildReport is what a rebuild did, or would do in a dry run.
type RebuildReport struct {
	// Keys is the number of non-empty boards rebuilt, from Logs usage logs.
	Keys, Logs int
	// Changes are the boards whose members or scores change, by key.
	Changes []BoardChange
	// Swapped is whether the boards were written (false in a dry run).
	Swapped bool
}

// Print writes the report as pomocore leaderboard rebuild prints it: the
// boards that change, then what was written.
func (rep RebuildReport) Print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(rep.Changes) > 0 {
		fmt.Fprintln(tw, "BOARD\tMEMBERS NOW\tREBUILT\tSECONDS NOW\tREBUILT")
	}
	for _, c := range rep.Changes {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", c.Key, c.LiveMembers, c.NewMembers, pomocore.FormatScore(c.LiveTotal), pomocore.FormatScore(c.NewTotal))
	}
	tw.Flush()
	if !rep.Swapped {
		fmt.Fprintf(w, "dry run: nothing written; %d leaderboards would change, rebuilt from %d usage logs\n", len(rep.Changes), rep.Logs)
		return nil
	}
	fmt.Fprintf(w, "swapped in %d leaderboards rebuilt from %d usage logs (%d changed)\n", rep.Keys, rep.Logs, len(rep.Changes))
	return nil
}

// Rebuild recomputes the planned leaderboards from the usage logs of the
// store, compares them with the live ones and, unless opts.DryRun or a
// safety check refuses (ErrRebuildRefused), swaps them in atomically.
func (a *App) Rebuild(ctx context.Context, plan *RebuildPlan, opts RebuildOptions) (RebuildReport, error) {
	var rep RebuildReport
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	refuse := func(format string, args ...any) error {
		if opts.Force || opts.DryRun {
			fmt.Fprintf(progress, "rebuild: warning: %s\n", fmt.Sprintf(format, args...))
			return nil
		}
		return fmt.Errorf("%w: %s", ErrRebuildRefused, fmt.Sprintf(format, args...))
	}
	if !opts.StoreSet {
		if err := refuse("no store setting: set MONGO_URI, or POMOCORE_DATA_DIR to the data directory `pomocore run` uses (the default %s is relative to where this runs)", a.cfg.DataDir); err != nil {
			return rep, err
		}
	}
	if a.cfg.Mongo.URI == "" && !a.cfg.Shadow {
		if _, err := os.Stat(filepath.Join(a.cfg.DataDir, "pomocore.db")); errors.Is(err, fs.ErrNotExist) {
			if err := refuse("no store at POMOCORE_DATA_DIR=%s: it would be created empty", a.cfg.DataDir); err != nil {
				return rep, err
			}
		}
	}
	rdb, err := a.Redis()
	if err != nil {
		return rep, err
	}
	st, err := a.Store(ctx)
	if err != nil {
		return rep, err
	}
	usage, ok := st.(pipeline.UsageLogReader)
	if !ok {
		return rep, errors.New("this store cannot list usage logs")
	}
	patterns, err := st.LoadPatterns(ctx)
	if err != nil {
		return rep, err
	}
	tax, prefix, loc := a.tax, a.cfg.Pipeline.KeyPrefix, a.loc
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
	bar := &rebuildProgress{w: progress, tty: opts.Terminal, last: -1}
	span := float64(plan.to.Unix() - plan.from.Unix())
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
		rep.Logs += len(ls)
		// Logs come in id order, and ids roughly follow time: the last
		// one's timestamp says about how far through the range the read is
		// (the bar never goes back).
		bar.show((ls[len(ls)-1].Timestamp-float64(plan.from.Unix()))/span, rep.Logs)
		return ctx.Err()
	})
	if err != nil {
		bar.stop()
		return rep, err
	}
	bar.show(1, rep.Logs)
	bar.stop()
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
	liveMembers := 0
	for _, k := range all {
		live, err := rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
		if err != nil {
			return rep, fmt.Errorf("reading %s: %w", k, err)
		}
		liveMembers += len(live)
		if c, changed := compareBoard(k, live, boards[k]); changed {
			rep.Changes = append(rep.Changes, c)
		}
	}
	rep.Keys = len(boards)
	if rep.Logs == 0 && liveMembers > 0 {
		if err := refuse("0 usage logs from %s to %s in the store, while the live boards hold %d scores: is this the store `pomocore run` writes?",
			plan.from.Format(time.DateOnly), plan.to.AddDate(0, 0, -1).Format(time.DateOnly), liveMembers); err != nil {
			return rep, err
		}
	}
	if opts.DryRun {
		return rep, nil
	}
	if err := redis.NewLeaderboards(rdb).Replace(ctx, all, boards); err != nil {
		return rep, err
	}
	rep.Swapped = true
	return rep, nil
}

// compareBoard reports how rebuilt changes the live board key (scores
// equal to the millisecond are unchanged).
func compareBoard(key string, live []goredis.Z, rebuilt map[string]float64) (BoardChange, bool) {
	c := BoardChange{Key: key, LiveMembers: len(live), NewMembers: len(rebuilt)}
	changed := len(live) != len(rebuilt)
	for _, z := range live {
		c.LiveTotal += z.Score
		m, _ := z.Member.(string)
		if v, ok := rebuilt[m]; !ok || pomocore.RoundScore(v) != pomocore.RoundScore(z.Score) {
			changed = true
		}
	}
	for _, v := range rebuilt {
		c.NewTotal += v
	}
	return c, changed
}

// rebuildProgress draws the rebuild's progress: a bar redrawn in place on
// a terminal, a plain line at each tenth otherwise; it never goes back.
type rebuildProgress struct {
	w     io.Writer
	tty   bool
	last  int // percent shown last (-1: none)
	drawn bool
}

func (p *rebuildProgress) show(done float64, logs int) {
	pct := int(100 * max(0, min(1, done)))
	if pct <= p.last && !(pct == 100 && p.tty) {
		return
	}
	if p.tty {
		n := pct * 30 / 100
		fmt.Fprintf(p.w, "\r\033[Krebuild [%s%s] %3d%%  %d usage logs", strings.Repeat("#", n), strings.Repeat(".", 30-n), pct, logs)
		p.drawn, p.last = true, pct
		return
	}
	if pct/10 == p.last/10 && pct != 100 && p.last >= 0 {
		return
	}
	fmt.Fprintf(p.w, "rebuild: %d%% (%d usage logs)\n", pct, logs)
	p.last = pct
}

func (p *rebuildProgress) stop() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}
