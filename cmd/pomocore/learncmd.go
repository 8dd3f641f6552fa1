package main

import (
	"context"
	"fmt"
	"io"

	"github.com/pomocore/pomocore/internal/tools"
)

// learnCmd implements `pomocore learn`: it trains the local model from
// pattern files and labelled activities, prints its held-out accuracy and
// calibration (and, with -replay, what it does on the unknowns of a
// labelled set), and writes it (-o). It reads files only; retraining from
// the store runs in `pomocore run` (learn.Trainer).
func learnCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flagSet("learn", stderr)
	var patterns, labels, replays multiFlag
	fs.Var(&patterns, "patterns", "category patterns to learn from: a JSON file (classify/patterns.json's format or the main server's category-patterns.json), or \"builtin\" for the built-in set; repeatable (default builtin)")
	fs.Var(&labels, "labels", "labelled activities to learn from, JSON lines {\"app\",\"url\",\"title\",\"category\"}; repeatable")
	fs.Var(&replays, "replay", "labelled activities (JSON lines) to replay: on those the patterns do not classify, the share the model answers, its accuracy there and the LLM queries saved; repeatable")
	out := fs.String("o", "", "write the model (JSON) to this file")
	settings, err := loadConfig("learn", nil, getenv, stderr)
	if err != nil {
		return err
	}
	cfg := settings.Learn
	fs.Float64Var(&cfg.Threshold, "threshold", cfg.Threshold, "the confidence at which the model answers (default: the setting POMOCORE_MODEL_THRESHOLD)")
	fs.IntVar(&cfg.HoldOutPercent, "holdout", cfg.HoldOutPercent, "percent of the examples held out to measure and calibrate the model")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: pomocore learn [-patterns FILE|builtin]... [-labels FILE]... [-replay FILE]... [-o model.json]\n\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("learn: unexpected arguments %q", fs.Args())
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("learn: %w", err)
	}
	if len(patterns) == 0 {
		patterns = multiFlag{"builtin"}
	}
	if err := tools.LearnFromFiles(cfg, patterns, labels, replays, *out, stdout); err != nil || *out != "" {
		return err
	}
	return ctx.Err()
}
