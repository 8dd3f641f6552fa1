package pomocore

import (
	"strconv"
	"time"
)

// Periods names the daily, weekly and monthly leaderboard periods that one
// instant falls in: "2026-11-24", "2026-W48" (ISO year and week, week not
// zero-padded) and "2026-M11" (month not zero-padded).
type Periods struct {
	Day, Week, Month string
}

// PeriodsAt returns the periods of t in time zone loc.
func PeriodsAt(t time.Time, loc *time.Location) Periods {
	t = t.In(loc)
	y, w := t.ISOWeek()
	return Periods{
		Day:   t.Format(time.DateOnly),
		Week:  strconv.Itoa(y) + "-W" + strconv.Itoa(w),
		Month: strconv.Itoa(t.Year()) + "-M" + strconv.Itoa(int(t.Month())),
	}
}

// All returns the three period names, daily first.
func (p Periods) All() [3]string { return [3]string{p.Day, p.Week, p.Month} }

// DefaultKeyPrefix is the leaderboard key prefix of the CONTRACT.
const DefaultKeyPrefix = "leaderboard"

// LeaderboardKey returns the sorted-set key of a category's leaderboard for
// one period: "<prefix>:<category>:<period>".
func LeaderboardKey(prefix, category, period string) string {
	return prefix + ":" + category + ":" + period
}
