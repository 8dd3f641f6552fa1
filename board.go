package pomocore

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// BadQueryError is the error of BoardQuery.Resolve and ParseDay: the
// query, not a dependency, is wrong (the read API answers 400, the command
// line exits 2). Find it with errors.As.
type BadQueryError struct{ msg string }

// Error implements error.
func (e *BadQueryError) Error() string { return e.msg }

func badQuery(format string, a ...any) error { return &BadQueryError{fmt.Sprintf(format, a...)} }

// BoardQuery is a leaderboard read as the read API and `pomocore
// leaderboard` take it: a category (or the work aggregate), a period kind
// (day, week or month) and a day inside the period (empty: today).
type BoardQuery struct {
	Category, Period, Date string
}

// Board is a resolved BoardQuery: the sorted-set key, the period's name
// ("2026-W48") and the day asked about (YYYY-MM-DD).
type Board struct {
	Key, Period, Date string
}

// Resolve checks q against tax and names its board in loc, with keys under
// prefix; now is the day when q.Date is empty. Its errors wrap
// *BadQueryError and name the part that is wrong.
func (q BoardQuery) Resolve(prefix string, tax *Taxonomy, loc *time.Location, now time.Time) (Board, error) {
	if !tax.Has(q.Category) && q.Category != tax.WorkAggregate {
		return Board{}, badQuery("category %q: not one of the categories (or %q)", q.Category, tax.WorkAggregate)
	}
	day := now.In(loc)
	if q.Date != "" {
		d, err := ParseDay(q.Date, loc)
		if err != nil {
			return Board{}, &BadQueryError{"date " + err.Error()}
		}
		day = d
	}
	per := PeriodsAt(day, loc)
	var period string
	switch q.Period {
	case "day":
		period = per.Day
	case "week":
		period = per.Week
	case "month":
		period = per.Month
	default:
		return Board{}, badQuery("period %q: want day, week or month", q.Period)
	}
	return Board{Key: LeaderboardKey(prefix, q.Category, period), Period: period, Date: day.Format(time.DateOnly)}, nil
}

// ParseDay parses a day, YYYY-MM-DD, in loc and returns its noon. Its
// error is a *BadQueryError that says whether the form is wrong or the
// calendar has no such day ("2026-02-30": February 2026 has 28 days).
func ParseDay(s string, loc *time.Location) (time.Time, error) {
	t, err := time.ParseInLocation(time.DateOnly, s, loc)
	if err == nil {
		return t.Add(12 * time.Hour), nil
	}
	if len(s) == 10 && s[4] == '-' && s[7] == '-' {
		y, yerr := strconv.Atoi(s[:4])
		m, merr := strconv.Atoi(s[5:7])
		d, derr := strconv.Atoi(s[8:])
		if yerr == nil && merr == nil && derr == nil {
			if m < 1 || m > 12 {
				return time.Time{}, badQuery("%q: there is no month %d", s, m)
			}
			last := time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
			if d < 1 || d > last {
				return time.Time{}, badQuery("%q: %s %d has %d days", s, time.Month(m), y, last)
			}
		}
	}
	return time.Time{}, badQuery("%q: want YYYY-MM-DD", s)
}

// RoundScore rounds a leaderboard score (seconds) to the millisecond: the
// sum of many increments carries floating-point noise (107133.80000000009
// is 107133.8).
func RoundScore(x float64) float64 {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return x
	}
	return math.Round(x*1000) / 1000
}

// FormatScore writes a score as the read API's JSON does: rounded by
// RoundScore, the shortest decimal, no exponent below 1e21.
func FormatScore(x float64) string {
	return strconv.FormatFloat(RoundScore(x), 'f', -1, 64)
}
