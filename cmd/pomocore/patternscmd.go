package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/internal/app"
	"github.com/pomocore/pomocore/internal/tools"
	"github.com/pomocore/pomocore/learn"
	"github.com/pomocore/pomocore/pipeline"
)

const patternsUsage = `usage: pomocore patterns list
       pomocore patterns export > patterns.json
       pomocore patterns import FILE      (patterns.json's format, or the main server's category-patterns.json)
       pomocore patterns add    -category C [-app NAME]... [-domain HOST[/PATH]]...
       pomocore patterns remove -category C [-app NAME]... [-domain HOST[/PATH]]...
       pomocore patterns suggest [-min N]
       pomocore patterns learned          (the patterns POMOCORE_LEARN_PROMOTE added, with their origin)
       pomocore patterns revert [-kind app|domain] PATTERN   (remove a learned pattern)

The store is the one ` + "`run`" + ` uses, from the environment (MONGO_URI, MONGO_DATABASE,
POMOCORE_DATA_DIR). Running pipelines pick changes up at their next reload
(POMOCORE_PATTERN_RELOAD).
`

// patternStore is what the patterns tools need of a store.
type patternStore interface {
	app.Store
	pipeline.PatternEditor
}

// withStore opens the configured store for the patterns tools, logging to
// logOut.
func withStore(ctx context.Context, getenv func(string) string, stderr, logOut io.Writer, f func(app.Store) error) error {
	return withApp(getenv, stderr, logOut, func(a *app.App) error {
		st, err := a.Store(ctx)
		if err != nil {
			return err
		}
		return f(st)
	})
}

// withApp opens the application of the settings for the patterns tools
// (its store only: no Redis, and APP_ENV is not read), logging to logOut
// (nil: nowhere).
func withApp(getenv func(string) string, stderr, logOut io.Writer, f func(*app.App) error) error {
	cfg, err := loadConfig("patterns", nil, func(k string) string {
		if k == "APP_ENV" {
			return ""
		}
		return getenv(k)
	}, stderr)
	if err != nil {
		return fmt.Errorf("bad settings: %w", err)
	}
	deps := app.Deps{}
	if logOut != nil {
		deps.Log = app.NewLogger(cfg, logOut)
	}
	a, err := app.New(cfg, deps)
	if err != nil {
		return err
	}
	defer a.Close()
	return f(a)
}

// withPatternStore opens the configured store for the patterns tools that
// edit.
func withPatternStore(ctx context.Context, getenv func(string) string, stderr io.Writer, f func(patternStore) error) error {
	return withStore(ctx, getenv, stderr, io.Discard, func(st app.Store) error {
		ps, ok := st.(patternStore)
		if !ok {
			return errors.New("this store cannot edit patterns")
		}
		return f(ps)
	})
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// patternsCmd implements `pomocore patterns ...`.
func patternsCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, patternsUsage)
		return errors.New("missing patterns subcommand")
	}
	switch args[0] {
	case "list":
		return withApp(getenv, stderr, nil, func(a *app.App) error {
			st, err := a.Store(ctx)
			if err != nil {
				return err
			}
			ps, err := st.LoadPatterns(ctx)
			if err != nil {
				return err
			}
			return tools.ListPatterns(stdout, ps, a.Config().BuiltinPatterns == "fallback")
		})
	case "export":
		return withPatternStore(ctx, getenv, stderr, func(st patternStore) error {
			ps, err := st.LoadPatterns(ctx)
			if err != nil {
				return err
			}
			return tools.ExportPatterns(stdout, ps)
		})
	case "import":
		if len(args) != 2 {
			return errors.New("import: want exactly one FILE")
		}
		b, err := os.ReadFile(args[1])
		if err != nil {
			return err
		}
		incoming, err := classify.ParsePatterns(b)
		if err != nil {
			return fmt.Errorf("%s: %w", args[1], err)
		}
		return withPatternStore(ctx, getenv, stderr, func(st patternStore) error {
			c, err := tools.ImportPatterns(ctx, st, incoming)
			return tools.ReportPatternWrite(c, err, stdout)
		})
	case "add", "remove":
		fs := flagSet("patterns "+args[0], stderr)
		category := fs.String("category", "", "the category")
		var apps, domains multiFlag
		fs.Var(&apps, "app", "an app pattern (repeatable)")
		fs.Var(&domains, "domain", "a domain pattern, host or host/path (repeatable)")
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		e := classify.PatternEdit{Category: *category, Apps: apps, Domains: domains, Remove: args[0] == "remove"}
		if err := e.Validate(); err != nil {
			if *category == "" || len(apps)+len(domains) == 0 {
				return fmt.Errorf("%s: %w: want -category and at least one -app or -domain", args[0], err)
			}
			return fmt.Errorf("%s: %w", args[0], err) // the rule of the unknowns panel and of promotion too
		}
		return withPatternStore(ctx, getenv, stderr, func(st patternStore) error {
			c, err := learn.NewEditor(st, nil).Edit(ctx, e)
			return tools.ReportPatternWrite(c, err, stdout)
		})
	case "learned":
		if len(args) != 1 {
			return errors.New("learned: no arguments")
		}
		return withApp(getenv, stderr, nil, func(a *app.App) error {
			ls, err := a.LearnedPatterns(ctx)
			if err != nil {
				return err
			}
			return tools.PrintLearned(stdout, ls)
		})
	case "revert":
		fs := flagSet("patterns revert", stderr)
		kind := fs.String("kind", "", "app or domain (needed only when the pattern was learned as both)")
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return errors.New("revert: want exactly one PATTERN (see pomocore patterns learned)")
		}
		if *kind != "" && *kind != string(learn.KindApp) && *kind != string(learn.KindDomain) {
			return fmt.Errorf("revert: -kind %q: want app or domain", *kind)
		}
		return withApp(getenv, stderr, nil, func(a *app.App) error {
			l, err := a.RevertLearned(ctx, learn.Kind(*kind), fs.Arg(0))
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "reverted learned %s pattern %q of %s; running pipelines drop it within POMOCORE_PATTERN_RELOAD\n",
				l.Kind, l.Pattern, l.Category)
			return nil
		})
	case "suggest":
	default:
		fmt.Fprint(stderr, patternsUsage)
		return fmt.Errorf("unknown patterns subcommand %q", args[0])
	}
	fs := flagSet("patterns suggest", stderr)
	min := fs.Int("min", 3, "answers that must agree before a pattern is proposed")
	fs.Usage = func() { fmt.Fprint(stderr, patternsUsage) }
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *min < 1 {
		return fmt.Errorf("-min %d: want >= 1", *min)
	}
	return withStore(ctx, getenv, stderr, stderr, func(st app.Store) error { return tools.SuggestPatterns(ctx, st, *min, stdout) })
}
