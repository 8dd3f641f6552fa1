package accuracy

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Result is one system's figures on one traffic.
type Result struct {
	Name  string
	Score Score
	// Calls and Items are what the LLM endpoint was asked.
	Calls, Items int64
	Entries      int
	Elapsed      time.Duration
}

// PerThousand returns n per 1,000 entries.
func (r Result) PerThousand(n int64) float64 {
	if r.Entries == 0 {
		return 0
	}
	return float64(n) * 1000 / float64(r.Entries)
}

// WriteTable writes the results as a Markdown table.
func WriteTable(w io.Writer, rs []Result) {
	fmt.Fprintln(w, "| system | right category | work board right | work board extra | Uncategorized | LLM calls / 1k entries | items / 1k entries | items / call |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rs {
		perCall := 0.0
		if r.Calls > 0 {
			perCall = float64(r.Items) / float64(r.Calls)
		}
		fmt.Fprintf(w, "| %s | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %.0f | %.0f | %.2f |\n", r.Name,
			100*r.Score.Right, 100*r.Score.WorkRight, 100*r.Score.WorkExtra, 100*r.Score.Uncategorized,
			r.PerThousand(r.Calls), r.PerThousand(r.Items), perCall)
	}
}

// WriteBreakdown writes, per true category, the share of its seconds each
// result put in it.
func WriteBreakdown(w io.Writer, truth Board, boards map[string]Board, names []string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "category\tseconds\t")
	for _, n := range names {
		fmt.Fprint(tw, n+"\t")
	}
	fmt.Fprintln(tw)
	per := map[string]map[string]float64{}
	for _, n := range names {
		per[n] = map[string]float64{}
		for _, b := range ByCategory(truth, boards[n]) {
			per[n][b.Category] = b.Right
		}
	}
	for _, b := range ByCategory(truth, truth) {
		fmt.Fprintf(tw, "%s\t%.0f\t", b.Category, b.Seconds)
		for _, n := range names {
			fmt.Fprintf(tw, "%.1f%%\t", 100*per[n][b.Category])
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}
