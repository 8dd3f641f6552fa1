package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/pipeline"
)

// patternsCmd implements `pomocore patterns suggest`: patterns the LLM has
// answered consistently, read from the configured store (MONGO_URI, or the
// SQLite store in POMOCORE_DATA_DIR), as JSON lines.
func patternsCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "suggest" {
		fmt.Fprint(stderr, "usage: pomocore patterns suggest [-min N]\n")
		return errors.New("unknown or missing patterns subcommand (only suggest exists yet)")
	}
	fs := flag.NewFlagSet("patterns suggest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	min := fs.Int("min", 3, "answers that must agree before a pattern is proposed")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: pomocore patterns suggest [-min N]\n\nThe store is the one `run` uses, from the environment (MONGO_URI, MONGO_DATABASE, POMOCORE_DATA_DIR).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *min < 1 {
		return fmt.Errorf("-min %d: want >= 1", *min)
	}
	cfg, err := loadConfig("patterns", nil, func(k string) string {
		if k == "APP_ENV" {
			return "" // reading patterns needs no Redis
		}
		return getenv(k)
	}, stderr)
	if err != nil {
		return fmt.Errorf("bad settings: %w", err)
	}
	log := newLogger(cfg, stderr)
	st, closeStore, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeStore()
	mem, ok := st.(pipeline.LLMMemory)
	if !ok {
		return errors.New("this store cannot list LLM answers")
	}
	patterns, err := st.LoadPatterns(ctx)
	if err != nil {
		return err
	}
	names := map[pomocore.ObjectID]string{}
	for _, p := range patterns {
		names[p.ID] = p.Category
	}
	m, err := classify.Build(patterns, pomocore.Uncategorized)
	if err != nil {
		return err
	}
	docs, err := mem.LLMAnswers(ctx, math.MaxInt32)
	if err != nil {
		return err
	}
	answers := make([]classify.Answer, 0, len(docs))
	for _, d := range docs {
		if name, ok := names[d.CategoryID]; ok {
			answers = append(answers, classify.Answer{App: d.App, URL: d.URL, Title: d.Title, Category: name})
		}
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	for _, s := range classify.Suggest(answers, *min, m) {
		if err := enc.Encode(s); err != nil {
			return err
		}
	}
	return nil
}
