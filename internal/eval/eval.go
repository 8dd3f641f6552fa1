// Package eval measures a classifier on labelled activities (JSON lines)
// for `pomocore eval`, and reads the JSON lines `pomocore classify` takes.
package eval

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/pomocore/pomocore"
)

// Classifier gives an activity its category (classify.Matcher is one).
type Classifier interface {
	Classify(app, url, title string) pomocore.Classification
}

// Line is one JSON line of `pomocore classify` input and `pomocore eval`
// data: an activity, and for eval the category it should get.
type Line struct {
	App      string `json:"app"`
	Title    string `json:"title"`
	URL      string `json:"url"`
	Category string `json:"category,omitempty"`
}

// EachLine decodes JSON lines, skipping blank ones and // comments; a bad
// line is an error naming its number.
func EachLine(r io.Reader, f func(n int, a Line) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "//") {
			continue
		}
		var a Line
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		if err := f(n, a); err != nil {
			return err
		}
	}
	return sc.Err()
}

// Report is what Evaluate measures.
type Report struct {
	Total, Correct int
	PerCategory    map[string]*Score
	Confusions     map[[2]string]int // {want, got}
}

// Score counts one category's true positives, false positives and false
// negatives.
type Score struct{ TP, FP, FN int }

// Accuracy is the share of rows classified as labelled.
func (r *Report) Accuracy() float64 {
	if r.Total == 0 {
		return 0
	}
	return float64(r.Correct) / float64(r.Total)
}

// Evaluate classifies every labelled line of data with c and compares the
// category with the label; a line without a label is an error.
func Evaluate(c Classifier, data io.Reader) (*Report, error) {
	r := &Report{PerCategory: map[string]*Score{}, Confusions: map[[2]string]int{}}
	score := func(c string) *Score {
		if r.PerCategory[c] == nil {
			r.PerCategory[c] = &Score{}
		}
		return r.PerCategory[c]
	}
	err := EachLine(data, func(n int, a Line) error {
		if a.Category == "" {
			return fmt.Errorf("line %d: no category label", n)
		}
		got := c.Classify(a.App, a.URL, a.Title).Category
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

// Print writes the accuracy, each category's precision and recall, and the
// confusions, most frequent first.
func (r *Report) Print(w io.Writer) {
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
