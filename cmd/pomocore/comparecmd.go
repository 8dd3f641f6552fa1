package main

import (
	"cmp"
	"context"
	"io"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/compare"
	"github.com/pomocore/pomocore/internal/app"
)

// compareCmd implements `pomocore compare -from DAY [-to DAY] [-json]`:
// the shadow run's leaderboards against the deployed service's, with the
// differences it can attribute (docs/cutover.md). The settings are the
// shadow run's (POMOCORE_SHADOW=true is implied): its key prefix and its
// dead-letter stream.
func compareCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flagSet("compare", stderr)
	from := fs.String("from", "", "first day compared, YYYY-MM-DD in POMOCORE_TIMEZONE (required)")
	to := fs.String("to", "", "last day compared (default -from); whole weeks and months inside are compared too")
	asJSON := fs.Bool("json", false, "write the report as one JSON document")
	top := fs.Int("top", 10, "largest per-user differences listed per key")
	liveGroup := fs.String("live-group", pomocore.DefaultGroup, "the deployed service's consumer group (its pending deliveries)")
	assume := fs.String("assume-old-unknown", "", "category the deployed service gave activities none of its patterns matched (its LLM decided; default: not attributed)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *from == "" {
		fs.Usage()
		return usagef("-from is required")
	}
	shadowEnv := func(k string) string { return cmp.Or(map[string]string{"POMOCORE_SHADOW": "true"}[k], getenv(k)) }
	var ccfg compare.Config
	a, in, err := inspectors(ctx, "compare", shadowEnv, stderr, func(a *app.App) error {
		cfg := a.Config()
		ccfg = cfg.CompareConfig(*from, cmp.Or(*to, *from), *liveGroup, a.Location(), a.Taxonomy())
		ccfg.Top, ccfg.AssumeOldUnknown = *top, *assume
		if err := ccfg.Validate(); err != nil {
			return usagef("%v", err) // before anything connects
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer a.Close()
	rep, err := compare.Run(ctx, ccfg, in.CompareSources())
	if err != nil {
		return err
	}
	return rep.Write(stdout, *asJSON)
}
