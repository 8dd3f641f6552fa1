package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/pomocore/pomocore/internal/app"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/learn"
)

// learnCmd implements `pomocore learn`: it trains the local model from
// pattern files and labelled activities, prints its held-out accuracy and
// calibration (and, with -replay, what it does on the unknowns of a
// labelled set), and writes it (-o). It reads files only; retraining from
// the store runs in `pomocore run` (learn.Trainer).
func learnCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("learn", flag.ContinueOnError)
	fs.SetOutput(stderr)
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
	ps, err := app.ReadPatterns(patterns)
	if err != nil {
		return fmt.Errorf("-patterns: %w", err)
	}
	tax := pomocore.DefaultTaxonomy()
	var labelled []classify.Example
	for _, name := range labels {
		ex, err := readExamples(name)
		if err != nil {
			return fmt.Errorf("-labels %s: %w", name, err)
		}
		for _, e := range ex {
			if e.Category != tax.Default {
				labelled = append(labelled, e)
			}
		}
	}
	model, report, err := learn.TrainModel(classify.ExamplesFromPatterns(ps, tax.Default), labelled, cfg, time.Now)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "model: %s\n", report)
	if len(replays) > 0 {
		m, err := classify.Build(ps, tax.Default)
		if err != nil {
			return fmt.Errorf("-patterns: %w", err)
		}
		for _, name := range replays {
			ex, err := readExamples(name)
			if err != nil {
				return fmt.Errorf("-replay %s: %w", name, err)
			}
			r, err := learn.ReplayUnknowns(m, model, cfg.Threshold, tax.Categories, ex)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "replay %s at %.2f: %s\n", filepath.Base(name), cfg.Threshold, r)
		}
	}
	if *out == "" {
		return ctx.Err()
	}
	b, err := json.Marshal(model)
	if err != nil {
		return err
	}
	// Written aside and renamed, so that a reader never sees half a model.
	tmp := *out + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("-o: %w", err)
	}
	if err := os.Rename(tmp, *out); err != nil {
		return fmt.Errorf("-o: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes)\n", *out, len(b))
	return nil
}

func readExamples(name string) ([]classify.Example, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return learn.ReadExamples(f)
}
