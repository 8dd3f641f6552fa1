package rebuild

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pomocore/pomocore"
)

// UsageLogReader lists stored usage logs by time (the stores implement it
// as pipeline.UsageLogReader).
type UsageLogReader interface {
	// UsageLogsBetween calls f with every usage log whose timestamp is in
	// [from, to) (unix seconds), in batches; an error from f stops it.
	UsageLogsBetween(ctx context.Context, from, to float64, f func([]pomocore.UsageLog) error) error
}

// PatternReader reads category_pattern: the categories the usage logs'
// categoryIds name.
type PatternReader interface {
	LoadPatterns(ctx context.Context) ([]pomocore.CategoryPattern, error)
}

// BoardStore reads a live leaderboard and swaps in new ones.
type BoardStore interface {
	// Scores returns the members of the board key and their scores
	// (seconds); none when it does not exist.
	Scores(ctx context.Context, key string) (map[string]float64, error)
	// Replace swaps in boards[key] for each of keys, atomically (a key
	// with no members is deleted).
	Replace(ctx context.Context, keys []string, boards map[string]map[string]float64) error
}

// ErrRefused is wrapped by the error of a rebuild that would swap in
// boards that are probably wrong: from no usage logs where the live boards
// hold scores, or for a reason its caller gives (Options.Refuse).
// Options.Force overrides it.
var ErrRefused = errors.New("rebuild refused (-force to do it anyway)")

// Options says how a rebuild goes about it.
type Options struct {
	// DryRun computes the boards and reports what would change, writing
	// nothing.
	DryRun bool
	// Force swaps the boards in even when a safety check refuses (see
	// ErrRefused).
	Force bool
	// Progress receives the progress and the warnings; Terminal says it
	// is a terminal: a bar redrawn in place there, plain lines at each
	// tenth otherwise.
	Progress io.Writer
	Terminal bool
}

// Refuse applies the rule of a safety check that failed for reason: with
// Force or DryRun it is a warning on Progress (nil), otherwise an error
// wrapping ErrRefused.
func (o Options) Refuse(reason string) error {
	if o.Force || o.DryRun {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "rebuild: warning: %s\n", reason)
		}
		return nil
	}
	return fmt.Errorf("%w: %s", ErrRefused, reason)
}

// BoardChange is how a rebuild changes one leaderboard.
type BoardChange struct {
	Key                     string
	LiveMembers, NewMembers int
	LiveTotal, NewTotal     float64
}

// Report is what a rebuild did, or would do in a dry run.
type Report struct {
	// Keys is the number of non-empty boards rebuilt, from Logs usage logs.
	Keys, Logs int
	// Changes are the boards whose members or scores change, by key.
	Changes []BoardChange
	// Swapped is whether the boards were written (false in a dry run).
	Swapped bool
}

// Rebuilder rebuilds the leaderboards of one deployment.
type Rebuilder struct {
	Logs     UsageLogReader
	Patterns PatternReader
	Boards   BoardStore
	// KeyPrefix and Taxonomy name the boards: "<prefix>:<category>:<period>"
	// for each category and the work aggregate.
	KeyPrefix string
	Taxonomy  *pomocore.Taxonomy
}

// Rebuild recomputes the planned leaderboards from the usage logs,
// compares them with the live ones and, unless opts.DryRun or a safety
// check refuses (ErrRefused), swaps them in. Usage logs of a categoryId
// no category_pattern document has, and durations <= 0, are skipped; time
// of a work category also counts towards the work aggregate.
func (r *Rebuilder) Rebuild(ctx context.Context, plan *Plan, opts Options) (Report, error) {
	var rep Report
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	patterns, err := r.Patterns.LoadPatterns(ctx)
	if err != nil {
		return rep, err
	}
	names := map[pomocore.ObjectID]string{}
	for _, p := range patterns {
		names[p.ID] = p.Category
	}
	s := summer{plan: plan, prefix: r.KeyPrefix, tax: r.Taxonomy, names: names, boards: map[string]map[string]float64{}}
	bar := &progressBar{w: progress, tty: opts.Terminal, last: -1}
	span := float64(plan.to.Unix() - plan.from.Unix())
	err = r.Logs.UsageLogsBetween(ctx, float64(plan.from.Unix()), float64(plan.to.Unix()), func(ls []pomocore.UsageLog) error {
		s.add(ls)
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
	if s.unknown > 0 {
		fmt.Fprintf(progress, "rebuild: %d usage logs have a categoryId with no category_pattern document; skipped\n", s.unknown)
	}
	all := plan.keys(r.KeyPrefix, r.Taxonomy)
	liveMembers := 0
	for _, k := range all {
		live, err := r.Boards.Scores(ctx, k)
		if err != nil {
			return rep, fmt.Errorf("reading %s: %w", k, err)
		}
		liveMembers += len(live)
		if c, changed := compareBoard(k, live, s.boards[k]); changed {
			rep.Changes = append(rep.Changes, c)
		}
	}
	rep.Keys = len(s.boards)
	if rep.Logs == 0 && liveMembers > 0 {
		if err := opts.Refuse(fmt.Sprintf("0 usage logs from %s to %s in the store, while the live boards hold %d scores: is this the store `pomocore run` writes?",
			plan.from.Format(time.DateOnly), plan.to.AddDate(0, 0, -1).Format(time.DateOnly), liveMembers)); err != nil {
			return rep, err
		}
	}
	if opts.DryRun {
		return rep, nil
	}
	if err := r.Boards.Replace(ctx, all, s.boards); err != nil {
		return rep, err
	}
	rep.Swapped = true
	return rep, nil
}

// summer sums usage logs into the planned boards, by key and member.
type summer struct {
	plan    *Plan
	prefix  string
	tax     *pomocore.Taxonomy
	names   map[pomocore.ObjectID]string // category by categoryId
	boards  map[string]map[string]float64
	unknown int // logs of a categoryId with no name
}

// add counts each log's duration on the boards of its category (and of
// the work aggregate, for a work category) of each planned period its
// timestamp falls in.
func (s *summer) add(ls []pomocore.UsageLog) {
	for _, l := range ls {
		cat, ok := s.names[l.CategoryID]
		if !ok {
			s.unknown++
			continue
		}
		if l.Duration <= 0 {
			continue
		}
		sec, frac := int64(l.Timestamp), l.Timestamp-float64(int64(l.Timestamp))
		for _, period := range pomocore.PeriodsAt(time.Unix(sec, int64(frac*1e9)), s.plan.loc).All() {
			s.addTo(cat, period, l.UserID, l.Duration)
			if s.tax.IsWork(cat) {
				s.addTo(s.tax.WorkAggregate, period, l.UserID, l.Duration)
			}
		}
	}
}

func (s *summer) addTo(cat, period, user string, d float64) {
	if !s.plan.periods[period] {
		return
	}
	k := pomocore.LeaderboardKey(s.prefix, cat, period)
	if s.boards[k] == nil {
		s.boards[k] = map[string]float64{}
	}
	s.boards[k][user] += d
}

// compareBoard reports how rebuilt changes the live board key (scores
// equal to the millisecond are unchanged).
func compareBoard(key string, live, rebuilt map[string]float64) (BoardChange, bool) {
	c := BoardChange{Key: key, LiveMembers: len(live), NewMembers: len(rebuilt)}
	changed := len(live) != len(rebuilt)
	for m, score := range live {
		c.LiveTotal += score
		if v, ok := rebuilt[m]; !ok || pomocore.RoundScore(v) != pomocore.RoundScore(score) {
			changed = true
		}
	}
	for _, v := range rebuilt {
		c.NewTotal += v
	}
	return c, changed
}
