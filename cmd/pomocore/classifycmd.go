package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/internal/app"
	"github.com/pomocore/pomocore/internal/eval"
	"github.com/pomocore/pomocore/internal/tools"
)

// classifierFlags are the flags `classify` and `eval` share.
type classifierFlags struct {
	patterns string
	builtin  string
	noLLM    bool
}

func (c *classifierFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.patterns, "patterns", "", "JSON file of category patterns: an array in the format of classify/patterns.json, or the main server's category-patterns.json ({\"categoryPatterns\": [...]}) (default: the built-in set)")
	fs.StringVar(&c.builtin, "builtin-patterns", "fallback", "with -patterns, as POMOCORE_BUILTIN_PATTERNS in run: fallback (the built-in set answers, as source builtin, what the file is silent about, in the file's categories only) or off (the file alone; seed-only is the same here)")
	fs.BoolVar(&c.noLLM, "no-llm", false, "pattern matching only, even when OPENAI_API_KEY is set")
}

// fallback returns the LLM client when OPENAI_API_KEY is set and -no-llm is
// not, else nil.
func (c *classifierFlags) fallback(getenv func(string) string) (classify.Fallback, error) {
	if c.noLLM || getenv("OPENAI_API_KEY") == "" {
		return nil, nil
	}
	// Only the LLM settings matter here; the pipeline's are not checked.
	cfg := app.Defaults()
	for _, st := range cfg.Settings() {
		if v := getenv(st.Env); v != "" && (strings.HasPrefix(st.Env, "OPENAI_") || strings.HasPrefix(st.Env, "POMOCORE_LLM_")) {
			if err := st.Value.Set(v); err != nil {
				return nil, fmt.Errorf("%s: %w", st.Env, err)
			}
		}
	}
	return cfg.LLMFallback()
}

// matcher is tools.FileMatcher of -patterns and -builtin-patterns.
func (c *classifierFlags) matcher(stderr io.Writer) (*classify.Matcher, error) {
	return tools.FileMatcher(c.patterns, c.builtin, stderr)
}

// classifyCmd implements `pomocore classify`: JSON lines in, JSON lines out,
// or one activity from flags.
func classifyCmd(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flagSet("classify", stderr)
	var cf classifierFlags
	cf.register(fs)
	var one eval.Line
	fs.StringVar(&one.App, "app", "", "classify this app (instead of reading JSON lines on stdin)")
	fs.StringVar(&one.URL, "url", "", "with -app: the URL")
	fs.StringVar(&one.Title, "title", "", "with -app: the window title")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: pomocore classify [flags] < activities.jsonl\n       pomocore classify -app NAME [-url URL] [-title TITLE]\n\nInput lines: {\"app\":...,\"title\":...,\"url\":...}; output adds category and source.\n\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	m, err := cf.matcher(stderr)
	if err != nil {
		return err
	}
	fb, err := cf.fallback(getenv)
	if err != nil {
		return err
	}
	var lines []eval.Line
	if one.App != "" || one.URL != "" {
		lines = append(lines, one)
	} else if err := eval.EachLine(stdin, func(n int, a eval.Line) error { lines = append(lines, a); return nil }); err != nil {
		return err
	}
	results := tools.ClassifyLines(m, fb, lines, stderr)
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	type out struct {
		eval.Line
		Source pomocore.Source `json:"source"`
	}
	for i, a := range lines {
		a.Category = results[i].Category
		if err := enc.Encode(out{a, results[i].Source}); err != nil {
			return err
		}
	}
	return nil
}

// evalCmd implements `pomocore eval FILE`.
func evalCmd(args []string, stdout, stderr io.Writer) error {
	fs := flagSet("eval", stderr)
	var cf classifierFlags
	cf.register(fs)
	modelFile := fs.String("model", "", "a local model (JSON, from pomocore learn -o) that answers what the patterns do not know, as in run (default: none)")
	threshold := fs.Float64("threshold", app.Defaults().Learn.Threshold, "with -model: the confidence at which the model answers")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: pomocore eval [flags] FILE.jsonl\n\nEach line: {\"app\":...,\"title\":...,\"url\":...,\"category\":...}.\n\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return usagef("want exactly one labelled file")
	}
	if !(*threshold > 0 && *threshold <= 1) {
		return fmt.Errorf("-threshold %v: want 0 < t <= 1", *threshold)
	}
	m, err := cf.matcher(stderr)
	if err != nil {
		return err
	}
	c, err := tools.SourceCounter(m, *modelFile, *threshold)
	if err != nil {
		return err
	}
	defer c.Close()
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := eval.Evaluate(c, f)
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	r.Print(stdout)
	fmt.Fprintf(stdout, "\nby source: %s\n", c)
	return nil
}
