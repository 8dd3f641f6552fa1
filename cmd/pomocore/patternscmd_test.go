package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
)

var mainServerFile = filepath.Join("..", "..", "testdata", "main-server-category-patterns.json")

// `patterns import` takes the main server's category-patterns.json as it
// is: its documents replace the built-in ones of the same category, keeping
// their ids, and its twenty patterns in two categories are accepted and
// noted.
func TestPatternsImportAcceptsTheMainServerFile(t *testing.T) {
	ctx := context.Background()
	dataDir, st := seededStore(t)
	st.Close()
	env := envOf(map[string]string{"POMOCORE_DATA_DIR": dataDir})
	run := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := patternsCmd(ctx, args, env, &out, &errOut)
		return out.String() + errOut.String(), err
	}
	before, err := run("list")
	if err != nil {
		t.Fatal(err)
	}
	out, err := run("import", mainServerFile)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	if !strings.Contains(out, "wrote 19 category_pattern document(s)") || !strings.Contains(out, "note: 20 pattern(s)") ||
		!strings.Contains(out, `app "zoom" in Video Editing, Meetings: Meetings wins`) {
		t.Errorf("import output:\n%s", out)
	}
	after, _ := run("list")
	if idsOf(before) != idsOf(after) || strings.Count(after, "\n") != 20 {
		t.Errorf("import changed the category ids or their number:\n%s\n%s", before, after)
	}
	exported, _ := run("export")
	imported, err := classify.ParsePatterns([]byte(exported))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(mainServerFile)
	prod, _ := classify.ParsePatterns(want)
	for i, p := range imported {
		if p.Category != prod[i].Category || strings.Join(p.AppPatterns, "|") != strings.Join(prod[i].AppPatterns, "|") ||
			strings.Join(p.DomainPatterns, "|") != strings.Join(prod[i].DomainPatterns, "|") {
			t.Errorf("document %d after import: %+v, want %+v", i, p, prod[i])
		}
	}
	// An edit that adds a new conflict is still refused; one that adds none
	// is written although the imported ones remain.
	if out, err := run("add", "-category", "Game", "-app", "Xcode"); err == nil {
		t.Errorf("a conflicting pattern was written: %s", out)
	}
	if out, err := run("add", "-category", "Game", "-app", "Zzz Quest"); err != nil || !strings.Contains(out, "note: 20 pattern(s)") {
		t.Errorf("add after import: %v\n%s", err, out)
	}
	// The bare-array format still imports.
	arr := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(arr, []byte(`[{"category":"Game","appPatterns":["Zzz Quest","Zzz Two"],"domainPatterns":[]}]`), 0o644)
	if out, err := run("import", arr); err != nil || !strings.Contains(out, "wrote") {
		t.Errorf("import of an array: %v\n%s", err, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"categories": []}`), 0o644)
	if _, err := run("import", bad); err == nil {
		t.Error("an object without categoryPatterns was imported")
	}
}

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
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	tax := pomocore.DefaultTaxonomy()
	rs, err := buildRules(ps, tax, log)
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
		if got := rs.matcher.Classify(c.app, c.url, "").Category; got != c.want {
			t.Errorf("Classify(%q, %q) = %s, want %s", c.app, c.url, got, c.want)
		}
	}
	for _, c := range tax.Categories {
		if rs.ids[c].IsZero() {
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
	var logs bytes.Buffer
	tax := pomocore.DefaultTaxonomy()
	rs, err := buildRules(ps, tax, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	// Only categories with a document have an id (the pipeline records the
	// others as the default), and only those are offered to the LLM.
	for _, c := range tax.Categories {
		id, ok := rs.ids[c]
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
	if !slices.Equal(rs.usable, []string{"Development", "Uncategorized"}) && !slices.Equal(rs.usable, []string{"Uncategorized", "Development"}) {
		t.Errorf("usable = %v, want Development and Uncategorized", rs.usable)
	}
	l := logs.String()
	if strings.Count(l, "without a category_pattern document") != 1 || !strings.Contains(l, "Meetings") ||
		!strings.Contains(l, "not in the taxonomy") || !strings.Contains(l, "Communication") {
		t.Errorf("log:\n%s", l)
	}
	// Without a document for the default either, that is an error in the log.
	logs.Reset()
	if _, err := buildRules(ps[:1], tax, slog.New(slog.NewTextHandler(&logs, nil))); err != nil || !strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("no default document: %v\n%s", err, logs.String())
	}
}
