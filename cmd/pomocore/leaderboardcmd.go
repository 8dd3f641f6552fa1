package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/app"
	"github.com/pomocore/pomocore/rebuild"
)

const leaderboardUsage = `usage: pomocore leaderboard top  [-category C] [-period day|week|month] [-date YYYY-MM-DD] [-limit N]
       pomocore leaderboard rank -user ID [-category C] [-period ...] [-date ...] [-around N]
       pomocore leaderboard rebuild -from YYYY-MM-DD -to YYYY-MM-DD [-dry-run] [-force]

Reads (top, rank) or rebuilds the leaderboards in the configured Redis
(REDIS_ADDR, ...); rebuild reads the usage logs of the configured store
(MONGO_URI, or POMOCORE_DATA_DIR's SQLite store).
`

// leaderboardCmd implements `pomocore leaderboard top|rank|rebuild`: the
// read API from the terminal, against the configured Redis (REDIS_ADDR,
// ...), with the API's validation and its way of printing scores.
func leaderboardCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "rebuild" {
		return rebuildCmd(ctx, args[1:], getenv, stdout, stderr)
	}
	if code, done := subcommandHelp(args, []string{"top", "rank", "rebuild"}, leaderboardUsage, stdout, stderr); done {
		if code == 0 {
			return flag.ErrHelp
		}
		return usagef("want top, rank or rebuild")
	}
	sub := args[0]
	usage := map[string]string{
		"top":  "usage: pomocore leaderboard top [-category C] [-period day|week|month] [-date YYYY-MM-DD] [-limit N]\n\nThe top of a leaderboard, highest score first; equal scores share a rank.\n",
		"rank": "usage: pomocore leaderboard rank -user ID [-category C] [-period day|week|month] [-date YYYY-MM-DD] [-around N]\n\nOne user's rank and score, and with -around the users above and below.\n",
	}[sub]
	fs := newFlags("leaderboard "+sub, usage, stderr)
	var q pomocore.BoardQuery
	fs.StringVar(&q.Category, "category", "work", "a category, or work")
	fs.StringVar(&q.Period, "period", "day", "day, week or month")
	fs.StringVar(&q.Date, "date", "", "a day inside the period (default today in POMOCORE_TIMEZONE)")
	var limit, around int
	var user string
	if sub == "top" {
		fs.IntVar(&limit, "limit", 10, "how many (1..1000)")
	} else {
		fs.StringVar(&user, "user", "", "the user id (required)")
		fs.IntVar(&around, "around", 0, "users above and below to show (0..100)")
	}
	if err := parseNoArgs(fs, args[1:]); err != nil {
		return err
	}
	switch {
	case sub == "top" && (limit < 1 || limit > 1000):
		return usagef("-limit %d: want 1..1000", limit)
	case sub == "rank" && (around < 0 || around > 100):
		return usagef("-around %d: want 0..100", around)
	case sub == "rank" && user == "":
		return usagef("rank: -user is required")
	}
	a, err := leaderboardApp(getenv, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	board, err := q.Resolve(a.Config().Pipeline.KeyPrefix, a.Taxonomy(), a.Location(), time.Now())
	var bad *pomocore.BadQueryError
	if errors.As(err, &bad) {
		return usageError{err}
	} else if err != nil {
		return err
	}
	list, found, err := a.Board(ctx, board.Key, user, limit, around)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%s has no score on %s", user, board.Key)
	}
	fmt.Fprintln(stdout, board.Key)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RANK\tUSER\tSECONDS")
	for _, r := range list {
		fmt.Fprintf(tw, "%d\t%s\t%s\n", r.Rank, r.UserID, pomocore.FormatScore(r.Score))
	}
	return tw.Flush()
}

// rebuildCmd implements `pomocore leaderboard rebuild -from D -to D`.
func rebuildCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("leaderboard rebuild", `usage: pomocore leaderboard rebuild -from YYYY-MM-DD -to YYYY-MM-DD [-dry-run] [-force]

Recomputes the leaderboards of those days (and of the weeks and months
wholly inside them) from the usage logs of the configured store, and swaps
them in atomically. It refuses when the store is not named (MONGO_URI or
POMOCORE_DATA_DIR), does not exist yet, or has no usage logs in the range
while the live boards hold scores; -force does it anyway. -dry-run says
which boards would change and writes nothing.
`, stderr)
	from := fs.String("from", "", "first day, YYYY-MM-DD (in POMOCORE_TIMEZONE; required)")
	to := fs.String("to", "", "last day, YYYY-MM-DD (required)")
	dry := fs.Bool("dry-run", false, "compute and compare only; write nothing")
	force := fs.Bool("force", false, "swap the boards in even when a safety check refuses")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *from == "" || *to == "" {
		return usagef("-from and -to are required")
	}
	a, err := leaderboardApp(getenv, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	cfg := a.Config()
	plan, err := rebuild.PlanDays(*from, *to, a.Location())
	if err != nil {
		return usageError{err}
	}
	fmt.Fprintf(stdout, "rebuilding %d days, %d whole weeks, %d whole months from %s to %s (%s)\n",
		plan.Days, plan.Weeks, plan.Months, *from, *to, cfg.TimeZone)
	if len(plan.Partial) > 0 {
		fmt.Fprintf(stdout, "left alone, only partly in the range: %v\n", plan.Partial)
	}
	rep, err := a.Rebuild(ctx, plan, app.RebuildOptions{
		Options:  rebuild.Options{DryRun: *dry, Force: *force, Progress: stderr, Terminal: isTerminal(stderr)},
		StoreSet: getenv("MONGO_URI") != "" || getenv("POMOCORE_DATA_DIR") != "",
	})
	if err != nil {
		return err
	}
	return rep.Print(stdout)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// leaderboardApp is the application of the leaderboard tools, which need a
// configured Redis (REDIS_ADDR).
func leaderboardApp(getenv func(string) string, stderr io.Writer) (*app.App, error) {
	cfg, err := loadConfig("leaderboard", nil, getenv, stderr)
	if err != nil {
		return nil, fmt.Errorf("bad settings: %w", err)
	}
	if len(cfg.Redis.Addrs) == 0 {
		return nil, errors.New("REDIS_ADDR: required (the embedded Redis of a running `pomocore run` is at the address it printed)")
	}
	return app.New(cfg, app.Deps{})
}
