// Package tools is what the command-line tools (pomocore classify, eval,
// learn, patterns) do beyond reading their flags: pattern files and
// reports, classifying lines for eval, training from files. It uses the
// core packages only; what a tool needs of an adapter (the LLM, Redis, a
// store) internal/app builds and hands it.
package tools

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/internal/eval"
	"github.com/pomocore/pomocore/learn"
	"github.com/pomocore/pomocore/pipeline"
)

// PatternLoader reads category_pattern (a store's pipeline.Patterns half);
// SuggestPatterns also needs the store to be a pipeline.LLMMemory.
type PatternLoader interface {
	LoadPatterns(ctx context.Context) ([]pomocore.CategoryPattern, error)
}

// ReadPatterns reads category patterns from files (classify/patterns.json's
// format or the main server's category-patterns.json); the name "builtin"
// is the built-in set.
func ReadPatterns(names []string) ([]pomocore.CategoryPattern, error) {
	var ps []pomocore.CategoryPattern
	for _, name := range names {
		if name == "builtin" {
			ps = append(ps, classify.DefaultPatterns()...)
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		more, err := classify.ParsePatterns(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		ps = append(ps, more...)
	}
	return ps, nil
}

// FileMatcher builds the classifier of a pattern file (the built-in set
// when file is ""), with the built-in set layered under the file as run
// layers it under category_pattern when builtin is "fallback". A pattern
// the file puts in two categories at the same priority goes to the later
// one, as deployed; each such resolution is noted on warn.
func FileMatcher(file, builtin string, warn io.Writer) (*classify.Matcher, error) {
	switch builtin {
	case "", "fallback", "seed-only", "off":
	default:
		return nil, fmt.Errorf("-builtin-patterns %q: want fallback or off", builtin)
	}
	patterns := classify.DefaultPatterns()
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("-patterns: %w", err)
		}
		if patterns, err = classify.ParsePatterns(b); err != nil {
			return nil, fmt.Errorf("-patterns %s: %w", file, err)
		}
	}
	m, err := classify.Build(patterns, pomocore.Uncategorized)
	if err != nil {
		return nil, fmt.Errorf("-patterns %s: %w", cmp.Or(file, "(built in)"), err)
	}
	if conflicts := m.Conflicts(); len(conflicts) > 0 {
		fmt.Fprintf(warn, "pomocore: %d pattern(s) are in two categories at the same priority; the later document wins, as deployed:\n", len(conflicts))
		for _, cf := range conflicts {
			fmt.Fprintf(warn, "  %s\n", cf)
		}
	}
	if file != "" && builtin == "fallback" {
		builtin, err := classify.Build(classify.DefaultPatterns(), pomocore.Uncategorized)
		if err != nil {
			return nil, fmt.Errorf("built-in patterns: %w", err)
		}
		usable, _ := classify.Restrict(patterns, pomocore.DefaultTaxonomy())
		m = classify.Layer(m, builtin, usable)
	}
	return m, nil
}

// ClassifyLines classifies each line with m and asks fb (when not nil)
// about those m leaves to the default, 20 per request, each request within
// a minute; an answer that is not a category, or a failed request (noted on
// warn), leaves the default.
func ClassifyLines(m *classify.Matcher, fb classify.Fallback, lines []eval.Line, warn io.Writer) []pomocore.Classification {
	results := make([]pomocore.Classification, len(lines))
	var unknown []int
	for i, a := range lines {
		results[i] = m.Classify(a.App, a.URL, a.Title)
		if results[i].Source == pomocore.SourceDefault {
			unknown = append(unknown, i)
		}
	}
	if fb == nil {
		return results
	}
	tax := pomocore.DefaultTaxonomy()
	for start := 0; start < len(unknown); start += 20 {
		idx := unknown[start:min(start+20, len(unknown))]
		qs := make([]classify.Query, len(idx))
		for j, i := range idx {
			host, _ := classify.Host(lines[i].URL)
			qs[j] = classify.Query{App: pomocore.SanitizeText(lines[i].App, 100), Host: host, Title: pomocore.SanitizeText(lines[i].Title, 200)}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		answers, err := fb.Categorize(ctx, qs)
		cancel()
		if err != nil {
			fmt.Fprintf(warn, "pomocore classify: LLM: %v\n", err)
			continue
		}
		for j, i := range idx {
			if tax.Has(strings.TrimSpace(answers[j])) {
				results[i] = pomocore.Classification{Category: strings.TrimSpace(answers[j]), Source: pomocore.SourceLLM}
			}
		}
	}
	return results
}

// ListPatterns writes a line per category_pattern document. With the
// built-in set layered under them (layered), a column counts each
// category's patterns that the built-in set puts in another category, and
// a section lists them: category_pattern's category applies.
func ListPatterns(w io.Writer, ps []pomocore.CategoryPattern, layered bool) error {
	var ds []classify.Disagreement
	differs := map[string]int{}
	if layered {
		ds = classify.Disagreements(ps, classify.DefaultPatterns())
		for _, d := range ds {
			differs[d.Store]++
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := "CATEGORY\tID\tPRIORITY\tAPPS\tDOMAINS\tTITLE RULES"
	if layered {
		header += "\tBUILT-IN DIFFERS"
	}
	fmt.Fprintln(tw, header)
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d", p.Category, p.ID, p.Priority, len(p.AppPatterns), len(p.DomainPatterns), len(p.TitleRules))
		if layered {
			fmt.Fprintf(tw, "\t%d", differs[p.Category])
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(ds) > 0 {
		fmt.Fprintf(w, "\nbuilt-in set disagrees on %d pattern(s); category_pattern's category applies (POMOCORE_BUILTIN_PATTERNS=fallback):\n", len(ds))
		for _, d := range ds {
			fmt.Fprintf(w, "  %s\n", d)
		}
	}
	return nil
}

// ImportPatterns writes incoming into st's category_pattern through the
// pattern editor: a category already there is replaced, keeping its id
// (the categoryId documents refer to), a new one is added. The file's own
// patterns in two categories are its data (the main server's has twenty):
// they load as deployed.
func ImportPatterns(ctx context.Context, st learn.PatternStore, incoming []pomocore.CategoryPattern) (learn.Change, error) {
	return learn.NewEditor(st, nil).Apply(ctx, learn.Update{
		Change: func(current []pomocore.CategoryPattern, newID func() pomocore.ObjectID) ([]pomocore.CategoryPattern, []pomocore.ObjectID, error) {
			merged := slices.Clone(current)
			for _, in := range incoming {
				i := slices.IndexFunc(merged, func(p pomocore.CategoryPattern) bool { return p.Category == in.Category })
				if i >= 0 {
					in.ID = merged[i].ID
					merged[i] = in
				} else {
					in.ID = newID()
					merged = append(merged, in)
				}
			}
			ids := make([]pomocore.ObjectID, len(merged))
			for i, p := range merged {
				ids[i] = p.ID // every document, as before the editor
			}
			return merged, ids, nil
		},
		AllowConflicts: true,
	})
}

// SuggestPatterns writes, as JSON lines, the patterns the LLM fallback's
// answers in st propose (min answers agreeing).
func SuggestPatterns(ctx context.Context, st PatternLoader, min int, w io.Writer) error {
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
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, s := range classify.Suggest(answers, min, m) {
		if err := enc.Encode(s); err != nil {
			return err
		}
	}
	return nil
}

// LearnFromFiles trains the local model (pomocore learn) from the pattern
// files (ReadPatterns) and the labelled activities (JSON lines; those of
// the default category are left out), writes its report, and what it does
// on the unknowns of each replay file; with out set, it writes the model
// there (aside, then renamed: a reader never sees half a model).
func LearnFromFiles(cfg learn.Config, patterns, labels, replays []string, out string, w io.Writer) error {
	ps, err := ReadPatterns(patterns)
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
	fmt.Fprintf(w, "model: %s\n", report)
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
			fmt.Fprintf(w, "replay %s at %.2f: %s\n", filepath.Base(name), cfg.Threshold, r)
		}
	}
	if out == "" {
		return nil
	}
	n, err := learn.WriteModel(out, model)
	if err != nil {
		return fmt.Errorf("-o: %w", err)
	}
	fmt.Fprintf(w, "wrote %s (%d bytes)\n", out, n)
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

// Counter classifies as its classifier does and counts the answers by
// source; String writes the counts as pomocore eval prints them. Close
// stops the model's chain, if any.
type Counter struct {
	c interface {
		Classify(app, url, title string) pomocore.Classification
	}
	close func()
	n     map[pomocore.Source]int
}

// SourceCounter counts the classifications of m, or, with modelFile (a
// local model from pomocore learn -o), of m then the model answering at
// threshold what m does not know, as in run.
func SourceCounter(m *classify.Matcher, modelFile string, threshold float64) (*Counter, error) {
	c := &Counter{c: m, close: func() {}, n: map[pomocore.Source]int{}}
	if modelFile != "" {
		model, err := learn.ReadModel(modelFile)
		if err != nil {
			return nil, fmt.Errorf("-model: %w", err)
		}
		chain := classify.NewChain(m, nil, classify.ChainConfig{Categories: pomocore.DefaultTaxonomy().Categories, ModelThreshold: threshold})
		chain.SetModel(model)
		c.c, c.close = chain, chain.Close
	}
	return c, nil
}

// Classify classifies and counts.
func (s *Counter) Classify(app, url, title string) pomocore.Classification {
	cls := s.c.Classify(app, url, title)
	s.n[cls.Source]++
	return cls
}

// Close stops the model's chain, if any.
func (s *Counter) Close() { s.close() }

// String is "pattern N, builtin N, model N, default N".
func (s *Counter) String() string {
	return fmt.Sprintf("pattern %d, builtin %d, model %d, default %d", s.n[pomocore.SourceApp]+s.n[pomocore.SourceDomain]+s.n[pomocore.SourceTitle],
		s.n[pomocore.SourceBuiltin], s.n[pomocore.SourceModel], s.n[pomocore.SourceDefault])
}

// ReportPatternWrite reports an edit of learn.Editor: a change its check refused
// as not written; otherwise the documents written and the conflicts that
// remain (an imported file's own data): at run time the document loaded
// later wins, as deployed.
func ReportPatternWrite(c learn.Change, err error, out io.Writer) error {
	if errors.Is(err, classify.ErrBadEdit) || errors.Is(err, classify.ErrNewConflict) {
		return fmt.Errorf("not written: %w", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %d category_pattern document(s); running pipelines reload them within POMOCORE_PATTERN_RELOAD\n", len(c.Written))
	if conflicts := c.Matcher.Conflicts(); len(conflicts) > 0 {
		fmt.Fprintf(out, "note: %d pattern(s) are in two categories at the same priority; the document loaded later wins, as deployed:\n", len(conflicts))
		for _, c := range conflicts {
			fmt.Fprintf(out, "  %s\n", c)
		}
	}
	return nil
}

// PrintLearned writes the learned patterns as a table, oldest first.
func PrintLearned(w io.Writer, ls []learn.Learned) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tPATTERN\tCATEGORY\tORIGIN\tANSWERS\tLLM\tMODEL\tMIN CONFIDENCE\tAT")
	for _, l := range ls {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%.2f\t%s\n", l.Kind, l.Pattern, l.Category, l.Origin,
			l.Answers, l.LLMAnswers, l.ModelAnswers, l.MinConfidence, l.At.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

// ExportPatterns writes patterns in the format of classify/patterns.json.
func ExportPatterns(w io.Writer, ps []pomocore.CategoryPattern) error {
	b, err := classify.MarshalPatterns(ps)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
