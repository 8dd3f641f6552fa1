package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/pipeline"
)

const patternsUsage = `usage: pomocore patterns list
       pomocore patterns export > patterns.json
       pomocore patterns import FILE      (patterns.json's format, or the main server's category-patterns.json)
       pomocore patterns add    -category C [-app NAME]... [-domain HOST[/PATH]]...
       pomocore patterns remove -category C [-app NAME]... [-domain HOST[/PATH]]...
       pomocore patterns suggest [-min N]

The store is the one ` + "`run`" + ` uses, from the environment (MONGO_URI, MONGO_DATABASE,
POMOCORE_DATA_DIR). Running pipelines pick changes up at their next reload
(POMOCORE_PATTERN_RELOAD).
`

// patternStore is what the patterns tools need of a store.
type patternStore interface {
	store
	pipeline.PatternEditor
}

// withPatternStore opens the configured store for the patterns tools.
func withPatternStore(ctx context.Context, getenv func(string) string, stderr io.Writer, f func(patternStore) error) error {
	cfg, err := loadConfig("patterns", nil, func(k string) string {
		if k == "APP_ENV" {
			return "" // editing patterns needs no Redis
		}
		return getenv(k)
	}, stderr)
	if err != nil {
		return fmt.Errorf("bad settings: %w", err)
	}
	st, closeStore, err := openStore(ctx, cfg, newLogger(cfg, io.Discard))
	if err != nil {
		return err
	}
	defer closeStore()
	ps, ok := st.(patternStore)
	if !ok {
		return errors.New("this store cannot edit patterns")
	}
	return f(ps)
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
	case "list", "export":
		return withPatternStore(ctx, getenv, stderr, func(st patternStore) error {
			ps, err := st.LoadPatterns(ctx)
			if err != nil {
				return err
			}
			if args[0] == "export" {
				return exportPatterns(stdout, ps)
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CATEGORY\tID\tPRIORITY\tAPPS\tDOMAINS\tTITLE RULES")
			for _, p := range ps {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\n", p.Category, p.ID, p.Priority, len(p.AppPatterns), len(p.DomainPatterns), len(p.TitleRules))
			}
			return tw.Flush()
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
			current, err := st.LoadPatterns(ctx)
			if err != nil {
				return err
			}
			merged := slices.Clone(current)
			for _, in := range incoming {
				i := slices.IndexFunc(merged, func(p pomocore.CategoryPattern) bool { return p.Category == in.Category })
				if i >= 0 {
					in.ID = merged[i].ID // keep the categoryId documents refer to
					merged[i] = in
				} else {
					in.ID = pomocore.NewObjectID(time.Now())
					merged = append(merged, in)
				}
			}
			// The file's own patterns in two categories are its data (the
			// main server's has twenty): they load as deployed.
			return writePatterns(ctx, st, current, merged, nil, true, stdout)
		})
	case "add", "remove":
		fs := flag.NewFlagSet("patterns "+args[0], flag.ContinueOnError)
		fs.SetOutput(stderr)
		category := fs.String("category", "", "the category")
		var apps, domains multiFlag
		fs.Var(&apps, "app", "an app pattern (repeatable)")
		fs.Var(&domains, "domain", "a domain pattern, host or host/path (repeatable)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *category == "" || len(apps)+len(domains) == 0 {
			return errors.New(args[0] + ": want -category and at least one -app or -domain")
		}
		return withPatternStore(ctx, getenv, stderr, func(st patternStore) error {
			current, err := st.LoadPatterns(ctx)
			if err != nil {
				return err
			}
			ps := slices.Clone(current)
			i := slices.IndexFunc(ps, func(p pomocore.CategoryPattern) bool { return p.Category == *category })
			if i < 0 {
				if args[0] == "remove" {
					return fmt.Errorf("no category %q", *category)
				}
				ps = append(ps, pomocore.CategoryPattern{ID: pomocore.NewObjectID(time.Now()), Category: *category})
				i = len(ps) - 1
			}
			p := &ps[i]
			p.AppPatterns, p.DomainPatterns = slices.Clone(p.AppPatterns), slices.Clone(p.DomainPatterns)
			edit := func(list []string, values []string) []string {
				for _, v := range values {
					has := slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, v) })
					switch {
					case args[0] == "add" && !has:
						list = append(list, v)
					case args[0] == "remove":
						list = slices.DeleteFunc(list, func(x string) bool { return strings.EqualFold(x, v) })
					}
				}
				return list
			}
			p.AppPatterns, p.DomainPatterns = edit(p.AppPatterns, apps), edit(p.DomainPatterns, domains)
			return writePatterns(ctx, st, current, ps, []pomocore.ObjectID{p.ID}, false, stdout)
		})
	case "suggest":
	default:
		fmt.Fprint(stderr, patternsUsage)
		return fmt.Errorf("unknown patterns subcommand %q", args[0])
	}
	fs := flag.NewFlagSet("patterns suggest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	min := fs.Int("min", 3, "answers that must agree before a pattern is proposed")
	fs.Usage = func() { fmt.Fprint(stderr, patternsUsage) }
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

// writePatterns checks that the new set builds before writing the
// documents named in only (all when nil). A pattern the change puts in a
// second category at the same priority is refused, unless allowConflicts
// (an imported file's own data); conflicts that remain are noted: at run
// time the document loaded later wins, as deployed.
func writePatterns(ctx context.Context, st patternStore, before, after []pomocore.CategoryPattern, only []pomocore.ObjectID,
	allowConflicts bool, out io.Writer) error {
	m, err := classify.Build(after, pomocore.Uncategorized)
	if err != nil {
		return fmt.Errorf("not written: %w", err)
	}
	known := map[string]bool{}
	if old, err := classify.Build(before, pomocore.Uncategorized); err == nil {
		for _, c := range old.Conflicts() {
			known[c.Kind+"\x00"+c.Pattern] = true
		}
	}
	var added []string
	for _, c := range m.Conflicts() {
		if !known[c.Kind+"\x00"+c.Pattern] {
			added = append(added, c.String())
		}
	}
	if len(added) > 0 && !allowConflicts {
		return fmt.Errorf("not written: the change puts a pattern in a second category at the same priority (%s); "+
			"remove it from the other category or give one document a higher priority", strings.Join(added, "; "))
	}
	n := 0
	for _, p := range after {
		if only != nil && !slices.Contains(only, p.ID) {
			continue
		}
		if err := st.UpsertPattern(ctx, p); err != nil {
			return err
		}
		n++
	}
	fmt.Fprintf(out, "wrote %d category_pattern document(s); running pipelines reload them within POMOCORE_PATTERN_RELOAD\n", n)
	if conflicts := m.Conflicts(); len(conflicts) > 0 {
		fmt.Fprintf(out, "note: %d pattern(s) are in two categories at the same priority; the document loaded later wins, as deployed:\n", len(conflicts))
		for _, c := range conflicts {
			fmt.Fprintf(out, "  %s\n", c)
		}
	}
	return nil
}

// exportPatterns writes patterns in the format of classify/patterns.json.
func exportPatterns(w io.Writer, ps []pomocore.CategoryPattern) error {
	b, err := classify.MarshalPatterns(ps)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
