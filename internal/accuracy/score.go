package accuracy

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
)

// Cell is one member of one daily leaderboard: a user's seconds in a
// category on a Seoul day.
type Cell struct {
	User, Category, Day string
}

// Board is the seconds of each cell.
type Board map[Cell]float64

// Total returns the seconds of every cell.
func (b Board) Total() float64 {
	var t float64
	for _, v := range b {
		t += v
	}
	return t
}

// Day is the Seoul day of a timestamp (unix seconds), as the leaderboards
// name it.
func Day(ts float64) string {
	return pomocore.PeriodsAt(time.Unix(int64(ts), 0), seoul).Day
}

// Truth is the board the entries should give: each entry's seconds in its
// ground-truth category.
func Truth(entries []Entry) Board {
	b := Board{}
	for _, e := range entries {
		b[Cell{e.UserID, e.Truth, Day(e.Timestamp)}] += float64(e.Duration)
	}
	return b
}

// Days returns the days of b's cells, sorted.
func (b Board) Days() []string {
	set := map[string]bool{}
	for c := range b {
		set[c.Day] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// Work returns, per (user, day), the seconds of b in the work categories,
// as cells of category "work".
func (b Board) Work(isWork func(string) bool) Board {
	w := Board{}
	for c, v := range b {
		if isWork(c.Category) {
			w[Cell{c.User, "work", c.Day}] += v
		}
	}
	return w
}

// Score is how right a board is against the truth.
type Score struct {
	// Seconds is the truth's total; BoardSeconds the board's (equal when
	// every entry counted once).
	Seconds, BoardSeconds float64
	// Right is the share of seconds in the right category: the sum over
	// cells of min(board, truth), over the truth's total.
	Right float64
	// WorkSeconds is the truth's seconds in work categories; WorkRight the
	// share of them the work board carries (sum over users and days of
	// min(work board, true work), over WorkSeconds); WorkExtra the work
	// board's seconds beyond the true work, over WorkSeconds.
	WorkSeconds, WorkRight, WorkExtra float64
	// Uncategorized is the share of the board's seconds in Uncategorized;
	// TrueUncategorized the truth's.
	Uncategorized, TrueUncategorized float64
}

// Compare scores board against truth; work is the board's work
// leaderboard (cells of category "work"), isWork says which categories the
// true work board sums.
func Compare(truth, board, work Board, isWork func(string) bool) Score {
	s := Score{Seconds: truth.Total(), BoardSeconds: board.Total()}
	var right float64
	for c, v := range truth {
		right += min(v, board[c])
	}
	trueWork := truth.Work(isWork)
	var wr, extra float64
	for c, v := range trueWork {
		wr += min(v, work[c])
	}
	for c, v := range work {
		extra += max(0, v-trueWork[c])
	}
	var unc, trueUnc float64
	for c, v := range board {
		if c.Category == pomocore.Uncategorized {
			unc += v
		}
	}
	for c, v := range truth {
		if c.Category == pomocore.Uncategorized {
			trueUnc += v
		}
	}
	s.WorkSeconds = trueWork.Total()
	if s.Seconds > 0 {
		s.Right, s.TrueUncategorized = right/s.Seconds, trueUnc/s.Seconds
	}
	if s.BoardSeconds > 0 {
		s.Uncategorized = unc / s.BoardSeconds
	}
	if s.WorkSeconds > 0 {
		s.WorkRight, s.WorkExtra = wr/s.WorkSeconds, extra/s.WorkSeconds
	}
	return s
}

// ReadBoards reads the daily leaderboards <prefix>:<category>:<day> of the
// categories (and of "work", returned apart) for the days.
func ReadBoards(ctx context.Context, rdb goredis.UniversalClient, prefix string, categories, days []string) (board, work Board, err error) {
	board, work = Board{}, Board{}
	for _, day := range days {
		for _, c := range append(slices.Clone(categories), "work") {
			zs, err := rdb.ZRangeWithScores(ctx, prefix+":"+c+":"+day, 0, -1).Result()
			if err != nil {
				return nil, nil, fmt.Errorf("accuracy: read %s:%s:%s: %w", prefix, c, day, err)
			}
			for _, z := range zs {
				user, _ := z.Member.(string)
				if c == "work" {
					work[Cell{user, c, day}] += z.Score
				} else {
					board[Cell{user, c, day}] += z.Score
				}
			}
		}
	}
	return board, work, nil
}

// Breakdown is, per true category, the seconds and the share a board puts
// in it, sorted by seconds (for the report).
type Breakdown struct {
	Category string
	Seconds  float64
	Right    float64
}

// ByCategory breaks the right share down by true category.
func ByCategory(truth, board Board) []Breakdown {
	sec, right := map[string]float64{}, map[string]float64{}
	for c, v := range truth {
		sec[c.Category] += v
		right[c.Category] += min(v, board[c])
	}
	var out []Breakdown
	for c, s := range sec {
		out = append(out, Breakdown{c, s, right[c] / s})
	}
	slices.SortFunc(out, func(a, b Breakdown) int {
		return cmp.Or(cmp.Compare(b.Seconds, a.Seconds), cmp.Compare(a.Category, b.Category))
	})
	return out
}
