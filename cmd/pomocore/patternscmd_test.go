package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pomocore/pomocore/classify"
)

var mainServerFile = filepath.Join("..", "..", "testdata", "main-server-category-patterns.json")

// `patterns import` takes the main server's category-patterns.json as it
// is: its documents replace the built-in ones of the same category, keeping
// their ids, and its twenty patterns in two categories are accepted and
// noted.
func TestPatternsImportAcceptsTheMainServerFile(t *testing.T) {
	run := patternsTool(t)
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

// patternsTool returns a runner of `pomocore patterns` over a seeded
// SQLite store: its output (stdout and stderr) and error.
func patternsTool(t *testing.T) func(args ...string) (string, error) {
	t.Helper()
	dataDir, st := seededStore(t)
	st.Close()
	env := envOf(map[string]string{"POMOCORE_DATA_DIR": dataDir})
	return func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := patternsCmd(context.Background(), args, env, &out, &errOut)
		return out.String() + errOut.String(), err
	}
}

// TestPatternsListShowsWhereTheBuiltinSetDisagreesWithMainServerPatterns:
// with production's patterns imported and an operator's pattern the
// built-in set has elsewhere, `patterns list` counts it in its category's
// row and names it below the table, as category_pattern's; without the
// layered set (seed-only) it shows neither.
func TestPatternsListShowsWhereTheBuiltinSetDisagreesWithMainServerPatterns(t *testing.T) {
	run := patternsTool(t)
	if out, err := run("import", mainServerFile); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	out, err := run("list")
	if err != nil || !strings.Contains(out, "BUILT-IN DIFFERS") || strings.Contains(out, "disagrees") {
		t.Fatalf("list of production's patterns (they agree with the built-in set): %v\n%s", err, out)
	}
	if out, err := run("add", "-category", "Documentation", "-app", "Ghostty"); err != nil {
		t.Fatalf("add: %v\n%s", err, out)
	}
	out, err = run("list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out, "\n")
	var doc string
	for _, l := range lines {
		if strings.HasPrefix(l, "Documentation ") {
			doc = l
		}
	}
	if f := strings.Fields(doc); len(f) == 0 || f[len(f)-1] != "1" {
		t.Errorf("Documentation's row does not count one disagreement: %q\n%s", doc, out)
	}
	if !strings.Contains(out, "built-in set disagrees on 1 pattern(s)") ||
		!strings.Contains(out, `  app "ghostty": store Documentation, built-in Development`) {
		t.Errorf("list lacks the disagreement:\n%s", out)
	}

	dataDir := filepath.Join(t.TempDir(), "data")
	env := envOf(map[string]string{"POMOCORE_DATA_DIR": dataDir, "POMOCORE_BUILTIN_PATTERNS": "seed-only"})
	var o, e bytes.Buffer
	if err := patternsCmd(context.Background(), []string{"import", mainServerFile}, env, &o, &e); err != nil {
		t.Fatalf("import: %v\n%s", err, e.String())
	}
	if err := patternsCmd(context.Background(), []string{"add", "-category", "Documentation", "-app", "Ghostty"}, env, &o, &e); err != nil {
		t.Fatalf("add: %v\n%s", err, e.String())
	}
	o.Reset()
	if err := patternsCmd(context.Background(), []string{"list"}, env, &o, &e); err != nil || strings.Contains(o.String(), "BUILT-IN") || strings.Contains(o.String(), "disagrees") {
		t.Errorf("seed-only list: %v\n%s", err, o.String())
	}
}
