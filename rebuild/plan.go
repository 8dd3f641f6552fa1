// Package rebuild recomputes leaderboards from the stored usage logs
// (`pomocore leaderboard rebuild`): which periods a day range covers whole
// (Plan), the sum of the usage logs into boards, the comparison with the
// live boards, the refusals of a rebuild that would probably be wrong, and
// the swap. It declares its ports (UsageLogReader, PatternReader,
// BoardStore) and does no I/O of its own.
package rebuild

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pomocore/pomocore"
)

// Plan is which leaderboard periods a day range covers whole: every day,
// the ISO weeks and the months that lie entirely inside it.
type Plan struct {
	from, to time.Time // midnight of the first day, midnight after the last, in loc
	loc      *time.Location
	periods  map[string]bool
	// Partial are the weeks and months the range cuts (left alone).
	Partial []string
	// Days, Weeks and Months count the periods rebuilt.
	Days, Weeks, Months int
}

// PlanDays plans the rebuild of the days fromDay to toDay (YYYY-MM-DD,
// both included) in loc.
func PlanDays(fromDay, toDay string, loc *time.Location) (*Plan, error) {
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
	p := &Plan{from: from, to: last.AddDate(0, 0, 1), loc: loc, periods: map[string]bool{}}
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

// Covers reports whether the plan rebuilds period (a day, an ISO week or
// a month, as pomocore.Periods names them).
func (p *Plan) Covers(period string) bool { return p.periods[period] }

// keys returns every board the plan replaces, sorted: each covered period
// of each category of tax and of its work aggregate, so that boards with
// no usage left are emptied too.
func (p *Plan) keys(prefix string, tax *pomocore.Taxonomy) []string {
	var all []string
	for period := range p.periods {
		for _, c := range append(slices.Clone(tax.Categories), tax.WorkAggregate) {
			all = append(all, pomocore.LeaderboardKey(prefix, c, period))
		}
	}
	slices.Sort(all)
	return all
}
