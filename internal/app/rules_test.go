package app

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/internal/logtest"
)

var mainServerFile = filepath.Join("..", "..", "testdata", "main-server-category-patterns.json")

// withIDs gives each document an id, as the store does.
func withIDs(ps []pomocore.CategoryPattern) []pomocore.CategoryPattern {
	for i := range ps {
		ps[i].ID = pomocore.ObjectID{byte(i + 1)}
	}
	return ps
}

// buildRules loads production's patterns, logging the conflicts it
// resolved once per build, and records a taxonomy category without a
// category_pattern document under the default's id.
func TestBuildRulesOnProductionPatterns(t *testing.T) {
	b, err := os.ReadFile(mainServerFile)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := classify.ParsePatterns(b)
	if err != nil {
		t.Fatal(err)
	}
	ps = withIDs(ps)
	log, logs := logtest.Logger()
	tax := pomocore.DefaultTaxonomy()
	rs, err := buildRules(ps, tax, nil, log)
	if err != nil {
		t.Fatalf("buildRules refuses the production patterns: %v", err)
	}
	if n := strings.Count(logs.String(), "the document loaded later wins"); n != 1 || !strings.Contains(logs.String(), "count=20") {
		t.Errorf("conflicts logged %d times:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "without a category_pattern document") || strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("production has a document for every category:\n%s", logs.String())
	}
	for _, c := range []struct{ app, url, want string }{
		{"Finder", "", "File Management"}, {"zoom.us", "", "Uncategorized"}, {"Zoom", "", "Meetings"},
		{"", "afk", "AFK"}, {"Google Chrome", "https://www.google.com/search?q=x", "Browsing"},
	} {
		if got := rs.Matcher.Classify(c.app, c.url, "").Category; got != c.want {
			t.Errorf("Classify(%q, %q) = %s, want %s", c.app, c.url, got, c.want)
		}
	}
	for _, c := range tax.Categories {
		if rs.IDs[c].IsZero() {
			t.Errorf("category %s has no id", c)
		}
	}
}

func TestBuildRulesMapsCategoriesWithoutADocumentToTheDefault(t *testing.T) {
	ps := withIDs([]pomocore.CategoryPattern{
		{Category: "Development", AppPatterns: []string{"xcode"}},
		{Category: "Uncategorized"},
		{Category: "Communication", AppPatterns: []string{"slack"}},
	})
	log, logs := logtest.Logger()
	tax := pomocore.DefaultTaxonomy()
	rs, err := buildRules(ps, tax, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	// Only categories with a document have an id (the pipeline records the
	// others as the default), and only those are offered to the LLM.
	for _, c := range tax.Categories {
		id, ok := rs.IDs[c]
		switch c {
		case "Development":
			if id != ps[0].ID {
				t.Errorf("id of %s = %s, want %s", c, id, ps[0].ID)
			}
		case "Uncategorized":
			if id != ps[1].ID {
				t.Errorf("id of %s = %s, want %s", c, id, ps[1].ID)
			}
		default:
			if ok {
				t.Errorf("%s has id %s without a document", c, id)
			}
		}
	}
	if !slices.Equal(rs.Usable, []string{"Development", "Uncategorized"}) && !slices.Equal(rs.Usable, []string{"Uncategorized", "Development"}) {
		t.Errorf("usable = %v, want Development and Uncategorized", rs.Usable)
	}
	l := logs.String()
	if strings.Count(l, "without a category_pattern document") != 1 || !strings.Contains(l, "Meetings") ||
		!strings.Contains(l, "not in the taxonomy") || !strings.Contains(l, "Communication") {
		t.Errorf("log:\n%s", l)
	}
	// Without a document for the default either, that is an error in the log.
	log, logs = logtest.Logger()
	if _, err := buildRules(ps[:1], tax, nil, log); err != nil || !strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("no default document: %v\n%s", err, logs.String())
	}
}
