package compare_test

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/compare"
	"github.com/pomocore/pomocore/internal/fixtures"
	"github.com/pomocore/pomocore/internal/legacy"
)

// addBoard adds seconds of user to category's day key (and work's).
func addBoard(b map[string]map[string]float64, category, day, user string, seconds float64) {
	cats := []string{category}
	if pomocore.DefaultTaxonomy().IsWork(category) {
		cats = append(cats, "work")
	}
	for _, c := range cats {
		k := c + ":" + day
		if b[k] == nil {
			b[k] = map[string]float64{}
		}
		b[k][user] += seconds
	}
}

// TestCompareExplainsTheRunbooksExamplesOnProductionPatterns: on
// production's category_pattern (and the built-in layer the shadow runs
// with), the deployed service's substring matches of the runbook's
// examples are explained whether or not pomocore's patterns know the
// site: kafka.apache.org (the built-in set knows it), fox.com and a login
// URL with redirect_uri=localhost (neither does: the shadow counted them
// where its default or its LLM put them, which compare reads off the
// shadow's boards).
func TestCompareExplainsTheRunbooksExamplesOnProductionPatterns(t *testing.T) {
	day := "2026-11-24"
	pats := fixtures.ProductionPatterns(t)
	old := legacy.Service{Patterns: pats}
	cases := []struct {
		user, url, shadow string // shadow: where the shadow counted it
	}{
		{"u1", "https://www.fox.com/shows", "Uncategorized"},                                                                // no pattern: the default
		{"u2", "https://kafka.apache.org/documentation", "Development"},                                                     // the built-in set
		{"u3", "https://login.example.org/authorize?redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fcb", "System & Utilities"}, // its LLM
		{"u4", "https://www.fox.com/news", "Entertainment"},                                                                 // its LLM
	}
	in := compare.Input{Live: map[string]map[string]float64{}, Shadow: map[string]map[string]float64{}, Patterns: pats}
	for i, c := range cases {
		secs := float64(100 * (i + 1))
		live := old.Classify("Google Chrome", c.url)
		if live == c.shadow {
			t.Fatalf("fixture: %s is %s on both sides", c.url, live)
		}
		addBoard(in.Live, live, day, c.user, secs)
		addBoard(in.Shadow, c.shadow, day, c.user, secs)
		in.Entries = append(in.Entries, entry(fmt.Sprintf("1795489200000-%d", i), jackson(c.user, "Google Chrome", c.url, fmt.Sprintf("6543210fedcba9876543000%d", i), secs)))
	}
	cfg := compare.Config{ShadowPrefix: "shadow", From: day, To: day, Builtin: classify.DefaultPatterns()}
	rep, err := compare.Compare(cfg, in)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range rep.Keys {
		for _, d := range k.Differences {
			if d.Unexplained != 0 || len(d.Explanations) == 0 {
				t.Errorf("%s %s: diff %+v, unexplained %+v (%+v)", k.Key, d.Member, d.Diff, d.Unexplained, d.Explanations)
			}
			for _, e := range d.Explanations {
				if e.Kind != compare.SubstringMatch {
					t.Errorf("%s %s: %s, want %s", k.Key, d.Member, e.Kind, compare.SubstringMatch)
				}
			}
		}
	}
	if s := rep.Summary; s.Unexplained != 0 || s.KeysDiffering == 0 {
		t.Errorf("summary %+v: want every difference explained", s)
	}
}

func entry(id string, fields []any) doctorEntry {
	e := doctorEntry{ID: id}
	for _, v := range fields {
		e.Fields = append(e.Fields, v.(string))
	}
	return e
}

// TestCompareTextSaysHowManyDifferencesBeyondTop: the text report lists
// -top differences per key and says how many more there are.
func TestCompareTextSaysHowManyDifferencesBeyondTop(t *testing.T) {
	day := "2026-11-24"
	live := map[string]float64{"a": 10, "b": 20, "c": 30, "d": 40}
	rep, err := compare.Compare(compare.Config{ShadowPrefix: "shadow", From: day, To: day, Top: 1},
		compare.Input{Live: map[string]map[string]float64{"Game:" + day: live}, Shadow: map[string]map[string]float64{}})
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + text.String())
	if !regexp.MustCompile(`(?m)^\s+\.\.\. and 3 more differences \(-top 1\)`).MatchString(text.String()) || !strings.Contains(text.String(), "  d ") {
		t.Errorf("text does not list the largest and say 3 more:\n%s", text.String())
	}
}
