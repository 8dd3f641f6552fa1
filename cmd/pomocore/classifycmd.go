package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/llm"
)

// activityLine is one JSON line of `classify` input and `eval` data.
type activityLine struct {
	App      string `json:"app"`
	Title    string `json:"title"`
	URL      string `json:"url"`
	Category string `json:"category,omitempty"`
}

// classifierFlags are the flags `classify` and `eval` share.
type classifierFlags struct {
	patterns string
	noLLM    bool
}

func (c *classifierFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.patterns, "patterns", "", "JSON file of category patterns: an array in the format of classify/patterns.json, or the main server's category-patterns.json ({\"categoryPatterns\": [...]}) (default: the built-in set)")
	fs.BoolVar(&c.noLLM, "no-llm", false, "pattern matching only, even when OPENAI_API_KEY is set")
}

// fallback returns the LLM client when OPENAI_API_KEY is set and -no-llm is
// not, else nil.
func (c *classifierFlags) fallback(getenv func(string) string) (classify.Fallback, error) {
	if c.noLLM || getenv("OPENAI_API_KEY") == "" {
		return nil, nil
	}
	// Only the LLM settings matter here; the pipeline's are not checked.
	cfg := defaultConfig()
	for _, st := range cfg.settings() {
		if v := getenv(st.env); v != "" && (strings.HasPrefix(st.env, "OPENAI_") || strings.HasPrefix(st.env, "POMOCORE_LLM_")) {
			if err := st.value.Set(v); err != nil {
				return nil, fmt.Errorf("%s: %w", st.env, err)
			}
		}
	}
	return llm.New(llm.Config{APIKey: cfg.OpenAIKey, BaseURL: cfg.OpenAIBaseURL, Model: cfg.LLMModel,
		Timeout: cfg.LLMTimeout, Categories: pomocore.DefaultTaxonomy().Categories})
}

// matcher builds the classifier from -patterns (or the built-in set). A
// pattern the file puts in two categories at the same priority goes to the
// later one, as deployed; each such resolution is noted on stderr.
func (c *classifierFlags) matcher(stderr io.Writer) (*classify.Matcher, error) {
	patterns := classify.DefaultPatterns()
	if c.patterns != "" {
		b, err := os.ReadFile(c.patterns)
		if err != nil {
			return nil, fmt.Errorf("-patterns: %w", err)
		}
		if patterns, err = classify.ParsePatterns(b); err != nil {
			return nil, fmt.Errorf("-patterns %s: %w", c.patterns, err)
		}
	}
	m, err := classify.Build(patterns, pomocore.Uncategorized)
	if err != nil {
		return nil, fmt.Errorf("-patterns %s: %w", cmp.Or(c.patterns, "(built in)"), err)
	}
	if conflicts := m.Conflicts(); len(conflicts) > 0 {
		fmt.Fprintf(stderr, "pomocore: %d pattern(s) are in two categories at the same priority; the later document wins, as deployed:\n", len(conflicts))
		for _, cf := range conflicts {
			fmt.Fprintf(stderr, "  %s\n", cf)
		}
	}
	return m, nil
}

// classifyCmd implements `pomocore classify`: JSON lines in, JSON lines out,
// or one activity from flags.
func classifyCmd(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("classify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf classifierFlags
	cf.register(fs)
	var one activityLine
	fs.StringVar(&one.App, "app", "", "classify this app (instead of reading JSON lines on stdin)")
	fs.StringVar(&one.URL, "url", "", "with -app: the URL")
	fs.StringVar(&one.Title, "title", "", "with -app: the window title")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: pomocore classify [flags] < activities.jsonl\n       pomocore classify -app NAME [-url URL] [-title TITLE]\n\nInput lines: {\"app\":...,\"title\":...,\"url\":...}; output adds category and source.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
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
	var lines []activityLine
	if one.App != "" || one.URL != "" {
		lines = append(lines, one)
	} else if err := eachLine(stdin, func(n int, a activityLine) error { lines = append(lines, a); return nil }); err != nil {
		return err
	}
	results := make([]pomocore.Classification, len(lines))
	var unknown []int
	for i, a := range lines {
		results[i] = m.Classify(a.App, a.URL, a.Title)
		if results[i].Source == pomocore.SourceDefault {
			unknown = append(unknown, i)
		}
	}
	if fb != nil {
		askLLM(fb, lines, results, unknown, stderr)
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	type out struct {
		activityLine
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

// askLLM asks fb about the unknown lines, 20 per request; an answer that is
// not a category, or a failed request, leaves the default.
func askLLM(fb classify.Fallback, lines []activityLine, results []pomocore.Classification, unknown []int, stderr io.Writer) {
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
			fmt.Fprintf(stderr, "pomocore classify: LLM: %v\n", err)
			continue
		}
		for j, i := range idx {
			if tax.Has(strings.TrimSpace(answers[j])) {
				results[i] = pomocore.Classification{Category: strings.TrimSpace(answers[j]), Source: pomocore.SourceLLM}
			}
		}
	}
}

// eachLine decodes JSON lines, skipping blank ones; a bad line is an error
// naming its number.
func eachLine(r io.Reader, f func(n int, a activityLine) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "//") {
			continue
		}
		var a activityLine
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		if err := f(n, a); err != nil {
			return err
		}
	}
	return sc.Err()
}

// evalReport is what `eval` measures.
type evalReport struct {
	Total, Correct int
	PerCategory    map[string]*catScore
	Confusions     map[[2]string]int // {want, got}
}

type catScore struct{ TP, FP, FN int }

// Accuracy is the share of rows classified as labelled.
func (r *evalReport) Accuracy() float64 {
	if r.Total == 0 {
		return 0
	}
	return float64(r.Correct) / float64(r.Total)
}

func evaluate(m *classify.Matcher, data io.Reader) (*evalReport, error) {
	r := &evalReport{PerCategory: map[string]*catScore{}, Confusions: map[[2]string]int{}}
	score := func(c string) *catScore {
		if r.PerCategory[c] == nil {
			r.PerCategory[c] = &catScore{}
		}
		return r.PerCategory[c]
	}
	err := eachLine(data, func(n int, a activityLine) error {
		if a.Category == "" {
			return fmt.Errorf("line %d: no category label", n)
		}
		got := m.Classify(a.App, a.URL, a.Title).Category
		r.Total++
		if got == a.Category {
			r.Correct++
			score(got).TP++
			return nil
		}
		score(got).FP++
		score(a.Category).FN++
		r.Confusions[[2]string{a.Category, got}]++
		return nil
	})
	if err == nil && r.Total == 0 {
		err = errors.New("no labelled rows")
	}
	return r, err
}

func (r *evalReport) print(w io.Writer) {
	fmt.Fprintf(w, "accuracy: %.1f%% (%d of %d)\n\n", 100*r.Accuracy(), r.Correct, r.Total)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "category\tprecision\trecall\tsupport\t")
	cats := make([]string, 0, len(r.PerCategory))
	for c := range r.PerCategory {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	ratio := func(a, b int) string {
		if b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", float64(a)/float64(b))
	}
	for _, c := range cats {
		s := r.PerCategory[c]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t\n", c, ratio(s.TP, s.TP+s.FP), ratio(s.TP, s.TP+s.FN), s.TP+s.FN)
	}
	tw.Flush()
	type pair struct {
		want, got string
		n         int
	}
	var pairs []pair
	for k, n := range r.Confusions {
		pairs = append(pairs, pair{k[0], k[1], n})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].n != pairs[j].n {
			return pairs[i].n > pairs[j].n
		}
		return pairs[i].want+pairs[i].got < pairs[j].want+pairs[j].got
	})
	if len(pairs) == 0 {
		fmt.Fprintln(w, "\nconfusions (labelled -> classified): none")
		return
	}
	fmt.Fprintln(w, "\nconfusions (labelled -> classified):")
	for _, p := range pairs {
		fmt.Fprintf(w, "  %3d  %s -> %s\n", p.n, p.want, p.got)
	}
}

// evalCmd implements `pomocore eval FILE`.
func evalCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf classifierFlags
	cf.register(fs)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: pomocore eval [flags] FILE.jsonl\n\nEach line: {\"app\":...,\"title\":...,\"url\":...,\"category\":...}.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("want exactly one labelled file")
	}
	m, err := cf.matcher(stderr)
	if err != nil {
		return err
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := evaluate(m, f)
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	r.print(stdout)
	return nil
}
