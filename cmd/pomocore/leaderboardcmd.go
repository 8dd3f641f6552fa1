package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/app"
	"github.com/pomocore/pomocore/redis"
)

// leaderboardCmd implements `pomocore leaderboard top|rank`: the read API
// from the terminal, against the configured Redis (REDIS_ADDR, ...).
func leaderboardCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	usage := "usage: pomocore leaderboard top  [-category C] [-period day|week|month] [-date YYYY-MM-DD] [-limit N]\n" +
		"       pomocore leaderboard rank -user ID [-category C] [-period ...] [-date ...] [-around N]\n" +
		"       pomocore leaderboard rebuild -from YYYY-MM-DD -to YYYY-MM-DD\n"
	if len(args) > 0 && args[0] == "rebuild" {
		return rebuildCmd(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) == 0 || (args[0] != "top" && args[0] != "rank") {
		fmt.Fprint(stderr, usage)
		return errors.New("want top, rank or rebuild")
	}
	fs := flag.NewFlagSet("leaderboard "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	category := fs.String("category", "work", "a category, or work")
	period := fs.String("period", "day", "day, week or month")
	date := fs.String("date", "", "a day inside the period (default today in POMOCORE_TIMEZONE)")
	limit := fs.Int("limit", 10, "top: how many")
	user := fs.String("user", "", "rank: the user id")
	around := fs.Int("around", 0, "rank: users above and below to show")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	a, err := leaderboardApp(getenv, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	cfg, loc := a.Config(), a.Location()
	day := time.Now().In(loc)
	if *date != "" {
		if day, err = time.ParseInLocation(time.DateOnly, *date, loc); err != nil {
			return fmt.Errorf("-date %q: want YYYY-MM-DD", *date)
		}
		day = day.Add(12 * time.Hour)
	}
	per := pomocore.PeriodsAt(day, loc)
	name := map[string]string{"day": per.Day, "week": per.Week, "month": per.Month}[*period]
	if name == "" {
		return fmt.Errorf("-period %q: want day, week or month", *period)
	}
	if *limit < 1 || *limit > 1000 || *around < 0 || *around > 100 {
		return errors.New("-limit wants 1..1000 and -around 0..100")
	}
	key := pomocore.LeaderboardKey(cfg.KeyPrefix, *category, name)
	rdb, err := a.Redis()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	l := redis.NewLeaderboards(rdb)
	var list []redis.Ranked
	switch args[0] {
	case "top":
		list, err = l.Top(ctx, key, 0, *limit)
	case "rank":
		if *user == "" {
			return errors.New("rank: -user is required")
		}
		me, found, err := l.Rank(ctx, key, *user)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("%s has no score on %s", *user, key)
		}
		list = []redis.Ranked{me}
		if *around > 0 {
			list, err = l.Around(ctx, key, *user, *around)
		}
		if err != nil {
			return err
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, key)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RANK\tUSER\tSECONDS")
	for _, r := range list {
		fmt.Fprintf(tw, "%d\t%s\t%g\n", r.Rank, r.Member, r.Score)
	}
	return tw.Flush()
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
	a, err := leaderboardApp(getenv, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	cfg := a.Config()
	plan, err := app.PlanRebuild(*from, *to, a.Location())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rebuilding %d days, %d whole weeks, %d whole months from %s to %s (%s)\n",
		plan.Days, plan.Weeks, plan.Months, *from, *to, cfg.TimeZone)
	if len(plan.Partial) > 0 {
		fmt.Fprintf(stdout, "left alone, only partly in the range: %v\n", plan.Partial)
	}
	keys, logs, err := a.Rebuild(ctx, plan, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "swapped in %d leaderboards rebuilt from %d usage logs\n", keys, logs)
	return nil
}

// leaderboardApp is the application of the leaderboard tools, which need a
// configured Redis (REDIS_ADDR).
func leaderboardApp(getenv func(string) string, stderr io.Writer) (*app.App, error) {
	cfg, err := loadConfig("leaderboard", nil, getenv, stderr)
	if err != nil {
		return nil, fmt.Errorf("bad settings: %w", err)
	}
	if len(cfg.RedisAddrs) == 0 {
		return nil, errors.New("REDIS_ADDR: required (the embedded Redis of a running `pomocore run` is at the address it printed)")
	}
	return app.New(cfg, app.Deps{})
}
